"""EEG trial datamodules: epochs ``x`` ``(N, C, T)`` float32 with labels ``y`` ``(N,)`` int64 and k-fold splits.

Batches are ``(x, y)``: ``x`` ``(batch, C, T)`` float32 (channels by time samples), ``y`` ``(batch,)`` int64 in
``[0, num_classes)``. Evaluation is within session, by stratified k-fold (:func:`fold_indices`): ``fold`` picks the
test fold of ``n_folds`` (``StratifiedKFold``, shuffled with ``seed``); a stratified ``val_fraction`` of the other
trials validates and the rest trains. :meth:`TrialsDataModule.trials` gives all trials, so a study script can run
scikit-learn's cross-validation on exactly the same data.

- :class:`EEGSyntheticDataModule`: the synthetic motor-imagery generator (:mod:`zoo.data.eeg.motor_imagery`),
  cached under ``data_dir/eeg/``.
- :class:`~zoo.data.eeg.moabb.MOABBDataModule`: one subject and session of a MOABB motor-imagery dataset.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import TensorDataset

from zoo.arguments import accepts
from zoo.data.base import GeneratedData, SplitDataModule, check_positive
from zoo.data.eeg.motor_imagery import check_arguments, motor_imagery

log = logging.getLogger(__name__)

_CACHE_VERSION = 1


def fold_indices(y: np.ndarray, n_folds: int, fold: int, val_fraction: float, seed: int) -> dict[str, np.ndarray]:
    """Trial indices ``{"train", "val", "test"}`` (sorted int64 arrays) of labels ``y`` ``(N,)``: the test split is
    fold ``fold`` of a shuffled ``StratifiedKFold(n_folds)``, the validation split a stratified ``val_fraction`` of
    the remaining trials (both shuffled with ``seed``), the rest trains."""
    from sklearn.model_selection import StratifiedKFold, train_test_split

    counts = np.bincount(y)
    if counts.min() < n_folds:
        raise ValueError(f"data.n_folds={n_folds}: the smallest class has only {counts.min()} trials, fewer than the "
                         f"folds; lower data.n_folds or use more trials")
    folds = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed).split(np.zeros(len(y)), y)
    rest, test = list(folds)[fold]
    n_val = round(val_fraction * len(rest))
    if not len(counts) <= n_val <= len(rest) - len(counts):
        raise ValueError(f"data.val_fraction={val_fraction}: {n_val} of the {len(rest)} trials outside the test fold "
                         f"cannot hold one trial of each of the {len(counts)} classes in both validation and training; "
                         f"choose a fraction that can")
    train, val = train_test_split(rest, test_size=n_val, stratify=y[rest], random_state=seed)
    return {"train": np.sort(train), "val": np.sort(val), "test": np.sort(test)}


class TrialsDataModule(GeneratedData, SplitDataModule):
    """Trials ``(x, y)`` (:meth:`trials`, from the entry a subclass's ``cache_path`` / ``_generate`` make: the
    :class:`~zoo.data.base.GeneratedData` cache) split by stratified k-fold
    (module doc). Subclasses set ``n_channels`` and ``num_classes`` (config settings that models read as
    ``${zoo_data:n_channels}``); :meth:`trials` checks the loaded trials against them."""

    def __init__(self, n_channels: int, num_classes: int, n_folds: int, fold: int, val_fraction: float, seed: int,
                 batch_size: int, num_workers: int):
        check_positive(n_channels=n_channels)
        if not accepts(int, num_classes) or num_classes < 2:
            raise ValueError(f"data.num_classes={num_classes!r}: expected an integer >= 2")
        if not accepts(int, n_folds) or n_folds < 2:
            raise ValueError(f"data.n_folds={n_folds!r}: expected an integer >= 2 (k-fold cross-validation)")
        if not accepts(int, fold) or not 0 <= fold < n_folds:
            raise ValueError(f"data.fold={fold!r}: expected an integer in [0, data.n_folds={n_folds})")
        if not accepts(float, val_fraction) or not 0 < val_fraction < 1:
            raise ValueError(f"data.val_fraction={val_fraction!r}: expected a fraction in (0, 1) of the trials "
                             f"outside the test fold")
        super().__init__(batch_size=batch_size, num_workers=num_workers)
        self.n_channels, self.num_classes = n_channels, num_classes
        self.n_folds, self.fold, self.val_fraction, self.seed = n_folds, fold, val_fraction, seed
        self._trials: tuple[np.ndarray, np.ndarray] | None = None

    def trials(self) -> tuple[np.ndarray, np.ndarray]:
        """Every trial: ``x`` ``(N, n_channels, T)`` float32 and ``y`` ``(N,)`` int64, loaded once and checked against
        ``n_channels`` and ``num_classes``."""
        if self._trials is None:
            data = self.load()  # {"x": (N, C, T) float32, "y": (N,) int64}
            self._trials = self.checked(data["x"].numpy(), data["y"].numpy())
        return self._trials

    def checked(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(x, y)`` if they have ``n_channels`` channels and labels ``0 .. num_classes−1``, else an error naming
        the key to set."""
        if x.ndim != 3 or x.shape[1] != self.n_channels:
            raise ValueError(f"data.n_channels={self.n_channels}, but the trials have {x.shape[1]} channels "
                             f"(shape {tuple(x.shape)}); set data.n_channels={x.shape[1]}")
        found = len(np.unique(y))
        if found != self.num_classes or y.min() != 0 or y.max() != found - 1:
            raise ValueError(f"data.num_classes={self.num_classes}, but the trials have {found} classes "
                             f"(labels {sorted(np.unique(y).tolist())}); set data.num_classes={found}")
        return x, y

    def split_indices(self) -> dict[str, np.ndarray]:
        """The trial indices of ``train``, ``val`` and ``test`` (:func:`fold_indices`)."""
        return fold_indices(self.trials()[1], self.n_folds, self.fold, self.val_fraction, self.seed)

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        x, y = (torch.from_numpy(array) for array in self.trials())
        self.splits = {split: TensorDataset(x[index], y[index]) for split, index in self.split_indices().items()}


