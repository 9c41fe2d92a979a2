"""Real spherical harmonics in e3nn's basis as 2-D Fourier series in (θ, φ), and the tables that convert.

Coordinates follow e3nn (``o3.angles_to_xyz``): the polar axis is ``y``,

    x = sin θ sin φ,   y = cos θ,   z = sin θ cos φ,

and the real spherical harmonic of degree l, order m (flat index ``l² + l + m``, ``−l ≤ m ≤ l``) separates as

    Y_l^m(θ, φ) = Θ_l^m(θ) Φ_m(φ),
    Θ_l^m(θ)    = N_l^{|m|} P_l^{|m|}(cos θ),   P_l^m = (2m−1)!! sin^m θ · (a polynomial in cos θ)
    Φ_m(φ)      = cos(mφ) (m ≥ 0),  sin(|m|φ) (m < 0),

with ``N_l^m = sqrt((2 − δ_m0)(2l+1)/(4π) · (l−m)!/(l+m)!)`` ("integral" normalisation, ``∫ Y Y' dΩ = δ``)
and no Condon–Shortley phase: this is ``e3nn.o3.spherical_harmonics(..., normalization="integral")``. Continued
to θ ∈ [0, 2π) through the same formula (sin θ keeps its sign), ``Θ_l^m`` is a trigonometric polynomial of
degree l, so

    Y_l^m = Σ_{|u| ≤ l} Σ_{v = ±m} a_{lm,u} b_{m,v} e^{i(uθ + vφ)}                                   (sh2f)

exactly: ``a`` is the DFT of Θ on 2L+1 equispaced θ (exact for degree ≤ L), ``b`` is Euler's formula. The
projection back (f2sh) of a 2-D Fourier series ``f = Σ F_uv e^{i(uθ+vφ)}`` is

    ⟨f, Y_l^m⟩ = Σ_uv F_uv P_{lm,u} Q_{m,v},   Q_{m,v} = ∫_0^{2π} e^{ivφ} Φ_m dφ,
    P_{lm,u} = ∫_0^π e^{iuθ} Θ_l^m(θ) sin θ dθ = Σ_w a_{lm,w} I(u + w),
    I(n) = ∫_0^π e^{inθ} sin θ dθ = (1 + e^{inπ}) / (1 − n²)  (n ≠ ±1),  ± iπ/2  (n = ±1),

in closed form. All tables are float64, indexed ``[m + L, l, ·]`` (zero where ``l < |m|``), computed on first
use and kept in memory (``functools.lru_cache``); nothing is shipped.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch

LMAX_TABLES = 40
"""Largest degree the tables are built for (float64 normalisations stay exact well beyond; cost is O(L³))."""


def check_lmax(name: str, lmax: int) -> None:
    """Raise a ValueError naming ``name`` unless ``0 ≤ lmax ≤ LMAX_TABLES``."""
    if not isinstance(lmax, int) or not 0 <= lmax <= LMAX_TABLES:
        raise ValueError(f"{name}={lmax!r}: expected an int in [0, {LMAX_TABLES}] (the size of the SH tables)")


def flat_index(L: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(m + L, l)`` of every flat coefficient ``i = l² + l + m`` up to degree L; two ``((L+1)²,)`` long tensors."""
    l = torch.tensor([l for l in range(L + 1) for _ in range(2 * l + 1)])
    m = torch.tensor([m for l in range(L + 1) for m in range(-l, l + 1)])
    return m + L, l


def legendre_part(L: int, theta: np.ndarray) -> np.ndarray:
    """``Θ_l^m(θ)`` for ``θ (n,)`` (any real θ; sin θ keeps its sign) -> ``(2L+1, L+1, n)`` float64, ``[m+L, l]``."""
    c, s = np.cos(theta), np.sin(theta)
    out = np.zeros((2 * L + 1, L + 1, len(theta)))
    for m in range(L + 1):
        p_prev, p = 0.0, math.prod(range(1, 2 * m, 2)) * s**m    # P_m^m = (2m−1)!! sin^m θ, no (−1)^m
        for l in range(m, L + 1):
            if l > m:
                p_prev, p = p, ((2 * l - 1) * c * p - (l + m - 1) * p_prev) / (l - m)
            norm = math.sqrt((2 - (m == 0)) * (2 * l + 1) / (4 * math.pi) / math.prod(range(l - m + 1, l + m + 1)))
            out[L + m, l] = out[L - m, l] = norm * p
    return out


