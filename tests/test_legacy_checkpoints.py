"""Checkpoints written by earlier versions of the zoo keep loading and evaluating.

``tests/fixtures/legacy/*.ckpt`` are tiny runs written by commit c75a808 (before the package was re-layered,
issue 15) with ``paths.data_dir=data``: one per kind of run config (a classifier on sequences, a generative model
whose data config carried its evaluation settings, an operator with its statistics, LightSB on the EOT benchmark).
"""

from pathlib import Path

import pytest
import torch
from hydra.utils import get_class

import zoo
from zoo.checkpoint import read_checkpoint, run_config
from zoo.cli import evaluate, rebuild, upgrade_run_config
from zoo.registry import model_info

LEGACY = Path(__file__).parent / "fixtures" / "legacy"
RUNS = sorted(path.stem for path in LEGACY.glob("*.ckpt"))


def test_every_kind_of_run_has_a_fixture():
    assert RUNS == ["fno_darcy", "kvae_sines", "lightsb_eot", "s4d_seq_digits"]


@pytest.mark.parametrize("run", RUNS)
def test_a_legacy_checkpoint_loads_as_a_model(run):
    model = zoo.load_model(LEGACY / f"{run}.ckpt")
    inputs, shape = model_info(model.zoo_config["name"]).example(model)
    with torch.no_grad():
        assert tuple(model(inputs).shape) == tuple(shape)


@pytest.mark.parametrize("run", RUNS)
def test_a_legacy_checkpoint_evaluates_on_its_own_data(run, make_cfg, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the stored data_dir is the relative "data"
    metrics = evaluate(make_cfg(f"ckpt_path={LEGACY / f'{run}.ckpt'}", "+trainer.limit_test_batches=2",
                                config="eval"))["metrics"]
    assert metrics and all(value == value for value in metrics.values())  # present, and no NaN


@pytest.mark.parametrize("run, fixed", [("fno_darcy", {"in_channels", "out_channels", "n_dim", "periodic"}),
                                        ("s4d_seq_digits", {"d_input"})])
def test_a_legacy_run_config_drops_the_data_keys_its_class_now_fixes(run, fixed):
    """Facts a datamodule once took as arguments only to check them are class attributes now: the upgraded config
    leaves them out, and what the run stored is what the class fixes."""
    path = LEGACY / f"{run}.ckpt"
    old = run_config(read_checkpoint(path), path)
    new = upgrade_run_config(old)
    assert new["data"] == {key: value for key, value in old["data"].items() if key not in fixed}
    datamodule = get_class(new["data"]["_target_"])
    assert {key: old["data"][key] for key in fixed} == {key: getattr(datamodule, key) for key in fixed}
    assert isinstance(rebuild(new["data"]), datamodule)
