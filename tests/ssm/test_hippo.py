"""HiPPO-LegS and its normal part against closed forms (research notes ssm.md §1.2, §2.1 items 4-6), float64."""

import numpy as np
import pytest
from scipy.linalg import expm
from scipy.special import eval_legendre

from zoo.ssm.hippo import legs, legs_normal


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
