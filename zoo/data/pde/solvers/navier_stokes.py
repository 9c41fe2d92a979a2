"""2-D incompressible Navier-Stokes on the unit torus in vorticity form: FNO's data (``navier_stokes/ns_2d.py``),
batched in torch.

PDE:  w_t + u . grad w = nu Delta w + f,   u = (psi_y, -psi_x),   -Delta psi = w,   (x, y) in [0, 1)^2 periodic.

Space: Fourier pseudo-spectral on ``x_i = i / s, y_j = j / s`` (axis 1 is x, axis 2 is y) with ``rfft2``.
The stream function is ``psi_hat = w_hat / (4 pi^2 |k|^2)`` (its mean is zero), velocities and ``grad w`` are
spectral derivatives (zero at the Nyquist modes), the advection ``u . grad w`` is formed in physical space
and dealiased by the 2/3 rule: modes with ``|k_x| > s/3`` or ``|k_y| > s/3`` are zeroed, as in FNO.

Time: Crank-Nicolson for the diffusion and second-order Adams-Bashforth for the advection and the forcing
(CNAB2, the first step forward Euler), with a fixed step ``h``::

    (1 + h nu lambda / 2) w_hat^{n+1} = (1 - h nu lambda / 2) w_hat^n + h (3/2 R^n - 1/2 R^{n-1}),
    R = -(u . grad w)^ + f_hat,   lambda = 4 pi^2 |k|^2.

FNO's ``ns_2d.py`` uses the same Crank-Nicolson diffusion with a forward-Euler advection (first order);
AB2 costs the same one advection evaluation per step and is second order.

Data: ``w0 ~ GRF(alpha=2.5, tau=7)`` (periodic, with FNO's ``sqrt(2)`` amplitude, see
:mod:`~zoo.data.pde.solvers.grf`), forcing ``f = 0.1 (sin 2 pi (x + y) + cos 2 pi (x + y))``.

Exact solutions used by the tests: a field made of modes of one ``|k|`` (e.g. ``cos 2 pi k.x``) has
``psi`` proportional to ``w``, so ``u . grad w = 0`` and it decays as ``e^{-4 pi^2 |k|^2 nu t}``; since the
forcing is such a field, ``w = f / (8 pi^2 nu) (1 - e^{-8 pi^2 nu t})`` solves the forced problem from rest.

Shapes: ``w`` ``(batch, s, s)`` or ``(s, s)``, ``s`` even; float64 unless given otherwise.
"""

from __future__ import annotations

import math

import torch

from zoo.data.pde.solvers.grf import default_sigma, gaussian_random_field
from zoo.data.pde.solvers.stepping import output_steps


