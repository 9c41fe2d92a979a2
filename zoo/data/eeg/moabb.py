"""One subject and session of a MOABB motor-imagery dataset as trials, with k-fold splits (within session).

The epochs come from ``moabb.paradigms.MotorImagery(events, n_classes, fmin, fmax, tmin, tmax, resample)``
``.get_data(dataset, subjects=[subject])`` (band-passed ``fmin``–``fmax`` Hz, ``tmin``–``tmax`` s after the cue,
MOABB's own disk cache off), restricted to ``session`` (the first one when ``None``); labels are ``0 .. K−1`` in the
order of ``events``. The arrays ``{"x": (N, C, T) float32, "y": (N,) int64}`` are cached under ``root/moabb/`` in a
file named by every setting that changes them (:func:`zoo.cache.cached`, atomic writes), so later runs read them
without MOABB.

``download=True`` lets MOABB fetch the recordings (needs internet) into ``root/mne_data`` (the ``MNE_DATA``
environment variable, set for the duration only: the user's MNE config is not written); with ``download=False``
only the cache is read, and a missing entry is a clear error, never a download. Needs the ``eeg`` extra
(``pip install -e ".[eeg]"``: moabb, mne).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from zoo.arguments import plain
from zoo.data.eeg.datamodules import TrialsDataModule
from zoo.optional import require

_CACHE_VERSION = 1


@contextlib.contextmanager
def mne_data(folder: Path) -> Iterator[None]:
    """``MNE_DATA`` (where MNE and MOABB put downloads) set to ``folder`` (created) inside the block, restored
    after it."""
    folder.mkdir(parents=True, exist_ok=True)
    previous = os.environ.get("MNE_DATA")
    os.environ["MNE_DATA"] = str(folder)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("MNE_DATA", None)
        else:
            os.environ["MNE_DATA"] = previous


def moabb_dataset(name: str, kwargs: dict):
    """The dataset class ``name`` of ``moabb.datasets`` (looked up by name, never imported by path), built with
    ``kwargs``."""
    datasets, FakeDataset = require("moabb.datasets"), require("moabb.datasets.fake").FakeDataset
    found = {"FakeDataset": FakeDataset, **{key: getattr(datasets, key) for key in dir(datasets)}}
    if not isinstance(found.get(name), type):
        raise ValueError(f"data.dataset={name!r} is not a dataset class of moabb.datasets (e.g. BNCI2014_001, "
                         f"PhysionetMI, Cho2017, FakeDataset)")
    return found[name](**kwargs)


def motor_imagery_epochs(dataset, subject: int, session: str | int | None, events: list[str], fmin: float, fmax: float,
                         tmin: float, tmax: float | None, resample: float | None) -> dict[str, torch.Tensor]:
    """The epochs of ``subject`` in ``session`` (the first when ``None``) of the MOABB ``dataset``:
    ``{"x": (N, C, T) float32, "y": (N,) int64}``, labels in the order of ``events`` (module doc)."""
    paradigm = require("moabb.paradigms").MotorImagery(events=list(events), n_classes=len(events), fmin=fmin, fmax=fmax, tmin=tmin, tmax=tmax,
                            resample=resample)
    no_cache = {"use": False, "save_raw": False, "save_epochs": False, "save_array": False}
    x, labels, metadata = paradigm.get_data(dataset, subjects=[subject], cache_config=no_cache)
    sessions = list(dict.fromkeys(metadata["session"]))
    chosen = sessions[0] if session is None else str(session)
    if chosen not in sessions:
        raise ValueError(f"data.session={session!r}: subject {subject} has the sessions {sessions}")
    keep = np.asarray(metadata["session"] == chosen)
    y = np.array([list(events).index(label) for label in labels[keep]], dtype=np.int64)
    return {"x": torch.from_numpy(np.ascontiguousarray(x[keep], dtype=np.float32)), "y": torch.from_numpy(y)}


class MOABBDataModule(TrialsDataModule):
    """A MOABB motor-imagery ``dataset`` (a class name of ``moabb.datasets`` built with ``dataset_kwargs``), one
    ``subject`` and ``session``, ``events`` as classes (module doc). ``x`` ``(batch, n_channels, T)`` with
    ``T`` the samples of ``tmin``–``tmax`` (the dataset's trial window when ``tmax`` is ``None``) at ``resample`` Hz
    (the recording's rate when ``None``); the loaded trials must have ``n_channels`` channels and ``num_classes``
    classes. ``seed`` shuffles the folds (:mod:`zoo.data.eeg.datamodules`)."""

    def __init__(self, dataset: str = "BNCI2014_001", subject: int = 1, session: str | int | None = None,
                 events: list[str] = ("left_hand", "right_hand"), fmin: float = 8.0, fmax: float = 35.0,
                 tmin: float = 0.0, tmax: float | None = None, resample: float | None = None, n_channels: int = 22,
                 num_classes: int = 2, root: str = "data", download: bool = False, dataset_kwargs: dict | None = None,
                 n_folds: int = 5, fold: int = 0, val_fraction: float = 0.2, seed: int = 0, batch_size: int = 32,
                 num_workers: int = 0):
        events = plain(events)
        if len(events) < 2 or len(set(events)) != len(events):
            raise ValueError(f"data.events={events!r}: expected two or more distinct event names")
        if len(events) != num_classes:
            raise ValueError(f"data.num_classes={num_classes}, but data.events names {len(events)} classes {events}")
        super().__init__(n_channels=n_channels, num_classes=num_classes, n_folds=n_folds, fold=fold,
                         val_fraction=val_fraction, seed=seed, batch_size=batch_size, num_workers=num_workers)
        self.dataset, self.subject, self.session, self.events = dataset, subject, session, events
        self.window = {"fmin": fmin, "fmax": fmax, "tmin": tmin, "tmax": tmax, "resample": resample}
        self.root, self.download, self.dataset_kwargs = Path(root), download, plain(dataset_kwargs or {})

    @property
    def cache_path(self) -> Path:
        """``root/moabb/<dataset>-s<subject>-<hash of every setting that changes the arrays>.pt``."""
        settings = {"dataset": self.dataset, "subject": self.subject, "session": self.session, "events": self.events,
                    **self.window, "dataset_kwargs": self.dataset_kwargs, "version": _CACHE_VERSION}
        digest = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:16]
        return self.root / "moabb" / f"{self.dataset}-s{self.subject}-{digest}.pt"

    def _generate(self) -> dict[str, torch.Tensor]:
        if not self.download:
            raise FileNotFoundError(
                f"no cached MOABB trials at {self.cache_path} (data.dataset={self.dataset}, subject {self.subject}): "
                f"pass data.download=true on a machine with internet to fetch and extract them (MOABB downloads the "
                f"recordings into {self.root / 'mne_data'}), or point data.root at a folder that holds the cache")
        with mne_data(self.root / "mne_data"):
            dataset = moabb_dataset(self.dataset, self.dataset_kwargs)
            return motor_imagery_epochs(dataset, self.subject, self.session, self.events, **self.window)
