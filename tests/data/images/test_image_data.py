"""Generated images: ellipse geometry against closed forms, phantoms' range, crops that are pieces of the photographs,
the hyperspectral mixing model (abundances sum to one, rank ≤ J), and the datamodules' batches and cache."""

import importlib.machinery
import math
import sys

import pytest
import torch
import torch.nn.functional as F

import zoo.data.images.datamodules as datamodules
from zoo.data import HSIDataModule, PhantomDataModule, RGBCropsDataModule
from zoo.data.images.hyperspectral import endmember_spectra, hsi_components, synthetic_hsi
from zoo.data.images.natural import TEST_IMAGE, bundled_image, downscale, rgb_crops
from zoo.data.images.phantoms import ellipse_indicator, ellipse_phantoms, pixel_grid


def test_an_ellipse_has_area_pi_a_b():
    inside = ellipse_indicator(2000, torch.tensor([0.1, -0.2]), torch.tensor([0.5, 0.3]), torch.tensor(0.7))
    area = inside.double().mean().item() * 4  # the image is [-1, 1]²
    assert area == pytest.approx(math.pi * 0.5 * 0.3, rel=0.01)


def test_an_ellipse_at_a_right_angle_is_tall():
    """Semi-axes (0.5, 0.2) turned by π/2: the ellipse spans ±0.5 in y (down the rows) and ±0.2 in x."""
    inside = ellipse_indicator(400, torch.zeros(2), torch.tensor([0.5, 0.2]), torch.tensor(math.pi / 2))
    x, y = pixel_grid(400)
    half_pixel = 1 / 400
    assert y[inside].abs().max().item() == pytest.approx(0.5, abs=2 * half_pixel)
    assert x[inside].abs().max().item() == pytest.approx(0.2, abs=2 * half_pixel)


def test_phantoms_shape_range_and_seed():
    phantoms = ellipse_phantoms(20, size=24, seed=3)
    assert phantoms.shape == (20, 1, 24, 24) and phantoms.dtype == torch.float32
    assert phantoms.min() >= 0 and phantoms.max() <= 1
    assert phantoms.max() == 1  # the skull rim (intensity 1 before the features) survives the clipping somewhere
    assert (phantoms[:, 0, 0, 0] == 0).all()  # corners lie outside the head
    assert torch.equal(phantoms, ellipse_phantoms(20, size=24, seed=3))
    assert not torch.equal(phantoms, ellipse_phantoms(20, size=24, seed=4))


def test_phantom_datamodule_batches_test_images_and_cache(tmp_path, monkeypatch):
    datamodule = PhantomDataModule(data_dir=str(tmp_path), size=16, n_train=10, n_val=4, n_test=3, batch_size=4)
    datamodule.prepare_data()
    assert datamodule.cache_path.is_file() and datamodule.cache_path.parent == tmp_path / "images"
    datamodule.setup()
    batch = next(iter(datamodule.train_dataloader()))
    assert set(batch) == {"x"} and batch["x"].shape == (4, 1, 16, 16) and batch["x"].dtype == torch.float32
    assert batch["x"].min() >= -1 and batch["x"].max() <= 1 and batch["x"].min() == -1  # the background is 0 -> -1
    truth = datamodule.test_images()
    assert truth.shape == (3, 1, 16, 16) and truth.min() >= 0 and truth.max() <= 1
    tested = torch.cat([batch["x"] for batch in datamodule.test_dataloader()])
    torch.testing.assert_close(tested, 2 * truth - 1)
    monkeypatch.setattr(datamodules, "ellipse_phantoms", lambda *args: pytest.fail("the cache was not read"))
    again = PhantomDataModule(data_dir=str(tmp_path), size=16, n_train=10, n_val=4, n_test=3, batch_size=4)
    torch.testing.assert_close(again.test_images(), truth)


def test_the_test_split_does_not_depend_on_the_training_size(tmp_path):
    small = PhantomDataModule(data_dir=str(tmp_path), size=8, n_train=2, n_val=2, n_test=3)
    large = PhantomDataModule(data_dir=str(tmp_path), size=8, n_train=7, n_val=2, n_test=3)
    assert small.cache_path != large.cache_path
    torch.testing.assert_close(small.test_images(), large.test_images())
    assert not torch.equal(small.load()["train"][:2], small.test_images()[:2])


@pytest.mark.parametrize("kwargs, message", [({"n_train": 0}, r"data.n_train=0: expected a positive integer"),
                                             ({"size": 2.5}, r"data.size=2.5: expected a positive integer")])
