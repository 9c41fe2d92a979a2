"""A 1-D elastic bar under random impacts, and the submodel of its zone of interest (Boukraichi, Akkari, Casenave,
Ryckelynck, "Uncertainty quantification in a mechanical submodel driven by a Wasserstein-GAN").

**The full model.** ``ρ u_tt = (E(x) u_x)_x + f(x, t)`` on ``[0, L]``, fixed ends ``u(0, t) = u(L, t) = 0``, at rest
at ``t = 0``. Nodes ``x_i = i h`` (``h = L / n_cells``), the stiffness ``E_{i+1/2}`` at the cell faces (cell centres),
leapfrog in time (step ``Δt = t_final / n_steps``)::

    u_i^{k+1} = 2 u_i^k − u_i^{k−1} + Δt²/ρ [(E_{i+1/2}(u_{i+1}^k − u_i^k) − E_{i−1/2}(u_i^k − u_{i−1}^k)) / h² + f_i^k]

with the first step ``u^1 = u^0 + Δt v^0 + Δt²/2 a^0`` (second order), stable for ``c_max Δt / h ≤ 1``
(``c = √(E/ρ)``, the CFL condition; a violation is an error). Against d'Alembert for constant ``E`` the error is
``O(h²)`` at a fixed Courant number.

**Random material and loads.** ``E = E0 exp(g)`` outside the zone of interest ``[a, b]``, ``g`` a Gaussian random
field (:func:`~zoo.data.pde.solvers.grf.gaussian_random_field`, Neumann, ``σ² (−Δ + τ²)^(−α)`` on the faces
rescaled to ``[0, 1]``), and ``E = E0`` inside it (the submodel's known material). An impact is a force
``f = A w(x) exp(−(t − t0)² / (2 τ_p²))`` with ``w(x) = cos²(π (x − x0) / (2 r))`` for ``|x − x0| < r`` (0 outside):
amplitude ``A``, position ``x0``, radius ``r`` and time ``t0`` (``IMPACT_PARAMETERS``), drawn by
:func:`sample_impacts`; its support lies left of ``a``, so the zone of interest is unloaded.

**The submodel.** The same equation on ``[a, b]`` alone, at rest at ``t = 0`` (in the static state of its initial
boundary values), with Dirichlet data ``u(a, t)``, ``u(b, t)`` given as traces on a uniform time grid and
interpolated linearly in time to the submodel's step (:func:`solve_submodel`). Driven by the full model's traces at every step it reproduces the full solution on
``[a, b]`` to round-off: the domain-decomposition premise of the paper. The quantity of interest is the peak
``|u_x|`` over ``[a, b]`` and time.

Shapes: stiffness ``(n, n_cells)`` (faces), displacement histories ``(n, n_nodes, n_records)``; numpy float64,
batched over the ``n`` samples.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from zoo.data.pde.solvers.grf import as_generator, gaussian_random_field

#: the columns of an impact's parameters, ``(n, 4)``
IMPACT_PARAMETERS = ("amplitude", "position", "radius", "time")
#: the default ranges of an impact's position x0 and radius r: its support reaches ``REACH`` at most
POSITION, RADIUS = (0.2, 0.4), (0.08, 0.15)
REACH = POSITION[1] + RADIUS[1]


def node_index(x: float, length: float, n_cells: int, name: str) -> int:
    """The node ``i`` with ``x_i = x``; an error naming ``name`` when ``x`` is not a node of the grid inside
    ``(0, length)``."""
    h = length / n_cells
    i = round(x / h)
    if not 0 < x < length or abs(i * h - x) > 1e-9 * length:
        raise ValueError(f"{name}={x} must be a node i*h (h = length / n_cells = {h:g}) strictly inside the bar "
                         f"(0, {length})")
    return i


def leapfrog(stiffness: np.ndarray, h: float, dt: float, n_steps: int, rho: float = 1.0,
             u0: np.ndarray | None = None, v0: np.ndarray | None = None,
             force: Callable[[float], np.ndarray] | None = None,
             ends: Callable[[int], tuple[np.ndarray, np.ndarray]] | None = None,
             observe: Callable[[int, np.ndarray], None] | None = None) -> np.ndarray:
    """March ``ρ u_tt = (E u_x)_x + f`` ``n_steps`` steps (module doc) and return the final ``u`` ``(n, n_cells + 1)``.

    Args:
        stiffness: ``E_{i+1/2}`` ``(n, n_cells)``. h, dt: the grid and time steps. rho: ρ.
        u0, v0: the initial displacement and velocity ``(n, n_cells + 1)`` (zero when ``None``; ``u0``'s ends must
            match ``ends(0)``).
        force: ``f(t) -> (n, n_cells + 1)``, or ``None``. ends: ``ends(k) -> (u(0, t_k), u(L, t_k))``, each ``(n,)``
            (fixed ends when ``None``). observe: called as ``observe(k, u^k)`` at every step ``k = 0..n_steps``.
    """
    n, n_cells = stiffness.shape
    c_max = math.sqrt(float(stiffness.max()) / rho)
    if c_max * dt / h > 1:
        raise ValueError(f"CFL violated: c_max dt / h = {c_max * dt / h:.3f} > 1 (c_max = {c_max:.3g}, dt = {dt:.3g},"
                         f" h = {h:.3g}): raise n_steps to at least {math.ceil(n_steps * c_max * dt / h)}")
    scale = dt**2 / rho

    def acceleration(u: np.ndarray, t: float) -> np.ndarray:
        flux = stiffness * np.diff(u, axis=1) / h                  # E u_x at the faces, (n, n_cells)
        a = np.zeros_like(u)
        a[:, 1:-1] = np.diff(flux, axis=1) / h
        if force is not None:
            a[:, 1:-1] += force(t)[:, 1:-1]
        return a

    u = np.zeros((n, n_cells + 1)) if u0 is None else np.array(u0, dtype=np.float64)
    v = np.zeros_like(u) if v0 is None else v0
    if observe is not None:
        observe(0, u)
    previous, u = u, u + dt * v + 0.5 * scale * acceleration(u, 0.0)
    for k in range(1, n_steps + 1):
        if k > 1:
            previous, u = u, 2 * u - previous + scale * acceleration(u, (k - 1) * dt)
        if ends is None:
            u[:, [0, -1]] = 0.0
        else:
            u[:, 0], u[:, -1] = ends(k)
        if observe is not None:
            observe(k, u)
    return u


def sample_impacts(n: int, seed=None, amplitude: tuple[float, float] = (0.5, 1.5),
                   position: tuple[float, float] = POSITION, radius: tuple[float, float] = RADIUS,
                   time: tuple[float, float] = (0.5, 0.5)) -> np.ndarray:
    """``(n, 4)`` impact parameters (``IMPACT_PARAMETERS``), each uniform on its ``(low, high)`` (``time=(t, t)``: a
    fixed impact time)."""
    rng = as_generator(seed)
    ranges = (amplitude, position, radius, time)
    for key, (low, high) in zip(IMPACT_PARAMETERS, ranges):
        if not low <= high:
            raise ValueError(f"{key}=({low}, {high}) must be a (low, high) range with low <= high")
    return np.stack([rng.uniform(low, high, n) for low, high in ranges], axis=1)


def impact_force(impacts: np.ndarray, x: np.ndarray, pulse_width: float) -> Callable[[float], np.ndarray]:
    """``f(t) -> (n, len(x))``: the impacts' forces ``A w(x) exp(−(t − t0)² / (2 τ_p²))`` (module doc)."""
    amplitude, position, radius, time = (impacts[:, j:j + 1] for j in range(4))
    distance = np.abs(x[None, :] - position)
    profile = amplitude * np.where(distance < radius, np.cos(0.5 * np.pi * distance / radius) ** 2, 0.0)
    return lambda t: profile * np.exp(-0.5 * ((t - time) / pulse_width) ** 2)


