"""zoo.inverse.tv in float64: the discrete gradient against dense difference matrices and its closed-form norm,
TV of ramps, ‖A‖ against a dense SVD, and the TV reconstruction against scipy's Newton trust-region minimisation
of the same objective (TV smoothed by ε → 1e-8) on 6 × 6 problems."""

import math

import numpy as np
import pytest
import torch
from scipy.optimize import minimize

from zoo.inverse import (BlurDownsample, Identity, Inpaint, MRIMask, ParallelBeamCT, gaussian_kernel, operator_norm,
                         total_variation, tv_reconstruction)
from zoo.inverse.tv import gradient, gradient_adjoint

f64 = torch.float64


def differences(H, W):
    """Forward differences along W and along H with a Neumann boundary: dense (HW, HW) on row-major pixels."""
    Dx, Dy = np.zeros((H * W, H * W)), np.zeros((H * W, H * W))
    for i in range(H):
        for j in range(W):
            p = i * W + j
            if j < W - 1:
                Dx[p, p], Dx[p, p + 1] = -1, 1
            if i < H - 1:
                Dy[p, p], Dy[p, p + W] = -1, 1
    return Dx, Dy


def dense(op):
    """A as a real matrix (m, n) on row-major pixels ([Re; Im] rows for a complex A)."""
    n = math.prod(op.in_shape)
    M = op.A(torch.eye(n, dtype=f64).reshape(n, *op.in_shape)).reshape(n, -1).T
    return torch.cat([M.real, M.imag]).numpy() if M.is_complex() else M.numpy()


def objective(op, x, y, lam):
    """½‖A x − y‖² + λ TV(x) per sample (B,)."""
    return 0.5 * (op.A(x) - y).abs().square().flatten(1).sum(1) + lam * total_variation(x)


def reference(op, y, lam):
    """scipy's trust-exact on ½‖M x − y‖² + λ Σ √((Dx x)² + (Dy x)² + ε²) with exact gradient and Hessian, ε from
    1e-1 down to 1e-8 (warm started); the smoothing moves the optimal value by at most λ·HW·ε."""
    _, H, W = op.in_shape
    M = dense(op)
    y = y.reshape(-1).numpy()
    if np.iscomplexobj(y):
        y = np.concatenate([y.real, y.imag])
    Dx, Dy = differences(H, W)
    x = np.zeros(H * W)
    for eps in 10.0 ** -np.arange(1, 9):
        def parts(v, eps=eps):
            gx, gy = Dx @ v, Dy @ v
            return gx, gy, np.sqrt(gx ** 2 + gy ** 2 + eps ** 2)

        def fun(v):
            return 0.5 * np.sum((M @ v - y) ** 2) + lam * parts(v)[2].sum()

        def jac(v):
            gx, gy, phi = parts(v)
            return M.T @ (M @ v - y) + lam * (Dx.T @ (gx / phi) + Dy.T @ (gy / phi))

        def hess(v):
            gx, gy, phi = parts(v)
            xx, yy, xy = 1 / phi - gx ** 2 / phi ** 3, 1 / phi - gy ** 2 / phi ** 3, -gx * gy / phi ** 3
            cross = Dx.T @ (xy[:, None] * Dy)
            return M.T @ M + lam * (Dx.T @ (xx[:, None] * Dx) + Dy.T @ (yy[:, None] * Dy) + cross + cross.T)

        x = minimize(fun, x, jac=jac, hess=hess, method="trust-exact", options=dict(gtol=1e-12, maxiter=300)).x
    return torch.from_numpy(x).reshape(1, *op.in_shape)


def test_gradient_is_the_difference_matrices_and_adjoint():
    H, W = 5, 7
    Dx, Dy = differences(H, W)
    x = torch.randn(2, 3, H, W, dtype=f64)
    g = gradient(x)
    torch.testing.assert_close(g[..., 0].reshape(6, -1), x.reshape(6, -1) @ torch.from_numpy(Dx).T)
    torch.testing.assert_close(g[..., 1].reshape(6, -1), x.reshape(6, -1) @ torch.from_numpy(Dy).T)
    q = torch.randn(2, 3, H, W, 2, dtype=f64)  # also non-zero where ∇x is 0: the adjoint must ignore those
    torch.testing.assert_close((g * q).sum(), (x * gradient_adjoint(q)).sum(), rtol=1e-12, atol=1e-12)


def test_gradient_norm_closed_form():
    """‖∇‖² = λ_max(∇ᴴ∇) = 4 sin²(π(H−1)/2H) + 4 sin²(π(W−1)/2W) < 8 (the Neumann Laplacian's spectrum)."""
    H, W = 6, 7
    x = torch.eye(H * W, dtype=f64).reshape(-1, H, W)
    gram = gradient_adjoint(gradient(x)).reshape(H * W, H * W)
    exact = 4 * math.sin(math.pi * (H - 1) / (2 * H)) ** 2 + 4 * math.sin(math.pi * (W - 1) / (2 * W)) ** 2
    assert math.isclose(torch.linalg.eigvalsh(gram)[-1].item(), exact, rel_tol=1e-12) and exact < 8


