"""The two entry points, ``train.py`` / ``zoo-train`` and ``eval.py`` / ``zoo-eval``: compose, instantiate, run.

Configs live in ``configs/`` at the repository root (an editable install, ``pip install -e .``, finds
them). Everything a run needs is named there; this module only wires the pieces together:
datamodule and task from ``data`` and ``task``, a Lightning trainer with ``callbacks`` and ``logger``,
then ``fit`` (resume with ``ckpt_path=``, start from weights with ``init_from=``) and ``test``.
"""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path

import hydra
import lightning as L
from hydra.utils import instantiate
from lightning.pytorch.callbacks import LearningRateMonitor
from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from rich.table import Table

from zoo.adapters import (
    config_from_dict,
    count_parameters,
    inject_adapters,
    load_adapters,
    merge_and_unload,
    save_adapters,
)
from zoo.callbacks import RunConfigInCheckpoint
from zoo.checkpoint import (
    CheckpointError,
    load_weights,
    read_checkpoint,
    read_pretrained,
    save_pretrained,
)
from zoo.ssm.robustness import fourier_noise

CONFIG_DIR = str(Path(__file__).resolve().parent.parent / "configs")
#: hparams_search=optuna: a task's ``monitor.mode`` (min / max) as Optuna's direction
OmegaConf.register_new_resolver("optuna_direction", lambda mode: {"min": "minimize", "max": "maximize"}[mode],
                                replace=True)
#: test-time perturbations for ``eval.py +eval.noise=<name>`` (options: ``+eval.amplitude``, ``+eval.omega``)
NOISES = {"fourier": fourier_noise}
console = Console()


def _instantiate_group(group: DictConfig | None) -> list:
    """Instantiate every entry of a ``callbacks`` / ``logger`` group (a dict of ``_target_`` configs)."""
    return [instantiate(entry) for entry in (group or {}).values() if entry is not None]


def build_trainer(cfg: DictConfig, callbacks: list | None = None) -> L.Trainer:
    """The Lightning trainer of ``cfg.trainer`` with the run's callbacks and loggers."""
    loggers = _instantiate_group(cfg.get("logger"))
    callbacks = _instantiate_group(cfg.get("callbacks")) + list(callbacks or [])
    if not loggers:  # Lightning's LearningRateMonitor refuses to run without a logger
        callbacks = [callback for callback in callbacks if not isinstance(callback, LearningRateMonitor)]
    return instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)


def initialise_from(model, path: str, name: str, strict: bool = False, remap: dict | None = None) -> None:
    """Start from the weights of a checkpoint or pretrained folder holding the same model; print the report."""
    stored, state = read_pretrained(path)
    if stored["name"] != name:
        raise CheckpointError(f"init_from={path} holds a {stored['name']!r} model but this run builds {name!r}")
    report = load_weights(model, state, strict=strict, remap=remap)
    console.print(f"[bold]init_from[/bold] {path}: {report}")


SAVES = ("adapters", "merged", "both")


def finetune_options(finetune: dict | None) -> tuple[dict | None, str]:
    """``(adapter config dict or None, what to save)`` from a ``finetune`` group (``method: none`` means none)."""
    options = dict(finetune or {})
    save = options.pop("save", "adapters")
    if options.get("method", "none") == "none":
        return None, save
    if save not in SAVES:
        raise ValueError(f"finetune.save={save!r}: expected one of {', '.join(SAVES)}")
    return options, save


def add_adapters(model, options: dict) -> None:
    """Inject the adapters of a ``finetune`` group and print how many parameters still train."""
    inject_adapters(model, config_from_dict(options))
    trainable, total = count_parameters(model)
    console.print(f"[bold]finetune={options['method']}[/bold]: {trainable:,} trainable of {total:,} parameters "
                  f"({100 * trainable / total:.2f} %)")


def save_finetuned(model, save: str, output_dir: Path) -> dict[str, str]:
    """Write the adapters (``adapters/``) and/or the merged plain model (``merged/``, a pretrained folder)."""
    written = {}
    if save in ("adapters", "both"):
        written["adapters"] = str(save_adapters(model, output_dir / "adapters"))
    if save in ("merged", "both"):
        merged = merge_and_unload(copy.deepcopy(model))
        written["merged"] = str(save_pretrained(merged, output_dir / "merged", model.zoo_config))
    return written


def _report(title: str, summary: dict, output_dir: Path) -> None:
    """Write ``metrics.json`` into the run folder and print the metrics as a table."""
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "metrics.json").write_text(json.dumps(summary, indent=2, sort_keys=True))
    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in sorted(summary["metrics"].items()):
        table.add_row(key, f"{value:.4f}")
    console.print(table)
    console.print(f"run folder: {output_dir}")


def _merged(results: list[dict]) -> dict[str, float]:
    """One dict of the metrics ``trainer.test`` returns per test loader (tasks give every loader its own names)."""
    return {key: float(value) for result in results for key, value in result.items()}


def resume_path(cfg: DictConfig) -> str | None:
    """``ckpt_path``, with ``last`` meaning the run folder's ``checkpoints/last.ckpt`` if it exists (a requeued
    cluster job resumes; a first start trains from scratch)."""
    if cfg.get("ckpt_path") != "last":
        return cfg.get("ckpt_path")
    last = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    return str(last) if last.is_file() else None


