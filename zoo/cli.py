"""The two entry points, ``train.py`` / ``zoo-train`` and ``eval.py`` / ``zoo-eval``: compose, instantiate, run.

Configs live in ``configs/`` at the repository root (an editable install, ``pip install -e .``, finds
them). Everything a run needs is named there; this module only wires the pieces together:
datamodule and task from ``data`` and ``task``, a Lightning trainer with ``callbacks`` and ``logger``,
then ``fit`` (resume with ``ckpt_path=``, start from weights with ``init_from=``) and ``test``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from datetime import datetime
from pathlib import Path

import hydra
import lightning as L
import torch
from hydra.utils import get_class, instantiate
from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint
from lightning.pytorch.utilities.exceptions import SIGTERMException
from lightning.pytorch.utilities.rank_zero import rank_zero_only
from omegaconf import DictConfig, OmegaConf, open_dict
from rich.console import Console
from rich.table import Table

from zoo import eval_tools
from zoo.adapters import count_parameters, load_adapters
from zoo.adapters.finetune import add_adapters, finetune_options, merged_weights, save_finetuned
from zoo.callbacks import LastCheckpoint, RandomStateInCheckpoint, RunConfigInCheckpoint
from zoo.card import code_version
from zoo.checkpoint import (
    CONFIG_DIR as CONFIG_PATH,
    REBUILT,
    CheckpointError,
    current_target,
    load_weights,
    read_checkpoint,
    read_weights,
    rebuild_records,
    run_config,
)

CONFIG_DIR = str(CONFIG_PATH)
#: a file in every run folder naming the process that took it (two runs never share a folder)
OWNER_FILE = ".owner"
#: the parts of the config whose changes a resumed run reports
RUN_SECTIONS = ("seed", "model", "data", "task", "trainer", "finetune", "init_from")


def run_stamp() -> str:
    """A new run folder's name: the local time to the millisecond and the process id."""
    now = datetime.now()
    return f"{now:%Y-%m-%d_%H-%M-%S}.{now.microsecond // 1000:03d}_{os.getpid()}"


def checkpoint_run(ckpt_path: str | None) -> Path | None:
    """The run folder a checkpoint lies in (``<run>/checkpoints/<file>.ckpt`` next to ``<run>/.hydra``), if any."""
    if not ckpt_path or ckpt_path == "last":
        return None
    path = Path(ckpt_path).expanduser().resolve()
    run = path.parent.parent
    return run if path.is_file() and path.parent.name == "checkpoints" and (run / ".hydra").is_dir() else None


def run_dir(parent: str, config_name: str, ckpt_path: str | None) -> str:
    """``hydra.run.dir``: ``train.py ckpt_path=<run>/checkpoints/<file>.ckpt`` continues in ``<run>``; every other run
    gets a new folder ``<parent>/<run_stamp()>``."""
    run = checkpoint_run(ckpt_path) if config_name == "train" else None
    return str(run) if run else f"{parent}/{run_stamp()}"


def hydra_subdir(config_name: str, ckpt_path: str | None) -> str:
    """``hydra.output_subdir``: ``.hydra``, or ``.hydra/resumed_<stamp>`` for a run resumed in its folder (the first
    start's record of its config and overrides is kept)."""
    return f".hydra/resumed_{run_stamp()}" if config_name == "train" and checkpoint_run(ckpt_path) else ".hydra"


def data_value(key: str, *default, _root_: DictConfig):
    """``${zoo_data:key}`` (or ``${zoo_data:key,default}``) in a model or task config: what the run's data says
    ``key`` is. The data config's own setting if it has one (``seq_len``, a class subset's ``num_classes``), else a
    fact its datamodule class fixes (``in_channels`` of a PDE set, ListOps' ``d_input``: the class attributes named
    in its ``facts``, :mod:`zoo.data.base`), else ``default``."""
    data = _root_.data
    if key in data:
        return data[key]
    datamodule = get_class(data._target_)
    facts = getattr(datamodule, "facts", ())
    if key in facts:
        return getattr(datamodule, key)
    if default:
        return default[0]
    raise KeyError(f"${{zoo_data:{key}}}: data={data._target_} neither sets data.{key} nor fixes it (its facts: "
                   f"{', '.join(facts) or 'none'}); choose a data config that has it, or set the model's key yourself")


