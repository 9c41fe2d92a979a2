"""FNO / TFNO: block equations, parameter counts, resolution invariance, zero-shot super-resolution, errors."""

import math

import pytest
import torch
import torch.nn.functional as F

import zoo
from zoo.operators.fno import FNO, FNOBlock
from zoo.operators.spectral import SpectralConv


def band_limited(n: int, batch: int = 2, n_dim: int = 2, seed: int = 0, shift: float = 0.0) -> torch.Tensor:
    """``(batch, 1, n, …)``: random Fourier series with frequencies |k_j| ≤ 2, sampled at ``(j/n + shift, …)``."""
    g = torch.Generator().manual_seed(seed)
    axes = torch.meshgrid(*[torch.arange(n, dtype=torch.float64) / n] * n_dim, indexing="ij")
    axes = (axes[0] + shift, *axes[1:])
    out = torch.zeros(batch, 1, *[n] * n_dim, dtype=torch.float64)
    for k in torch.cartesian_prod(*[torch.arange(-2, 3)] * n_dim).reshape(-1, n_dim):
        phase = 2 * math.pi * sum(int(kj) * x for kj, x in zip(k, axes))
        a, b = 0.3 * torch.randn(2, batch, 1, *[1] * n_dim, generator=g, dtype=torch.float64)
        out += a * torch.cos(phase) + b * torch.sin(phase)
    return out


def relative_l2(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).flatten(1).norm(dim=1) / b.flatten(1).norm(dim=1)).mean().item()


