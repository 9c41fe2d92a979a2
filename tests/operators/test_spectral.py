"""Spectral convolution against explicit DFT sums, factorised weights against their definitions (float64)."""

import itertools
import math

import pytest
import torch

from zoo.operators.spectral import (FactorizedWeight, JointFactorizedWeight, SpectralConv, kept_frequencies,
                                    mode_product)

FACTORIZED = ("tucker", "cp", "tt")


def frequencies(n_modes: int, last: bool) -> list[int]:
    """The frequencies a weight axis holds, in its order: 0 … m−1, then −(m−1) … −1 (not on the last axis)."""
    return list(range(n_modes)) if last else list(range(n_modes)) + list(range(-(n_modes - 1), 0))


def dft_matrix(ks: list[int], n: int) -> torch.Tensor:
    """``F[k, j] = exp(−2πi k j / n)`` for the listed frequencies, built entry by entry (no torch.fft)."""
    return torch.tensor([[complex(math.cos(2 * math.pi * k * j / n), -math.sin(2 * math.pi * k * j / n))
                          for j in range(n)] for k in ks], dtype=torch.complex128)


def explicit_spectral_conv(x: torch.Tensor, weight: torch.Tensor, modes) -> torch.Tensor:
    """``y_o[n] = (1/N) Re Σ_k c_k Σ_i W[i,o,k] x̂_i[k] e^{2πi k·n/N}``, ``x̂_i[k] = Σ_n x_i[n] e^{−2πi k·n/N}``,
    ``c_k = 2`` where the last frequency is positive (its conjugate is not stored), else 1."""
    spatial = x.shape[2:]
    mats = [dft_matrix(frequencies(m, axis == len(modes) - 1), n) for axis, (m, n) in enumerate(zip(modes, spatial))]
    k = "pqr"[: len(spatial)]
    x_hat = x.to(torch.complex128)
    for axis, mat in enumerate(mats):
        x_hat = torch.movedim(torch.tensordot(x_hat, mat, dims=([2 + axis], [1])), -1, 2 + axis)
    c = torch.ones(modes[-1], dtype=torch.float64)
    c[1:] = 2
    y = torch.einsum(f"bi{k},io{k}->bo{k}", x_hat, weight) * c
    for axis, mat in enumerate(mats):
        y = torch.movedim(torch.tensordot(y, mat.conj(), dims=([2 + axis], [0])), -1, 2 + axis)
    return y.real / math.prod(spatial)


def test_kept_frequencies_are_documented_in_weight_order():
    assert kept_frequencies((3, 2)) == [frequencies(3, last=False), frequencies(2, last=True)]
    assert kept_frequencies((3, 4, 2)) == [[0, 1, 2, -2, -1], [0, 1, 2, 3, -3, -2, -1], [0, 1]]


def set_dense(conv: SpectralConv, weight: torch.Tensor) -> None:
    with torch.no_grad():
        conv.weight.weight.copy_(torch.view_as_real(weight))


@pytest.mark.parametrize("spatial,modes", [((9,), (5,)), ((7, 5), (4, 3)), ((5, 3, 5), (3, 2, 3)),
                                           ((12,), (4,)), ((8, 10), (3, 4)), ((6, 8, 7), (2, 3, 3))])
def test_spectral_conv_equals_explicit_dft(spatial, modes):
    """All modes of an odd grid (first three) and truncated modes on even grids: the same sums by hand."""
    torch.manual_seed(0)
    conv = SpectralConv(3, 2, modes).double()
    shape = (3, 2, *(2 * m - 1 for m in modes[:-1]), modes[-1])
    weight = torch.randn(*shape, dtype=torch.complex128)
    set_dense(conv, weight)
    x = torch.randn(4, 3, *spatial, dtype=torch.float64)
    torch.testing.assert_close(conv(x), explicit_spectral_conv(x, weight, modes), rtol=1e-10, atol=1e-12)


def test_all_modes_with_a_real_kernel_is_circular_convolution():
    """W = DFT of a real kernel κ, every frequency kept (odd grid): the layer is y_o = Σ_i κ_io ⊛ x_i."""
    torch.manual_seed(1)
    n1, n2, modes = 7, 5, (4, 3)
    kernel = torch.randn(2, 3, n1, n2, dtype=torch.float64)
    weight = torch.einsum("iomn,km,ln->iokl", kernel.to(torch.complex128),
                          dft_matrix(frequencies(4, False), n1), dft_matrix(frequencies(3, True), n2))
    conv = SpectralConv(2, 3, modes).double()
    set_dense(conv, weight)
    x = torch.randn(2, 2, n1, n2, dtype=torch.float64)
    expected = torch.zeros(2, 3, n1, n2, dtype=torch.float64)
    for a, b in itertools.product(range(n1), range(n2)):  # y[n] = Σ_m κ[m] x[n − m]
        expected += torch.einsum("io,bimn->bomn", kernel[:, :, a, b], torch.roll(x, shifts=(a, b), dims=(2, 3)))
    torch.testing.assert_close(conv(x), expected, rtol=1e-10, atol=1e-10)


