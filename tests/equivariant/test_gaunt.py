"""Gaunt tensor product: tables and products against e3nn and direct quadrature, float64."""

from __future__ import annotations

import math
from contextlib import contextmanager

import numpy as np
import pytest
import torch
from e3nn import o3 as e3nn_o3  # the [equivariant] extra ([dev] holds it), the reference
from sympy.physics import wigner as sympy_wigner  # installed with e3nn

from zoo.equivariant import GauntTensorProduct, gaunt_coefficients
from zoo.equivariant.sh_fourier import LMAX_TABLES, f2sh_tables, flat_index, legendre_part, sh2f_tables

D64 = torch.float64
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:FutureWarning")   # inside e3nn


@pytest.fixture(scope="module")
def o3():
    return e3nn_o3


@contextmanager
def float64_default():
    """e3nn builds its constants (3j symbols, Wigner-D generators) at the default dtype."""
    default = torch.get_default_dtype()
    torch.set_default_dtype(D64)
    try:
        yield
    finally:
        torch.set_default_dtype(default)


def sphere_grid(o3, n_theta: int, n_phi: int):
    """Points ``(n_theta, n_phi, 3)`` of a Gauss–Legendre (cos θ) × uniform-φ grid and weights ``(n_theta, n_phi)``
    with ``Σ w = 4π``, exact for degree ≤ 2 n_theta − 1 in cos θ and < n_phi in φ."""
    z, w = np.polynomial.legendre.leggauss(n_theta)
    theta, phi = np.meshgrid(np.arccos(z), 2 * np.pi * np.arange(n_phi) / n_phi, indexing="ij")
    xyz = o3.angles_to_xyz(torch.tensor(phi), torch.tensor(theta))
    return xyz, torch.tensor(w[:, None] * np.full(n_phi, 2 * np.pi / n_phi))


def sh(o3, L: int, xyz: torch.Tensor) -> torch.Tensor:
    return o3.spherical_harmonics(list(range(L + 1)), xyz, normalize=True, normalization="integral")


def irreps(o3, L: int):
    return o3.Irreps([(1, (l, (-1) ** l)) for l in range(L + 1)])


def test_separated_basis_is_e3nn(o3):
    L = 10
    xyz, _ = sphere_grid(o3, 7, 9)
    theta, phi = torch.arccos(xyz[..., 1]).flatten().numpy(), torch.atan2(xyz[..., 0], xyz[..., 2]).flatten().numpy()
    m_idx, l_idx = flat_index(L)
    m = (m_idx - L).numpy()[:, None]
    ours = legendre_part(L, theta)[m_idx, l_idx] * np.where(m >= 0, np.cos(m * phi), np.sin(-m * phi))
    assert np.abs(ours.T - sh(o3, L, xyz).reshape(-1, (L + 1) ** 2).numpy()).max() < 1e-12


@pytest.mark.parametrize("L", [0, 1, 6, 12])
def test_sh2f_then_f2sh_is_identity(L):
    a, b = sh2f_tables(L)
    P, Q = f2sh_tables(L, L)
    m_idx, l_idx = flat_index(L)
    F = torch.einsum("mlu,mv->mluv", a, b)[m_idx, l_idx]                 # Fourier series of every basis function
    back = torch.einsum("nuv,mlu,mv->nml", F, P, Q)[:, m_idx, l_idx]
    assert (back - torch.eye((L + 1) ** 2, dtype=back.dtype)).abs().max() < 1e-12


def test_gaunt_coefficients_against_quadrature(o3):
    L = 4
    xyz, w = sphere_grid(o3, 8, 16)                                    # exact for degree ≤ 15 ≥ 3L
    Y = [sh(o3, L, xyz)[..., l**2:(l + 1) ** 2] for l in range(L + 1)]
    err = 0.0
    for l1 in range(L + 1):
        for l2 in range(L + 1):
            for l3 in range(L + 1):
                G = torch.einsum("jka,jkb,jkc,jk->abc", Y[l1], Y[l2], Y[l3], w)
                err = max(err, float((gaunt_coefficients(l1, l2, l3) - G).abs().max()))
    assert err < 1e-12


def test_selection_rule_and_m0_closed_form():
    wigner = sympy_wigner
    for l1, l2, l3 in [(1, 1, 1), (1, 2, 2), (2, 3, 4), (3, 3, 3), (0, 1, 0), (1, 1, 3)]:   # odd sum or no triangle
        assert gaunt_coefficients(l1, l2, l3).abs().max() < 1e-14
    for l1, l2, l3 in [(0, 0, 0), (1, 1, 2), (2, 3, 3), (4, 4, 6), (5, 3, 4)]:
        assert abs(float(gaunt_coefficients(l1, l2, l3)[l1, l2, l3]) - float(wigner.gaunt(l1, l2, l3, 0, 0, 0))) < 1e-14


@pytest.mark.parametrize("method", ["fft", "grid"])
@pytest.mark.parametrize("lmax_out", [9, 4])
def test_product_is_projection_of_pointwise_product(o3, method, lmax_out):
    L1, L2 = 5, 4
    x, y = torch.randn(3, (L1 + 1) ** 2, dtype=D64), torch.randn(3, (L2 + 1) ** 2, dtype=D64)
    xyz, w = sphere_grid(o3, 24, 48)                                   # finer than needed: exact for 19 + 9
    f = (sh(o3, L1, xyz) @ x.T) * (sh(o3, L2, xyz) @ y.T)               # (n_θ, n_φ, 3)
    expected = torch.einsum("jkb,jki,jk->bi", f, sh(o3, lmax_out, xyz), w)
    out = GauntTensorProduct(L1, L2, lmax_out, weights=False, method=method).double()(x, y)
    assert (out - expected).abs().max() < 1e-10