def test_parameter_count_matches_the_formula():
    c_in, c_out, w, m, layers = 3, 2, 8, (4, 5), 3
    model = FNO(c_in, c_out, width=w, modes=m, n_layers=layers)
    lifting = (c_in + 2) * 2 * w + 2 * w + 2 * w * w + w
    spectral = 2 * w * w * (2 * 4 - 1) * 5
    block = spectral + (w * w + w) + (w * w // 2 + w // 2 + w // 2 * w + w) + w
    projection = w * 2 * w + 2 * w + 2 * w * c_out + c_out
    assert sum(p.numel() for p in model.parameters()) == lifting + layers * block + projection


def test_tfno_keeps_a_tenth_of_the_spectral_parameters():
    dense = zoo.create_model("fno", width=32, modes=12, n_layers=4)
    tucker = zoo.create_model("tfno", width=32, modes=12, n_layers=4)
    joint = zoo.create_model("tfno", width=32, modes=12, n_layers=4, joint_factorization=True)

    def spectral(model):
        return sum(p.numel() for name, p in model.named_parameters() if ".conv." in name or "joint" in name)

    assert abs(spectral(tucker) / spectral(dense) - 0.1) < 0.02
    assert abs(spectral(joint) / spectral(dense) - 0.1) < 0.02
    assert tucker.blocks[0].conv.weight.factorization == "tucker"


def test_fno_registers_a_joint_weight_once():
    model = FNO(1, 1, width=8, modes=4, n_layers=3, factorization="cp", rank=2, joint_factorization=True)
    joint_params = [name for name, _ in model.named_parameters() if "joint_weight" in name]
    spectral_params = [name for name, _ in model.named_parameters() if ".conv." in name]
    assert len(joint_params) == 5 and not spectral_params  # one CP factor per axis of (L, in, out, 7, 4)
    assert sum(p.numel() for p in model.joint_weight.parameters()) == 2 * 2 * (3 + 8 + 8 + 7 + 4)


@pytest.mark.parametrize("preactivation", [False, True])
def test_block_follows_the_equations(preactivation):
    torch.manual_seed(0)
    block = FNOBlock(SpectralConv(6, 6, (3, 3)), norm="group", preactivation=preactivation).double()
    last = FNOBlock(SpectralConv(6, 6, (3, 3)), last=True).double()
    v = torch.randn(2, 6, 9, 8, dtype=torch.float64)
    b = block
    if preactivation:
        u = b.norm1(F.gelu(v))
        expected = b.mlp(b.norm2(F.gelu(b.conv(u) + b.skip(u)))) + b.gate.weight * u
    else:
        h = F.gelu(b.norm1(b.conv(v)) + b.skip(v))
        expected = F.gelu(b.norm2(b.mlp(h) + b.gate.weight * v))
    torch.testing.assert_close(block(v), expected)
    h = last.conv(v) + last.skip(v)  # no σ after the last block
    torch.testing.assert_close(last(v), last.mlp(h) + last.gate.weight * v)


@pytest.mark.parametrize("name,kwargs", [("fno", {}), ("tfno", {}), ("tfno", {"joint_factorization": True}),
                                         ("tfno", {"factorization": "cp"}), ("tfno", {"preactivation": True})])
def test_band_limited_input_gives_the_same_function_on_two_grids(name, kwargs):
    """No grid channels, no padding: 32² and 64² agree to the aliasing of σ (a ~1e-7 effect here)."""
    torch.manual_seed(1)
    model = zoo.create_model(name, width=12, modes=6, n_layers=3, grid=False, **kwargs).double()
    coarse, fine = model(band_limited(32)), model(band_limited(64))
    assert relative_l2(fine[..., ::2, ::2], coarse) < 1e-5


def test_band_limited_invariance_in_1d():
    torch.manual_seed(2)
    model = zoo.create_model("tfno", modes=[8], width=12, n_layers=3, grid=False).double()
    coarse, fine = model(band_limited(32, n_dim=1)), model(band_limited(96, n_dim=1))
    assert relative_l2(fine[..., ::3], coarse) < 1e-5


@pytest.mark.parametrize("name", ["fno", "tfno"])
def test_trained_at_32_runs_at_64(name, fit):
    """A few Adam steps on the quarter-period shift operator at 32², evaluated zero-shot at 64²."""
    torch.manual_seed(3)
    model = zoo.create_model(name, width=8, modes=6, n_layers=2).double()
    fit(model, band_limited(32, 4), band_limited(32, 4, shift=0.25), steps=40)
    with torch.no_grad():
        errors = [relative_l2(model(band_limited(n, 4, seed=1)), band_limited(n, 4, seed=1, shift=0.25))
                  for n in (32, 64)]
    print(f"{name}: relative L2 after 40 steps at 32²: {errors[0]:.4f}, zero-shot at 64²: {errors[1]:.4f}")
    assert math.isfinite(errors[1]) and errors[0] < 0.6  # it learned something
    assert errors[1] < 1.5 * errors[0]


def test_domain_padding_is_a_fraction_of_each_axis():
    model = FNO(1, 1, width=4, modes=(3, 3), n_layers=1, domain_padding=[0.25, 0.1])
    assert model.padding((32, 20)) == [8, 2]
    assert model.padding((64, 40)) == [16, 4]
    assert model(torch.randn(2, 1, 32, 20)).shape == (2, 1, 32, 20)


def test_zero_padding_changes_a_periodic_result():
    """Padding makes the FFT see a longer, zero-extended domain: the output differs from the unpadded model's."""
    torch.manual_seed(4)
    padded = FNO(1, 1, width=4, modes=4, n_layers=1, domain_padding=0.25).double()
    plain = FNO(1, 1, width=4, modes=4, n_layers=1).double()
    plain.load_state_dict(padded.state_dict())
    x = band_limited(16)
    assert not torch.allclose(padded(x), plain(x))


@pytest.mark.parametrize("modes,spatial", [([5], (16,)), ([3, 4, 3], (8, 10, 6))])
@pytest.mark.parametrize("norm", [None, "group", "instance"])
def test_1d_and_3d_shapes(modes, spatial, norm):
    model = zoo.create_model("tfno", in_channels=2, out_channels=3, width=8, modes=modes, n_layers=2, norm=norm,
                             domain_padding=0.2)
    assert model.n_dim == len(spatial)
    out = model(torch.randn(2, 2, *spatial))
    assert out.shape == (2, 3, *spatial) and torch.isfinite(out).all()


def test_zoo_config_rebuilds_the_same_model():
    model = zoo.create_model("tfno", width=8, modes=[4, 3], n_layers=2, rank=0.2, joint_factorization=True,
                             norm="instance", domain_padding=[0.1, 0.0])
    config = dict(model.zoo_config)
    clone = zoo.create_model(config.pop("name"), **config)
    clone.load_state_dict(model.state_dict())
    x = torch.randn(2, 1, 12, 10)
    torch.testing.assert_close(clone(x), model(x))


def test_bad_inputs_raise_clear_errors():
    model = FNO(2, 1, width=4, modes=(5, 5), n_layers=1)
    with pytest.raises(ValueError, match=r"expects input of shape \(batch, 2, H, W\)"):
        model(torch.randn(1, 3, 16, 16))
    with pytest.raises(ValueError, match=r"expects input of shape"):
        model(torch.randn(1, 2, 16))
    with pytest.raises(TypeError, match="floating-point"):
        model(torch.ones(1, 2, 16, 16, dtype=torch.int64))
    with pytest.raises(ValueError, match=r"modes=5 on spatial axis 1 needs at least 9 points.*got 8"):
        model(torch.randn(1, 2, 16, 8))
    with pytest.raises(ValueError, match="unknown norm 'batch'"):
        FNO(1, 1, norm="batch")
    with pytest.raises(ValueError, match="unknown act"):
        FNO(1, 1, act="swish")
    with pytest.raises(ValueError, match="domain_padding must be"):
        FNO(1, 1, modes=(4, 4), domain_padding=[0.1])
    with pytest.raises(ValueError, match="width must be a positive int"):
        FNO(1, 1, width=0)
    with pytest.raises(TypeError, match=r"create_model\('fno'.*wdth"):
        zoo.create_model("fno", wdth=8)
