"""Steady Darcy flow on the unit square: FNO's Darcy data (``darcy/solve_gwf.m`` + ``GRF.m``), in numpy/scipy.

PDE:  -div(a(x) grad u(x)) = f(x)  on (0, 1)^2,   u = 0 on the boundary.

Discretisation: ``s x s`` nodes ``x_i = i h``, ``h = 1 / (s - 1)``, boundaries included (FNO's 421 / 85 /
... grids, so that the grid with ``(s - 1) / m + 1`` nodes is an exact subsample for every divisor ``m`` of
``s - 1``). The 5-point stencil at an interior node is

    [ a_e (u_ij - u_i+1,j) + a_w (u_ij - u_i-1,j) + a_n (u_ij - u_i,j+1) + a_s (u_ij - u_i,j-1) ] / h^2 = f_ij

with face coefficients the arithmetic ("half-point averages", FNO's choice, the default) or harmonic
mean of the two nodal values of ``a``; second order for smooth ``a``. The ``(s-2)^2`` system is symmetric
positive definite, assembled with ``scipy.sparse`` and solved by a sparse direct LU (SuperLU), one per
sample.

Data (:func:`darcy_coefficient`): ``a = a_pos`` where a Neumann GRF with covariance
``tau^(2 alpha - 2) (-Delta + tau^2)^(-alpha)`` (``alpha = 2, tau = 3``) is ``>= 0``, else ``a_neg``, with
FNO paper's values 12 / 3 (the public ``demo.m`` writes 4 for ``a_neg``), and ``f = 1``. Unlike
``solve_gwf.m``, which samples the field at cell centres, spline-interpolates ``a`` to the nodes, solves,
and interpolates ``u`` back to the cell centres, the field, ``a`` and ``u`` all live on the same nodes here.

Shapes: ``a`` ``(batch, s, s)`` or ``(s, s)`` (axis 1 is x, axis 2 is y); ``u`` the same, zero on the
boundary; float64 by default.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
import torch

from zoo.data.pde.solvers.grf import gaussian_random_field

FACE_MEANS = ("arithmetic", "harmonic")


def _face(left: np.ndarray, right: np.ndarray, face_mean: str) -> np.ndarray:
    if face_mean == "arithmetic":
        return 0.5 * (left + right)
    return 2.0 * left * right / (left + right)


def darcy_matrix(a: np.ndarray, face_mean: str = "arithmetic") -> sp.csc_matrix:
    """The ``(s-2)^2 x (s-2)^2`` finite-difference operator for one coefficient ``a`` ``(s, s)``.

    Unknowns are the interior nodes in row-major order (index ``(i-1)(s-2) + (j-1)``)."""
    s = a.shape[0]
    m = s - 2
    inv_h2 = float(s - 1) ** 2
    ax = _face(a[:-1, :], a[1:, :], face_mean)  # (s-1, s): face between nodes (i, j) and (i+1, j)
    ay = _face(a[:, :-1], a[:, 1:], face_mean)  # (s, s-1): face between nodes (i, j) and (i, j+1)
    east, west = ax[1:, 1:-1], ax[:-1, 1:-1]  # faces of interior node (i, j), i, j = 1..s-2
    north, south = ay[1:-1, 1:], ay[1:-1, :-1]
    diag = (east + west + north + south).ravel() * inv_h2
    off_x = -ax[1:-1, 1:-1].ravel() * inv_h2  # couples (i, j) with (i+1, j): offset m
    off_y = np.zeros((m, m))
    off_y[:, :-1] = ay[1:-1, 1:-1]  # couples (i, j) with (i, j+1) inside a row: offset 1
    off_y = -off_y.ravel()[:-1] * inv_h2
    return sp.diags([diag, off_x, off_x, off_y, off_y], [0, m, -m, 1, -1], format="csc")


def solve_darcy(a, f=1.0, face_mean: str = "arithmetic", dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Solve ``-div(a grad u) = f``, ``u = 0`` on the boundary, for each coefficient in the batch.

    ``a``: ``(batch, s, s)`` or ``(s, s)`` (array or tensor, strictly positive); ``f``: a scalar, ``(s, s)``
    or ``(batch, s, s)``. Returns ``u`` with ``a``'s shape (boundary values 0), in ``dtype``.
    """
    if face_mean not in FACE_MEANS:
        raise ValueError(f"face_mean must be one of {FACE_MEANS}, got {face_mean!r}")
    a_np = a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)
    a_np = a_np.astype(np.float64)
    single = a_np.ndim == 2
    if single:
        a_np = a_np[None]
    if a_np.ndim != 3 or a_np.shape[1] != a_np.shape[2] or a_np.shape[1] < 3:
        raise ValueError(f"a must have shape (batch, s, s) or (s, s) with s >= 3, got {tuple(np.shape(a))}")
    if not np.all(np.isfinite(a_np)) or np.any(a_np <= 0):
        raise ValueError("a must be finite and strictly positive")
    batch, s, _ = a_np.shape
    f_np = f.detach().cpu().numpy() if isinstance(f, torch.Tensor) else np.asarray(f, dtype=np.float64)
    f_np = f_np.astype(np.float64)
    if f_np.ndim not in (0, 2, 3) or (f_np.ndim >= 2 and f_np.shape[-2:] != (s, s)) or \
            (f_np.ndim == 3 and f_np.shape[0] != batch):
        raise ValueError(f"f must be a scalar, (s, s) or (batch, s, s) = ({batch}, {s}, {s}), got {f_np.shape}")
    f_np = np.broadcast_to(f_np, (batch, s, s))
    u = np.zeros((batch, s, s))
    for b in range(batch):
        rhs = np.ascontiguousarray(f_np[b, 1:-1, 1:-1]).ravel()
        u[b, 1:-1, 1:-1] = spla.spsolve(darcy_matrix(a_np[b], face_mean), rhs).reshape(s - 2, s - 2)
    out = torch.as_tensor(u, dtype=dtype)
    return out[0] if single else out


def darcy_coefficient(n_samples: int, s: int, alpha: float = 2.0, tau: float = 3.0, a_pos: float = 12.0,
                      a_neg: float = 3.0, seed=None, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Thresholded Neumann GRF on the ``s x s`` node grid, ``(n_samples, s, s)``: ``a_pos`` where the field is
    ``>= 0``, else ``a_neg``."""
    if not (a_pos > 0 and a_neg > 0):
        raise ValueError(f"a_pos and a_neg must be positive, got {a_pos!r}, {a_neg!r}")
    field = gaussian_random_field(n_samples, s, dim=2, alpha=alpha, tau=tau, boundary="neumann", seed=seed)
    return torch.where(field >= 0, a_pos, a_neg).to(dtype)