def lognormal_stiffness(n: int, n_cells: int, zone: tuple[int, int], E0: float = 1.0, alpha: float = 2.0,
                        tau: float = 3.0, sigma: float = 5.0, seed=None) -> np.ndarray:
    """``(n, n_cells)``: ``E0 exp(g)`` on the faces, ``g`` a Neumann GRF (module doc), and ``E0`` on the faces of the
    cells ``zone = (i_a, i_b)`` (the nodes of ``[a, b]``)."""
    g = gaussian_random_field(n, n_cells, dim=1, alpha=alpha, tau=tau, sigma=sigma, boundary="neumann",
                              seed=seed).numpy()
    g[:, zone[0]:zone[1]] = 0.0
    return E0 * np.exp(g)


def peak_strain(u: np.ndarray, h: float) -> np.ndarray:
    """``max_i |u_{i+1} − u_i| / h`` over the faces of ``u`` ``(n, nodes)``: ``(n,)``."""
    return np.abs(np.diff(u, axis=1)).max(axis=1) / h


def solve_bar(stiffness: np.ndarray, impacts: np.ndarray, zone: tuple[float, float], length: float = 1.0,
              rho: float = 1.0, t_final: float = 2.0, n_steps: int = 1016, n_records: int = 128,
              pulse_width: float = 0.06) -> dict[str, np.ndarray]:
    """The full model under ``impacts`` ``(n, 4)``.

    Returns ``{"traces" (n, 2, n_records): u(a, t_k), u(b, t_k) at t_k = k t_final / (n_records − 1); "qoi" (n,):
    the peak |u_x| over [a, b] and every step; "interior" (n, i_b − i_a + 1, n_steps + 1): u on [a, b] at every
    step, only when n_records = n_steps + 1}``.
    """
    n, n_cells = stiffness.shape
    h = length / n_cells
    i_a, i_b = (node_index(x, length, n_cells, key) for key, x in zip(("a", "b"), zone))
    if not i_a < i_b:
        raise ValueError(f"zone=[a, b]={list(zone)} needs a < b")
    if n_records < 2 or n_steps % (n_records - 1):
        raise ValueError(f"n_steps={n_steps} must be a multiple of n_records - 1 = {n_records - 1} (the traces are "
                         "every m-th step)")
    reach = impacts[:, 1] + impacts[:, 2]
    if (reach > zone[0]).any() or (impacts[:, 1] - impacts[:, 2] < 0).any():
        raise ValueError(f"every impact's support [x0 - r, x0 + r] must lie in [0, a = {zone[0]}] (the zone of "
                         f"interest is unloaded); got up to {reach.max():.3g}")
    every, dt = n_steps // (n_records - 1), t_final / n_steps
    keep_all = n_records == n_steps + 1
    traces = np.zeros((n, 2, n_records))
    interior = np.zeros((n, i_b - i_a + 1, n_steps + 1)) if keep_all else None
    qoi = np.zeros(n)

    def observe(k: int, u: np.ndarray) -> None:
        nonlocal qoi
        qoi = np.maximum(qoi, peak_strain(u[:, i_a:i_b + 1], h))
        if k % every == 0:
            traces[:, :, k // every] = u[:, [i_a, i_b]]
        if keep_all:
            interior[:, :, k] = u[:, i_a:i_b + 1]

    x = np.linspace(0.0, length, n_cells + 1)
    leapfrog(stiffness, h, dt, n_steps, rho=rho, force=impact_force(impacts, x, pulse_width), observe=observe)
    out = {"traces": traces, "qoi": qoi}
    return out if interior is None else {**out, "interior": interior}


def solve_submodel(traces: np.ndarray, t_final: float, zone: tuple[float, float], n_cells: int, n_steps: int,
                   E0: float = 1.0, rho: float = 1.0, history: bool = False) -> dict[str, np.ndarray]:
    """The submodel on ``[a, b]`` (``n_cells`` cells, ``n_steps`` leapfrog steps to ``t_final``, stiffness ``E0``)
    driven by Dirichlet ``traces`` ``(n, 2, T)`` = ``u(a, t_k), u(b, t_k)`` at ``t_k = k t_final / (T − 1)``, linearly
    interpolated to its steps; it starts at rest in the static state of its ``t = 0`` boundary values (linear in x:
    zero for traces of a bar at rest, so a generated trace that does not start at 0 is not a spurious jump).

    Returns ``{"qoi" (n,): the peak |u_x| over [a, b] and every step; "u" (n, n_cells + 1, n_steps + 1) with
    ``history``}``. The same function drives every generator's boundary conditions.
    """
    traces = np.asarray(traces, dtype=np.float64)
    if traces.ndim != 3 or traces.shape[1] != 2 or traces.shape[2] < 2:
        raise ValueError(f"traces must be (n, 2, T) with T >= 2 (u(a, t), u(b, t)), got {traces.shape}")
    a, b = zone
    if not a < b:
        raise ValueError(f"zone=[a, b]={list(zone)} needs a < b")
    n, h, dt = len(traces), (b - a) / n_cells, t_final / n_steps
    position = np.arange(n_steps + 1) * (traces.shape[2] - 1) / n_steps      # step k in units of the trace grid
    left = np.minimum(np.floor(position).astype(int), traces.shape[2] - 2)
    weight = position - left

    def ends(k: int) -> tuple[np.ndarray, np.ndarray]:
        value = traces[:, :, left[k]] * (1 - weight[k]) + traces[:, :, left[k] + 1] * weight[k]
        return value[:, 0], value[:, 1]

    qoi = np.zeros(n)
    u_history = np.zeros((n, n_cells + 1, n_steps + 1)) if history else None

    def observe(k: int, u: np.ndarray) -> None:
        nonlocal qoi
        qoi = np.maximum(qoi, peak_strain(u, h))
        if history:
            u_history[:, :, k] = u

    left_0, right_0 = ends(0)
    u0 = left_0[:, None] + (right_0 - left_0)[:, None] * np.linspace(0.0, 1.0, n_cells + 1)   # static, (n, nodes)
    leapfrog(np.full((n, n_cells), float(E0)), h, dt, n_steps, rho=rho, u0=u0, ends=ends, observe=observe)
    return {"qoi": qoi} if not history else {"qoi": qoi, "u": u_history}
