"""Lightning callbacks and the CSV logger of the zoo's runs: what makes a run resumable, exactly, after any stop.

- :class:`LastCheckpoint` writes ``checkpoints/last.ckpt`` every epoch (and every N steps if asked) whatever the
  monitored metric did, and when SIGTERM or Ctrl+C stops the run.
- :class:`RandomStateInCheckpoint` keeps the random generators' states in every checkpoint and puts them back on
  resume, so dropout, noise and the next epoch's data order continue as in an uninterrupted run.
- :class:`RunConfigInCheckpoint` stores the run's resolved config (plain data) for ``eval.py``.
- :class:`CSVLogger` appends to ``csv/metrics.csv`` when a run resumes in its folder instead of truncating it.
"""

from __future__ import annotations

import csv
import random
import signal
import threading

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger as LightningCSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter
from lightning.pytorch.loggers.logger import rank_zero_experiment
from lightning.pytorch.utilities.exceptions import SIGTERMException
from lightning.pytorch.utilities.rank_zero import rank_zero_info


class FiniteLossCheck(L.Callback):
    """Stop training with a clear message as soon as the training loss is NaN or infinite."""

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch, batch_idx: int):
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs   # None: a fit with no loss (bayes_fit)
        if loss is not None and not torch.isfinite(loss).all():
            raise FloatingPointError(
                f"training loss is {loss.item()} at epoch {trainer.current_epoch}, step {trainer.global_step} "
                f"(batch {batch_idx}): lower task.optimizer.lr, set trainer.gradient_clip_val, or check the data "
                "for NaN/inf values"
            )


class RunConfigInCheckpoint(L.Callback):
    """Store the run's resolved config (plain containers) in every checkpoint as ``checkpoint["zoo_config"]``,
    so ``eval.py`` can rebuild the task and datamodule from the checkpoint alone (checked as data on reading:
    :func:`zoo.checkpoint.run_config`)."""

    def __init__(self, config: dict):
        self.config = config

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict) -> None:
        checkpoint["zoo_config"] = self.config


class LastCheckpoint(ModelCheckpoint):
    """``<dirpath>/last.ckpt``: the latest state of the run, whatever the monitored metric did.

    Written at the end of every epoch, every ``every_n_train_steps`` optimizer steps if set, and when the run is
    stopped by SIGTERM (what SLURM and most schedulers send before a kill) or by Ctrl+C; ``best.ckpt`` is left
    alone. During ``fit`` a first Ctrl+C stops the run after the current batch, as SIGTERM does, so the
    checkpoint never holds a half-done optimizer step; a second Ctrl+C aborts at once. ``stopped_by`` names the
    signal that stopped the run (``None`` if it was not stopped).
    """

    def __init__(self, dirpath: str, every_n_train_steps: int | None = None):
        if every_n_train_steps is not None and (not isinstance(every_n_train_steps, int) or every_n_train_steps < 1):
            raise ValueError(f"callbacks.last_checkpoint.every_n_train_steps must be a positive integer or null, "
                             f"got {every_n_train_steps!r}")
        # Lightning saves every N steps; the epoch ends are :meth:`on_train_epoch_end`'s (Lightning's two triggers
        # exclude each other)
        super().__init__(dirpath=dirpath, filename="last", every_n_epochs=0,
                         every_n_train_steps=every_n_train_steps or 0, enable_version_counter=False)
        self.stopped_by: signal.Signals | None = None
        self._sigint = None

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self._should_skip_saving_checkpoint(trainer):
            self._save_topk_checkpoint(trainer, self._monitor_candidates(trainer))

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # after Lightning took the signals it restores at the end of the fit (its originals must not include ours)
        self.stopped_by = None
        if threading.current_thread() is threading.main_thread():
            self._sigint = signal.signal(signal.SIGINT, self._stop_after_this_batch)

    def _stop_after_this_batch(self, signum: int, frame) -> None:
        if self.stopped_by is not None:
            raise KeyboardInterrupt
        self.stopped_by = signal.SIGINT
        rank_zero_info("\nCtrl+C: stopping after this batch and saving last.ckpt (Ctrl+C again to abort at once)")
        signal.raise_signal(signal.SIGTERM)  # Lightning stops at the next batch boundary and raises SIGTERMException

    def _restore_sigint(self) -> None:
        if self._sigint is not None:
            signal.signal(signal.SIGINT, self._sigint)
            self._sigint = None

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        self._restore_sigint()
        if not isinstance(exception, SIGTERMException) or trainer.sanity_checking or trainer.fast_dev_run:
            return  # a failed run (NaN loss, a bug) keeps the last good last.ckpt
        self.stopped_by = self.stopped_by or signal.SIGTERM
        if self._last_global_step_saved != trainer.global_step:
            self._save_topk_checkpoint(trainer, self._monitor_candidates(trainer))

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self._restore_sigint()


def random_states() -> dict:
    """The states of torch's CPU (and CUDA) generators, NumPy's and Python's global ones, as plain containers that
    ``torch.load(weights_only=True)`` reads."""
    kind, keys, position, has_gauss, cached_gaussian = np.random.get_state()
    states = {"torch": torch.get_rng_state(), "numpy": [kind, keys.tolist(), position, has_gauss, cached_gaussian],
              "python": random.getstate()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_random_states(states: dict) -> None:
    """Put back the states :func:`random_states` returned."""
    torch.set_rng_state(states["torch"])
    kind, keys, position, has_gauss, cached_gaussian = states["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), position, has_gauss, cached_gaussian))
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


class RandomStateInCheckpoint(L.Callback):
    """The random generators' states (:func:`random_states`) in every checkpoint, put back when a run resumes from
    it: a resumed run draws the same dropout masks, noise and data order as the uninterrupted one."""

    def state_dict(self) -> dict:
        return random_states()

    def load_state_dict(self, state_dict: dict) -> None:
        set_random_states(state_dict)


class _AppendingWriter(ExperimentWriter):
    """Lightning's CSV writer, except that an existing ``metrics.csv`` (a resumed run's) is continued, not deleted:
    its header becomes the known columns, so new rows append and a new column rewrites the file with the old rows."""

    def _check_log_dir_exists(self) -> None:
        if self._fs.isfile(self.metrics_file_path):
            with self._fs.open(self.metrics_file_path, "r", newline="") as file:
                self.metrics_keys = list(csv.DictReader(file).fieldnames or [])


class CSVLogger(LightningCSVLogger):
    """Lightning's ``CSVLogger`` writing through :class:`_AppendingWriter`: resuming a run in its folder keeps the
    rows logged before the interruption (steps re-run after it appear again, with the resumed run's values)."""

    @property
    @rank_zero_experiment
    def experiment(self) -> _AppendingWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _AppendingWriter(log_dir=self.log_dir)
        return self._experiment
