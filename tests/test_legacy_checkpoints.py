"""Checkpoints written by earlier versions of the zoo keep loading and evaluating.

``tests/fixtures/legacy/*.ckpt`` are tiny runs written by commit c75a808 (before the package was re-layered,
issue 15) with ``paths.data_dir=data``: one per kind of run config (a classifier on sequences, a generative model
whose data config carried its evaluation settings, an operator with its statistics, LightSB on the EOT benchmark).
"""

from pathlib import Path

import pytest
import torch

import zoo
from zoo.cli import evaluate
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