def test_resolution_consistency_of_a_band_limited_input():
    """cos(2π·3x) on 16 and 48 points: the layer gives the same function sampled on both grids."""
    torch.manual_seed(2)
    conv = SpectralConv(1, 1, (6,)).double()
    outs = [conv(torch.cos(2 * math.pi * 3 * torch.arange(n, dtype=torch.float64) / n)[None, None]) for n in (16, 48)]
    torch.testing.assert_close(outs[1][..., ::3], outs[0], rtol=1e-10, atol=1e-12)


def complex_params(module: FactorizedWeight):
    return [torch.view_as_complex(p) for p in module.factors]


@pytest.mark.parametrize("factorization", FACTORIZED)
def test_factorized_weight_reconstructs_its_definition(factorization):
    torch.manual_seed(3)
    weight = FactorizedWeight((3, 4, 5, 2), factorization, rank=0.5).double()
    u = complex_params(weight)
    if factorization == "tucker":
        expected = torch.einsum("abcd,ia,ob,xc,yd->ioxy", torch.view_as_complex(weight.core), *u)
    elif factorization == "cp":
        expected = torch.einsum("ir,or,xr,yr->ioxy", *u)
    else:
        expected = torch.einsum("aib,bjc,ckd,dle->ijkl", *u)  # a = e = 1
    torch.testing.assert_close(weight.reconstruct(), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shape,axis,d", [((3, 4, 5), 0, 6), ((3, 4, 5), 2, 6), ((3, 4, 9), 1, 6), ((3, 4, 5), 1, 7)],
                         ids=["first", "last", "batched", "narrow-blocks"])
def test_mode_product_is_the_contraction_of_one_axis(shape, axis, d):
    tensor = torch.randn(*shape, dtype=torch.complex128)
    factor = torch.randn(d, shape[axis], dtype=torch.complex128)
    letters = "abc"
    result = letters.replace(letters[axis], "z")
    expected = torch.einsum(f"{letters},z{letters[axis]}->{result}", tensor, factor)
    torch.testing.assert_close(mode_product(tensor, factor, axis), expected, rtol=1e-12, atol=1e-12)


def test_full_rank_tucker_with_identity_factors_is_the_dense_weight():
    torch.manual_seed(4)
    shape = (3, 4, 5, 2)
    weight = FactorizedWeight(shape, "tucker", rank=list(shape)).double()
    dense = torch.randn(*shape, dtype=torch.complex128)
    with torch.no_grad():
        weight.core.copy_(torch.view_as_real(dense))
        for factor, d in zip(weight.factors, shape):
            factor.copy_(torch.view_as_real(torch.eye(d, dtype=torch.complex128)))
    torch.testing.assert_close(weight.reconstruct(), dense, rtol=0, atol=0)


