"""Viscous Burgers' equation on the unit circle: FNO's Burgers data (``burgers/gen_burgers1.m``), in numpy.

PDE:  u_t + (u^2 / 2)_x = nu u_xx,   x in [0, 1) periodic,   u(x, 0) = u0(x).

Space: Fourier pseudo-spectral on ``x_j = j / s``. With ``v = rfft(u)`` and ``k = 2 pi (0, 1, .., s/2)``
the equation reads ``v_t = L v + N(v)``, ``L = -nu k^2`` (diagonal), ``N(v) = -(i k / 2) rfft(u^2)``; the
product is dealiased by the 2/3 rule (modes ``|k| > s/3`` of ``N`` are zeroed) and the Nyquist derivative
is zero. FNO's generator used chebfun's ``spin`` (also ETDRK4, no dealiasing); at resolved grids the two
agree to the truncation error.

Time: ETDRK4 (Cox & Matthews 2002) with a fixed step ``h``, its coefficients computed by Kassam &
Trefethen's (2005) contour integral: for each ``z = h L``, the mean over ``M`` points ``z + r_m`` on a circle
of radius 1 around ``z`` (``M`` on the upper half: for real ``z`` the real part of that mean is the full
circle's) of

    Q  = h (e^{z/2} - 1) / z
    f1 = h (-4 - z + e^z (4 - 3 z + z^2)) / z^3
    f2 = h (2 + z + e^z (z - 2)) / z^3
    f3 = h (-4 - 3 z - z^2 + e^z (4 - z)) / z^3

which avoids the cancellation of the closed forms near ``z = 0`` (where they tend to ``h/2, h/6, h/6,
h/6``). One step, with ``E = e^{hL}``, ``E2 = e^{hL/2}``::

    a = E2 v + Q N(v);   b = E2 v + Q N(a);   c = E2 a + Q (2 N(b) - N(v))
    v <- E v + f1 N(v) + 2 f2 (N(a) + N(b)) + f3 N(c)

Shapes: ``u0`` ``(batch, s)`` or ``(s,)``; float64.
"""

from __future__ import annotations

import numpy as np
import torch

from zoo.data.pde.solvers.grf import gaussian_random_field
from zoo.data.pde.solvers.stepping import output_steps


def etdrk4_coefficients(z: np.ndarray, h: float, n_contour: int = 64) -> tuple[np.ndarray, ...]:
    """``(E, E2, Q, f1, f2, f3)`` for ``z = h L`` (real, any shape), by the contour integral above."""
    r = np.exp(1j * np.pi * (np.arange(1, n_contour + 1) - 0.5) / n_contour)
    zr = z[..., None] + r  # (..., M)
    ez = np.exp(zr)
    Q = h * np.mean((np.exp(zr / 2) - 1) / zr, axis=-1).real
    f1 = h * np.mean((-4 - zr + ez * (4 - 3 * zr + zr**2)) / zr**3, axis=-1).real
    f2 = h * np.mean((2 + zr + ez * (zr - 2)) / zr**3, axis=-1).real
    f3 = h * np.mean((-4 - 3 * zr - zr**2 + ez * (4 - zr)) / zr**3, axis=-1).real
    return np.exp(z), np.exp(z / 2), Q, f1, f2, f3


def solve_burgers(u0, times, viscosity: float = 0.1, dt: float = 5e-3) -> torch.Tensor:
    """Integrate from ``t = 0`` to each of ``times`` (a number, or an increasing sequence) with steps ``<= dt``.

    ``u0``: ``(batch, s)`` or ``(s,)`` (array or tensor, ``s`` even). Returns ``u(t)`` float64: ``u0``'s shape
    for a single time, ``(batch, len(times), s)`` (or ``(len(times), s)``) for a sequence.
    """
    u = u0.detach().cpu().numpy() if isinstance(u0, torch.Tensor) else np.asarray(u0)
    u = u.astype(np.float64)
    unbatched = u.ndim == 1
    u = u[None] if unbatched else u
    if u.ndim != 2 or u.shape[1] < 4 or u.shape[1] % 2:
        raise ValueError(f"u0 must have shape (batch, s) or (s,) with an even s >= 4, got {tuple(np.shape(u0))}")
    if not viscosity > 0:
        raise ValueError(f"viscosity must be positive, got {viscosity!r}")
    steps, h, single = output_steps(times, dt)
    s = u.shape[1]
    k = 2 * np.pi * np.fft.rfftfreq(s, d=1.0 / s)
    dealias = np.arange(k.size) <= s / 3  # also zeroes the Nyquist mode
    g = -0.5j * k * dealias  # -(i k / 2) on the kept modes

    def N(v):  # -(u^2 / 2)_x in Fourier space, dealiased
        return g * np.fft.rfft(np.fft.irfft(v, n=s) ** 2)

    E, E2, Q, f1, f2, f3 = etdrk4_coefficients(-viscosity * k**2 * h, h)
    v = np.fft.rfft(u)
    out, step = [], 0
    for target in steps:
        for _ in range(target - step):
            Nv = N(v)
            a = E2 * v + Q * Nv
            Na = N(a)
            b = E2 * v + Q * Na
            Nb = N(b)
            c = E2 * a + Q * (2 * Nb - Nv)
            v = E * v + f1 * Nv + 2 * f2 * (Na + Nb) + f3 * N(c)
        step = target
        out.append(np.fft.irfft(v, n=s))
        if not np.all(np.isfinite(out[-1])):
            raise RuntimeError(f"the Burgers solution blew up by t = {step * h:g} (step h = {h:g}, viscosity "
                               f"{viscosity:g}, grid {s}): lower dt or refine the grid")
    result = torch.as_tensor(out[0] if single else np.stack(out, axis=1))
    return result[0] if unbatched else result


def burgers_initial_condition(n_samples: int, s: int, gamma: float = 2.5, tau: float = 7.0, sigma: float = 49.0,
                              seed=None) -> torch.Tensor:
    """FNO's ``u0 ~ GRF(gamma, tau, sigma)``: periodic, covariance ``sigma^2 (-Delta + tau^2)^(-gamma)``,
    ``(n_samples, s)`` float64."""
    return gaussian_random_field(n_samples, s, dim=1, alpha=gamma, tau=tau, sigma=sigma, boundary="periodic",
                                 seed=seed)