# cached: Hydra and Lightning's DDP launcher read hydra.run.dir more than once and must get one answer
OmegaConf.register_new_resolver("zoo_run_dir", run_dir, use_cache=True, replace=True)
OmegaConf.register_new_resolver("zoo_hydra_subdir", hydra_subdir, use_cache=True, replace=True)
OmegaConf.register_new_resolver("zoo_stamp", run_stamp, use_cache=True, replace=True)
OmegaConf.register_new_resolver("zoo_data", data_value, replace=True)
#: hparams_search=optuna: a task's ``monitor.mode`` (min / max) as Optuna's direction
OmegaConf.register_new_resolver("optuna_direction", lambda mode: {"min": "minimize", "max": "maximize"}[mode],
                                replace=True)
#: test-time perturbations for ``eval.py +eval.noise=<name>``: the ``_target_`` of ``configs/noise/<name>.yaml``
NOISE_DIR = Path(CONFIG_DIR) / "noise"
console = Console(soft_wrap=True)  # no line breaks inside paths and commands that users copy


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


def initialise_from(model, path: str, name: str, strict: bool = False, remap: dict | None = None,
                    weights: tuple | None = None) -> None:
    """Start from the weights of a checkpoint or pretrained folder holding the same model (a fine-tuned run's
    adapters merged in first); print the report. ``weights``: what :func:`zoo.checkpoint.read_weights` read from
    ``path`` already."""
    stored, state, adapters = weights or read_weights(path)
    if stored["name"] != name:
        raise CheckpointError(f"init_from={path} holds a {stored['name']!r} model but this run builds {name!r}")
    if adapters:
        state = merged_weights(stored, state, adapters)
        console.print(f"[bold]init_from[/bold] {path}: a run fine-tuned with {adapters['method']} adapters; they are "
                      "merged into its base weights")
    report = load_weights(model, state, strict=strict, remap=remap)
    console.print(f"[bold]init_from[/bold] {path}: {report}")


