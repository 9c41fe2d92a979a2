"""PDE datamodules: shapes, subsampled test resolutions, train-split normalisers, cache and clear errors."""

import pytest
import torch
from hydra.utils import instantiate

from zoo.cli import data_value
from zoo.data import BurgersDataModule, DarcyDataModule, NavierStokesDataModule

SIZES = dict(n_train=12, n_val=4, n_test=6, batch_size=4)
SMALL = {
    DarcyDataModule: dict(resolution=9, test_resolutions=[9, 17]),
    BurgersDataModule: dict(resolution=16, test_resolutions=[16, 64], t_final=0.2, dt=0.02),
    NavierStokesDataModule: dict(resolution=8, test_resolutions=[8, 16], t_final=0.2, dt=0.05),
}


def make(cls, tmp_path, **overrides):
    return cls(data_dir=str(tmp_path), **(SIZES | SMALL[cls] | overrides))


@pytest.mark.parametrize("cls", list(SMALL))
def test_batches_shapes_and_train_normalisers(cls, tmp_path):
    data = make(cls, tmp_path)
    data.prepare_data()
    data.setup()
    low, high = data.test_resolutions
    coarse_shape, fine_shape = (4, 1, *(low,) * data.n_dim), (4, 1, *(high,) * data.n_dim)
    x, y = next(iter(data.train_dataloader()))
    assert x.shape == coarse_shape == y.shape and x.dtype == y.dtype == torch.float32
    assert data.in_channels == data.out_channels == 1 and data.resolution == low
    loaders = data.test_dataloader()
    assert [next(iter(loader))[0].shape for loader in loaders] == [coarse_shape, fine_shape]
    # x and y in physical units, as solved; the training split's per-channel statistics kept for the task
    raw = data.load("train")
    train_x, train_y = data.splits["train"].tensors
    torch.testing.assert_close(train_x, data.subsample(raw["x"], low), rtol=0, atol=0)
    torch.testing.assert_close(train_y, data.subsample(raw["y"], low), rtol=0, atol=0)
    axes = [0, *range(2, 2 + data.n_dim)]
    assert data.x_mean.shape == data.x_std.shape == data.y_mean.shape == data.y_std.shape == (1,)
    for name, field in (("x", train_x), ("y", train_y)):
        torch.testing.assert_close(getattr(data, f"{name}_mean"), field.double().mean(axes).float())
        torch.testing.assert_close(getattr(data, f"{name}_std"), field.double().std(axes).float())
    # the test resolutions hold the same samples: the coarse grid is every m-th point of the fine one
    assert data.test_names == ["test", f"test_{high}"]
    coarse, fine = (data.splits[name].tensors for name in data.test_names)
    step = high // low if data.periodic else (high - 1) // (low - 1)
    index = (Ellipsis, *[slice(None, None, step)] * data.n_dim)
    torch.testing.assert_close(coarse[0], fine[0][index], rtol=0, atol=0)
    torch.testing.assert_close(coarse[1], fine[1][index], rtol=0, atol=0)


def test_darcy_values_are_physical(tmp_path):
    data = make(DarcyDataModule, tmp_path)
    data.setup()
    a, y = data.splits["test_17"].tensors  # the coefficient as solved, not normalised
    assert set(a.unique().tolist()) == {3.0, 12.0}
    assert torch.all(y[..., 0, :] == 0) and torch.all(y[..., -1] == 0) and torch.all(y[..., 1:-1, 1:-1] > 0)
    assert not data.periodic and BurgersDataModule.periodic and NavierStokesDataModule.periodic


def test_cache_is_named_by_parameters_and_reused(tmp_path, monkeypatch):
    data = make(NavierStokesDataModule, tmp_path)
    data.prepare_data()
    name = data.cache_path("test").name
    assert name == "navier_stokes-v1-nu0.001-T0.2-alpha2.5-tau7-sigmadefault-dt0.05-s16-seed0-test6.pt"
    assert all(data.cache_path(split).is_file() for split in ("train", "val", "test"))
    assert make(NavierStokesDataModule, tmp_path, viscosity=1e-4).cache_path("test") != data.cache_path("test")
    assert make(NavierStokesDataModule, tmp_path, seed=1).cache_path("test") != data.cache_path("test")
    # training at the other resolution subsamples the same files: nothing is generated again
    monkeypatch.setattr(NavierStokesDataModule, "generate", lambda self, split: pytest.fail("regenerated"))
    again = make(NavierStokesDataModule, tmp_path, resolution=16, test_resolutions=[16, 8])
    again.setup()
    data.setup()
    torch.testing.assert_close(again.splits["test"].tensors[1], data.splits["test_16"].tensors[1])


def test_samples_do_not_depend_on_the_other_splits(tmp_path):
    small = make(BurgersDataModule, tmp_path / "a", n_train=3, n_test=2)
    large = make(BurgersDataModule, tmp_path / "b", n_train=7, n_test=5)
    small.setup()
    large.setup()
    torch.testing.assert_close(small.generate("test")["y"], large.generate("test")["y"][:2], rtol=0, atol=0)
    assert not torch.equal(large.generate("train")["x"][:5], large.generate("test")["x"])


@pytest.mark.parametrize("cls,overrides,message", [
    (DarcyDataModule, dict(resolution=32, test_resolutions=[32, 65]),
     "resolution 32 is not reachable by subsampling the solver grid S = 65 .* choose among \\[3, 5, 9, 17, 33, 65\\]"),
    (NavierStokesDataModule, dict(resolution=24, test_resolutions=[24, 64]),
     "resolution 24 is not reachable .*\\(S / r must be an integer\\): choose among \\[4, 8, 16, 32, 64\\]"),
    (DarcyDataModule, dict(test_resolutions=[17, 9]), "test_resolutions must start with the training resolution 9"),
    (DarcyDataModule, dict(test_resolutions=[9, 17, 17]), "repeated entries"),
    (BurgersDataModule, dict(solver_resolution=63, test_resolutions=[16]), "solver_resolution must be an even integer"),
    (DarcyDataModule, dict(n_train=0), "n_train must be a positive integer"),
    (DarcyDataModule, dict(seed=-1), "seed must be a non-negative integer"),
    (BurgersDataModule, dict(viscosity=0.0), "viscosity must be positive"),
    (DarcyDataModule, dict(a_neg=-3.0), "a_neg must be positive"),
])
def test_bad_parameters_are_clear_errors(cls, overrides, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        make(cls, tmp_path, **overrides)


@pytest.mark.parametrize("option,target", [("darcy", DarcyDataModule), ("burgers", BurgersDataModule),
                                           ("navier_stokes", NavierStokesDataModule)])
def test_configs_build_the_datamodules(make_cfg, option, target):
    cfg = make_cfg(f"data={option}")
    data = instantiate(cfg.data)
    assert isinstance(data, target)
    for key in ("in_channels", "out_channels", "n_dim", "periodic", "resolution"):  # ${zoo_data:<key>} in a config
        assert getattr(data, key) == data_value(key, _root_=cfg)
    assert data.test_resolutions[0] == data.resolution and str(data.data_dir).endswith("data")
