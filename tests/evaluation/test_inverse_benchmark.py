"""eval.py inverse=dds|hirdiff end to end on tiny trained priors, and the benchmark's errors."""

import json

import pytest
import torch

from zoo.cli import evaluate, train
from zoo.evaluation import InverseBenchmark

TINY = ["model.base_channels=8", "model.channel_mults=[1,2]", "data.size=16", "data.n_train=32", "data.n_val=8",
        "data.n_test=4", "data.batch_size=16", "trainer.max_epochs=1", "logger=none"]


def _prior(tmp_path_factory, experiment: str, *overrides):
    from hydra import compose, initialize_config_dir

    from zoo.cli import CONFIG_DIR

    folder = tmp_path_factory.mktemp(experiment)
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose("train", overrides=[f"experiment={experiment}", f"paths.output_dir={folder}",
                                          f"paths.data_dir={folder / 'data'}", *TINY, *overrides])
    return train(cfg)["last_checkpoint"], folder / "data"


@pytest.fixture(scope="module")
def phantom_prior(tmp_path_factory):
    return _prior(tmp_path_factory, "ddpm_phantoms")


@pytest.fixture(scope="module")
def rgb_prior(tmp_path_factory):
    return _prior(tmp_path_factory, "ddpm_rgb", "data.side=32")


def _eval(make_cfg, prior, *overrides):
    path, data_dir = prior
    return evaluate(make_cfg(f"ckpt_path={path}", f"paths.data_dir={data_dir}", *overrides, config="eval"))


@pytest.mark.parametrize("problem", ["mri4x", "ct16"])
def test_dds_benchmark_writes_scores_and_a_figure(make_cfg, phantom_prior, tmp_path, problem):
    summary = _eval(make_cfg, phantom_prior, "inverse=dds", f"inverse.problem={problem}", "inverse.n_images=2",
                    "inverse.methods.tv.iters=20",
                    "inverse.methods.dds.steps=3", "inverse.methods.dps.steps=3")
    metrics = summary["metrics"]
    for method in ("measurement", "baseline", "tv", "dds", "dps"):
        assert 0 < metrics[f"{method}/psnr"] < 100 and -1 <= metrics[f"{method}/ssim"] <= 1
    assert all(metrics[f"{method}/seconds"] > 0 for method in ("baseline", "tv", "dds", "dps"))
    assert metrics["baseline/psnr"] == metrics["measurement/psnr"]  # zero-filled Aᴴy / filtered back-projection
    stored = json.loads((tmp_path / "inverse.json").read_text())
    assert stored["problem"] == problem and len(stored["metrics"]["dds/psnr_per_image"]) == 2
    assert (tmp_path / "inverse.png").stat().st_size > 0
    assert json.loads((tmp_path / "metrics.json").read_text())["metrics"]["dds/psnr"] == metrics["dds/psnr"]


def test_hirdiff_benchmark_on_hyperspectral_images(make_cfg, rgb_prior, tmp_path):
    summary = _eval(make_cfg, rgb_prior, "inverse=hirdiff", "inverse.problem=hsi_inpaint", "inverse.n_images=1",
                    "inverse.data.size=16", "inverse.data.side=32", "inverse.data.n_test=1", "inverse.data.bands=8",
                    "inverse.methods.hirdiff.steps=3", "inverse.methods.hirdiff_linear100.steps=3",
                    "inverse.methods.guidance.steps=5", "~inverse.methods.bm3d")
    metrics = summary["metrics"]
    for method in ("hirdiff", "hirdiff_linear100", "svd", "guidance"):
        assert {f"{method}/psnr", f"{method}/ssim", f"{method}/sam"} <= set(metrics)
    assert (tmp_path / "inverse.png").stat().st_size > 0


def test_bad_benchmark_settings_are_clear_errors():
    methods = {"dds": {}}
    with pytest.raises(ValueError, match="belongs to inverse=hirdiff"):
        InverseBenchmark(benchmark="dds", problem="hsi_denoise", methods=methods)
    with pytest.raises(ValueError, match="unknown inverse.problem 'mri8x'"):
        InverseBenchmark(benchmark="dds", problem="mri8x", methods=methods)
    with pytest.raises(ValueError, match="unknown method"):
        InverseBenchmark(benchmark="dds", problem="mri4x", methods={"fancy": {}})


def test_a_split_too_small_names_the_setting(phantom_prior):
    from zoo.data import PhantomDataModule

    data = PhantomDataModule(data_dir=str(phantom_prior[1]), size=16, n_train=32, n_val=8, n_test=4, batch_size=16)
    benchmark = InverseBenchmark(benchmark="dds", problem="mri4x", methods={"baseline": {}},
                                 n_images=10)
    with pytest.raises(ValueError, match="n_images=10"):
        benchmark(torch.nn.Conv2d(1, 1, 1), data)


@pytest.mark.skipif(torch.cuda.is_available(), reason="the error of a machine without CUDA")
def test_trainer_gpu_without_a_gpu_says_so(make_cfg, phantom_prior):
    with pytest.raises(RuntimeError, match="no CUDA device"):
        _eval(make_cfg, phantom_prior, "trainer=gpu", "inverse=dds")


@pytest.mark.gpu
def test_the_benchmark_runs_on_the_gpu_with_trainer_gpu(make_cfg, phantom_prior):
    summary = _eval(make_cfg, phantom_prior, "trainer=gpu", "inverse=dds", "inverse.n_images=2",
                    "inverse.methods.tv.iters=20", "inverse.methods.dds.steps=3", "inverse.methods.dps.steps=3")
    assert summary["metrics"]["dds/psnr"] > 0