@pytest.mark.parametrize("factorization", FACTORIZED)
@pytest.mark.parametrize("implementation", ["factorized", "reconstructed"])
@pytest.mark.parametrize("spatial,modes", [((11,), (4,)), ((9, 8), (3, 4)), ((5, 6, 5), (2, 3, 2))])
def test_factorized_conv_equals_dense_conv_with_the_reconstructed_weight(factorization, implementation, spatial,
                                                                         modes):
    torch.manual_seed(5)
    conv = SpectralConv(4, 3, modes, factorization=factorization, rank=0.3, implementation=implementation).double()
    dense = SpectralConv(4, 3, modes).double()
    set_dense(dense, conv.reconstruct().detach())
    x = torch.randn(2, 4, *spatial, dtype=torch.float64)
    torch.testing.assert_close(conv(x), dense(x), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("factorization", ["dense", *FACTORIZED])
def test_joint_factorization_layers_are_slices_of_one_tensor(factorization):
    torch.manual_seed(6)
    n_layers, shape, modes = 3, (4, 3, 5, 3), (3, 3)
    joint = JointFactorizedWeight(n_layers, shape, factorization, rank=0.4).double()
    full = joint.reconstruct()
    assert full.shape == (n_layers, *shape)
    if factorization == "tucker":
        expected = torch.einsum("labcd,Ll,ia,ob,xc,yd->Lioxy", torch.view_as_complex(joint.core), *complex_params(joint))
        torch.testing.assert_close(full, expected, rtol=1e-12, atol=1e-12)
    x = torch.randn(2, 4, 7, 6, dtype=torch.float64)
    for layer in range(n_layers):
        conv = SpectralConv(4, 3, modes, shared=joint, layer=layer)
        assert not list(conv.parameters())  # the owner registers the joint weight once
        dense = SpectralConv(4, 3, modes).double()
        set_dense(dense, full[layer].detach())
        torch.testing.assert_close(conv(x), dense(x), rtol=1e-10, atol=1e-12)


def real_parameters(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_parameter_counts_match_the_formulas():
    shape = (6, 5, 7, 4)
    assert real_parameters(FactorizedWeight(shape, "dense")) == 2 * 6 * 5 * 7 * 4
    ranks = [2, 3, 4, 2]
    assert real_parameters(FactorizedWeight(shape, "tucker", ranks)) == 2 * (2 * 3 * 4 * 2 + 6 * 2 + 5 * 3 + 7 * 4 + 4 * 2)
    assert real_parameters(FactorizedWeight(shape, "cp", 3)) == 2 * 3 * (6 + 5 + 7 + 4)
    assert real_parameters(FactorizedWeight(shape, "tt", [2, 3, 2])) == 2 * (6 * 2 + 2 * 5 * 3 + 3 * 7 * 2 + 2 * 4)
    joint = JointFactorizedWeight(4, shape, "tucker", [2, 2, 3, 4, 2])
    assert real_parameters(joint) == 2 * (2 * 2 * 3 * 4 * 2 + 4 * 2 + 6 * 2 + 5 * 3 + 7 * 4 + 4 * 2)


@pytest.mark.parametrize("factorization", FACTORIZED)
@pytest.mark.parametrize("fraction", [0.05, 0.1, 0.3])
def test_rank_fraction_keeps_about_that_fraction_of_the_parameters(factorization, fraction):
    shape = (32, 32, 23, 12)
    kept = real_parameters(FactorizedWeight(shape, factorization, fraction)) / (2 * math.prod(shape))
    assert abs(kept - fraction) < 0.2 * fraction


@pytest.mark.parametrize("factorization", ["dense", *FACTORIZED])
def test_init_matches_the_dense_variance(factorization):
    """E|W|² = 2/(in + out) for every factorisation (averaged over seeds)."""
    torch.manual_seed(7)
    std = math.sqrt(2 / (16 + 16))
    power = [FactorizedWeight((16, 16, 9, 5), factorization, 0.2, std).double().reconstruct().abs().square().mean()
             for _ in range(8)]
    assert abs(torch.stack(power).mean().item() / std**2 - 1) < 0.3


def test_bad_inputs_raise_clear_errors():
    conv = SpectralConv(2, 3, (4, 3))
    with pytest.raises(ValueError, match=r"needs at least 7 grid points.*got 6"):
        conv(torch.randn(1, 2, 6, 8))
    with pytest.raises(ValueError, match="expects 2 input channels"):
        conv(torch.randn(1, 3, 8, 8))
    with pytest.raises(ValueError, match="expects input of shape"):
        conv(torch.randn(1, 2, 8))
    with pytest.raises(TypeError, match="floating-point"):
        conv(torch.ones(1, 2, 8, 8, dtype=torch.long))
    with pytest.raises(ValueError, match="unknown factorization 'svd'"):
        SpectralConv(2, 3, 4, factorization="svd")
    with pytest.raises(ValueError, match="unknown implementation"):
        SpectralConv(2, 3, 4, factorization="cp", implementation="fast")
    with pytest.raises(ValueError, match="Tucker needs 4 ranks"):
        SpectralConv(2, 3, 4, factorization="tucker", rank=[2, 2])
    with pytest.raises(ValueError, match="modes .* n_dim=3"):
        SpectralConv(2, 3, (4, 4), n_dim=3)
    joint = JointFactorizedWeight(2, (2, 3, 7, 4), "tucker")
    with pytest.raises(ValueError, match="shared weight has layer shape"):
        SpectralConv(2, 3, (5, 4), shared=joint)
    with pytest.raises(IndexError, match="layer 2 out of range"):
        SpectralConv(2, 3, (4, 4), shared=joint, layer=2)