def train(cfg: DictConfig) -> dict:
    """Fit the task of ``cfg`` on its datamodule, test the best checkpoint, write ``metrics.json``."""
    ckpt_path = resume_path(cfg)
    if ckpt_path:
        read_checkpoint(ckpt_path)  # a missing, corrupt or foreign file fails here with a clear message
    L.seed_everything(cfg.seed, workers=True)
    datamodule = instantiate(cfg.data)
    task = instantiate(cfg.task, _convert_="all")
    if cfg.get("init_from"):
        initialise_from(task.model, cfg.init_from, cfg.model.name, cfg.init.strict, dict(cfg.init.remap))
    config = OmegaConf.to_container(cfg, resolve=True)
    adapters, save = finetune_options(config.get("finetune"))
    if adapters:
        add_adapters(task.model, adapters)
    if cfg.get("compile"):
        task.model.compile()  # in place: the state dict keeps its keys
    trainer = build_trainer(cfg, [RunConfigInCheckpoint(config)])
    start = time.perf_counter()
    trainer.fit(task, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
    fit_seconds = time.perf_counter() - start
    metrics = {key: float(value) for key, value in trainer.callback_metrics.items()
               if not key.endswith(("_step", "_epoch")) and not key.startswith("lr-")}
    checkpointing = trainer.checkpoint_callback
    best = checkpointing.best_model_path if checkpointing is not None else ""
    if cfg.get("test"):
        metrics.update(_merged(trainer.test(task, datamodule=datamodule, ckpt_path=best or None, weights_only=True,
                                            verbose=False)))
    trainable, total = count_parameters(task.model)
    summary = {
        "name": cfg.name,
        "model": cfg.model.name,
        "seed": cfg.seed,
        "metrics": metrics,
        "epochs": trainer.current_epoch,
        "global_step": trainer.global_step,
        "fit_seconds": round(fit_seconds, 2),
        "parameters": total,
        "trainable_parameters": trainable,
        "best_checkpoint": best,
        "last_checkpoint": getattr(checkpointing, "last_model_path", "") or "",
    }
    if adapters:  # the best checkpoint's weights when tested, else the last ones
        summary["finetuned"] = save_finetuned(task.model, save, Path(cfg.paths.output_dir))
    _report(f"{cfg.name}: {cfg.model.name}", summary, Path(cfg.paths.output_dir))
    return summary


def evaluate(cfg: DictConfig) -> dict:
    """Test the checkpoint ``cfg.ckpt_path`` on its own data (or ``data=...`` if given); write ``metrics.json``."""
    checkpoint = read_checkpoint(cfg.ckpt_path)
    run = checkpoint.get("zoo_config")
    if not isinstance(run, dict):
        raise CheckpointError(f"{cfg.ckpt_path} has no 'zoo_config' entry: eval.py needs a checkpoint written by "
                              "zoo's train.py (use zoo.load_model for the weights alone)")
    L.seed_everything(cfg.seed, workers=True)
    datamodule = instantiate(cfg.data if cfg.get("data") else run["data"])
    task = instantiate(run["task"], _convert_="all")
    adapters, _ = finetune_options(run.get("finetune"))
    if adapters:  # a fine-tuned run's checkpoint holds the adapted model
        add_adapters(task.model, adapters)
    task.load_state_dict(checkpoint["state_dict"])
    if cfg.get("adapters"):
        load_adapters(task.model, cfg.adapters)
    trainer = build_trainer(cfg)
    metrics = _merged(trainer.test(task, datamodule=datamodule, verbose=False))
    options = dict(cfg.get("eval") or {})
    if options.get("noise"):
        metrics.update(_noisy_test(trainer, task, datamodule, seed=cfg.seed, **options))
    summary = {"checkpoint": str(cfg.ckpt_path), "model": run["model"]["name"], "metrics": metrics}
    _report(f"eval: {run['model']['name']}", summary, Path(cfg.paths.output_dir))
    return summary


def _noisy_test(trainer: L.Trainer, task: L.LightningModule, datamodule, noise: str, seed: int,
                **options) -> dict[str, float]:
    """Test again under a test-time perturbation; metrics are reported as ``noisy/<metric>``."""
    if noise not in NOISES:
        raise ValueError(f"unknown eval.noise {noise!r}: expected one of {sorted(NOISES)}")
    with NOISES[noise](task.model, seed=seed, **options) as omega:
        metrics = _merged(trainer.test(task, datamodule=datamodule, verbose=False))
    return {**{f"noisy/{key}": value for key, value in metrics.items()}, "noisy/omega": omega}


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="train")
def train_main(cfg: DictConfig) -> float | None:
    """``python train.py [overrides]``; returns the monitored metric (for sweepers such as hparams_search=optuna)."""
    metrics = train(cfg)["metrics"]
    if cfg.monitor.metric not in metrics:
        raise KeyError(f"the monitored metric {cfg.monitor.metric!r} was not logged (logged: {sorted(metrics)}): "
                       "set monitor.metric to one of them")
    return metrics[cfg.monitor.metric]


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="eval")
def eval_main(cfg: DictConfig) -> None:
    """``python eval.py ckpt_path=<run>/checkpoints/best.ckpt [overrides]``."""
    evaluate(cfg)