def adopt_rebuilds(cfg: DictConfig, path: str, stored: dict) -> None:
    """A run that starts from a compressed model (``init_from=<pretrained folder>`` written by ``eval.py
    compress=...``) builds the same factorised layers: the rebuild records (``"compression"``) of the ``stored``
    model config join ``cfg.model``, so the run's checkpoints describe the model they hold."""
    records = rebuild_records(stored)
    if records:
        with open_dict(cfg):
            cfg.model.update(records)
        console.print(f"[bold]init_from[/bold] {path}: its {', '.join(records)} is rebuilt in this run's model")


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
    cluster job resumes; a first start trains from scratch, and says so)."""
    if cfg.get("ckpt_path") != "last":
        return cfg.get("ckpt_path")
    last = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    if last.is_file():
        return str(last)
    console.print(f"[bold yellow]ckpt_path=last[/bold yellow]: {last.parent.parent} has no checkpoints/last.ckpt, so "
                  "this run starts from scratch (as the first start of a requeued job does). To resume an earlier run, "
                  "pass ckpt_path=<its folder>/checkpoints/last.ckpt: it continues in that folder.")
    return None


def _owner(marker: Path) -> dict:
    try:
        return json.loads(marker.read_text())
    except (OSError, ValueError):
        return {}


def _alive(pid) -> bool:
    try:
        os.kill(int(pid), 0)
    except (OSError, TypeError, ValueError):
        return False
    return True


def claim_run_folder(folder: Path, resuming: bool) -> None:
    """Take ``folder`` for this run (rank 0 writes :data:`OWNER_FILE`; other ranks of a multi-process run share it).

    A folder another run took is refused, unless this run resumes from a checkpoint inside it and the process
    that ran there has ended: runs get fresh folders (:func:`run_stamp`), so this only catches an explicit
    ``hydra.run.dir`` / ``paths.output_dir`` that is already used.
    """
    if rank_zero_only.rank != 0:
        return
    folder.mkdir(parents=True, exist_ok=True)
    marker = folder / OWNER_FILE
    me = {"host": socket.gethostname(), "pid": os.getpid(), "started": datetime.now().isoformat(timespec="seconds")}
    try:
        with open(marker, "x") as file:
            json.dump(me, file)
        return
    except FileExistsError:
        owner = _owner(marker)
    running = owner.get("host") == me["host"] and owner.get("pid") != me["pid"] and _alive(owner.get("pid"))
    if running:
        raise RuntimeError(f"run folder {folder} is in use by process {owner['pid']} (started {owner.get('started')}):"
                           " two runs never share a folder; wait for it to end or choose another folder")
    if not resuming:
        raise FileExistsError(
            f"run folder {folder} already holds a run (started {owner.get('started', '?')}): a run never reuses "
            f"another's folder. Resume it with ckpt_path={folder / 'checkpoints' / 'last.ckpt'}, or leave "
            "hydra.run.dir / paths.output_dir unset to get a new folder")
    marker.write_text(json.dumps(me))


def _flat(value, key: str = "") -> dict:
    """``{"a.b": leaf}`` for every leaf of nested dicts."""
    if isinstance(value, dict) and value:
        return {flat: leaf for name, item in value.items()
                for flat, leaf in _flat(item, f"{key}.{name}" if key else str(name)).items()}
    return {key: value}


def config_changes(old: dict | None, new: dict) -> list[str]:
    """``key: old -> new`` for every value of :data:`RUN_SECTIONS` that differs between two run configs."""
    before, after = (_flat({section: (run or {}).get(section) for section in RUN_SECTIONS}) for run in (old, new))
    return [f"{key}: {before.get(key)!r} -> {after.get(key)!r}" for key in sorted(set(before) | set(after))
            if key != "trainer.default_root_dir" and before.get(key) != after.get(key)]


def check_resumable(task: L.LightningModule, checkpoint: dict, path: str, config: dict) -> None:
    """Refuse a checkpoint whose weights do not fit the task's model (another model, or other sizes) with the way
    out; report what else differs from the checkpoint's run (a resume is exact only when nothing does)."""
    stored, built = checkpoint["hyper_parameters"]["model"], task.hparams.model
    own, theirs = task.state_dict(), checkpoint["state_dict"]
    missing, unexpected = [key for key in own if key not in theirs], [key for key in theirs if key not in own]
    shapes = [f"{key} {list(theirs[key].shape)} vs {list(value.shape)}" for key, value in own.items()
              if key in theirs and theirs[key].shape != value.shape]
    if missing or unexpected or shapes:
        settings = [f"{key}={stored.get(key)!r} (this run: {built.get(key)!r})"
                    for key in sorted(set(stored) | set(built)) if stored.get(key) != built.get(key)]
        examples = (shapes + missing + unexpected)[:3]
        differences = (f"its model is {stored.get('name')!r}, this run's {built.get('name')!r}"
                       if stored.get("name") != built.get("name")
                       else ", ".join(settings) or "the same settings, other layers")
        raise CheckpointError(
            f"ckpt_path={path}: its weights do not fit the model this run builds ({differences}; "
            f"{len(missing)} tensors missing, {len(unexpected)} unexpected, {len(shapes)} of another shape, e.g. "
            f"{'; '.join(examples)}): resume with the settings of the checkpoint's run (its folder's "
            f".hydra/overrides.yaml), or start a new run from its weights with init_from={path}")
    stored = checkpoint.get("zoo_config")
    changes = config_changes(stored and upgrade_run_config(stored), config)
    if changes:
        console.print(f"[bold yellow]resuming[/bold yellow] {path} with changes ({'; '.join(changes)}): the run goes "
                      "on from the checkpoint's step, but it is not the run an uninterrupted start would give")
    if any(change.startswith("trainer.max_epochs") for change in changes):
        console.print("  trainer.max_epochs changed: a schedule over the run's length (task.scheduler: cosine) is laid "
                      "over the new length from the resumed step on, so the learning rate jumps there")


def completed(checkpoint: dict, trainer: DictConfig) -> str | None:
    """Why the run of ``checkpoint`` has nothing left to train under ``trainer``'s limits (the epochs Lightning's fit
    loop has processed against ``trainer.max_epochs``, its step against ``trainer.max_steps``), or ``None``."""
    epochs = checkpoint.get("loops", {}).get("fit_loop", {}).get("epoch_progress", {}).get("current", {}).get(
        "processed", 0)
    max_epochs, max_steps = trainer.get("max_epochs"), trainer.get("max_steps")
    if max_epochs is not None and max_epochs >= 0 and epochs >= max_epochs:
        return f"it has trained {epochs} epochs and trainer.max_epochs={max_epochs}"
    if max_steps is not None and max_steps >= 0 and checkpoint.get("global_step", 0) >= max_steps:
        return f"it has taken {checkpoint.get('global_step')} steps and trainer.max_steps={max_steps}"
    return None