def test_constant_times_function_is_the_function():
    one = torch.zeros(16, dtype=D64)
    one[0] = math.sqrt(4 * math.pi)                                    # f ≡ 1
    y = torch.randn(2, 25, dtype=D64)
    out = GauntTensorProduct(3, 4, 4, weights=False).double()(one, y)
    assert (out - y).abs().max() < 1e-12


@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-12), (torch.float32, 1e-5)])
@pytest.mark.parametrize("method", ["fft", "grid"])
def test_rotation_equivariance(o3, dtype, tol, method):
    L1, L2, Lo = 3, 2, 4
    with float64_default():
        R = o3.rand_matrix()
        D1, D2, Do = (irreps(o3, L).D_from_matrix(R).to(dtype) for L in (L1, L2, Lo))
    tp = GauntTensorProduct(L1, L2, Lo, channels=2, method=method).to(dtype)
    with torch.no_grad():
        for w in tp.parameters():
            w.uniform_(0.5, 1.5)
    x, y = torch.randn(5, 2, (L1 + 1) ** 2, dtype=dtype), torch.randn(5, 2, (L2 + 1) ** 2, dtype=dtype)
    out = tp(x, y)
    assert out.dtype == dtype
    assert (tp(x @ D1.T, y @ D2.T) - out @ Do.T).abs().max() < tol * out.abs().max()


def test_agrees_with_e3nn_tensor_product_on_gaunt_paths(o3):
    L1, L2, Lo = 3, 2, 4
    instructions, weights = [], []
    for l1 in range(L1 + 1):
        for l2 in range(L2 + 1):
            for l3 in range(abs(l1 - l2), min(l1 + l2, Lo) + 1):
                if (l1 + l2 + l3) % 2 == 0:
                    G, C = gaunt_coefficients(l1, l2, l3), o3.wigner_3j(l1, l2, l3, dtype=D64)
                    ratio = (G * C).sum() / (C * C).sum()
                    assert (G - ratio * C).abs().max() < 1e-13           # Gaunt = one scalar × Clebsch–Gordan
                    instructions.append((l1, l2, l3, "uuu", True))
                    weights.append(ratio)
    with float64_default():
        cg = o3.TensorProduct(irreps(o3, L1), irreps(o3, L2), irreps(o3, Lo), instructions,
                              irrep_normalization="none", path_normalization="none")
    with torch.no_grad():
        cg.weight.copy_(torch.stack(weights))
    x, y = torch.randn(4, (L1 + 1) ** 2, dtype=D64), torch.randn(4, (L2 + 1) ** 2, dtype=D64)
    out = GauntTensorProduct(L1, L2, Lo, weights=False).double()(x, y)
    assert (cg(x, y) - out).abs().max() < 1e-12


def test_per_channel_degree_weights():
    L1, L2, Lo, C = 2, 3, 3, 4
    tp = GauntTensorProduct(L1, L2, Lo, channels=C).double()
    plain = GauntTensorProduct(L1, L2, Lo, weights=False).double()
    with torch.no_grad():
        for w in tp.parameters():
            w.normal_()
    x, y = torch.randn(2, C, (L1 + 1) ** 2, dtype=D64), torch.randn(2, C, (L2 + 1) ** 2, dtype=D64)
    per_coeff = [w[:, flat_index(L)[1]] for w, L in ((tp.w1, L1), (tp.w2, L2), (tp.w_out, Lo))]
    expected = plain(x * per_coeff[0], y * per_coeff[1]) * per_coeff[2]
    assert (tp(x, y) - expected).abs().max() < 1e-12
    tp(x, y).square().sum().backward()
    assert all(w.grad is not None and w.grad.abs().sum() > 0 for w in tp.parameters())
    assert set(tp.state_dict()) == {"w1", "w2", "w_out"}               # tables are rebuilt, never saved


def test_bad_input_names_the_argument():
    tp = GauntTensorProduct(2, 1, 2, channels=3)
    with pytest.raises(ValueError, match="x1.*9"):
        tp(torch.randn(3, 8), torch.randn(3, 4))
    with pytest.raises(ValueError, match="x2.*4"):
        tp(torch.randn(3, 9), torch.randn(3, 5))
    with pytest.raises(ValueError, match="channels=3"):
        tp(torch.randn(2, 9), torch.randn(2, 4))
    with pytest.raises(ValueError, match="x1 .*x2 .*broadcast"):
        GauntTensorProduct(1, 1, 1)(torch.randn(3, 4), torch.randn(2, 4))
    with pytest.raises(ValueError, match="lmax_out"):
        GauntTensorProduct(1, 1, LMAX_TABLES + 1)
    with pytest.raises(ValueError, match="lmax1"):
        GauntTensorProduct(-1, 1, 1)
    with pytest.raises(ValueError, match="method"):
        GauntTensorProduct(1, 1, 1, method="spline")
    with pytest.raises(ValueError, match="channels"):
        GauntTensorProduct(1, 1, 1, channels=0)
