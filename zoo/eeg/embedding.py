"""Delay embedding of multichannel epochs and the dynamical-systems heuristics for its order and lag.

Carrara & Papadopoulo, "Classification of BCI-EEG based on augmented covariance matrix": an epoch ``X ∈ R^{C×T}``
becomes ``X̃ ∈ R^{pC×T'}`` by stacking ``p`` copies of itself shifted by multiples of the lag ``τ`` (Takens), here
block ``k = 0 … p−1`` holding ``X_{·, t+kτ}`` for ``t = 0 … T'−1`` with ``T' = T − (p−1)τ``: every sample is used.
The paper writes the blocks newest first (``[X_t; X_{t−τ}; …]``), the reverse order; that permutes the blocks of
the augmented covariance ``X̃X̃ᵀ / T'`` and leaves every tangent-space or Riemannian classifier unchanged.
MOABB's ``AugmentedDataset`` (the paper's merged code) keeps only ``T − pτ`` samples (one lag too few):
``moabb=True`` reproduces it bit for bit.

The heuristics pick ``τ`` and ``p`` from the signals themselves (per channel, then the median over channels):

- lag: the first local minimum over ``τ`` of the average mutual information ``I(x_t; x_{t+τ})`` (Fraser & Swinney,
  1986), estimated with a 2-D histogram of equiprobable bins;
- order: the smallest ``p`` whose share of false nearest neighbours falls below ``threshold`` (Kennel, Brown &
  Abarbanel, 1992): the nearest neighbour ``j`` of ``v_i = (x_i, x_{i+τ}, …, x_{i+(p−1)τ})`` is false when the next
  coordinate separates them, ``|x_{i+pτ} − x_{j+pτ}| / ‖v_i − v_j‖ > rtol`` or ``‖(v_i, x_{i+pτ}) − (v_j, x_{j+pτ})‖
  / σ_x > atol``.
"""

from __future__ import annotations

import numpy as np
import torch