def already_complete(ckpt_path: str, reason: str) -> dict | None:
    """Say that ``ckpt_path``'s run is complete and how to go on; its ``metrics.json`` summary if it was tested (the run
    then ends here), else ``None`` (the run goes on to test the checkpoint, as ``test=true`` asks)."""
    path = Path(ckpt_path).resolve()
    summary = path.parent.parent / "metrics.json" if path.parent.name == "checkpoints" else None
    console.print(f"[bold yellow]ckpt_path={ckpt_path}[/bold yellow]: the run is already complete ({reason}); there "
                  f"is nothing left to train. To train it further, pass a larger trainer.max_epochs (or "
                  f"trainer.max_steps) with the same ckpt_path; to test it on other data, python eval.py "
                  f"ckpt_path={ckpt_path}")
    if summary is not None and summary.is_file():
        console.print(f"its results: {summary}")
        return {**json.loads(summary.read_text()), "already_complete": reason}
    return None


def stopped(trainer: L.Trainer) -> SystemExit:
    """The exit of a run stopped by SIGTERM or Ctrl+C (after :class:`LastCheckpoint` saved it), with the way on."""
    last = next((callback for callback in trainer.callbacks if isinstance(callback, LastCheckpoint)), None)
    signum = (last and last.stopped_by) or signal.SIGTERM
    saved = last.best_model_path if last is not None else ""
    advice = (f"saved {saved}; resume with the same command and ckpt_path={saved}" if saved
              else "no checkpoint saved (the callbacks have no last_checkpoint)")
    console.print(f"[bold red]{signum.name}[/bold red] at epoch {trainer.current_epoch}, step {trainer.global_step}: "
                  f"{advice}")
    return SystemExit(128 + signum)


def train(cfg: DictConfig) -> dict:
    """Fit the task of ``cfg`` on its datamodule, test the best checkpoint, write ``metrics.json``."""
    output_dir = Path(cfg.paths.output_dir)
    ckpt_path = resume_path(cfg)
    checkpoint = read_checkpoint(ckpt_path) if ckpt_path else None  # missing, corrupt, foreign, tampered: refused
    complete = checkpoint is not None and completed(checkpoint, cfg.trainer)
    if complete and (summary := already_complete(ckpt_path, complete)) is not None:
        return summary
    L.seed_everything(cfg.seed, workers=True)
    datamodule = instantiate(cfg.data)
    weights = read_weights(cfg.init_from) if cfg.get("init_from") else None  # read once: config, state, adapters
    if weights:
        adopt_rebuilds(cfg, cfg.init_from, weights[0])
    task = instantiate(cfg.task, _convert_="all", **task_objects(instantiate(cfg.get("evaluator"))))
    if weights:
        initialise_from(task.model, cfg.init_from, cfg.model.name, cfg.init.strict, dict(cfg.init.remap), weights)
    config = OmegaConf.to_container(cfg, resolve=True)
    adapters, save = finetune_options(config.get("finetune"))
    if adapters:
        trainable, total = add_adapters(task.model, adapters)
        console.print(f"[bold]finetune={adapters['method']}[/bold]: {trainable:,} trainable of {total:,} parameters "
                      f"({100 * trainable / total:.2f} %)")
    if checkpoint is not None:
        check_resumable(task, checkpoint, ckpt_path, config)
    if cfg.get("compile"):
        task.model.compile()  # in place: the state dict keeps its keys
    claim_run_folder(output_dir, resuming=bool(ckpt_path) and Path(ckpt_path).resolve().parent.parent
                     == output_dir.resolve())
    trainer = build_trainer(cfg, [RunConfigInCheckpoint(config), RandomStateInCheckpoint()])
    start = time.perf_counter()
    try:
        trainer.fit(task, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
    except SIGTERMException:
        raise stopped(trainer) from None
    fit_seconds = time.perf_counter() - start
    metrics = {key: float(value) for key, value in trainer.callback_metrics.items()
               if not key.endswith(("_step", "_epoch")) and not key.startswith("lr-")}
    best = next((callback.best_model_path for callback in trainer.checkpoint_callbacks
                 if isinstance(callback, ModelCheckpoint) and callback.monitor), "")
    last = next((callback.best_model_path for callback in trainer.callbacks if isinstance(callback, LastCheckpoint)),
                "")
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
        "code": code_version(),
        **({"already_complete": complete} if complete else {}),
        "best_checkpoint": best,
        "last_checkpoint": last,
    }
    if adapters:  # the best checkpoint's weights when tested, else the last ones
        summary["finetuned"] = save_finetuned(task.model, save, Path(cfg.paths.output_dir))
    _report(f"{cfg.name}: {cfg.model.name}", summary, Path(cfg.paths.output_dir))
    return summary


