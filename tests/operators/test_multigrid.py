"""Multi-grid patching: identity at levels 0, explicit patch / context windows, stitching, MG-TFNO zero-shot."""

import math

import pytest
import torch
from torch import nn

import zoo
from zoo.operators.fno import FNO
from zoo.operators.multigrid import MultigridPatching


class FirstChannels(nn.Module):
    """A 2-D "operator" returning its first ``out_channels`` input channels (the level-0 views)."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.in_channels, self.out_channels, self.n_dim = in_channels, out_channels, 2

    def forward(self, x):
        return x[:, : self.out_channels]


def periodic_field(n: int, batch: int = 2, seed: int = 0, shift: float = 0.0) -> torch.Tensor:
    """``(batch, 1, n, n)`` random Fourier series, |k| ≤ 2, sampled at ``(j/n + shift, l/n)``."""
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(n, dtype=torch.float64) / n
    x, y = torch.meshgrid(t + shift, t, indexing="ij")
    out = torch.zeros(batch, 1, n, n, dtype=torch.float64)
    for kx in range(-2, 3):
        for ky in range(-2, 3):
            a, b = 0.3 * torch.randn(2, batch, 1, 1, 1, generator=g, dtype=torch.float64)
            phase = 2 * math.pi * (kx * x + ky * y)
            out += a * torch.cos(phase) + b * torch.sin(phase)
    return out


def test_levels_0_without_padding_is_the_identity_wrapper():
    torch.manual_seed(0)
    inner = FNO(2, 3, width=8, modes=(4, 4), n_layers=2).double()
    wrapped = MultigridPatching(inner, levels=0, padding_fraction=0.0)
    x = torch.randn(3, 2, 16, 12, dtype=torch.float64)
    assert torch.equal(wrapped(x), inner(x))


@pytest.mark.parametrize("levels", [1, 2])
def test_split_and_stitch_round_trip(levels):
    wrapper = MultigridPatching(FirstChannels(levels + 1, 1), levels)
    y = torch.randn(2, 3, 16, 32)
    patches = wrapper.split(y)
    n = 2**levels
    h, w = 16 // n, 32 // n
    assert patches.shape == (2 * n * n, 3, h, w)
    for b, i, j in [(0, 0, 0), (1, n - 1, 0), (1, 1, n - 1)]:  # batch-major, then row, then column
        torch.testing.assert_close(patches[b * n * n + i * n + j], y[b, :, i * h:(i + 1) * h, j * w:(j + 1) * w])
    assert torch.equal(wrapper.stitch(patches), y)


def test_patch_views_are_the_explicit_circular_windows():
    """levels = 2 on 32²: h = 8, margin p = round(0.1·32) = 3; level l window of patch i starts at
    i·8/2^l − (8 − 8/2^l)/2 − 3 on the grid a[::2^l] (indices mod 32/2^l)."""
    levels, n_grid, p = 2, 32, 3
    wrapper = MultigridPatching(FirstChannels(levels + 1, 1), levels, padding_fraction=0.1)
    x = torch.randn(2, 1, n_grid, n_grid)
    views = wrapper.patch(x)
    assert views.shape == (2 * 16, 3, 8 + 2 * p, 8 + 2 * p)
    for b, i, j in [(0, 0, 0), (1, 2, 3), (0, 3, 1)]:
        for level, offset in [(0, 0), (1, 2), (2, 3)]:
            step, size = 2**level, n_grid // 2**level
            rows = [(i * 8 // step - offset - p + t) % size for t in range(8 + 2 * p)]
            cols = [(j * 8 // step - offset - p + t) % size for t in range(8 + 2 * p)]
            expected = x[b, 0, ::step, ::step][rows][:, cols]
            torch.testing.assert_close(views[b * 16 + i * 4 + j, level], expected)


def test_coarse_windows_are_centred_on_their_patch_within_one_coarse_point():
    levels, n_grid = 2, 64
    wrapper = MultigridPatching(FirstChannels(levels + 1, 1), levels, padding_fraction=0.05)
    coords = torch.arange(n_grid, dtype=torch.float64).reshape(1, 1, n_grid, 1).expand(1, 1, n_grid, n_grid)
    views = wrapper.patch(coords)  # each view holds the (unwrapped mod n) row index of its points
    for i in range(4):
        patch_centre = i * 16 + 7.5
        for level in range(1, levels + 1):
            rows = views[i * 4, level, :, 0]
            unwrapped = rows[0] + torch.cumsum(torch.remainder(torch.diff(rows), n_grid), 0)
            distance = ((rows[0] + unwrapped[-1]) / 2 - patch_centre).item() % n_grid  # on the circle
            assert min(distance, n_grid - distance) <= 2**level


def test_margins_are_cropped_and_patches_stitched():
    """An inner model returning its level-0 view: the wrapper must give back the input exactly."""
    wrapper = MultigridPatching(FirstChannels(3, 1), levels=2, padding_fraction=0.15)
    x = torch.randn(2, 1, 32, 48)
    assert torch.equal(wrapper(x), x)


def test_stitching_false_returns_patches_in_training_only():
    wrapper = MultigridPatching(FirstChannels(2, 1), levels=1, padding_fraction=0.1, stitching=False)
    x = torch.randn(2, 1, 16, 16)
    assert torch.equal(wrapper.train()(x), wrapper.split(x))
    assert torch.equal(wrapper.eval()(x), x)


def test_mg_tfno_builds_from_plain_kwargs():
    model = zoo.create_model("mg_tfno", in_channels=2, out_channels=3, levels=2, padding_fraction=0.1, width=8,
                             modes=[5, 4], rank=0.2)
    assert (model.in_channels, model.out_channels, model.n_dim) == (2, 3, 2)
    assert model.model.in_channels == 2 * 3 and model.model.blocks[0].conv.weight.factorization == "tucker"
    assert model(torch.randn(2, 2, 32, 32)).shape == (2, 3, 32, 32)
    assert "resolution_invariant" in zoo.registry.model_info("mg_tfno").capabilities


def test_mg_tfno_trained_at_32_runs_at_64(fit):
    """Patch counts are fixed and patches, margins and context windows scale with the grid: zero-shot 64²."""
    torch.manual_seed(1)
    model = zoo.create_model("mg_tfno", levels=1, padding_fraction=0.125, width=8, modes=6, n_layers=2).double()
    fit(model, periodic_field(32, 4), periodic_field(32, 4, shift=0.0625), steps=20)

    def error(n):
        with torch.no_grad():
            target = periodic_field(n, 4, seed=1, shift=0.0625)
            return ((model(periodic_field(n, 4, seed=1)) - target).norm() / target.norm()).item()

    errors = error(32), error(64)
    print(f"mg_tfno: relative L2 after 20 steps at 32²: {errors[0]:.4f}, zero-shot at 64²: {errors[1]:.4f}")
    assert math.isfinite(errors[1]) and errors[0] < 0.8
    assert errors[1] < 1.5 * errors[0]


def test_bad_inputs_raise_clear_errors():
    model = zoo.create_model("mg_tfno", levels=2, width=4, modes=4, n_layers=1)
    with pytest.raises(ValueError, match=r"divisible by 4\^levels = 16.*\(24, 32\)"):
        model(torch.randn(1, 1, 24, 32))
    with pytest.raises(ValueError, match=r"expects input of shape \(batch, 1, H, W\)"):
        model(torch.randn(1, 1, 32))
    with pytest.raises(ValueError, match="inner model rejects the patches.*modes=8"):
        zoo.create_model("mg_tfno", levels=2, modes=8, width=4, n_layers=1)(torch.randn(1, 1, 32, 32))
    with pytest.raises(ValueError, match=r"levels=-1 must be >= 0 \(model.levels\)"):
        zoo.create_model("mg_tfno", levels=-1)
    with pytest.raises(ValueError, match="levels must be an int"):
        MultigridPatching(FirstChannels(2, 1), -1)
    with pytest.raises(ValueError, match=r"padding_fraction must be in \[0, 0.5\)"):
        MultigridPatching(FirstChannels(2, 1), 1, padding_fraction=0.5)
    with pytest.raises(ValueError, match="wraps 2-D operators"):
        MultigridPatching(FNO(2, 1, modes=[4]), 1)
    with pytest.raises(ValueError, match="in_channels=3 is not a multiple"):
        MultigridPatching(FirstChannels(3, 1), 1)


def test_pad_input_admits_grids_that_do_not_divide_and_crops_back():
    model = zoo.create_model("mg_tfno", levels=1, width=8, modes=4, pad_input=True).double().eval()
    x = torch.randn(2, 1, 33, 33, dtype=torch.float64)
    y = model(x)
    assert y.shape == (2, 1, 33, 33)
    model.pad_input = False  # the same as padding by hand to 36, the next multiple of 4^levels, and cropping
    torch.testing.assert_close(y, model(torch.nn.functional.pad(x, (0, 3, 0, 3)))[..., :33, :33], rtol=0, atol=0)
    with pytest.raises(ValueError, match="pad_input=True"):
        model(x)
