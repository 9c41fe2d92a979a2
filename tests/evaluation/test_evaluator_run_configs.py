"""How a run's evaluator travels: train.py builds it from configs/evaluator/ and keeps it out of the checkpoint's
hyper-parameters, eval.py rebuilds it from the stored run config (or takes evaluator=<option>), and a run config
written before evaluators had their own group is upgraded as data."""

from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from zoo.checkpoint import current_target, read_checkpoint, run_config
from zoo.cli import CONFIG_DIR, evaluate, rebuild, train, upgrade_run_config

LEGACY = Path(__file__).parents[1] / "fixtures" / "legacy"
#: the evaluation settings the legacy fixtures' data configs carry
LEGACY_KEYS = {"discriminative_iterations", "discriminative_repeats", "predictive_iterations", "metric_batch_size",
               "n_conditional", "n_marginal"}
TINY_KVAE = ["experiment=kvae_sines", "data.n_train=8", "data.n_val=4", "data.n_test=4", "trainer.max_epochs=1",
             "logger=none", "model.z_dim=4", "model.hidden_dim=8", "model.n_layers=1",
             "evaluator.discriminative_iterations=2", "evaluator.predictive_iterations=2",
             "evaluator.discriminative_repeats=1"]


def stored(name: str) -> dict:
    path = LEGACY / f"{name}.ckpt"
    return run_config(read_checkpoint(path), path)


def option(name: str) -> dict:
    return OmegaConf.to_container(OmegaConf.load(Path(CONFIG_DIR) / "evaluator" / f"{name}.yaml"))


@pytest.mark.parametrize("run, evaluator, moved", [
    ("kvae_sines", "timeseries", {"discriminative_iterations": 5, "discriminative_repeats": 1,
                                  "predictive_iterations": 5, "batch_size": 128}),
    ("lightsb_eot", "eot_benchmark", {"n_conditional": 1000, "n_marginal": 100_000}),
])
def test_a_legacy_run_config_moves_its_evaluation_settings_into_its_evaluator(run, evaluator, moved):
    old = stored(run)
    assert "evaluator" not in old
    new = upgrade_run_config(old)
    assert new["evaluator"] == {**option(evaluator), **moved}  # the _target_ is the repository's
    assert new["data"] == {**{key: value for key, value in old["data"].items() if key not in LEGACY_KEYS},
                           "_target_": current_target("data", old["data"]["_target_"])}  # the class, where it is today
    assert type(rebuild(new["evaluator"])).__name__ == new["evaluator"]["_target_"].rsplit(".", 1)[1]
    rebuild(new["data"])  # today's datamodule takes what is left
    assert upgrade_run_config(new) == new


def test_other_run_configs_are_left_as_they_are(make_cfg):
    classifier = OmegaConf.to_container(make_cfg(), resolve=True)  # a run config train.py writes today
    assert upgrade_run_config(classifier) == classifier


def test_a_legacy_checkpoint_is_scored_by_its_evaluator(make_cfg, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the stored data_dir is the relative "data"
    metrics = evaluate(make_cfg(f"ckpt_path={LEGACY / 'kvae_sines.ckpt'}", "+trainer.limit_test_batches=1",
                                config="eval"))["metrics"]
    assert {"test/discriminative", "test/discriminative_std", "test/predictive"} <= set(metrics)
    assert (tmp_path / "samples.png").is_file()


def test_a_run_stores_its_evaluator_as_data_and_eval_rebuilds_it(make_cfg):
    summary = train(make_cfg(*TINY_KVAE, folder="train"))
    assert {"test/discriminative", "test/predictive"} <= set(summary["metrics"])
    checkpoint = torch.load(summary["last_checkpoint"], weights_only=True)
    assert set(checkpoint["hyper_parameters"]) == {"model", "optimizer", "scheduler"}
    assert checkpoint["zoo_config"]["evaluator"] == {**option("timeseries"), "discriminative_iterations": 2,
                                                     "predictive_iterations": 2, "discriminative_repeats": 1}
    path = summary["last_checkpoint"]
    metrics = evaluate(make_cfg(f"ckpt_path={path}", config="eval", folder="eval"))["metrics"]
    assert {"test/discriminative", "test/discriminative_std", "test/predictive"} <= set(metrics)
    with pytest.raises(Exception, match="discriminative_repeats must be a positive int, got 0"):  # evaluator= wins
        evaluate(make_cfg(f"ckpt_path={path}", "evaluator=timeseries", "evaluator.discriminative_repeats=0",
                          config="eval", folder="override"))
