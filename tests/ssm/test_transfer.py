"""Transfer functions G(iω) against closed forms, and the PTD paper's claim (notes ssm.md §2.1 item 7), float64."""

import numpy as np
import pytest
import torch

from zoo.ssm.hippo import legs, legs_normal
from zoo.ssm.s4d import S4DKernel
from zoo.ssm.transfer import (
    dense_transfer_function,
    legs_transfer_function,
    normalised_error,
    ptd_modes,
    s4d_legs_modes,
    transfer_function,
)

N = 32  # HiPPO size of the robustness experiment
OMEGA = np.linspace(0.0, 2000.0, 40001)  # step 0.05 resolves S4D-LegS's resonances (half-width ½)


@pytest.fixture(autouse=True, scope="module")
def float64_default():
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


@pytest.fixture(scope="module")
def legs_reference():
    """5 random real C (seeded) and the full LegS(32) transfer function G_LegS (5, len(OMEGA))."""
    C = np.random.default_rng(0).standard_normal((5, N))
    return C, legs_transfer_function(C, OMEGA, N)


def random_modes(rng, shape):
    Lambda = -0.5 - rng.random(shape) + 1j * 10 * rng.standard_normal(shape)
    B, C = (rng.standard_normal(shape) + 1j * rng.standard_normal(shape) for _ in range(2))
    return Lambda, B, C


# -------------------------------------------------------------------------------------- closed-form identities
def test_s4d_kernel_equals_its_dense_real_system():
    """Each complex mode λ = a + ib is the real block [[a, -b], [b, a]] on (Re x, Im x), driven by (Re B, Im B),
    read out by y = 2 Re(C x) = 2 (Re C · Re x - Im C · Im x)."""
    kernel = S4DKernel(2, 16, init="legs", channels=3)
    omega = np.linspace(0.0, 120.0, 241)
    G = transfer_function(kernel, omega)
    assert G.shape == (3, 2, 241) and G.dtype == np.complex128
    Lambda = -np.exp(kernel.A_real_log.detach().numpy()) + 1j * kernel.A_imag.detach().numpy()
    B, C = (torch.view_as_complex(p).detach().numpy() for p in (kernel.B, kernel.C))
    for h in range(2):
        a, b = Lambda[h].real, Lambda[h].imag
        A_real = np.block([[np.diag(a), -np.diag(b)], [np.diag(b), np.diag(a)]])
        B_real = np.concatenate([B[h].real, B[h].imag])
        C_real = 2 * np.concatenate([C[:, h].real, -C[:, h].imag], axis=-1)
        np.testing.assert_allclose(G[:, h], dense_transfer_function(A_real, B_real, C_real, omega), atol=1e-12)


@pytest.mark.parametrize("conj_pairs", [True, False])
def test_diagonal_transfer_function_is_the_laplace_transform_of_the_impulse_response(conj_pairs):
    """G(iω) = ∫_0^∞ h(t) e^{-iωt} dt with h(t) = Σ_n C_n B_n e^{λ_n t} (+ conjugates: 2 Re), by composite
    Gauss-Legendre quadrature on [0, 80] (Re λ <= -½: the tail is below e^{-40})."""
    Lambda, B, C = random_modes(np.random.default_rng(1), (2, 4))
    nodes, weights = np.polynomial.legendre.leggauss(16)
    edges = np.linspace(0.0, 80.0, 1601)
    t = ((edges[:-1, None] + edges[1:, None]) / 2 + np.diff(edges)[:, None] / 2 * nodes).ravel()
    dt = (np.diff(edges)[:, None] / 2 * weights).ravel()
    h = np.einsum("hn,hnt->ht", C * B, np.exp(Lambda[..., None] * t))
    h = 2 * h.real if conj_pairs else h
    omega = np.array([0.0, 1.3, 7.0, 25.0])
    laplace = (h[:, None, :] * np.exp(-1j * omega[:, None] * t) * dt).sum(-1)
    np.testing.assert_allclose(transfer_function((Lambda, B, C), omega, conj_pairs=conj_pairs), laplace, atol=1e-12)


def test_diagonalised_dense_system_has_the_same_transfer_function():
    """(V Λ V⁻¹, B, C) and (Λ, V⁻¹ B, C V) with all modes, conj_pairs=False (the PTD form)."""
    rng = np.random.default_rng(2)
    Lambda, _, _ = random_modes(rng, (6,))
    V = np.eye(6) + 0.3 * (rng.standard_normal((6, 6)) + 1j * rng.standard_normal((6, 6)))
    A = V @ np.diag(Lambda) @ np.linalg.inv(V)
    B, C = rng.standard_normal(6), rng.standard_normal((3, 6))
    omega = np.linspace(0.0, 50.0, 101)
    G = transfer_function((Lambda, np.linalg.solve(V, B), C @ V), omega, conj_pairs=False)
    np.testing.assert_allclose(G, dense_transfer_function(A, B, C, omega), atol=1e-11)


