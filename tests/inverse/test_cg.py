"""zoo.inverse.cg in float64 against dense solves and the closed-form Krylov (Galerkin) iterate: DDS's data
consistency ``(I + γ AᴴA) x = b`` on 16² images, the Krylov-space property, per-sample batching, early stopping."""

import pytest
import torch

from zoo.inverse import BlurDownsample, MRIMask, ParallelBeamCT, cg, coil_maps, gaussian_kernel

f64 = torch.float64
SHAPE = (1, 16, 16)
n = 256


OPERATORS = {
    "mri": lambda: MRIMask.cartesian(16, acceleration=4, center_fraction=0.125),
    "mri_multicoil": lambda: MRIMask.cartesian(16, acceleration=4, center_fraction=0.125, coils=coil_maps(4, 16)),
    "ct": lambda: ParallelBeamCT(16, 8),
    "blur_down": lambda: BlurDownsample(gaussian_kernel(5, 1.5), 2, size=16),
}


def system(op, gamma=1.0):
    """``apply(x) = x + γ AᴴA x`` and its dense matrix (n, n), built column by column."""
    def apply(x):
        return x + gamma * op.normal(x)

    return apply, apply(torch.eye(n, dtype=f64).reshape(n, *SHAPE)).reshape(n, n).T


def randn(*shape, seed):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=f64)


def krylov_basis(N, r0, k):
    """An orthonormal basis (n, k) of span{r0, N r0, …, N^{k−1} r0} by Arnoldi with Gram–Schmidt done twice."""
    Q = [r0 / torch.linalg.vector_norm(r0)]
    for _ in range(k - 1):
        w = N @ Q[-1]
        for _ in range(2):
            w = w - torch.stack(Q, 1) @ (torch.stack(Q, 1).T @ w)
        Q.append(w / torch.linalg.vector_norm(w))
    return torch.stack(Q, 1)


@pytest.mark.parametrize("name", OPERATORS)
def test_matches_dense_solve(name):
    """(I + γ AᴴA) x = x̂₀ + γ Aᴴ y from x₀ = x̂₀ (DDS's system), three samples at once, equals torch.linalg.solve."""
    op = OPERATORS[name]()
    gamma = 0.5
    apply, N = system(op, gamma)
    x_hat, x_true = randn(3, *SHAPE, seed=0), randn(3, *SHAPE, seed=1)
    b = x_hat + gamma * op.AH(op.A(x_true))
    x = cg(apply, b, x_hat, iters=300, tol=1e-13)
    exact = torch.linalg.solve(N, b.reshape(3, n).T).T
    torch.testing.assert_close(x.reshape(3, n), exact, rtol=0, atol=1e-8 * exact.abs().max())


def test_iterate_lies_in_krylov_space():
    """x_k − x₀ ∈ span{r₀, N r₀, …, N^{k−1} r₀} (k = 4, projection residual < 1e-10), but x_{k+1} − x₀ is not."""
    op = OPERATORS["ct"]()
    apply, N = system(op)
    b, x0 = randn(1, *SHAPE, seed=2), randn(1, *SHAPE, seed=3)
    r0 = b.reshape(n) - N @ x0.reshape(n)
    Q = krylov_basis(N, r0, 4)
    for k, inside in ((4, True), (5, False)):
        d = (cg(apply, b, x0, iters=k) - x0).reshape(n)
        residual = torch.linalg.vector_norm(d - Q @ (Q.T @ d)) / torch.linalg.vector_norm(d)
        assert (residual < 1e-10) if inside else (residual > 1e-3), (k, residual)


def test_batched_samples_take_their_own_steps():
    """After k = 3 steps each sample is its own Galerkin iterate x₀ + Q (QᵀNQ)⁻¹ Qᵀ r₀ (CG's closed form: the
    N-norm error minimiser over x₀ + K₃(N, r₀)), although the samples have different b and x₀."""
    op = OPERATORS["mri_multicoil"]()
    apply, N = system(op, gamma=3.0)
    b, x0 = randn(3, *SHAPE, seed=4), randn(3, *SHAPE, seed=5)
    b[1] *= 100
    x0[2] = 0
    x = cg(apply, b, x0, iters=3).reshape(3, n)
    for i in range(3):
        r0 = b[i].reshape(n) - N @ x0[i].reshape(n)
        Q = krylov_basis(N, r0, 3)
        galerkin = x0[i].reshape(n) + Q @ torch.linalg.solve(Q.T @ N @ Q, Q.T @ r0)
        torch.testing.assert_close(x[i], galerkin, rtol=0, atol=1e-10 * galerkin.abs().max())


def test_tol_stops_each_sample():
    """A sample that starts at its solution stays there exactly (no 0/0), the others reach ‖r‖ ≤ tol ‖b‖, and the
    loop ends before ``iters`` once all have; b = x₀ = 0 gives 0."""
    op = OPERATORS["mri"]()
    apply, N = system(op)
    b = randn(2, *SHAPE, seed=6)
    x0 = torch.zeros_like(b)
    x0[0] = torch.linalg.solve(N, b[0].reshape(n)).reshape(SHAPE)
    calls = []

    def counted(x):
        calls.append(1)
        return apply(x)

    x = cg(counted, b, x0, iters=200, tol=1e-10)
    assert torch.equal(x[0], x0[0])
    residual = torch.linalg.vector_norm((b - apply(x))[1]) / torch.linalg.vector_norm(b[1])
    assert residual <= 1e-10
    assert len(calls) < 50
    zeros = torch.zeros(1, *SHAPE, dtype=f64)
    assert torch.equal(cg(apply, zeros, zeros, iters=5), zeros)


def test_complex_hermitian_system():
    """Complex x with a Hermitian positive definite N: the real inner product Re Σ conj(a) b solves it too."""
    G = torch.randn(30, 20, dtype=torch.complex128, generator=torch.Generator().manual_seed(7))
    N = torch.eye(20, dtype=torch.complex128) + G.conj().T @ G
    b = torch.randn(2, 20, dtype=torch.complex128, generator=torch.Generator().manual_seed(8))
    x = cg(lambda v: v @ N.T, b, torch.zeros_like(b), iters=100, tol=1e-14)
    torch.testing.assert_close(x, torch.linalg.solve(N, b.T).T, rtol=0, atol=1e-10)


def test_float32():
    """float32 works (and stays float32) on a well-conditioned system: single-precision agreement."""
    op = OPERATORS["mri"]()
    apply, N = system(op)
    b = randn(2, *SHAPE, seed=9)
    x = cg(apply, b.float(), torch.zeros_like(b).float(), iters=30)
    assert x.dtype == torch.float32
    torch.testing.assert_close(x.double().reshape(2, n), torch.linalg.solve(N, b.reshape(2, n).T).T, rtol=0,
                               atol=1e-5)


def test_bad_arguments():
    b = torch.zeros(2, *SHAPE)
    with pytest.raises(ValueError, match=r"b of shape \(2, 1, 16, 16\) and x0 of shape \(2, 16, 16\)"):
        cg(lambda v: v, b, torch.zeros(2, 16, 16), iters=3)
    with pytest.raises(ValueError, match="iters must be >= 0"):
        cg(lambda v: v, b, b, iters=-1)
