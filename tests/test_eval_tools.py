"""eval.py's compress= and analysis= on a tiny trained run, end to end."""

import json

import pytest
import torch

import zoo
from zoo.cli import evaluate, train
from zoo.compress import FactorizedLinear

SMALL = ["model.d_model=16", "model.n_layers=1", "model.d_state=8", "data.batch_size=32", "+trainer.limit_train_batches=3",
         "+trainer.limit_val_batches=2", "+trainer.limit_test_batches=2", "logger=none"]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    from hydra import compose, initialize_config_dir

    from zoo.cli import CONFIG_DIR

    folder = tmp_path_factory.mktemp("run")
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose("train", overrides=[f"paths.output_dir={folder}", f"paths.data_dir={folder / 'data'}",
                                          *SMALL, "trainer.max_epochs=1"])
    return train(cfg)["best_checkpoint"], folder / "data"


def _eval(make_cfg, checkpoint, *overrides):
    path, data_dir = checkpoint
    return evaluate(make_cfg(f"ckpt_path={path}", f"paths.data_dir={data_dir}", "+trainer.limit_test_batches=2",
                             *overrides, config="eval"))


@pytest.mark.parametrize("method", ["svd", "fwsvd"])
def test_compress_tests_the_factorised_model_and_writes_a_loadable_folder(make_cfg, checkpoint, tmp_path, method):
    summary = _eval(make_cfg, checkpoint, f"compress={method}", "compress.ratio=0.5", "compress.batches=2"
                    if method == "fwsvd" else "compress.rank=null")
    compression, metrics = summary["compression"], summary["metrics"]
    assert compression["parameters_after"]["linear"] < compression["parameters_before"]["linear"]
    assert compression["reconstruction_error"] > 0
    assert {"test/acc", "compressed/test/acc"} <= set(metrics)
    assert json.loads((tmp_path / "metrics.json").read_text())["compression"]["method"] == method
    model = zoo.load_model(tmp_path / "pretrained")
    assert any(isinstance(module, FactorizedLinear) for module in model.modules())
    assert model(torch.randn(2, 20, 1)).shape == (2, 10)


def test_hessian_analysis_writes_its_spectrum(make_cfg, checkpoint, tmp_path):
    summary = _eval(make_cfg, checkpoint, "analysis=hessian", "analysis.k=3", "analysis.batches=1",
                    "analysis.n_probe=2", "analysis.m=8", "analysis.tol=1e-2")
    result = json.loads((tmp_path / "hessian.json").read_text())
    top = result["top_eigenvalues"]
    assert len(top) == 3 and top == sorted(top, reverse=True) and summary["analysis"]["top_eigenvalue"] == top[0]
    assert len(result["slq"]["grid"]) == len(result["slq"]["density"]) and (tmp_path / "hessian.png").stat().st_size


def test_bad_tool_options_are_clear_errors(make_cfg, checkpoint):
    with pytest.raises(ValueError, match="ratio"):
        _eval(make_cfg, checkpoint, "compress=svd", "compress.ratio=1.5")
    with pytest.raises(ValueError, match="batches must be >= 1"):
        _eval(make_cfg, checkpoint, "analysis=hessian", "analysis.batches=0")


def test_a_compressed_model_fine_tunes_from_its_folder_and_evaluates(make_cfg, checkpoint, tmp_path):
    """init_from=<compressed pretrained folder>: the run builds the same factorised layers, trains them, and its
    checkpoint evaluates and loads with them."""
    _, data_dir = checkpoint
    _eval(make_cfg, checkpoint, "compress=svd", "compress.ratio=0.5")
    folder = tmp_path / "pretrained"
    compressed = zoo.load_model(folder)
    run = train(make_cfg(*SMALL, "trainer.max_epochs=1", f"init_from={folder}", f"paths.data_dir={data_dir}",
                         folder="finetuned"))
    tuned = zoo.load_model(run["best_checkpoint"])
    assert {name for name, module in tuned.named_modules() if isinstance(module, FactorizedLinear)} == {
        name for name, module in compressed.named_modules() if isinstance(module, FactorizedLinear)}
    assert not torch.equal(tuned.decoder.A.weight, compressed.decoder.A.weight)  # it trained
    evaluated = evaluate(make_cfg(f"ckpt_path={run['best_checkpoint']}", f"paths.data_dir={data_dir}",
                                  "+trainer.limit_test_batches=2", config="eval", folder="eval"))
    assert evaluated["metrics"]["test/acc"] == pytest.approx(run["metrics"]["test/acc"])
