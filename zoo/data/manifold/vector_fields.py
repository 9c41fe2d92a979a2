"""Point clouds on the sphere and the torus and closed-form tangent vector fields on them, with their zeros.

The data of RVGP ("Implicit Gaussian process representation of vector fields over arbitrary latent manifolds", Peach
et al., ICLR 2024), rebuilt offline:

* :func:`sphere_points`: the Fibonacci sphere, ``n`` near-uniform points of S² ⊂ R³;
* :func:`torus_points`: a jittered ``(u, v)`` grid on the torus ``((R + r cos v) cos u, (R + r cos v) sin u,
  r sin v)``, R = 1, r = 0.4;
* fields (:data:`FIELDS`), each tangent to machine precision, ``(n, 3)``:

  - ``rotation``: ``v = e_z × x``. On S² it vanishes at the poles (two zeros of index +1, Σ = 2 = χ(S²)); on the
    torus it is ``(R + r cos v) ∂_u`` and has no zero. Linear in the ambient coordinates, so an ambient GP can
    represent it exactly.
  - ``gradient``: a surface gradient. On S², ``∇_S Y`` of the degree-3 harmonic ``Y = xyz`` (``∝ Y₃⁻²``):
    ``v = (yz, xz, xy) − 3xyz x``, zero at the 6 points ``±e_i`` (saddles, index −1) and the 8 points
    ``(±1, ±1, ±1)/√3`` (extrema, index +1). On the torus, ``∇ f`` of ``f = cos u sin v``:
    ``f_u / (R + r cos v)² ∂_u + f_v / r² ∂_v``, zero at ``u ∈ {0, π}, v ∈ {π/2, 3π/2}`` (extrema, +1) and
    ``u ∈ {π/2, 3π/2}, v ∈ {0, π}`` (saddles, −1): Σ = 0 = χ(T²).
  - ``diffused_random``: i.i.d. Gaussian tangent coordinates smoothed by the connection-Laplacian heat kernel
    ``exp(−t L_c)`` (:func:`zoo.functional.connection.connection_laplacian`; potpourri3d's vector heat method is not
    installed), lifted through the frames, projected onto the exact tangent planes and scaled to unit RMS norm.
    Its zeros are not known in closed form.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse.linalg import expm_multiply

from zoo.functional.connection import connection_laplacian

MANIFOLDS = ("sphere", "torus")
FIELDS = ("rotation", "gradient", "diffused_random")
#: the torus radii R (of the core circle) and r (of the tube)
R, r = 1.0, 0.4


def sphere_points(n: int = 1500) -> np.ndarray:
    """The Fibonacci sphere ``(n, 3)``: heights ``z_i = 1 − 2 (i + ½) / n``, longitudes stepped by the golden angle."""
    i = np.arange(n) + 0.5
    z, phi = 1 - 2 * i / n, np.pi * (1 + 5**0.5) * i
    return np.stack([np.sqrt(1 - z**2) * np.cos(phi), np.sqrt(1 - z**2) * np.sin(phi), z], axis=1)


def torus_from_angles(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``(..., 3)`` points of the torus at angles ``u`` (around the core) and ``v`` (around the tube)."""
    return np.stack([(R + r * np.cos(v)) * np.cos(u), (R + r * np.cos(v)) * np.sin(u), r * np.sin(v)], axis=-1)


