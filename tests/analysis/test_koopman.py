"""Koopman / ResDMD toolkit against closed forms in float64: exact Koopman eigenvalues of a linear map (monomials)
and of a circle rotation (Fourier), the residual's quadratic form and direct norm, the QR form against the plain
Gram matrices, pseudospectrum bounds and its closed form for a unitary diagonal operator, quadrature weights,
complex dictionaries, latent trajectories, the dictionaries' orthonormality, and bad input."""

import math

import numpy as np
import pytest
import torch

from zoo.analysis.koopman import (
    dictionaries,
    edmd,
    koopman_matrix,
    latent_koopman_residuals,
    pseudospectrum,
    resdmd,
    residual,
    snapshot_pairs,
)

F64, C128 = torch.float64, torch.complex128


def generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def assert_same_set(found: torch.Tensor, expected: torch.Tensor, atol: float) -> None:
    """Equal multisets of complex numbers: each expected value matched to a distinct nearest found one."""
    found, expected = found.to(C128).tolist(), expected.to(C128).tolist()
    assert len(found) == len(expected)
    for value in expected:
        j = min(range(len(found)), key=lambda i: abs(found[i] - value))
        assert abs(found[j] - value) < atol, (value, found)
        found.pop(j)


def gram(psi_x, psi_y, w):
    """Plain ``G = Ψ_Xᴴ W Ψ_X``, ``A = Ψ_Xᴴ W Ψ_Y``, ``L = Ψ_Yᴴ W Ψ_Y``."""
    Wx, Wy = w[:, None] * psi_x, w[:, None] * psi_y
    return psi_x.mH @ Wx, psi_x.mH @ Wy, psi_y.mH @ Wy


def quadratic_residual(psi_x, psi_y, w, lam, g):
    """``res² = gᴴ(L − λAᴴ − λ̄A + |λ|²G)g / gᴴGg`` per column of g (N, K). Squared: the quadratic form cancels
    to ~1e-16 absolute, so its square root is only good to ~1e-8 where res ≈ 0."""
    G, A, L = (m.to(C128) for m in gram(psi_x, psi_y, w))
    out = []
    for j in range(len(lam)):
        v, z = g[:, j], lam[j]
        form = L - z * A.mH - z.conj() * A + abs(z) ** 2 * G
        out.append(((v.conj() @ form @ v) / (v.conj() @ G @ v)).real)
    return torch.stack(out)


def direct_residual(psi_x, psi_y, w, lam, g):
    """``‖Ψ_Y g − λΨ_X g‖_W / ‖Ψ_X g‖_W`` per column."""
    X, Y = psi_x.to(C128) @ g, psi_y.to(C128) @ g
    return ((w[:, None] * (Y - lam * X).abs().square()).sum(0) / (w[:, None] * X.abs().square()).sum(0)).sqrt()


def nonlinear_data(M: int = 400, seed: int = 0):
    """A nonlinear map of the plane with monomials of degree ≤ 3 (not invariant: residuals are O(0.01–1))."""
    x = torch.rand(M, 2, dtype=F64, generator=generator(seed)) * 2 - 1
    y = torch.stack([0.9 * x[:, 0] + 0.3 * x[:, 1] ** 2, 0.7 * x[:, 1] - 0.2 * torch.sin(2 * x[:, 0])], 1)
    w = torch.rand(M, dtype=F64, generator=generator(seed + 1)) + 0.5
    return dictionaries.monomials(x, 3), dictionaries.monomials(y, 3), w / w.sum()


def rotation_data(omega: float = 0.1234, modes: int = 5, M: int = 64):
    """Circle rotation ``θ ↦ θ + 2πω`` on an equispaced grid, Fourier modes ``|k| ≤ modes``."""
    theta = torch.arange(M, dtype=F64)[:, None] * 2 * math.pi / M
    return dictionaries.fourier(theta, modes), dictionaries.fourier(theta + 2 * math.pi * omega, modes)