def test_legs_transfer_function_closed_forms(legs_reference):
    """G_LegS(0) = C (-A)⁻¹ B = C_0 (reconstruction of a constant: -A⁻¹B = e₀); the large-ω expansion; the
    triangular forward substitution agrees with a dense solve."""
    C, G = legs_reference
    assert G.shape == (5, len(OMEGA)) and G.dtype == np.complex128
    np.testing.assert_allclose(G[:, 0], C[:, 0], rtol=0, atol=1e-13)
    A, B = legs(N)
    iw = 1e6j  # Neumann series: iω G(iω) = Σ_k C A^k B / (iω)^k
    neumann = C @ B + C @ A @ B / iw + C @ A @ A @ B / iw**2
    np.testing.assert_allclose(iw * legs_transfer_function(C, [iw.imag], N)[:, 0], neumann, rtol=1e-9)
    np.testing.assert_allclose(G[:, ::1000], dense_transfer_function(A, B, C, OMEGA[::1000]), atol=1e-12)


def test_bad_inputs_name_what_was_expected():
    with pytest.raises(ValueError, match="conj_pairs=True"):
        transfer_function(S4DKernel(1, 4), OMEGA[:3], conj_pairs=False)
    with pytest.raises(ValueError, match="1-d array"):
        transfer_function(random_modes(np.random.default_rng(0), (3,)), np.zeros((2, 2)))
    with pytest.raises(TypeError, match="Lambda, B, C"):
        transfer_function(np.ones((3, 4)), OMEGA[:3])
    with pytest.raises(ValueError, match="N = 32"):
        legs_transfer_function(np.ones(8), OMEGA[:3], N)


# ----------------------------------------------------------------------------------- S4D-LegS vs S4-LegS, PTD
@pytest.fixture(scope="module")
def s4d_legs_transfer(legs_reference):
    """G of S4D-LegS = (Λ, ½ V^* B_LegS, C V) with N/2 modes and their conjugates, through an S4DKernel."""
    C, _ = legs_reference
    Lambda, B, C_tilde = s4d_legs_modes(C, N)
    kernel = S4DKernel(1, N, init="legs", channels=5)
    with torch.no_grad():
        kernel.C.copy_(torch.view_as_real(torch.from_numpy(C_tilde[:, None])))
    G = transfer_function(kernel, OMEGA)[:, 0]
    np.testing.assert_allclose(G[:, ::100], transfer_function((Lambda, B, C_tilde), OMEGA[::100]), atol=1e-12)
    return G


@pytest.fixture(scope="module")
def ptd_transfer(legs_reference):
    """G of PTD = (Λ, V_E⁻¹ B_LegS, C V_E) with all n = 32 modes; Λ and B̃ are our ptd_init(32)."""
    from zoo.ssm.ptd import ptd_init

    Lambda, B_tilde, C_tilde = ptd_modes(legs_reference[0], N)
    init_Lambda, init_B = ptd_init(N)
    np.testing.assert_array_equal(Lambda, init_Lambda)
    np.testing.assert_array_equal(B_tilde, init_B)
    return transfer_function((Lambda, B_tilde, C_tilde), OMEGA, conj_pairs=False)


def test_s4d_legs_transfer_function_spikes(legs_reference, s4d_legs_transfer):
    """Notes §2.1 item 7: sup-error 4.3-24 (B/2), peaking at ω = 107.1 or 325.45, the top |Im λ| of the
    S4D-LegS modes (Θ(1) spikes at |s| = Θ(N²), the PTD paper's Theorem 2). With the ½ its DC gain is exact:
    A_N = A + ½ B Bᵀ and -A⁻¹B = e₀ give (-A_N)⁻¹ B/2 = e₀ (Sherman-Morrison), so G(0) = C_0 = G_LegS(0)."""
    C, G_legs = legs_reference
    np.testing.assert_allclose(s4d_legs_transfer[:, 0], C[:, 0], atol=1e-12)
    error = normalised_error(s4d_legs_transfer, G_legs)
    assert np.all((error > 4.0) & (error < 25.0)), error
    peak = OMEGA[np.abs(s4d_legs_transfer - G_legs).argmax(-1)]
    top = np.sort(np.abs(legs_normal(N)[0].imag))[-2:]  # 107.09, 325.43
    assert np.all(np.abs(peak[:, None] - top).min(-1) <= 0.05), peak


def test_ptd_transfer_function_is_the_perturbed_legs_system(legs_reference):
    """C V_E (sI − Λ)⁻¹ V_E⁻¹ B = C (sI − (A_LegS + E))⁻¹ B_LegS."""
    from zoo.ssm.ptd import ptd_perturbation

    C = legs_reference[0]
    A, B = legs(N)
    omega = OMEGA[::400]
    G = transfer_function(ptd_modes(C, N), omega, conj_pairs=False)
    G_dense = dense_transfer_function(A + ptd_perturbation(N)["E"], B, C, omega)
    np.testing.assert_allclose(G, G_dense, atol=1e-10 * np.abs(G_dense).max())


def test_ptd_beats_s4d_legs_uniformly_in_frequency(legs_reference, s4d_legs_transfer, ptd_transfer):
    """THE PTD claim (Theorem 3 vs Theorem 2): the normalised sup-error against S4-LegS is at least 4x smaller
    for PTD than for S4D-LegS, for every C, and PTD has no resonance spike: its error is O(1), not O(10)."""
    G_legs = legs_reference[1]
    error_s4d = normalised_error(s4d_legs_transfer, G_legs)
    error_ptd = normalised_error(ptd_transfer, G_legs)
    assert np.all(error_ptd * 4 <= error_s4d), (error_ptd, error_s4d)
    assert np.all(error_ptd < 1.5), error_ptd