class _Spectral:
    """Wavenumbers of an ``s x s`` periodic grid in ``rfft2`` layout ``(s, s // 2 + 1)``."""

    def __init__(self, s: int, dtype: torch.dtype, device: torch.device):
        k = torch.fft.fftfreq(s, d=1.0 / s, dtype=dtype, device=device)
        kx = k[:, None].expand(s, s // 2 + 1)
        ky = torch.fft.rfftfreq(s, d=1.0 / s, dtype=dtype, device=device)[None, :].expand(s, s // 2 + 1)
        self.s = s
        self.lap = 4 * math.pi**2 * (kx**2 + ky**2)  # lambda = eigenvalue of -Delta
        self.lap_inv = torch.where(self.lap > 0, 1.0 / self.lap.clamp_min(1e-30), 0.0)
        nyquist = s // 2
        self.dx = 2j * math.pi * torch.where(kx.abs() == nyquist, 0.0, kx)  # d/dx, zero at the Nyquist mode
        self.dy = 2j * math.pi * torch.where(ky == nyquist, 0.0, ky)
        self.dealias = ((kx.abs() <= s / 3) & (ky.abs() <= s / 3)).to(dtype)

    def velocity(self, w_hat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        psi_hat = w_hat * self.lap_inv
        s = (self.s, self.s)
        return torch.fft.irfft2(self.dy * psi_hat, s=s), torch.fft.irfft2(-self.dx * psi_hat, s=s)

    def advection(self, w_hat: torch.Tensor) -> torch.Tensor:
        """``(u . grad w)^``, dealiased."""
        u, v = self.velocity(w_hat)
        s = (self.s, self.s)
        w_x, w_y = torch.fft.irfft2(self.dx * w_hat, s=s), torch.fft.irfft2(self.dy * w_hat, s=s)
        return torch.fft.rfft2(u * w_x + v * w_y) * self.dealias


def _as_field(w, name: str) -> tuple[torch.Tensor, bool]:
    w = torch.as_tensor(w)
    if not w.is_floating_point():
        w = w.to(torch.float64)
    unbatched = w.ndim == 2
    w = w[None] if unbatched else w
    if w.ndim != 3 or w.shape[1] != w.shape[2] or w.shape[1] < 4 or w.shape[1] % 2:
        raise ValueError(f"{name} must have shape (batch, s, s) or (s, s) with an even s >= 4, got {tuple(w.shape)}")
    return w, unbatched


def velocity(w) -> torch.Tensor:
    """The velocity ``(psi_y, -psi_x)`` of the vorticity ``w`` ``(batch, s, s)``: ``(batch, 2, s, s)``."""
    w, unbatched = _as_field(w, "w")
    u, v = _Spectral(w.shape[-1], w.dtype, w.device).velocity(torch.fft.rfft2(w))
    out = torch.stack([u, v], dim=1)
    return out[0] if unbatched else out


def advection(w) -> torch.Tensor:
    """The dealiased advection term ``u . grad w`` in physical space, ``w``'s shape."""
    w, unbatched = _as_field(w, "w")
    out = torch.fft.irfft2(_Spectral(w.shape[-1], w.dtype, w.device).advection(torch.fft.rfft2(w)), s=w.shape[-2:])
    return out[0] if unbatched else out


def fno_forcing(s: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """FNO's forcing ``0.1 (sin 2 pi (x + y) + cos 2 pi (x + y))`` on the ``s x s`` grid, ``(s, s)``."""
    x = torch.arange(s, dtype=dtype) / s
    xy = 2 * math.pi * (x[:, None] + x[None, :])
    return 0.1 * (torch.sin(xy) + torch.cos(xy))


def solve_navier_stokes(w0, times, viscosity: float = 1e-3, forcing=None, dt: float = 1e-3) -> torch.Tensor:
    """Integrate from ``t = 0`` to each of ``times`` (a number, or an increasing sequence) with steps ``<= dt``.

    ``w0``: ``(batch, s, s)`` or ``(s, s)``; ``forcing``: None (no forcing) or ``(s, s)``. Runs on ``w0``'s
    device and dtype. Returns ``w(t)``: ``w0``'s shape for a single time, ``(batch, len(times), s, s)`` (or
    ``(len(times), s, s)``) for a sequence.
    """
    w, unbatched = _as_field(w0, "w0")
    if not viscosity > 0:
        raise ValueError(f"viscosity must be positive, got {viscosity!r}")
    steps, h, single = output_steps(times, dt)
    s = w.shape[-1]
    grid = _Spectral(s, w.dtype, w.device)
    f_hat = 0.0
    if forcing is not None:
        forcing = torch.as_tensor(forcing, dtype=w.dtype, device=w.device)
        if forcing.shape != (s, s):
            raise ValueError(f"forcing must have shape (s, s) = ({s}, {s}) like w0's grid, got {tuple(forcing.shape)}")
        f_hat = torch.fft.rfft2(forcing)
    half_diffusion = 0.5 * h * viscosity * grid.lap
    explicit, implicit = 1 - half_diffusion, 1 / (1 + half_diffusion)
    w_hat = torch.fft.rfft2(w)
    previous = None
    out, step = [], 0
    for target in steps:
        for _ in range(target - step):
            R = f_hat - grid.advection(w_hat)
            increment = R if previous is None else 1.5 * R - 0.5 * previous
            w_hat = (explicit * w_hat + h * increment) * implicit
            previous = R
        step = target
        out.append(torch.fft.irfft2(w_hat, s=(s, s)))
        if not torch.isfinite(out[-1]).all():
            raise RuntimeError(f"the Navier-Stokes solution blew up by t = {step * h:g} (step h = {h:g}, viscosity "
                               f"{viscosity:g}, grid {s}): the advection step is unstable; lower dt")
    result = out[0] if single else torch.stack(out, dim=1)
    return result[0] if unbatched else result


def vorticity_initial_condition(n_samples: int, s: int, alpha: float = 2.5, tau: float = 7.0,
                                sigma: float | None = None, seed=None) -> torch.Tensor:
    """FNO's ``w0 ~ GRF(alpha, tau)`` on the periodic ``s x s`` grid, ``(n_samples, s, s)`` float64.
    ``sigma=None`` is FNO's ``sqrt(2) tau^(alpha - 1)``."""
    sigma = math.sqrt(2.0) * default_sigma(alpha, tau, 2) if sigma is None else sigma
    return gaussian_random_field(n_samples, s, dim=2, alpha=alpha, tau=tau, sigma=sigma, boundary="periodic",
                                 seed=seed)