def test_linear_map_with_monomials_gives_products_of_eigenvalues():
    A = torch.tensor([[0.9, 0.3], [-0.1, 0.5]], dtype=F64)  # eigenvalues 0.8, 0.6
    lam1, lam2 = 0.8, 0.6
    x = torch.randn(300, 2, dtype=F64, generator=generator())
    eigvals, eigvecs, res = resdmd(dictionaries.monomials(x, 2), dictionaries.monomials(x @ A.T, 2))
    expected = torch.tensor([1, lam1, lam2, lam1 ** 2, lam1 * lam2, lam2 ** 2], dtype=F64)
    assert_same_set(eigvals, expected, atol=1e-10)
    assert res.max() < 1e-10
    # an eigenfunction of degree 1 is z ↦ w·x with wᵀA = λ wᵀ: its quadratic and constant coefficients vanish
    j = (eigvals - lam1).abs().argmin()
    assert eigvecs[[0, 3, 4, 5], j].abs().max() < 1e-10


def test_circle_rotation_with_fourier_gives_roots_of_unity_powers():
    omega, modes = 0.1234, 5
    psi_x, psi_y = rotation_data(omega, modes)
    eigvals, _, res = resdmd(psi_x, psi_y)
    k = torch.arange(-modes, modes + 1, dtype=F64)
    assert_same_set(eigvals, torch.exp(2j * math.pi * k * omega), atol=1e-12)
    assert res.max() < 1e-12


def test_quadratic_form_residual_equals_direct_residual():
    psi_x, psi_y, w = nonlinear_data()
    eigvals, eigvecs, res = resdmd(psi_x, psi_y, w)
    assert (res > 1e-3).sum() == len(res) - 1  # only the constant is invariant: a non-trivial check
    torch.testing.assert_close(res, direct_residual(psi_x, psi_y, w, eigvals, eigvecs), rtol=0, atol=1e-10)
    torch.testing.assert_close(res ** 2, quadratic_residual(psi_x, psi_y, w, eigvals, eigvecs), rtol=0, atol=1e-12)
    # arbitrary candidate pairs (not eigenpairs) through residual()
    lam = torch.randn(4, dtype=C128, generator=generator(2))
    g = torch.randn(psi_x.shape[1], 4, dtype=C128, generator=generator(3))
    torch.testing.assert_close(residual(psi_x, psi_y, lam, g, w), direct_residual(psi_x, psi_y, w, lam, g),
                               rtol=0, atol=1e-10)


def test_qr_form_matches_plain_gram_matrices():
    psi_x, psi_y, w = nonlinear_data()
    G, A, _ = gram(psi_x, psi_y, w)
    K = koopman_matrix(psi_x, psi_y, w)
    torch.testing.assert_close(K, torch.linalg.solve(G, A), rtol=0, atol=1e-10)
    eigvals, eigvecs = edmd(psi_x, psi_y, w)
    torch.testing.assert_close(K.to(C128) @ eigvecs, eigvecs * eigvals, rtol=0, atol=1e-10)
    norms = (eigvecs.mH @ G.to(C128) @ eigvecs).diagonal().real  # ‖Ψ_X g‖²_W = gᴴGg = 1
    torch.testing.assert_close(norms, torch.ones_like(norms), rtol=0, atol=1e-10)


