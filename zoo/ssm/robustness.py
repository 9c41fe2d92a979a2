"""The PTD paper's robustness test: Fourier noise at the S4D-LegS resonance, added before every SSM layer.

"Robustifying State-space Models for Long Sequences via Approximate Diagonalization" (Yu et al., 2023)
trains on clean data and tests with, before every SSM layer,

    u_{b,k,h} ← u_{b,k,h} + a_{b,h} cos(ω_peak Δ_h k),     a_{b,h} ~ U[0, amplitude),  k = 0 … L−1,

where Δ_h is channel h's step and ω_peak the largest |Im λ| of the S4D-LegS initialisation: the frequency
at which the transfer function of S4D-LegS spikes (|Im λ| ≈ N²/π), while the full LegS system, and the
perturbed-then-diagonalised one, stay bounded. The reference code uses amplitude 0.1 and ω_peak = 325.4
(HiPPO size n = 32).
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import numpy as np
import torch
from torch import nn

from zoo.ssm.hippo import legs_normal
from zoo.ssm.s4d import S4DLayer


def legs_peak_frequency(n: int) -> float:
    """ω_peak: the largest |Im λ| of the S4D-LegS initialisation of HiPPO size ``n`` (325.43 for n = 32)."""
    return float(np.abs(legs_normal(n)[0].imag).max())


def hippo_size(layer: S4DLayer) -> int:
    """The HiPPO size the layer's init is built from: ``d_state // 2`` for ``ptd``, ``d_state`` otherwise."""
    kernel = layer.kernel
    return kernel.d_state // 2 if kernel.init == "ptd" else kernel.d_state


@contextmanager
def fourier_noise(model: nn.Module, amplitude: float = 0.1, omega: float | None = None,
                  seed: int = 0) -> Iterator[float]:
    """Within the block, every ``S4DLayer`` of ``model`` sees its input ``(batch, length, H)`` plus the noise above.

    ``omega`` defaults to the S4D-LegS peak frequency at the HiPPO size of the model's first SSM layer.
    Yields the frequency used. The noise amplitudes come from a generator seeded with ``seed``.
    """
    layers = [module for module in model.modules() if isinstance(module, S4DLayer)]
    if not layers:
        raise ValueError(f"fourier_noise needs a model with S4D layers; {type(model).__name__} has none")
    omega = legs_peak_frequency(hippo_size(layers[0])) if omega is None else omega
    generator = torch.Generator().manual_seed(seed)

    def add_noise(layer: S4DLayer, inputs: tuple[torch.Tensor]) -> tuple[torch.Tensor]:
        (u,) = inputs
        batch, length, channels = u.shape
        dt = layer.kernel.log_dt.detach().exp()  # (H,)
        k = torch.arange(length, dtype=dt.dtype, device=dt.device)
        a = amplitude * torch.rand(batch, 1, channels, generator=generator).to(u)
        return (u + a * torch.cos(omega * k[:, None] * dt).to(u),)

    handles = [layer.register_forward_pre_hook(add_noise) for layer in layers]
    try:
        yield omega
    finally:
        for handle in handles:
            handle.remove()
