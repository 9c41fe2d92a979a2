"""T1 (Transform Once) against closed forms, in float64: the DCT against scipy and the DCT-II matrix, Parseval,
the variance-preserving init, the kept block, the 2-D rfft option, resolution invariance and input errors."""

import math

import numpy as np
import pytest
import scipy.fft as sf
import torch
from scipy.special import erf

from zoo.metrics import relative_l2
from zoo.registry import create_model, model_info
from zoo.operators.t1 import T1, T1Layer, dct, forward_transform, idct


@pytest.fixture(autouse=True)
def float64_default():
    """Build models in float64 so that the checks see no float32 rounding."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


def dct2_matrix(n: int) -> np.ndarray:
    """The orthonormal DCT-II matrix C[k, j] = α_k cos(πk(2j+1)/(2n)), α_0 = √(1/n), α_k = √(2/n)."""
    k, j = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    alpha = np.where(k == 0, np.sqrt(1.0 / n), np.sqrt(2.0 / n))
    return alpha * np.cos(np.pi * k * (2 * j + 1) / (2 * n))


def gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1 + erf(x / np.sqrt(2)))


def gelu_parts(z: np.ndarray) -> np.ndarray:
    return gelu(z.real) + 1j * gelu(z.imag) if np.iscomplexobj(z) else gelu(z)


def as_complex(param: torch.Tensor, transform: str) -> np.ndarray:
    w = param.detach().numpy()
    return w[..., 0] + 1j * w[..., 1] if transform == "dft" else w


def block_mask(shape: tuple[int, int], m: int, transform: str) -> np.ndarray:
    """True on the kept coefficients: [:m, :m] (DCT), rows [:m] and [-m:] by columns [:m] (2-D rfft)."""
    mask = np.zeros(shape, dtype=bool)
    mask[:m, :m] = True
    if transform == "dft":
        mask[-m:, :m] = True
    return mask


def take(z: torch.Tensor, m: int, transform: str) -> torch.Tensor:
    if transform == "dct":
        return z[..., :m, :m]
    return torch.cat([z[..., :m, :m], z[..., -m:, :m]], dim=-2)


def spatial_variance(block: torch.Tensor, outside: torch.Tensor, m: int, transform: str, size: int) -> float:
    """Variance of the field whose coefficients are ``block`` on the kept modes and ``outside`` elsewhere."""
    z = outside.clone()
    z[..., :m, :m] = block[..., :m, :]
    if transform == "dct":
        field = sf.idctn(z.numpy(), axes=(-2, -1), norm="ortho")
    else:
        z[..., -m:, :m] = block[..., m:, :]
        field = torch.fft.irfft2(z, s=(size, size), norm="ortho").numpy()
    return float(field.var())


def cosine_series(coeffs: np.ndarray, n: int) -> torch.Tensor:
    """Σ_kl c_kl cos(πkx) cos(πly) at the cell centres (i + ½)/n: ``coeffs (batch, K, K)`` → ``(batch, 1, n, n)``."""
    x = (np.arange(n) + 0.5) / n
    basis = np.cos(np.pi * np.outer(np.arange(coeffs.shape[-1]), x))      # (K, n)
    return torch.from_numpy(np.einsum("bkl,kx,ly->bxy", coeffs, basis, basis)[:, None])


# -- the transform ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("n", [1, 2, 7, 8, 16])
def test_dct_idct_match_scipy_and_the_dct2_matrix(n):
    x = np.random.default_rng(n).standard_normal((3, n, 5))
    for dim in (1, -1):
        axis = 1 if dim == 1 else -1
        got = dct(torch.from_numpy(x), dim).numpy()
        np.testing.assert_allclose(got, sf.dct(x, axis=axis, norm="ortho"), atol=1e-12)
        np.testing.assert_allclose(idct(torch.from_numpy(x), dim).numpy(), sf.idct(x, axis=axis, norm="ortho"),
                                   atol=1e-12)
    np.testing.assert_allclose(dct(torch.from_numpy(x), 1).numpy(), np.einsum("kj,bjc->bkc", dct2_matrix(n), x),
                               atol=1e-12)


def test_dct_is_orthonormal_and_2d_is_separable():
    c = dct(torch.eye(12), 0).numpy()                       # columns: the DCT of each unit vector
    np.testing.assert_allclose(c, dct2_matrix(12), atol=1e-12)
    np.testing.assert_allclose(c @ c.T, np.eye(12), atol=1e-12)
    x = torch.randn(2, 3, 10, 7)
    np.testing.assert_allclose(forward_transform(x, "dct", 2).numpy(), sf.dctn(x.numpy(), axes=(2, 3), norm="ortho"),
                               atol=1e-12)
    torch.testing.assert_close(idct(idct(forward_transform(x, "dct", 2), -1), -2), x)


@pytest.mark.parametrize("size", [32, 48])
def test_frequency_domain_loss_equals_spatial_loss(size):
    """Parseval: the relative L2 against DCT(y) of an ``inverse=False`` model equals the spatial relative L2,
    at the build resolution and at another one; the absolute errors are equal at the build resolution."""
    torch.manual_seed(0)
    model = T1(1, 2, width=8, modes=6, resolution=(32, 32), inverse=False)
    x, y = torch.randn(3, 1, size, size), torch.randn(3, 2, size, size)
    coeffs = model(x)
    spatial = model.to_spatial(coeffs)
    torch.testing.assert_close(relative_l2(coeffs, model.transform_target(y)), relative_l2(spatial, y))
    model.inverse = True
    torch.testing.assert_close(model(x), spatial)
    if size == 32:
        torch.testing.assert_close((coeffs - model.transform_target(y)).norm(), (spatial - y).norm())


# -- the variance-preserving init -----------------------------------------------------------------------------

@pytest.mark.parametrize("transform,gain,n_kept", [("dct", 1.0, 8 * 8), ("dft", 0.5, 16 * 8)])
def test_init_scales_follow_the_formula(transform, gain, n_kept):
    """σ_A = g·√(N/(W·M)) on the first layer (N = 32², M kept coefficients), g·√(N_band/(W·M))/√(L−1) later
    (N_band = M for the DCT, 2M for the rfft), σ_B = 1/√m (DCT) or 1/√(2m) per part (DFT)."""
    torch.manual_seed(0)
    width, n_layers = 24, 3
    model = T1(width=width, modes=8, n_layers=n_layers, resolution=(32, 32), transform=transform)
    band = n_kept * (2 if transform == "dft" else 1)
    first = gain * math.sqrt(32 * 32 / (width * n_kept))
    later = gain * math.sqrt(band / (width * n_kept)) / math.sqrt(n_layers - 1)
    assert model.layers[0].A.std().item() == pytest.approx(first, rel=0.03)
    assert model.layers[2].A.std().item() == pytest.approx(later, rel=0.03)
    b_gain = math.sqrt(0.5) if transform == "dft" else 1.0
    assert model.layers[0].B[0].std().item() == pytest.approx(b_gain / math.sqrt(model.layers[0].B[0].shape[1]),
                                                              rel=0.05)


@pytest.mark.parametrize("transform", ["dct", "dft"])
def test_vp_init_keeps_the_variance_of_a_white_field_through_the_first_layer(transform):
    """A white field (variance 1) → transform → the first layer on the kept block, zeros outside → inverse,
    averaged over 4 draws of the weights. Its linear part (no activation, no residual) preserves the variance in
    expectation; with GELU and the residual (the defaults) it stays within 2x."""
    torch.manual_seed(0)
    size, m, width = 32, 12, 32
    v = torch.randn(4, width, size, size)
    z = torch.fft.rfft2(v, norm="ortho") if transform == "dft" else torch.from_numpy(
        sf.dctn(v.numpy(), axes=(2, 3), norm="ortho"))
    for act, residual, low, high in [("identity", False, 0.85, 1.15), ("gelu", True, 0.5, 2.0)]:
        ratios = []
        for seed in range(4):
            torch.manual_seed(seed)
            model = T1(width=width, modes=m, n_layers=1, resolution=(size, size), transform=transform, act=act,
                       residual=residual)
            with torch.no_grad():
                out = model.layers[0](take(z, m, transform))
            ratios.append(spatial_variance(out, torch.zeros_like(z), m, transform, size) / v.var().item())
        assert low < np.mean(ratios) < high, (act, ratios)


@pytest.mark.parametrize("transform", ["dct", "dft"])
@pytest.mark.parametrize("keep_high", [False, True])
def test_vp_init_keeps_the_variance_through_the_whole_stack(transform, keep_high):
    """With the documented defaults (GELU, residual), a white field keeps its variance within 2x after every
    one of 6 layers."""
    torch.manual_seed(2)
    size, m, width = 32, 12, 32
    model = T1(width=width, modes=m, n_layers=6, resolution=(size, size), transform=transform, keep_high=keep_high)
    v = torch.randn(4, width, size, size)
    z = torch.fft.rfft2(v, norm="ortho") if transform == "dft" else torch.from_numpy(
        sf.dctn(v.numpy(), axes=(2, 3), norm="ortho"))
    outside = z if keep_high else torch.zeros_like(z)
    z_hat = take(z, m, transform)
    with torch.no_grad():
        for layer in model.layers:
            z_hat = layer(z_hat)
            ratio = spatial_variance(z_hat, outside, m, transform, size) / v.var().item()
            assert 0.5 < ratio < 2.0, ratio


# -- the layer, the kept block and the rfft option --------------------------------------------------------------

@pytest.mark.parametrize("transform", ["dct", "dft"])
def test_layer_is_the_papers_equation(transform):
    """Ẑ ↦ B₂ B₁ GELU(A ⊙ Ẑ) + Ẑ: per-mode channel mixing, then per-channel mode mixing along each axis."""
    torch.manual_seed(3)
    complex_ = transform == "dft"
    layer = T1Layer(4, (6, 5), std_A=0.3, complex_=complex_)
    z = torch.randn(2, 4, 6, 5, dtype=torch.complex128 if complex_ else torch.float64)
    A, B1, B2 = (as_complex(p, transform) for p in (layer.A, layer.B[0], layer.B[1]))   # A: (x, y, i, o)
    zn = z.numpy()
    h = gelu_parts(np.einsum("bixy,xyio->boxy", zn, A))
    h = np.einsum("bcxy,cxu->bcuy", h, B1)
    h = np.einsum("bcxy,cyv->bcxv", h, B2)
    np.testing.assert_allclose(layer(z).detach().numpy(), h + zn, atol=1e-12)


@pytest.mark.parametrize("transform", ["dct", "dft"])
def test_layer_gradients_match_finite_differences(transform):
    """The layer's batched matmuls (with their contiguous-gradient wrapper) differentiate correctly."""
    torch.manual_seed(8)
    complex_ = transform == "dft"
    layer = T1Layer(3, (4, 3), std_A=0.5, complex_=complex_)
    z = torch.randn(2, 3, 4, 3, dtype=torch.complex128 if complex_ else torch.float64, requires_grad=True)
    params = {name: param.detach().clone().requires_grad_() for name, param in layer.named_parameters()}

    def f(z, *values):
        return torch.func.functional_call(layer, dict(zip(params, values)), (z,))

    assert torch.autograd.gradcheck(f, (z, *params.values()))