def test_bad_sizes_name_the_key(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        PhantomDataModule(data_dir=str(tmp_path), **kwargs)


def contains(image: torch.Tensor, crop: torch.Tensor, atol: float) -> bool:
    """Whether ``crop (C, s, s)`` or its mirror image is a ``s × s`` window of ``image (C, H, W)``."""
    size = crop.shape[-1]
    windows = F.unfold(image[None], size)[0].T  # (positions, C·s·s)
    return any((windows - candidate.flatten()).abs().max(1).values.min() <= atol for candidate in (crop, crop.flip(-1)))


def test_crops_are_windows_of_the_scaled_photograph():
    pytest.importorskip("skimage")
    crops = rgb_crops(6, size=8, side=24, images=(TEST_IMAGE,), seed=0)
    scaled = downscale(bundled_image(TEST_IMAGE), 24)
    assert crops.shape == (6, 3, 8, 8) and min(scaled.shape[-2:]) == 24
    assert all(contains(scaled, crop, atol=1e-6) for crop in crops)


def test_rgb_datamodule_tests_on_the_held_out_photograph(tmp_path):
    pytest.importorskip("skimage")
    datamodule = RGBCropsDataModule(data_dir=str(tmp_path), size=8, side=24, n_train=6, n_val=2, n_test=3,
                                    batch_size=3)
    batch = next(iter(datamodule.train_dataloader()))
    assert batch["x"].shape == (3, 3, 8, 8) and batch["x"].min() >= -1 and batch["x"].max() <= 1
    truth = datamodule.test_images()
    assert truth.shape == (3, 3, 8, 8) and truth.dtype == torch.float32
    scaled = downscale(bundled_image(TEST_IMAGE), 24)
    assert all(contains(scaled, crop, atol=0.5 / 255 + 1e-6) for crop in truth)  # cached as uint8


class WithoutScikitImage(importlib.machinery.PathFinder):
    """A path finder that cannot see scikit-image, as if it were not installed."""

    @classmethod
    def find_spec(cls, name, path=None, target=None):
        return None if name.partition(".")[0] == "skimage" else super().find_spec(name, path, target)


def test_missing_scikit_image_names_the_extra(monkeypatch):
    finders = [WithoutScikitImage if finder is importlib.machinery.PathFinder else finder for finder in sys.meta_path]
    monkeypatch.setattr(sys, "meta_path", finders)
    for name in [name for name in sys.modules if name.partition(".")[0] == "skimage"]:
        monkeypatch.delitem(sys.modules, name)
    with pytest.raises(ModuleNotFoundError, match=r'pip install -e "\.\[inverse\]"'):
        bundled_image("astronaut")


def test_endmember_spectra_are_smooth_curves_in_range():
    spectra = endmember_spectra(50, 31, torch.Generator().manual_seed(0))
    assert spectra.shape == (50, 31) and spectra.min() >= 0.05 and spectra.max() <= 0.95
    assert spectra.diff(n=2).abs().max() < 0.1  # smooth: bumps at least 0.1 wide on a band spacing of 1/30


def test_hsi_abundances_sum_to_one_and_the_image_has_rank_at_most_J():
    pytest.importorskip("skimage")
    J = 5
    abundances, spectra = hsi_components(2, size=32, bands=20, endmembers=J, seed=1)
    assert abundances.shape == (2, J, 32, 32) and spectra.shape == (2, J, 20)
    assert abundances.min() >= 0
    torch.testing.assert_close(abundances.sum(1), torch.ones(2, 32, 32, dtype=torch.float64), rtol=0, atol=1e-12)
    assert (abundances.amax((2, 3)) > 0.5).all()  # every endmember dominates somewhere
    hsi = synthetic_hsi(2, size=32, bands=20, endmembers=J, seed=1)
    assert hsi.shape == (2, 20, 32, 32) and hsi.min() >= 0.05 - 1e-6 and hsi.max() <= 0.95 + 1e-6
    singular = torch.linalg.svdvals(hsi.double().flatten(2))  # (2, bands): the bands × pixels matrices
    assert (singular[:, J:] < 1e-5 * singular[:, :1]).all()
    assert (singular[:, J - 1] > 1e-4 * singular[:, 0]).all()  # rank exactly J


def test_hsi_datamodule(tmp_path):
    pytest.importorskip("skimage")
    datamodule = HSIDataModule(data_dir=str(tmp_path), size=16, bands=12, endmembers=3, side=32, n_train=2, n_val=1,
                               n_test=2, batch_size=2)
    batch = next(iter(datamodule.train_dataloader()))
    assert batch["x"].shape == (2, 12, 16, 16) and batch["x"].min() >= -1 and batch["x"].max() <= 1
    truth = datamodule.test_images()
    assert truth.shape == (2, 12, 16, 16) and truth.min() >= 0 and truth.max() <= 1