def test_pseudospectrum_is_nonnegative_and_below_residuals():
    psi_x, psi_y, w = nonlinear_data()
    eigvals, _, res = resdmd(psi_x, psi_y, w)
    grid = torch.complex(*torch.meshgrid(torch.linspace(-1.5, 1.5, 13, dtype=F64),
                                         torch.linspace(-1.5, 1.5, 13, dtype=F64), indexing="ij"))
    assert pseudospectrum(psi_x, psi_y, grid, w, chunk=50).shape == grid.shape
    assert (pseudospectrum(psi_x, psi_y, grid, w, chunk=50) >= 0).all()
    assert (pseudospectrum(psi_x, psi_y, eigvals, w) <= res + 1e-12).all()
    # τ(z)² is the smallest generalised eigenvalue of (L − zAᴴ − z̄A + |z|²G, G) from the plain Gram matrices
    G, A, L = (m.to(C128) for m in gram(psi_x, psi_y, w))
    z = torch.tensor([0.3 + 0.2j, -0.7j, 1.1], dtype=C128)
    chol = torch.linalg.cholesky(G)
    for zj, tau in zip(z, pseudospectrum(psi_x, psi_y, z, w)):
        H = L - zj * A.mH - zj.conj() * A + abs(zj) ** 2 * G
        reduced = torch.linalg.solve_triangular(chol, torch.linalg.solve_triangular(chol, H, upper=False).mH,
                                                upper=False)
        assert abs(tau ** 2 - torch.linalg.eigvalsh(reduced)[0]) < 1e-10


def test_pseudospectrum_of_a_rotation_is_the_distance_to_its_eigenvalues():
    """On an equispaced grid the Fourier modes are orthonormal and invariant: ``A`` is unitary diagonal and ``S = 0``,
    so ``τ(z) = min_k |z − e^{2πikω}|``."""
    omega, modes = 0.1234, 5
    psi_x, psi_y = rotation_data(omega, modes)
    z = torch.complex(torch.randn(40, dtype=F64, generator=generator(4)),
                      torch.randn(40, dtype=F64, generator=generator(5)))
    spectrum = torch.exp(2j * math.pi * torch.arange(-modes, modes + 1, dtype=F64) * omega)
    torch.testing.assert_close(pseudospectrum(psi_x, psi_y, z, chunk=7),
                               (z[:, None] - spectrum).abs().min(dim=1).values, rtol=0, atol=1e-12)


def test_duplicated_samples_with_half_weight_give_the_same_result():
    psi_x, psi_y, w = nonlinear_data(M=200)
    eigvals, eigvecs, res = resdmd(psi_x, psi_y, w)
    twice = resdmd(psi_x.repeat(2, 1), psi_y.repeat(2, 1), w.repeat(2) / 2)
    assert_same_set(twice[0], eigvals, atol=1e-10)
    torch.testing.assert_close(twice[2].sort().values, res.sort().values, rtol=0, atol=1e-10)
    z = torch.tensor([0.5 + 0.5j, -0.2], dtype=C128)
    torch.testing.assert_close(pseudospectrum(psi_x.repeat(2, 1), psi_y.repeat(2, 1), z, w.repeat(2) / 2),
                               pseudospectrum(psi_x, psi_y, z, w), rtol=0, atol=1e-10)
    # samples with zero weight do not count; the default weights are uniform
    extra = torch.randn(5, psi_x.shape[1], dtype=F64, generator=generator(6))
    padded = resdmd(torch.cat([psi_x, extra]), torch.cat([psi_y, extra]), torch.cat([w, torch.zeros(5, dtype=F64)]))
    torch.testing.assert_close(padded[2].sort().values, res.sort().values, rtol=0, atol=1e-10)
    uniform = torch.full((200,), 1 / 200, dtype=F64)
    torch.testing.assert_close(pseudospectrum(psi_x, psi_y, z), pseudospectrum(psi_x, psi_y, z, uniform),
                               rtol=0, atol=1e-12)