def check_trials(x, order: int, lag: int, name: str = "x") -> int:
    """Check trials ``x (B, C, T)`` against a delay embedding of ``order``, ``lag``; returns ``T' = T − (p−1)τ``."""
    for key, value in (("order", order), ("lag", lag)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{key} must be a positive integer, got {value!r}")
    if x.ndim != 3:
        raise ValueError(f"{name} must hold trials of shape (batch, channels, time), got shape {tuple(x.shape)}")
    span = (order - 1) * lag + 1
    if x.shape[-1] < span:
        raise ValueError(f"trials of {x.shape[-1]} samples are shorter than (order - 1) * lag + 1 = {span} "
                         f"(order={order}, lag={lag}): lower the order or the lag, or use longer epochs")
    return x.shape[-1] - span + 1


def delay_embed(x: torch.Tensor, order: int, lag: int, moabb: bool = False) -> torch.Tensor:
    """``x (B, C, T)`` -> ``(B, order·C, T')``, ``T' = T − (order−1)·lag`` (``T − order·lag`` with ``moabb=True`` and
    ``order > 1``, as MOABB's ``AugmentedDataset``); block ``k`` is ``x[..., kτ : kτ + T']`` (module doc)."""
    length = check_trials(x, order, lag) - (lag if moabb and order > 1 else 0)
    if length < 1:
        raise ValueError(f"trials of {x.shape[-1]} samples leave nothing after MOABB's trim of order * lag = "
                         f"{order * lag} samples: lower the order or the lag")
    return torch.cat([x[..., k * lag:k * lag + length] for k in range(order)], dim=-2)


def _mutual_information(a: np.ndarray, b: np.ndarray, bins: int) -> float:
    """Histogram estimate (nats) of ``I(a; b)`` for paired samples, on equiprobable bins of each."""
    edges_a = np.quantile(a, np.linspace(0, 1, bins + 1)[1:-1])
    edges_b = np.quantile(b, np.linspace(0, 1, bins + 1)[1:-1])
    joint = np.zeros((bins, bins))
    np.add.at(joint, (np.searchsorted(edges_a, a), np.searchsorted(edges_b, b)), 1)
    joint /= joint.sum()
    outer = joint.sum(1, keepdims=True) * joint.sum(0, keepdims=True)
    mask = joint > 0
    return float((joint[mask] * np.log(joint[mask] / outer[mask])).sum())


def mutual_information_curve(signals: np.ndarray, max_lag: int, bins: int = 16) -> np.ndarray:
    """``I(x_t; x_{t+τ})`` for ``τ = 1 … max_lag`` ``(max_lag,)``, pooled over the rows of ``signals (n, T)``."""
    return np.array([_mutual_information(signals[:, :-tau].ravel(), signals[:, tau:].ravel(), bins)
                     for tau in range(1, max_lag + 1)])


def mutual_information_lag(x, max_lag: int = 20, bins: int = 16, max_trials: int = 50, seed: int = 0) -> int:
    """The lag (samples) of the first local minimum of the average mutual information, the median over the channels
    of ``x (B, C, T)`` (at most ``max_trials`` trials, drawn with ``seed``); ``max_lag`` when it keeps falling."""
    x = _subsample(x, max_trials, seed)
    if x.shape[-1] < max_lag + 2:
        raise ValueError(f"trials of {x.shape[-1]} samples are too short for lags up to max_lag={max_lag}: lower "
                         f"max_lag below {x.shape[-1] - 1}")
    lags = []
    for channel in range(x.shape[1]):
        curve = mutual_information_curve(x[:, channel], max_lag, bins)
        minima = [tau for tau in range(1, max_lag - 1) if curve[tau] < curve[tau - 1] and curve[tau] <= curve[tau + 1]]
        lags.append(minima[0] + 1 if minima else int(np.argmin(curve)) + 1)
    return int(round(float(np.median(lags))))


def false_neighbour_fraction(signals: np.ndarray, order: int, lag: int, rtol: float = 10.0, atol: float = 2.0,
                             max_points: int = 2000, seed: int = 0) -> float:
    """Share of false nearest neighbours of the ``order``-dimensional delay vectors of the rows of ``signals (n, T)``
    (pooled over rows, at most ``max_points`` of them; module doc)."""
    from scipy.spatial import cKDTree

    length = signals.shape[1] - order * lag
    if length < 1:
        raise ValueError(f"trials of {signals.shape[1]} samples are too short for the false-neighbour test of order "
                         f"{order + 1} at lag {lag}: lower max_order or the lag")
    vectors = np.stack([signals[:, k * lag:k * lag + length] for k in range(order + 1)], axis=-1).reshape(-1, order + 1)
    rng = np.random.default_rng(seed)
    vectors = vectors[rng.choice(len(vectors), size=min(max_points, len(vectors)), replace=False)]
    distances, index = cKDTree(vectors[:, :order]).query(vectors[:, :order], k=2)
    nearest, distance = index[:, 1], np.maximum(distances[:, 1], np.finfo(float).tiny)
    extra = np.abs(vectors[:, order] - vectors[nearest, order])
    false = (extra / distance > rtol) | (np.hypot(distance, extra) / signals.std() > atol)
    return float(false.mean())


def false_neighbours_order(x, lag: int, max_order: int = 10, threshold: float = 0.01, rtol: float = 10.0,
                           atol: float = 2.0, max_trials: int = 50, max_points: int = 2000, seed: int = 0) -> int:
    """The smallest order whose false-neighbour share is below ``threshold`` (the order of the least share when none
    is), the median over the channels of ``x (B, C, T)``."""
    x = _subsample(x, max_trials, seed)
    check_trials(x, max_order + 1, lag)
    orders = []
    for channel in range(x.shape[1]):
        fractions = [false_neighbour_fraction(x[:, channel], order, lag, rtol, atol, max_points, seed)
                     for order in range(1, max_order + 1)]
        below = [order for order, fraction in enumerate(fractions, start=1) if fraction < threshold]
        orders.append(below[0] if below else int(np.argmin(fractions)) + 1)
    return int(round(float(np.median(orders))))


def _subsample(x, max_trials: int, seed: int) -> np.ndarray:
    """``x (B, C, T)`` as float64 numpy, at most ``max_trials`` trials of it (drawn with ``seed``)."""
    x = np.asarray(x.detach().cpu() if isinstance(x, torch.Tensor) else x, dtype=np.float64)
    if x.ndim != 3:
        raise ValueError(f"x must hold trials of shape (batch, channels, time), got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("x contains NaN or infinite samples: drop or interpolate the bad trials first")
    if len(x) > max_trials:
        x = x[np.sort(np.random.default_rng(seed).choice(len(x), size=max_trials, replace=False))]
    return x


__all__ = ["check_trials", "delay_embed", "false_neighbour_fraction", "false_neighbours_order",
           "mutual_information_curve", "mutual_information_lag"]