def test_total_variation_of_ramps():
    """x = a j + b i: (H−1)(W−1)√(a² + b²) inside, |b| down the last column, |a| along the last row; per sample,
    summed over channels."""
    H, W, a, b = 5, 8, 0.3, -1.2
    i, j = torch.meshgrid(torch.arange(H, dtype=f64), torch.arange(W, dtype=f64), indexing="ij")
    ramp = a * j + b * i
    x = torch.stack([torch.stack([ramp, 2 * ramp]), torch.stack([j, torch.zeros_like(j)])])  # (2, 2, H, W)
    one = (H - 1) * (W - 1) * math.hypot(a, b) + (H - 1) * abs(b) + (W - 1) * abs(a)
    torch.testing.assert_close(total_variation(x), torch.tensor([3 * one, H * (W - 1)], dtype=f64))


@pytest.mark.parametrize("make, exact", [
    (lambda: Identity((2, 4, 4)), lambda op: 1.0),
    (lambda: MRIMask.cartesian(12), lambda op: 1.0),
    (lambda: Inpaint(torch.eye(6)), lambda op: 1.0),
    (lambda: ParallelBeamCT(10, 6), lambda op: torch.linalg.matrix_norm(op.matrix.to_dense(), 2).item()),
    (lambda: BlurDownsample(gaussian_kernel(3, 1.0), 2, size=9), lambda op: np.linalg.norm(dense(op), 2)),
])
def test_operator_norm(make, exact):
    """Power iteration gives the largest singular value (dense SVD where it is not 1), from below."""
    op = make()
    estimate, reference_norm = operator_norm(op, iters=200), exact(op)
    assert estimate <= reference_norm * (1 + 1e-12)
    assert math.isclose(estimate, reference_norm, rel_tol=1e-6)


PROBLEMS = {
    "denoise": lambda g: Identity((1, 6, 6)),
    "blur_down": lambda g: BlurDownsample(gaussian_kernel(3, 0.8), 2, size=6),
    "inpaint": lambda g: Inpaint(torch.rand(6, 6, generator=g) > 0.4),
    "mri": lambda g: MRIMask.cartesian(6, acceleration=2, center_fraction=0.34),
}


@pytest.mark.parametrize("name", PROBLEMS)
def test_matches_scipy_minimisation(name):
    """Two samples at once, each at scipy's minimum value to 1e-6 (and its minimiser to 1e-3 for denoising, where
    the objective is 1-strongly convex); the objective falls from x₀ = 0."""
    g = torch.Generator().manual_seed(0)
    op = PROBLEMS[name](g)
    x_true = torch.zeros(2, 1, 6, 6, dtype=f64)
    x_true[0, :, 1:4, 2:5] = 1
    x_true[1, :, 2:, :3] = torch.rand(4, 3, generator=g, dtype=f64)
    y = op.A(x_true)
    y = y + 0.1 * torch.randn(y.shape, generator=g, dtype=y.dtype)
    lam = 0.1
    x = tv_reconstruction(op, y, lam, iters=2000)
    for k in range(2):
        best = reference(op, y[k:k + 1], lam)
        value, best_value = objective(op, x[k:k + 1], y[k:k + 1], lam), objective(op, best, y[k:k + 1], lam)
        assert abs(value - best_value) < 1e-6 * max(1.0, best_value.item())
        assert objective(op, torch.zeros_like(best), y[k:k + 1], lam) > value + 0.01
        if name == "denoise":
            torch.testing.assert_close(x[k:k + 1], best, rtol=0, atol=1e-3)


def test_objective_decreases_with_iterations():
    op = BlurDownsample(gaussian_kernel(3, 1.0), 2, size=16)
    g = torch.Generator().manual_seed(1)
    y = op.A(torch.rand(1, 1, 16, 16, generator=g, dtype=f64)) + 0.05 * torch.randn(1, 1, 8, 8, generator=g, dtype=f64)
    values = [objective(op, tv_reconstruction(op, y, 0.05, iters=k), y, 0.05).item() for k in (0, 10, 100, 1000)]
    assert values == sorted(values, reverse=True) and values[-1] < 0.5 * values[0]


def test_no_regularisation_returns_the_measurement():
    """λ = 0 and A = I: the minimiser is y; a tiny λ moves it by O(λ)."""
    y = torch.randn(3, 2, 8, 8, generator=torch.Generator().manual_seed(2), dtype=f64)
    op = Identity((2, 8, 8))
    torch.testing.assert_close(tv_reconstruction(op, y, 0.0, iters=500), y, rtol=0, atol=1e-9)
    assert (tv_reconstruction(op, y, 1e-6, iters=500) - y).abs().max() < 1e-5


def test_bad_arguments():
    with pytest.raises(ValueError, match="lam must be >= 0"):
        tv_reconstruction(Identity((1, 4, 4)), torch.zeros(1, 1, 4, 4), -1.0)
    with pytest.raises(ValueError, match=r"measurement of shape \(1, 1, 4, 5\) does not fit Identity's out_shape"):
        tv_reconstruction(Identity((1, 4, 4)), torch.zeros(1, 1, 4, 5), 0.1)