class EEGSyntheticDataModule(TrialsDataModule):
    """Synthetic motor-imagery trials (:func:`~zoo.data.eeg.motor_imagery.motor_imagery` with ``regime``,
    ``n_trials`` per class, ``num_classes`` classes of ``n_channels`` channels, ``duration`` s at ``sfreq`` Hz,
    ``n_sources`` latent sources at ``snr``), generated with ``seed`` and cached under ``data_dir/eeg/`` in a file
    named by every generation setting. ``x`` ``(batch, n_channels, round(duration · sfreq))``. ``seed`` also
    shuffles the folds (module doc)."""

    def __init__(self, regime: str = "temporal", n_channels: int = 16, num_classes: int = 2, n_trials: int = 200,
                 sfreq: float = 250.0, duration: float = 2.0, n_sources: int = 6, snr: float = 2.0, seed: int = 0,
                 n_folds: int = 5, fold: int = 0, val_fraction: float = 0.2, batch_size: int = 32,
                 num_workers: int = 0, data_dir: str = "data"):
        check_positive(n_trials=n_trials, n_sources=n_sources)
        super().__init__(n_channels=n_channels, num_classes=num_classes, n_folds=n_folds, fold=fold,
                         val_fraction=val_fraction, seed=seed, batch_size=batch_size, num_workers=num_workers)
        self.regime, self.n_trials, self.sfreq, self.duration = regime, n_trials, sfreq, duration
        self.n_sources, self.snr, self.data_dir = n_sources, snr, Path(data_dir)
        check_arguments(regime, n_trials, num_classes, n_channels, sfreq, duration, n_sources, snr, prefix="data.")

    @property
    def cache_path(self) -> Path:
        return self.data_dir / "eeg" / (
            f"synthetic-v{_CACHE_VERSION}-{self.regime}-c{self.n_channels}-k{self.num_classes}-n{self.n_trials}-"
            f"sf{self.sfreq:g}-d{self.duration:g}-s{self.n_sources}-snr{self.snr:g}-seed{self.seed}.pt")

    def _generate(self) -> dict[str, torch.Tensor]:
        log.info("synthetic EEG: generating %d %s trials into %s", self.num_classes * self.n_trials, self.regime,
                 self.cache_path)
        x, y = motor_imagery(self.regime, n_trials=self.n_trials, n_classes=self.num_classes,
                             n_channels=self.n_channels, sfreq=self.sfreq, duration=self.duration,
                             n_sources=self.n_sources, snr=self.snr, seed=self.seed)
        return {"x": torch.from_numpy(x), "y": torch.from_numpy(y)}