def task_objects(evaluator) -> dict:
    """What a task takes beside its config: ``{"evaluator": evaluator}`` (the generative task's, kept out of its
    hyper-parameters), or nothing for a run without one."""
    return {} if evaluator is None else {"evaluator": evaluator}


#: evaluation settings that data configs held before ``configs/evaluator/`` (issue 15): for each data ``_target_``
#: (as today's configs name it), the evaluator option that took them over and each data key's name there
LEGACY_EVALUATION = {
    "zoo.data.TimeSeriesDataModule": ("timeseries", {
        "discriminative_iterations": "discriminative_iterations", "discriminative_repeats": "discriminative_repeats",
        "predictive_iterations": "predictive_iterations", "metric_batch_size": "batch_size"}),
    "zoo.data.EOTBenchmarkDataModule": ("eot_benchmark", {"n_conditional": "n_conditional",
                                                          "n_marginal": "n_marginal"}),
    "zoo.data.Toy2DDataModule": ("sinkhorn", {"n_reference": "n_reference", "n_conditional": "n_conditional",
                                              "sinkhorn_iterations": "sinkhorn_iterations"}),
    "zoo.data.SpectraDataModule": ("spectra", {"n_sample_spectra": "n_spectra", "k": "k",
                                               "sample_steps": "sample_steps", "atom_count": "atom_count"}),
}


def upgrade_run_config(run: dict) -> dict:
    """A stored run config (checked by :func:`zoo.checkpoint.run_config`) in today's layout, changed as data only:

    - each rebuilt section's ``_target_`` becomes the one today's configs name (:func:`zoo.checkpoint.current_target`:
      a class that moved keeps its name);
    - the data keys its datamodule class now fixes (its ``facts``, e.g. a PDE set's ``in_channels``: arguments that
      were only checked) are dropped;
    - one written before evaluators had their own group keeps the evaluation settings in ``data`` and has no
      ``evaluator``: the settings of a data target of :data:`LEGACY_EVALUATION` move into its evaluator option, read
      from the repository's ``configs/evaluator/<option>.yaml`` (so the ``_target_`` comes from there, never from
      the checkpoint).
    """
    run = {**run, **{section: {**run[section], "_target_": current_target(section, run[section]["_target_"])}
                     for section in REBUILT if run.get(section) is not None}}
    data = run["data"]
    option, keys = LEGACY_EVALUATION.get(data["_target_"], (None, {}))
    settings = {new: data[old] for old, new in keys.items() if old in data}
    facts = get_class(data["_target_"]).facts
    run["data"] = {key: value for key, value in data.items() if key not in keys and key not in facts}
    if settings:
        evaluator = OmegaConf.to_container(OmegaConf.load(CONFIG_PATH / "evaluator" / f"{option}.yaml"))
        run["evaluator"] = {**evaluator, **settings}
    return run


def rebuild(section: dict | None, **objects):
    """The datamodule, evaluator or task of a stored run config section that :func:`zoo.checkpoint.run_config`
    checked: the class its ``_target_`` names (one the repository's configs name) called with its plain values and
    ``objects`` (built here: :func:`task_objects`); ``None`` for a section the run leaves out. Hydra's
    ``instantiate`` never sees data read from a file."""
    if section is None:
        return None
    values = dict(section)
    return get_class(values.pop("_target_"))(**values, **objects)