@pytest.mark.parametrize("transform", ["dct", "dft"])
def test_modes_outside_the_block_are_zero_unless_keep_high(transform):
    """``inverse=False`` coefficients: 0 outside the block; with ``keep_high``, the head applied to the lifted
    field's own coefficients there (the layers pass them through), computed here with scipy / numpy."""
    torch.manual_seed(4)
    size, m = 16, 4
    x = torch.randn(2, 1, size, size)
    mask = block_mask((size, size // 2 + 1) if transform == "dft" else (size, size), m, transform)
    out = T1(width=6, modes=m, n_layers=2, resolution=(size, size), transform=transform, inverse=False)(x)
    assert out.detach()[:, :, mask].abs().min() > 0
    assert (out.detach()[:, :, ~mask] == 0).all()

    model = T1(width=6, modes=m, n_layers=2, resolution=(size, size), transform=transform, inverse=False,
               keep_high=True)
    centres = np.cos(np.pi * (np.arange(size) + 0.5) / size)
    features = np.concatenate([x.numpy(), np.broadcast_to(centres[:, None], (2, 1, size, size)),
                               np.broadcast_to(centres[None, :], (2, 1, size, size))], axis=1)
    v = np.einsum("bixy,oi->boxy", features, model.lift.weight.detach().numpy()) \
        + model.lift.bias.detach().numpy()[:, None, None]
    z = np.fft.rfft2(v, norm="ortho") if transform == "dft" else sf.dctn(v, axes=(2, 3), norm="ortho")
    hidden = gelu_parts(np.einsum("bixy,io->boxy", z, as_complex(model.head_in, transform)))
    expected = np.einsum("bixy,io->boxy", hidden, as_complex(model.head_out, transform))
    np.testing.assert_allclose(model(x).detach().numpy()[:, :, ~mask], expected[:, :, ~mask], atol=1e-12)


@pytest.mark.parametrize("shape", [(32, 32), (24, 17)])
def test_2d_rfft_option_runs_with_the_right_shapes_and_gradients(shape):
    """The reference crashes on 2-D ``transform="dft"``; here it runs, forward and backward, on even and odd grids."""
    torch.manual_seed(5)
    model = T1(2, 3, width=8, modes=(5, 4), n_layers=2, resolution=shape, transform="dft")
    y = model(torch.randn(2, 2, *shape))
    assert y.shape == (2, 3, *shape) and not y.is_complex()
    y.square().mean().backward()
    for name, param in model.named_parameters():
        assert param.grad is not None and torch.isfinite(param.grad).all() and param.grad.abs().sum() > 0, name
    model.inverse = False
    coeffs = model(torch.randn(2, 2, *shape))
    assert coeffs.shape == (2, 3, shape[0], shape[1] // 2 + 1) and coeffs.is_complex()
    torch.testing.assert_close(model.to_spatial(coeffs, shape).shape, torch.Size((2, 3, *shape)))


@pytest.mark.parametrize("transform", ["dct", "dft"])
def test_1d_model_runs(transform):
    model = T1(1, 2, width=8, modes=6, resolution=(40,), transform=transform)
    y = model(torch.randn(3, 1, 40))
    assert y.shape == (3, 2, 40) and model.n_dim == 1
    y.sum().backward()


# -- resolution invariance -----------------------------------------------------------------------------------

def test_dct_model_gives_the_same_output_function_at_32_and_64():
    """A cosine-series input with 4 < 32 modes: the output at 64² is the band-limited output function at 32²
    (Σ α_k α_l Y_kl cos(πkx) cos(πly) with Y = DCT-II of the 32² output), evaluated on the 64² cell centres."""
    torch.manual_seed(6)
    model = T1(width=8, modes=8, n_layers=2, resolution=(32, 32))
    coeffs = np.random.default_rng(0).standard_normal((2, 4, 4))
    with torch.no_grad():
        out32, out64 = model(cosine_series(coeffs, 32)).numpy(), model(cosine_series(coeffs, 64)).numpy()
    y = sf.dctn(out32, axes=(2, 3), norm="ortho")
    alpha = np.where(np.arange(32) == 0, np.sqrt(1 / 32), np.sqrt(2 / 32))
    basis = alpha[:, None] * np.cos(np.pi * np.outer(np.arange(32), (np.arange(64) + 0.5) / 64))   # (k, x)
    expected = np.einsum("bckl,kx,ly->bcxy", y, basis, basis)
    assert np.abs(out32).max() > 1e-3
    np.testing.assert_allclose(out64, expected, atol=1e-10)


def test_trained_at_32_evaluated_at_64(fit):
    """A few Adam steps at 32², evaluated zero-shot at 64²: the error is finite, and for this band-limited task
    (a smoothing of cosine series) the same as at 32²."""
    torch.manual_seed(7)
    rng = np.random.default_rng(1)
    coeffs = rng.standard_normal((16, 4, 4))
    smooth = coeffs / (1 + np.add.outer(np.arange(4) ** 2, np.arange(4) ** 2))
    data = {n: (cosine_series(coeffs, n), cosine_series(smooth, n)) for n in (32, 64)}
    model = create_model("t1", width=12, modes=8, n_layers=2, resolution=[32, 32])
    x, y = data[32]
    first = relative_l2(model(x), y).item()
    fit(model, x, y, steps=10, lr=3e-3)
    with torch.no_grad():
        errors = {n: relative_l2(model(x_n), y_n).item() for n, (x_n, y_n) in data.items()}
    assert math.isfinite(errors[64]) and errors[32] < first
    assert errors[64] == pytest.approx(errors[32], rel=1e-8)


# -- errors and registration ----------------------------------------------------------------------------------

def test_bad_input_is_a_clear_error():
    model = T1(in_channels=2, modes=8, resolution=(32, 32))
    with pytest.raises(ValueError, match=r"\(batch, 2, H, W\)"):
        model(torch.randn(2, 3, 32, 32))
    with pytest.raises(ValueError, match=r"\(batch, 2, H, W\)"):
        model(torch.randn(2, 2, 32))
    with pytest.raises(TypeError, match="floating-point"):
        model(torch.ones(2, 2, 32, 32, dtype=torch.long))
    with pytest.raises(ValueError, match=r"modes=\(8, 8\).*'dct'.*m ≤ n.*\(6, 32\).*finer grid or fewer modes"):
        model(torch.randn(2, 2, 6, 32))
    dft = T1(modes=8, resolution=(32, 32), transform="dft")
    with pytest.raises(ValueError, match=r"2·m ≤ n.*\(12, 32\)"):
        dft(torch.randn(2, 1, 12, 32))
    with pytest.raises(ValueError, match=r"m ≤ n//2 \+ 1.*\(32, 12\)"):
        dft(torch.randn(2, 1, 32, 12))
    with pytest.raises(ValueError, match=r"transform must be one of \('dct', 'dft'\), got 'dst'"):
        T1(transform="dst")
    with pytest.raises(ValueError, match="act must be one of"):
        T1(act="relu6")
    with pytest.raises(ValueError, match="modes as many"):
        T1(modes=(8, 8, 8), resolution=(32, 32))
    with pytest.raises(ValueError, match="modes must be a list of positive ints"):
        T1(modes=(8, 0))
    with pytest.raises(ValueError, match="needs m ≤ n"):
        T1(modes=40, resolution=(32, 32))
    with pytest.raises(ValueError, match="resolution must be a list of positive ints, got 32"):
        T1(resolution=32)


def test_registered_with_its_capability_and_example():
    info = model_info("t1")
    assert info.family == "operators" and "resolution_invariant" in info.capabilities
    for kwargs in ({}, {"transform": "dft", "inverse": False}, {"resolution": [24], "modes": 6}):
        model = create_model("t1", **kwargs)
        inputs, shape = info.example(model)
        assert model(inputs).shape == shape
        assert (model.in_channels, model.out_channels, model.n_dim) == (1, 1, len(model.resolution))