def test_complex_dictionary_with_exactly_invariant_span():
    """``Ψ_Y = Ψ_X K`` with ``K = V diag(λ) V⁻¹`` complex: EDMD returns ``λ`` with zero residual; on a perturbed
    ``Ψ_Y`` the quadratic-form residual equals the direct one."""
    M, N = 120, 6
    psi_x = torch.randn(M, N, dtype=C128, generator=generator(7))
    lam = torch.tensor([0.9, 0.5j, -0.3 + 0.4j, 0.1 - 0.7j, -0.8, 0.2 + 0.1j], dtype=C128)
    V = torch.randn(N, N, dtype=C128, generator=generator(8)) + 3 * torch.eye(N, dtype=C128)
    K = V @ torch.diag(lam) @ torch.linalg.inv(V)
    eigvals, eigvecs, res = resdmd(psi_x, psi_x @ K)
    assert_same_set(eigvals, lam, atol=1e-10)
    assert res.max() < 1e-10
    torch.testing.assert_close(koopman_matrix(psi_x, psi_x @ K), K, rtol=0, atol=1e-10)
    psi_y = psi_x @ K + 0.1 * torch.randn(M, N, dtype=C128, generator=generator(9))
    w = torch.full((M,), 1 / M, dtype=F64)
    eigvals, eigvecs, res = resdmd(psi_x, psi_y)
    torch.testing.assert_close(res ** 2, quadratic_residual(psi_x, psi_y, w, eigvals, eigvecs), rtol=0, atol=1e-12)
    torch.testing.assert_close(res, direct_residual(psi_x, psi_y, w, eigvals, eigvecs), rtol=0, atol=1e-10)


def test_latent_trajectories_learned_on_one_set_verified_on_another():
    A = torch.tensor([[0.9, -0.4, 0.0], [0.4, 0.9, 0.0], [0.0, 0.0, 0.5]], dtype=F64)  # z_{t+1} = z_t A
    def rollout(seed, B=8, T=10):
        z = [torch.randn(B, 3, dtype=F64, generator=generator(seed))]
        for _ in range(T - 1):
            z.append(z[-1] @ A)
        return torch.stack(z, 1)
    z_train, z_test = rollout(10), rollout(11)
    X, Y = snapshot_pairs(z_train)
    assert X.shape == (8 * 9, 3) and torch.equal(Y[0], z_train[0, 1]) and torch.equal(X[9], z_train[1, 0])
    spectrum = latent_koopman_residuals(z_train, z_test)
    assert_same_set(spectrum.eigvals, torch.linalg.eigvals(A), atol=1e-10)
    assert spectrum.residuals.max() < 1e-10
    # the given linear map checked directly: eigenfunctions z ↦ z w with A w = λ w
    eigvals, w = torch.linalg.eig(A)
    assert residual(*snapshot_pairs(z_test), eigvals, w).max() < 1e-10
    # a wrong map is caught on held-out data
    assert residual(*snapshot_pairs(z_test), eigvals * 0.9, w).min() > 0.01
    quadratic = latent_koopman_residuals(z_train, z_test, lambda z: dictionaries.monomials(z, 2))
    assert quadratic.residuals.max() < 1e-8
    with pytest.raises(ValueError, match="held-out"):
        latent_koopman_residuals(z_train, z_train)


def test_hermite_and_legendre_are_orthonormal():
    nodes, weights = np.polynomial.hermite.hermgauss(40)  # ∫ f e^{−x²} dx
    x, w = torch.tensor(nodes)[:, None], torch.tensor(weights * np.exp(nodes ** 2))
    h = dictionaries.hermite(x, 15)
    torch.testing.assert_close(h.T @ (w[:, None] * h), torch.eye(16, dtype=F64), rtol=0, atol=1e-12)
    nodes, weights = np.polynomial.legendre.leggauss(30)
    x, w = torch.tensor(nodes)[:, None], torch.tensor(weights)
    P = dictionaries.legendre(x, 12)
    torch.testing.assert_close(P.T @ (w[:, None] * P), torch.eye(13, dtype=F64), rtol=0, atol=1e-12)
    torch.testing.assert_close(P[:, 2], math.sqrt(2.5) * (3 * x[:, 0] ** 2 - 1) / 2, rtol=0, atol=1e-14)


