"""HiPPO matrices, their NPLR forms and normal parts against closed forms (notes ssm.md §1.2, §2.1 items 4-6),
float64."""

import numpy as np
import pytest
from scipy.linalg import expm
from scipy.special import eval_legendre

from zoo.ssm.hippo import fout, legs, legs_normal, legs_nplr, legt, low_rank, normal


def test_legs_entries_small_case_written_out():
    s = np.sqrt
    A_expected = -np.array(
        [
            [1, 0, 0, 0],
            [s(3), 2, 0, 0],
            [s(5), s(15), 3, 0],
            [s(7), s(21), s(35), 4],
        ]
    )
    A, B = legs(4)
    assert A.dtype == np.float64 and B.shape == (4,)
    np.testing.assert_allclose(A, A_expected, rtol=0, atol=1e-15)
    np.testing.assert_allclose(B, [1, s(3), s(5), s(7)], rtol=0, atol=1e-15)


@pytest.mark.parametrize("N", [8, 32])
def test_legs_eigenvalues_are_minus_one_to_minus_N(N):
    A, _ = legs(N)
    np.testing.assert_allclose(np.sort(np.linalg.eigvals(A).real), -np.arange(N, 0, -1), atol=1e-9)


@pytest.mark.parametrize("N", [8, 32, 64])
def test_legs_normal_part(N):
    Lambda, V = legs_normal(N)
    assert Lambda.shape == (N // 2,) and V.shape == (N, N // 2)
    assert Lambda.dtype == np.complex128 and V.dtype == np.complex128
    assert np.all(Lambda.real == -0.5)  # exactly, by construction through eigh(-iS)
    assert np.all(Lambda.imag < 0)
    np.testing.assert_allclose(V.conj().T @ V, np.eye(N // 2), atol=1e-12)
    # both conjugate halves together give A_N = A_LegS + P P^T, P_n = sqrt(n + 1/2), and A_N + A_N^T = -I
    A_N = 2 * np.real(V @ np.diag(Lambda) @ V.conj().T)
    p = np.sqrt(np.arange(N) + 0.5)
    np.testing.assert_allclose(A_N - np.outer(p, p), legs(N)[0], atol=1e-11 * N)
    np.testing.assert_allclose(A_N + A_N.T, -np.eye(N), atol=1e-11 * N)


@pytest.mark.parametrize("N, top", [(32, 325.43), (64, 1303.27)])
def test_s4d_legs_largest_frequency(N, top):
    Lambda, _ = legs_normal(N)
    assert abs(np.abs(Lambda.imag).max() - top) < 5e-3


def test_httyh_warped_legendre_impulse_response():
    """e^{tA} B = sqrt(2n+1) e^{-t} P_n(2 e^{-t} - 1) (How to Train Your HiPPO)."""
    N = 16
    A, B = legs(N)
    n = np.arange(N)
    for t in [0.05, 0.3, 1.0, 2.5]:
        expected = np.sqrt(2 * n + 1) * np.exp(-t) * eval_legendre(n, 2 * np.exp(-t) - 1)
        np.testing.assert_allclose(expm(t * A) @ B, expected, atol=1e-12)


@pytest.mark.parametrize("m", [0, 1, 3, 7])
def test_legs_reconstructs_monomials(m):
    """For u(t) = t^m the scale-invariant ODE t c' = A c + B u has c(t) = t^m (mI - A)^{-1} B, which must be the
    Legendre moments int_0^1 r^m sqrt(2n+1) P_n(2r - 1) dr (exact Gauss-Legendre quadrature)."""
    N = 8
    A, B = legs(N)
    nodes, weights = np.polynomial.legendre.leggauss(16)
    r, w = (nodes + 1) / 2, weights / 2
    n = np.arange(N)[:, None]
    moments = (np.sqrt(2 * n + 1) * eval_legendre(n, 2 * r - 1) * r**m * w).sum(1)
    np.testing.assert_allclose(np.linalg.solve(m * np.eye(N) - A, B), moments, atol=1e-13)
    if m == 0:
        np.testing.assert_allclose(moments, np.eye(N)[0], atol=1e-14)


@pytest.mark.parametrize("bad", [0, -2, 7])
def test_legs_normal_rejects_bad_size(bad):
    with pytest.raises(ValueError, match="even"):
        legs_normal(bad)


# ------------------------------------------------------------------------------------------------- LegS NPLR
@pytest.mark.parametrize("N", [8, 32, 64])
def test_legs_nplr_reconstructs_A(N):
    Lambda, P_tilde, B_tilde, V = legs_nplr(N)
    A, B = legs(N)
    assert Lambda.shape == P_tilde.shape == B_tilde.shape == (N,) and V.shape == (N, N)
    assert all(x.dtype == np.complex128 for x in (Lambda, P_tilde, B_tilde, V))
    assert np.all(Lambda.real == -0.5)
    np.testing.assert_allclose(V.conj().T @ V, np.eye(N), atol=1e-12)
    np.testing.assert_allclose(V @ (np.diag(Lambda) - np.outer(P_tilde, P_tilde.conj())) @ V.conj().T, A, atol=1e-10)
    np.testing.assert_allclose(V @ B_tilde, B, atol=1e-12)
    np.testing.assert_allclose(V @ P_tilde, np.sqrt(np.arange(N) + 0.5), atol=1e-12)
    # conjugate symmetry: the upper half of the spectrum mirrors the lower half that legs_normal keeps
    np.testing.assert_allclose(Lambda[::-1], Lambda.conj(), atol=1e-11)
    np.testing.assert_allclose(Lambda[: N // 2], legs_normal(N)[0], atol=1e-12)


# ------------------------------------------------------------------------------------------------ LegT, FouT
def test_legt_entries_small_case_written_out():
    s = np.sqrt
    A_expected = -0.5 * np.array(
        [
            [1, -s(3), s(5)],
            [s(3), 3, -s(15)],
            [s(5), s(15), 5],
        ]
    )
    A, B = legt(3)
    np.testing.assert_allclose(A, A_expected, rtol=0, atol=1e-15)
    np.testing.assert_allclose(B, 0.5 * np.array([1, s(3), s(5)]), rtol=0, atol=1e-15)


def test_fout_entries_small_case_written_out():
    """Order (cos0, sin0, cos1, sin1, cos2, sin2); A = S - b bᵀ with S's blocks [[0, -πk], [πk, 0]]."""
    p, r = np.pi, np.sqrt(2)
    S = np.zeros((6, 6))
    S[2, 3], S[3, 2], S[4, 5], S[5, 4] = -p, p, -2 * p, 2 * p
    b = np.array([1, 0, r, 0, r, 0])
    A, B = fout(6)
    np.testing.assert_allclose(A, S - np.outer(b, b), rtol=0, atol=1e-15)
    np.testing.assert_allclose(B, b, rtol=0, atol=1e-15)


NODES, WEIGHTS = np.polynomial.legendre.leggauss(64)
RHO, W = (NODES + 1) / 2, WEIGHTS / 2  # Gauss-Legendre on [0, 1]


def legt_basis(N, rho):
    """sqrt(2n+1) P_n(1 - 2ρ) at lag θρ (ρ = 0 is the newest point): (N, len(ρ))."""
    n = np.arange(N)[:, None]
    return np.sqrt(2 * n + 1) * eval_legendre(n, 1 - 2 * rho)


def fout_basis(N, rho):
    """1, 0 (dead sin0), √2 cos(2πkρ), √2 sin(2πkρ), ... at lag θρ: (N, len(ρ))."""
    k = np.arange(N // 2)[:, None]
    phi = np.empty((N, len(rho)))
    phi[0::2], phi[1::2] = np.sqrt(2) * np.cos(2 * np.pi * k * rho), np.sqrt(2) * np.sin(2 * np.pi * k * rho)
    phi[0] = 1.0
    return phi


def window_coefficients(f, t, phi, theta=2.0):
    """c(t) = ∫_0^1 f(t - θρ) φ(ρ) dρ: the projection of f onto the basis on the window [t - θ, t]."""
    return (phi * f(t - theta * RHO) * W).sum(1)


LEGT_INPUTS = [(lambda s, m=m: s**m, lambda s, m=m: m * s ** max(m - 1, 0)) for m in (0, 1, 3, 7)]
FOUT_INPUTS = [  # θ-periodic (θ = 2) inputs in the span of the basis
    (lambda s, j=j: np.cos(np.pi * j * s + 0.3), lambda s, j=j: -np.pi * j * np.sin(np.pi * j * s + 0.3))
    for j in (0, 1, 3)
]


@pytest.mark.parametrize(
    "hippo, basis, inputs", [(legt, legt_basis, LEGT_INPUTS), (fout, fout_basis, FOUT_INPUTS)], ids=["legt", "fout"]
)
def test_translated_hippo_ode_is_exact_on_the_window_basis(hippo, basis, inputs):
    """For u in the span of the basis on a window of length θ = 2 (LegT: polynomials of degree < N; FouT:
    2-periodic trigonometric polynomials of degree < N/2), the window coefficients c(t) satisfy c' = A c + B u
    exactly, with c' the coefficients of u'. This pins the scaling (θ = 2) and the sign conventions."""
    N = 8
    A, B = hippo(N)
    phi = basis(N, RHO)
    for u, du in inputs:
        for t in (0.7, 3.1):
            c = window_coefficients(u, t, phi)
            scale = np.abs(A @ c).max() + 1
            np.testing.assert_allclose(window_coefficients(du, t, phi), A @ c + B * u(t), atol=1e-13 * scale)


@pytest.mark.parametrize("N", [8, 32])
def test_legt_steady_state_and_stability(N):
    """A constant input is a steady state with coefficients e₀ (-A⁻¹B = e₀), and A is Hurwitz."""
    A, B = legt(N)
    np.testing.assert_allclose(np.linalg.solve(-A, B), np.eye(N)[0], atol=1e-12)
    assert np.linalg.eigvals(A).real.max() < -1.0


@pytest.mark.parametrize("N", [8, 32])
def test_fout_dead_sin0_and_eigen_structure(N):
    """sin0 never moves (row, column and B entry 0) -> one eigenvalue 0 with eigenvector e_sin0. Every other
    eigenvalue has Re λ |v|² = -|bᵀv|² < 0, since each eigenspace {cos_k, sin_k} (k >= 1) of S meets b."""
    A, B = fout(N)
    assert np.all(A[1] == 0) and np.all(A[:, 1] == 0) and B[1] == 0
    eig = np.linalg.eigvals(A)
    at_zero = np.abs(eig) < 1e-10
    assert at_zero.sum() == 1
    assert eig[~at_zero].real.max() < -1e-3
    np.testing.assert_array_equal(A @ np.eye(N)[0] + B, np.zeros(N))  # constant input: steady state e₀


@pytest.mark.parametrize("measure, rank", [("legs", 1), ("legt", 2), ("fout", 1)])
@pytest.mark.parametrize("N", [8, 32])
def test_low_rank_correction_makes_A_normal(measure, rank, N):
    A = {"legs": legs, "legt": legt, "fout": fout}[measure](N)[0]
    P = low_rank(measure, N)
    assert P.shape == (N, rank)
    A_N = A + P @ P.T
    r = {"legs": -0.5, "legt": 0.0, "fout": 0.0}[measure]
    np.testing.assert_allclose(A_N + A_N.T, 2 * r * np.eye(N), atol=1e-12)  # r I + skew, hence normal
    np.testing.assert_allclose(A_N @ A_N.T, A_N.T @ A_N, atol=1e-9 * N)


def test_legt_needs_both_parity_columns():
    """One rank-1 piece of LegT's correction is not enough: A + p pᵀ is not normal for either column."""
    A, P = legt(8)[0], low_rank("legt", 8)
    for p in P.T:
        A_N = A + np.outer(p, p)
        assert np.abs(A_N @ A_N.T - A_N.T @ A_N).max() > 1.0


@pytest.mark.parametrize("measure", ["legs", "legt", "fout"])
@pytest.mark.parametrize("N", [8, 32])
def test_normal_part_diagonalisation(measure, N):
    A = {"legs": legs, "legt": legt, "fout": fout}[measure](N)[0]
    P = low_rank(measure, N)
    Lambda, V = normal(measure, N)
    assert Lambda.shape == (N // 2,) and V.shape == (N, N // 2) and Lambda.dtype == V.dtype == np.complex128
    assert np.all(Lambda.real == {"legs": -0.5, "legt": 0.0, "fout": 0.0}[measure])
    assert np.all(Lambda.imag <= 0) and np.all(np.diff(Lambda.imag) > 0)
    np.testing.assert_allclose(V.conj().T @ V, np.eye(N // 2), atol=1e-12)
    np.testing.assert_allclose(2 * np.real(V @ V.conj().T), np.eye(N), atol=1e-12)  # V and conj(V) span R^N
    np.testing.assert_allclose(2 * np.real(V @ np.diag(Lambda) @ V.conj().T) - P @ P.T, A, atol=1e-11 * N)


def test_fout_normal_spectrum_is_the_fourier_frequencies():
    """S4D-Lin's frequencies: Λ = -iπk, k = N/2-1 … 0, the last being FouT's zero mode (cos0 + i sin0)/√2."""
    N = 16
    Lambda, V = normal("fout", N)
    np.testing.assert_array_equal(Lambda, -1j * np.pi * np.arange(N // 2)[::-1])
    np.testing.assert_allclose(V[:, -1], np.r_[1, 1j, np.zeros(N - 2)] / np.sqrt(2), rtol=0, atol=1e-15)


@pytest.mark.parametrize("measure", ["legt", "fout"])
def test_normal_rejects_odd_size_and_unknown_measure(measure):
    with pytest.raises(ValueError, match="even"):
        normal(measure, 7)
    with pytest.raises(ValueError, match="legs, legt, fout"):
        normal("lagt", 8)