def evaluate(cfg: DictConfig) -> dict:
    """Test the checkpoint ``cfg.ckpt_path`` on its own data (or ``data=...`` if given); write ``metrics.json``."""
    checkpoint = read_checkpoint(cfg.ckpt_path)
    run = run_config(checkpoint, cfg.ckpt_path)
    if run is None:
        raise CheckpointError(f"{cfg.ckpt_path} has no 'zoo_config' entry: eval.py needs a checkpoint written by "
                              "zoo's train.py (use zoo.load_model for the weights alone)")
    run = upgrade_run_config(run)
    L.seed_everything(cfg.seed, workers=True)
    datamodule = instantiate(cfg.data) if cfg.get("data") else rebuild(run["data"])
    evaluator = instantiate(cfg.evaluator) if cfg.get("evaluator") else rebuild(run.get("evaluator"))
    task = rebuild(run["task"], **task_objects(evaluator))
    adapters, _ = finetune_options(run.get("finetune"))
    if adapters:  # a fine-tuned run's checkpoint holds the adapted model
        add_adapters(task.model, adapters)
    task.load_state_dict(checkpoint["state_dict"])
    if cfg.get("adapters"):
        load_adapters(task.model, cfg.adapters)
    output_dir = Path(cfg.paths.output_dir)
    if cfg.get("inverse"):  # a reconstruction benchmark of the prior replaces the test loop
        if cfg.trainer.get("accelerator") in ("gpu", "cuda"):  # trainer=gpu: the samplers run on the first GPU
            if not torch.cuda.is_available():
                raise RuntimeError("trainer=gpu but torch sees no CUDA device: drop trainer=gpu to run on the CPU")
            task.model.cuda()
        benchmark = instantiate(cfg.inverse)
        summary = {"checkpoint": str(cfg.ckpt_path), "model": run["model"]["name"],
                   "metrics": benchmark(task.model, datamodule)}
        summary["inverse"] = benchmark.write(output_dir)
        _report(f"eval: {run['model']['name']} on {cfg.inverse.problem}", summary, output_dir)
        return summary
    trainer = build_trainer(cfg)
    metrics = _merged(trainer.test(task, datamodule=datamodule, verbose=False))
    options = dict(cfg.get("eval") or {})
    if options.get("noise"):
        metrics.update(_noisy_test(trainer, task, datamodule, seed=cfg.seed, **options))
    summary = {"checkpoint": str(cfg.ckpt_path), "model": run["model"]["name"], "metrics": metrics}
    if cfg.get("analysis"):
        summary["analysis"] = eval_tools.analyse(cfg.analysis, task, datamodule, output_dir)
    if cfg.get("compress"):
        summary["compression"] = eval_tools.compress(cfg.compress, task, datamodule, output_dir)
        compressed = _merged(trainer.test(task, datamodule=datamodule, verbose=False))
        metrics.update({f"compressed/{key}": value for key, value in compressed.items()})
    _report(f"eval: {run['model']['name']}", summary, output_dir)
    return summary


def _noisy_test(trainer: L.Trainer, task: L.LightningModule, datamodule, noise: str, seed: int,
                **options) -> dict[str, float]:
    """Test again under the test-time perturbation ``configs/noise/<noise>.yaml``: its ``_target_``, a context
    manager called with the model, ``seed`` and the other ``eval`` options (``+eval.amplitude=2``), perturbs the
    model inside the block and yields its frequency. Metrics are reported as ``noisy/<metric>``."""
    known = sorted(path.stem for path in NOISE_DIR.glob("*.yaml"))
    if noise not in known:
        raise ValueError(f"unknown eval.noise {noise!r}: expected one of {known} (configs/noise/)")
    with instantiate(OmegaConf.load(NOISE_DIR / f"{noise}.yaml"), task.model, seed=seed, **options) as omega:
        metrics = _merged(trainer.test(task, datamodule=datamodule, verbose=False))
    return {**{f"noisy/{key}": value for key, value in metrics.items()}, "noisy/omega": omega}


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="train")
def train_main(cfg: DictConfig) -> float | None:
    """``python train.py [overrides]``; returns the monitored metric (for sweepers such as hparams_search=optuna), or
    ``None`` for a task that monitors nothing (``pde_solve``: the final iterate is tested)."""
    summary = train(cfg)
    metrics = summary["metrics"]
    if cfg.monitor.metric is None or (cfg.monitor.metric not in metrics and "already_complete" in summary):
        return None  # a complete run resumed only to be tested logs no validation
    if cfg.monitor.metric not in metrics:
        raise KeyError(f"the monitored metric {cfg.monitor.metric!r} was not logged (logged: {sorted(metrics)}): "
                       "set monitor.metric to one of them")
    return metrics[cfg.monitor.metric]


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="eval")
def eval_main(cfg: DictConfig) -> None:
    """``python eval.py ckpt_path=<run>/checkpoints/best.ckpt [overrides]``."""
    evaluate(cfg)