def test_dictionaries_closed_forms():
    x = torch.tensor([[0.5, -2.0], [1.5, 3.0]], dtype=F64)
    a, b = x[:, 0], x[:, 1]
    expected = torch.stack([torch.ones(2, dtype=F64), a, b, a ** 2, a * b, b ** 2, a ** 3, a ** 2 * b, a * b ** 2,
                            b ** 3], 1)
    torch.testing.assert_close(dictionaries.monomials(x, 3), expected, rtol=1e-15, atol=0)
    assert dictionaries.exponents(3, 4).shape == (math.comb(7, 3), 3)
    # Hermite functions in two dimensions are products of the 1-D ones, h_1(x) = √2 x h_0(x)
    h0 = math.pi ** -0.25 * torch.exp(-x ** 2 / 2)
    torch.testing.assert_close(dictionaries.hermite(x, 1),
                               torch.stack([h0[:, 0] * h0[:, 1], math.sqrt(2) * a * h0[:, 0] * h0[:, 1],
                                            math.sqrt(2) * b * h0[:, 0] * h0[:, 1]], 1), rtol=1e-14, atol=0)
    F = dictionaries.fourier(x, 1)
    k = torch.tensor([[-1, -1], [-1, 0], [-1, 1], [0, -1], [0, 0], [0, 1], [1, -1], [1, 0], [1, 1]], dtype=F64)
    torch.testing.assert_close(F, torch.exp(1j * (x @ k.T)), rtol=0, atol=1e-15)
    centers = torch.tensor([[0.0, 0.0], [1.0, 1.0], [0.5, -2.0]], dtype=F64)
    R = dictionaries.rbf(x, centers, scale=2.0)
    torch.testing.assert_close(R[0, 1], torch.tensor(math.exp(-(0.25 + 9) / 8), dtype=F64), rtol=1e-15, atol=0)
    assert R[0, 2] == 1
    P = dictionaries.product(F[:, :2], R)
    torch.testing.assert_close(P[:, 1 * 3 + 2], F[:, 1] * R[:, 2], rtol=0, atol=0)


@pytest.mark.parametrize("call, match", [
    (lambda x, y: edmd(x, y[:-1]), "same shape"),
    (lambda x, y: edmd(x[0], y[0]), r"psi_x must be .*\(M, N\)"),
    (lambda x, y: edmd(x[:3], y[:3]), "M=3 samples for N=10"),
    (lambda x, y: edmd(x, y.index_fill(0, torch.tensor([2]), float("nan"))), "psi_y has non-finite"),
    (lambda x, y: edmd(x, y, -torch.ones(len(x), dtype=F64)), "non-negative"),
    (lambda x, y: edmd(x, y, torch.ones(len(x) + 1, dtype=F64)), r"weights must be .*\(M,\)"),
    (lambda x, y: edmd(torch.cat([x, x[:, :1]], 1), torch.cat([y, y[:, :1]], 1)), "rank deficient.*drop"),
    (lambda x, y: resdmd(x, y, torch.cat([torch.ones(5), torch.zeros(len(x) - 5)]).to(F64)), "rank deficient"),
    (lambda x, y: pseudospectrum(x, y, torch.tensor([float("inf")])), "z has non-finite"),
    (lambda x, y: residual(x, y, torch.ones(3, dtype=C128), torch.ones(4, 3, dtype=C128)), r"eigvecs \(N=10, K\)"),
    (lambda x, y: dictionaries.monomials(x[:, 0], 2), r"x must be .*\(M, d\)"),
    (lambda x, y: dictionaries.hermite(x[:, :2], -1), "degree must be a non-negative int"),
    (lambda x, y: dictionaries.rbf(x[:, :2], torch.zeros(3, 3, dtype=F64)), r"centers must be \(N, d=2\)"),
])
def test_bad_input_gets_a_clear_error(call, match):
    psi_x, psi_y, _ = nonlinear_data(M=50)
    with pytest.raises((ValueError, TypeError), match=match):
        call(psi_x, psi_y)


def test_integer_dictionary_is_rejected():
    with pytest.raises(TypeError, match="psi_x must be a real or complex floating tensor"):
        edmd(torch.ones(5, 2, dtype=torch.long), torch.ones(5, 2))
