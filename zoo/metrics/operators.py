"""Relative Lp and H1 errors, the losses and metrics of operator learning (mean over samples).

For a sample ``y`` on a uniform grid and a prediction ``ŷ``, with ``e = ŷ − y``::

    relative Lp  = ‖e‖_p / ‖y‖_p
    relative H1  = √(‖e‖² + Σ_d ‖∂_d e‖²) / √(‖y‖² + Σ_d ‖∂_d y‖²)

over all channels and grid points of the sample; the quadrature weight of a uniform grid cancels in the
ratio. Derivatives are finite differences on the unit domain: central differences with wrap-around on a
periodic grid (``n`` points, spacing ``1/n``), and on a grid that includes both boundaries (``n`` points,
spacing ``1/(n − 1)``) central inside and one-sided at the edges (:func:`torch.gradient`). Unlike
neuraloperator's ``LpLoss``/``H1Loss`` the reduction is a mean over the batch (theirs sums, which rescales
with the batch size), and H1 is not periodic unless asked: Darcy's Dirichlet problem is not periodic.
"""

from __future__ import annotations

from functools import partial

import torch
from torch import Tensor
from torchmetrics import Metric


def _check(prediction: Tensor, target: Tensor) -> None:
    if prediction.shape != target.shape:
        raise ValueError(f"prediction {tuple(prediction.shape)} and target {tuple(target.shape)} must have the same "
                         f"shape (batch, channels, *spatial)")


def per_sample_relative_lp(prediction: Tensor, target: Tensor, p: float = 2.0, eps: float = 1e-12) -> Tensor:
    """``(batch,)`` errors ‖ŷ_i − y_i‖_p / ‖y_i‖_p over all non-batch dimensions of ``(batch, *)`` inputs."""
    _check(prediction, target)
    error = torch.linalg.vector_norm((prediction - target).flatten(1), ord=p, dim=1)
    return error / torch.linalg.vector_norm(target.flatten(1), ord=p, dim=1).clamp_min(eps)


def gradients(u: Tensor, n_dim: int, periodic: bool) -> list[Tensor]:
    """Finite-difference ``∂_d u`` on the unit domain for each of the last ``n_dim`` axes of ``u``."""
    derivatives = []
    for axis in range(u.ndim - n_dim, u.ndim):
        n = u.shape[axis]
        if periodic:
            derivatives.append((u.roll(-1, axis) - u.roll(1, axis)) * (n / 2))
        else:
            derivatives.append(torch.gradient(u, spacing=1.0 / (n - 1), dim=axis)[0])
    return derivatives


def _h1_norm_sq(u: Tensor, n_dim: int, periodic: bool) -> Tensor:
    terms = [u, *gradients(u, n_dim, periodic)]
    return sum(term.flatten(1).square().sum(1) for term in terms)


def per_sample_relative_h1(prediction: Tensor, target: Tensor, periodic: bool = False, eps: float = 1e-12) -> Tensor:
    """``(batch,)`` relative H1 errors for ``(batch, channels, *spatial)`` inputs (see the module doc)."""
    _check(prediction, target)
    if prediction.ndim < 3:
        raise ValueError(f"relative H1 needs (batch, channels, *spatial) inputs, got shape {tuple(prediction.shape)}")
    n_dim = prediction.ndim - 2
    error = _h1_norm_sq(prediction - target, n_dim, periodic)
    return (error / _h1_norm_sq(target, n_dim, periodic).clamp_min(eps**2)).sqrt()


def relative_lp(prediction: Tensor, target: Tensor, p: float = 2.0) -> Tensor:
    """Mean over the batch of the relative Lp error."""
    return per_sample_relative_lp(prediction, target, p).mean()


def relative_l2(prediction: Tensor, target: Tensor) -> Tensor:
    """Mean over the batch of ‖ŷ_i − y_i‖₂ / ‖y_i‖₂."""
    return per_sample_relative_lp(prediction, target, 2.0).mean()


def relative_h1(prediction: Tensor, target: Tensor, periodic: bool = False) -> Tensor:
    """Mean over the batch of the relative H1 error."""
    return per_sample_relative_h1(prediction, target, periodic).mean()


class PerSampleMean(Metric):
    """Streaming (and DDP-synchronised) mean of a per-sample error ``error(prediction, target) -> (batch,)``."""

    higher_is_better = False
    full_state_update = False

    def __init__(self, error, **kwargs):
        super().__init__(**kwargs)
        self.error = error
        self.add_state("total", default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", default=torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, prediction: Tensor, target: Tensor) -> None:
        errors = self.error(prediction.detach(), target)
        self.total += errors.sum().double()
        self.count += errors.numel()

    def compute(self) -> Tensor:
        return (self.total / self.count).float()


class RelativeLpError(PerSampleMean):
    """Mean relative Lp error over all samples seen."""

    def __init__(self, p: float = 2.0, **kwargs):
        super().__init__(partial(per_sample_relative_lp, p=p), **kwargs)


class RelativeL2Error(RelativeLpError):
    """Mean relative L2 error over all samples seen."""

    def __init__(self, **kwargs):
        super().__init__(2.0, **kwargs)


class RelativeH1Error(PerSampleMean):
    """Mean relative H1 error over all samples seen (``periodic`` picks the finite differences)."""

    def __init__(self, periodic: bool = False, **kwargs):
        super().__init__(partial(per_sample_relative_h1, periodic=periodic), **kwargs)