def torus_angles(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(u, v)``, each ``(n,)``, of points ``(n, 3)`` on the torus."""
    u = np.arctan2(points[:, 1], points[:, 0])
    return u, np.arctan2(points[:, 2], np.hypot(points[:, 0], points[:, 1]) - R)


def torus_points(n_u: int = 50, n_v: int = 40, jitter: float = 0.25, seed: int = 0) -> np.ndarray:
    """``(n_u n_v, 3)`` torus points on an ``n_u × n_v`` angle grid, each angle moved by up to ``jitter`` of a grid
    step (uniform, ``seed``)."""
    rng = np.random.default_rng(seed)
    u, v = np.meshgrid(np.arange(n_u) / n_u, np.arange(n_v) / n_v, indexing="ij")
    u = 2 * np.pi * (u.ravel() + jitter * rng.uniform(-1, 1, u.size) / n_u)
    v = 2 * np.pi * (v.ravel() + jitter * rng.uniform(-1, 1, v.size) / n_v)
    return torus_from_angles(u, v)


def manifold_points(manifold: str, n_points: int | None = None, seed: int = 0) -> np.ndarray:
    """The point cloud ``(n, 3)`` of ``manifold``: 1500 sphere points, or a 50 × 40 torus grid; ``n_points`` sets
    the sphere's count, or the torus grid ``≈ √(5/4 n) × √(4/5 n)``."""
    if manifold not in MANIFOLDS:
        raise ValueError(f"manifold={manifold!r}: expected one of {MANIFOLDS}")
    if manifold == "sphere":
        return sphere_points(n_points or 1500)
    n = n_points or 2000
    return torus_points(round((1.25 * n) ** 0.5), round((0.8 * n) ** 0.5), seed=seed)


def normals(manifold: str, points: np.ndarray) -> np.ndarray:
    """Unit normals ``(n, 3)`` at ``points (n, 3)``: ``x`` on S², ``(cos v cos u, cos v sin u, sin v)`` on the torus."""
    if manifold == "sphere":
        return points / np.linalg.norm(points, axis=1, keepdims=True)
    u, v = torus_angles(points)
    return np.stack([np.cos(v) * np.cos(u), np.cos(v) * np.sin(u), np.sin(v)], axis=1)


def exact_frames(manifold: str, points: np.ndarray) -> np.ndarray:
    """Orthonormal tangent frames ``(n, 3, 2)`` from the exact normals: ``t₁ ∝ a − (a·n) n`` (``a = e_x``, or ``e_y``
    where ``n`` is near ``±e_x``), ``t₂ = n × t₁``."""
    n = normals(manifold, points)
    a = np.where(np.abs(n[:, :1]) < 0.9, np.eye(3)[0], np.eye(3)[1])
    t1 = a - np.sum(a * n, axis=1, keepdims=True) * n
    t1 /= np.linalg.norm(t1, axis=1, keepdims=True)
    return np.stack([t1, np.cross(n, t1)], axis=2)


def project_tangent(manifold: str, points: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """``vectors (n, 3)`` less their normal components."""
    n = normals(manifold, points)
    return vectors - np.sum(vectors * n, axis=1, keepdims=True) * n


def closed_form_field(manifold: str, field: str, points: np.ndarray) -> np.ndarray:
    """The ``rotation`` or ``gradient`` field (module doc) at ``points (n, 3)`` -> ``(n, 3)``."""
    x, y, z = points.T
    if field == "rotation":
        return np.stack([-y, x, 0 * z], axis=1)
    if field != "gradient":
        raise ValueError(f"field={field!r} has no closed form: expected 'rotation' or 'gradient'")
    if manifold == "sphere":
        return np.stack([y * z, x * z, x * y], axis=1) - 3 * (x * y * z)[:, None] * points
    u, v = torus_angles(points)
    d_u = np.stack([-np.sin(u), np.cos(u), 0 * u], axis=1) * (R + r * np.cos(v))[:, None]
    d_v = r * np.stack([-np.sin(v) * np.cos(u), -np.sin(v) * np.sin(u), np.cos(v)], axis=1)
    f_u, f_v = -np.sin(u) * np.sin(v), np.cos(u) * np.cos(v)
    return (f_u / (R + r * np.cos(v)) ** 2)[:, None] * d_u + (f_v / r**2)[:, None] * d_v


def diffused_random_field(manifold: str, points: np.ndarray, time: float = 3.0, n_neighbors: int = 10,
                          seed: int = 0) -> np.ndarray:
    """A random smooth tangent field ``(n, 3)`` (module doc): heat ``exp(−time L_c)`` on white tangent noise."""
    L_c, frames = connection_laplacian(points, n_neighbors=n_neighbors, dim=2)
    noise = np.random.default_rng(seed).normal(size=L_c.shape[0])
    smooth = expm_multiply(-time * L_c, noise).reshape(len(points), 2)
    vectors = project_tangent(manifold, points, np.einsum("nab,nb->na", frames.numpy(), smooth))
    return vectors / np.sqrt(np.mean(np.sum(vectors**2, axis=1)))


def vector_field(manifold: str, field: str, points: np.ndarray, seed: int = 0, time: float = 3.0) -> np.ndarray:
    """``field`` (one of :data:`FIELDS`) on ``manifold`` at ``points (n, 3)`` -> ``(n, 3)``; ``seed`` and ``time``
    (the heat kernel's ``t``) make the ``diffused_random`` one."""
    if field not in FIELDS:
        raise ValueError(f"field={field!r}: expected one of {FIELDS}")
    if field == "diffused_random":
        return diffused_random_field(manifold, points, time=time, seed=seed)
    return closed_form_field(manifold, field, points)


def singularities(manifold: str, field: str) -> tuple[np.ndarray, np.ndarray]:
    """The zeros of a closed-form field: locations ``(s, 3)`` and Poincaré–Hopf indices ``(s,)`` (module doc);
    none (``(0, 3)``, ``(0,)``) for the torus rotation and the random field, whose zeros are unknown."""
    if field == "rotation" and manifold == "sphere":
        return np.array([[0.0, 0.0, 1.0], [0.0, 0.0, -1.0]]), np.array([1, 1])
    if field == "gradient" and manifold == "sphere":
        axes = np.concatenate([np.eye(3), -np.eye(3)])
        corners = np.array(np.meshgrid([1, -1], [1, -1], [1, -1], indexing="ij")).reshape(3, -1).T / 3**0.5
        return np.concatenate([axes, corners]), np.array([-1] * 6 + [1] * 8)
    if field == "gradient":
        half = np.pi / 2
        u, v = np.array([0, np.pi, 0, np.pi, half, 3 * half, half, 3 * half]), np.array([half, half, 3 * half,
                                                                                          3 * half, 0, 0, np.pi, np.pi])
        return torus_from_angles(u, v), np.array([1] * 4 + [-1] * 4)
    return np.zeros((0, 3)), np.zeros(0, dtype=int)
