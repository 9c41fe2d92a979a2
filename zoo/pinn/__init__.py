"""Physics-informed neural networks: the PINN with optional random Fourier features (GP-HM's baselines); the
eigenvalue PINN of 1-D quantum wells (Sarkar, 2025) with its Deep Ritz objective and reference solutions; the
multi-domain XPINN with METALIC's bandit over its interface conditions (Li, Penwarden et al., ICML 2023)."""

from zoo.pinn.eigen import PINNEigen
from zoo.pinn.metalic import MetalicBandit
from zoo.pinn.pinn import PINN
from zoo.pinn.xpinn import CONDITIONS, XPINN, fit_xpinn

__all__ = ["CONDITIONS", "MetalicBandit", "PINN", "PINNEigen", "XPINN", "fit_xpinn"]
