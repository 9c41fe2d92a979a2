"""Physics-informed neural networks: the PINN with optional random Fourier features (GP-HM's baselines)."""

from zoo.pinn.pinn import PINN

__all__ = ["PINN"]