def azimuthal_part(L: int, phi: np.ndarray) -> np.ndarray:
    """``Φ_m(φ)`` for ``φ (n,)`` -> ``(2L+1, n)`` float64, ``[m+L]``."""
    m = np.arange(-L, L + 1)[:, None]
    return np.where(m >= 0, np.cos(m * phi), np.sin(-m * phi))


@lru_cache(maxsize=None)
def sh2f_tables(L: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``a (2L+1, L+1, 2L+1)`` = ``a_{lm,u}`` at ``[m+L, l, u+L]`` and ``b (2L+1, 2L+1)`` = ``b_{m,v}`` at
    ``[m+L, v+L]``, complex128: ``Y_l^m = Σ_uv a_{lm,u} b_{m,v} e^{i(uθ+vφ)}``."""
    n = 2 * L + 1
    theta = 2 * np.pi * np.arange(n) / n
    a = np.fft.fftshift(np.fft.fft(legendre_part(L, theta), axis=-1), axes=-1) / n   # exact: degree ≤ L < n/2
    b = np.zeros((n, n), dtype=complex)
    for m in range(-L, L + 1):
        k = abs(m)
        if m >= 0:
            b[L + m, L + k] += 0.5
            b[L + m, L - k] += 0.5                      # cos kφ = (e^{ikφ} + e^{−ikφ}) / 2
        else:
            b[L + m, L + k], b[L + m, L - k] = -0.5j, 0.5j  # sin kφ = (e^{ikφ} − e^{−ikφ}) / 2i
    return torch.from_numpy(a), torch.from_numpy(b)


def _sin_moment(n: np.ndarray) -> np.ndarray:
    """``I(n) = ∫_0^π e^{inθ} sin θ dθ`` for integer ``n``, complex128."""
    n = n.astype(float)
    out = (1 + np.cos(np.pi * n)) / np.where(np.abs(n) == 1, 1.0, 1 - n**2) + 0j
    return np.where(n == 1, 0.5j * np.pi, np.where(n == -1, -0.5j * np.pi, out))


@lru_cache(maxsize=None)
def f2sh_tables(L: int, U: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Projection of a Fourier series with ``|u| ≤ U`` onto degrees ≤ L: ``P (2L+1, L+1, 2U+1)`` = ``P_{lm,u}`` at
    ``[m+L, l, u+U]`` and ``Q (2L+1, 2L+1)`` = ``Q_{m,v}`` at ``[m+L, v+L]``, complex128."""
    a, b = (t.numpy() for t in sh2f_tables(L))
    w = np.arange(-L, L + 1)
    u = np.arange(-U, U + 1)
    P = np.einsum("mlw,wu->mlu", a, _sin_moment(w[:, None] + u[None, :]))
    # Φ_m = Σ_v' b_{m,v'} e^{iv'φ} and ∫_0^{2π} e^{i(v+v')φ} dφ = 2π δ_{v',−v}, so Q_{m,v} = 2π b_{m,−v}
    Q = 2 * np.pi * b[:, ::-1].copy()
    return torch.from_numpy(P), torch.from_numpy(Q)


@lru_cache(maxsize=None)
def grid_tables(L: int, n_theta: int, n_phi: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A Gauss–Legendre (in cos θ) × uniform-φ grid: ``Θ (2L+1, L+1, n_theta)``, ``Φ (2L+1, n_phi)`` and the
    quadrature weights ``w (n_theta,)`` (including 2π/n_phi), float64; ``Σ_jk w_j f(θ_j, φ_k)`` integrates
    exactly every f of degree ≤ 2 n_theta − 1 in cos θ and < n_phi in φ."""
    z, w = np.polynomial.legendre.leggauss(n_theta)
    phi = 2 * np.pi * np.arange(n_phi) / n_phi
    theta = legendre_part(L, np.arccos(z))
    return torch.from_numpy(theta), torch.from_numpy(azimuthal_part(L, phi)), torch.from_numpy(w * 2 * np.pi / n_phi)
