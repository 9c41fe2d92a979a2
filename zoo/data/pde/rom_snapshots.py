"""Snapshot sets for local reduced-order bases and ROM-net (Daniel et al., ``zoo.rom``): each sample is a problem input
and the solution it determines, solved by the zoo's own solvers; a ROM-net learns the input -> the cluster of its
solution.

- :class:`BurgersSnapshotsDataModule`: ``u0(x) = A sin(2π (x − θ))`` -> ``u(x, t_final)`` of periodic viscous
  Burgers (:func:`~zoo.data.pde.solvers.solve_burgers`), parameters ``ν`` (log-uniform), ``A`` and ``θ`` (uniform;
  by default ``θ = 0``: the viscosity and amplitude variation of the notes, ``phase=[0, 1]`` adds translations).
  The amplitude scales ``u0``: at low Reynolds numbers ``A / ν`` the snapshots of one ``(ν, θ)`` are nearly collinear,
  which the sine dissimilarity sees and the Euclidean distance does not. Input ``x (batch, 4)``: ``log ν`` and ``A``
  mapped to [-1, 1], ``cos 2πθ``, ``sin 2πθ`` (a parameter vector, ``n_features = 4``).
- :class:`DarcySnapshotsDataModule`: ``a = s · (c where a Neumann GRF >= 0, else 1)``
  (:func:`~zoo.data.pde.solvers.darcy_coefficient`) -> ``u`` of ``-div(a grad u) = 1``
  (:func:`~zoo.data.pde.solvers.solve_darcy`), contrast ``c`` and scale ``s`` log-uniform. ``u`` is exactly proportional to ``1 / s``: collinear snapshots. Input
  ``x (batch, 1, r, r)``: ``log a`` (a field, ``in_channels = 1``).

Batches are ``(x, y)``: ``x`` float32 as above, ``y`` ``(batch,)`` int64 in ``[0, num_classes)``, the cluster of the
sample's snapshot: the training snapshots are clustered by sine k-medoids (:func:`~zoo.functional.clustering.kmedoids`
on :func:`~zoo.functional.clustering.sine_dissimilarity`, ``num_classes`` clusters, seeded by ``seed``) and every
validation and test snapshot takes the cluster of its nearest training medoid. :meth:`SnapshotsDataModule.snapshots`
gives a split's snapshots ``(n, n_dof)`` float64 and :meth:`SnapshotsDataModule.parameters` its parameters, for the
study (``scripts/rom_study.py``).

Sample ``i`` of split ``k`` (0, 1, 2 = train, val, test) is drawn from ``numpy.random.default_rng([seed, k, i])``; the
three splits are cached together under ``data_dir/rom/`` in one file named by every generation setting
(:class:`~zoo.data.base.GeneratedData`).
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import TensorDataset

from zoo.data.base import GeneratedData, SplitDataModule, check_positive
from zoo.data.pde.solvers import darcy_coefficient, solve_burgers, solve_darcy
from zoo.functional.clustering import kmedoids, sine_dissimilarity

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
_CACHE_VERSION = 1


def _range(key: str, bounds, positive: bool = True) -> tuple[float, float]:
    """``bounds`` as ``(low, high)`` floats with ``low <= high`` (and ``low > 0`` when ``positive``)."""
    if len(bounds) != 2 or not bounds[0] <= bounds[1] or (positive and not bounds[0] > 0):
        raise ValueError(f"data.{key}={list(bounds)!r}: expected [low, high] with low <= high"
                         f"{' and low > 0' if positive else ''}")
    return float(bounds[0]), float(bounds[1])


def _log_uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    return float(np.exp(rng.uniform(np.log(bounds[0]), np.log(bounds[1]))))


def _unit(value: float, bounds: tuple[float, float]) -> float:
    """``value`` in ``bounds`` mapped to [-1, 1] (0 for an empty range)."""
    return 0.0 if bounds[1] == bounds[0] else 2 * (value - bounds[0]) / (bounds[1] - bounds[0]) - 1


class SnapshotsDataModule(GeneratedData, SplitDataModule):
    """Inputs -> cluster labels of their snapshots (module doc). A subclass sets ``name`` and defines :meth:`tag`
    (its generation settings, for the cache file's name), :meth:`sample` (one sample's parameters from a generator)
    and :meth:`solve` (parameters ``(n, n_par)`` -> inputs ``(n, ...)`` and snapshots ``(n, n_dof)``)."""

    name: str

    def __init__(self, num_classes: int, n_train: int, n_val: int, n_test: int, resolution: int, seed: int,
                 batch_size: int, num_workers: int, data_dir: str):
        check_positive(num_classes=num_classes, n_train=n_train, n_val=n_val, n_test=n_test, resolution=resolution)
        if num_classes < 2 or num_classes > n_train:
            raise ValueError(f"data.num_classes={num_classes}: expected 2 <= num_classes <= data.n_train={n_train} "
                             f"(the training snapshots are split into that many clusters)")
        if not isinstance(seed, int) or seed < 0:
            raise ValueError(f"data.seed={seed!r}: expected a non-negative integer")
        super().__init__(batch_size=batch_size, num_workers=num_workers)
        self.num_classes, self.resolution, self.seed, self.data_dir = num_classes, resolution, seed, Path(data_dir)
        self.sizes = {"train": n_train, "val": n_val, "test": n_test}
        self._clusters: tuple[np.ndarray, np.ndarray] | None = None

    def tag(self) -> str:
        raise NotImplementedError

    def sample(self, rng: np.random.Generator) -> list[float]:
        raise NotImplementedError

    def solve(self, parameters: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    @property
    def cache_path(self) -> Path:
        sizes = "-".join(str(n) for n in self.sizes.values())
        return self.data_dir / "rom" / (f"{self.name}-v{_CACHE_VERSION}-{self.tag()}-r{self.resolution}-n{sizes}-"
                                        f"seed{self.seed}.pt")

    def _generate(self) -> dict[str, dict[str, torch.Tensor]]:
        log.info("%s snapshots: solving %d samples into %s", self.name, sum(self.sizes.values()), self.cache_path)
        data = {}
        for index, (split, n) in enumerate(self.sizes.items()):
            parameters = np.array([self.sample(np.random.default_rng([self.seed, index, i])) for i in range(n)])
            x, u = self.solve(parameters)
            data[split] = {"p": torch.from_numpy(parameters), "x": x.float(), "u": u.double()}
        return data

    def snapshots(self, split: str) -> np.ndarray:
        """The snapshots of ``split``, ``(n, n_dof)`` float64 (fields flattened)."""
        return self.load()[split]["u"].numpy()

    def parameters(self, split: str) -> np.ndarray:
        """The parameters of ``split``'s samples, ``(n, n_par)`` float64 (the subclass's doc names them)."""
        return self.load()[split]["p"].numpy()

    def clusters(self) -> tuple[np.ndarray, np.ndarray]:
        """Sine k-medoids of the training snapshots (module doc): ``labels (n_train,)`` and the medoid snapshots
        ``(num_classes, n_dof)``."""
        if self._clusters is None:
            S = self.snapshots("train")
            labels, medoids, _ = kmedoids(sine_dissimilarity(S), self.num_classes, seed=self.seed)
            self._clusters = labels, S[medoids]
        return self._clusters

    def labels(self, split: str) -> np.ndarray:
        """The cluster of every snapshot of ``split``, ``(n,)`` int64: its nearest training medoid by the sine."""
        labels, medoids = self.clusters()
        return labels if split == "train" else sine_dissimilarity(self.snapshots(split), medoids).argmin(1)

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        data = self.load()
        self.splits = {split: TensorDataset(data[split]["x"], torch.from_numpy(self.labels(split)).long())
                       for split in SPLITS}


class BurgersSnapshotsDataModule(SnapshotsDataModule):
    """Burgers snapshots on ``resolution`` periodic points (module doc): parameters ``(ν, A, θ)``, inputs
    ``x (batch, 4)``, snapshots ``u(·, t_final)``. The defaults (300 / 50 / 100 samples on 128 points, ETDRK4 steps
    of 2e-3) took 14 s to generate on a busy core. Fact (a class attribute): ``n_features`` (4)."""

    name, n_features = "burgers", 4
    facts = ("n_features",)

    def __init__(self, data_dir: str = "data", num_classes: int = 4, n_train: int = 300, n_val: int = 50,
                 n_test: int = 100, resolution: int = 128, viscosity=(0.02, 0.2), amplitude=(0.5, 2.0),
                 phase=(0.0, 0.0), t_final: float = 0.5, dt: float = 2e-3, batch_size: int = 32, seed: int = 0,
                 num_workers: int = 0):
        super().__init__(num_classes, n_train, n_val, n_test, resolution, seed, batch_size, num_workers, data_dir)
        if resolution % 2 or resolution < 4:
            raise ValueError(f"data.resolution={resolution}: the spectral Burgers solver needs an even grid >= 4")
        if not t_final > 0 or not dt > 0:
            raise ValueError(f"data.t_final={t_final!r} and data.dt={dt!r} must be positive")
        self.viscosity, self.amplitude = _range("viscosity", viscosity), _range("amplitude", amplitude)
        self.phase = _range("phase", phase, positive=False)
        self.t_final, self.dt = float(t_final), float(dt)

    def tag(self) -> str:
        return (f"nu{self.viscosity[0]:g}-{self.viscosity[1]:g}-A{self.amplitude[0]:g}-{self.amplitude[1]:g}-"
                f"theta{self.phase[0]:g}-{self.phase[1]:g}-T{self.t_final:g}-dt{self.dt:g}")

    def sample(self, rng: np.random.Generator) -> list[float]:
        """``[ν, A, θ]``: ``ν`` log-uniform in ``viscosity``, ``A`` and ``θ`` uniform in ``amplitude`` and ``phase``."""
        return [_log_uniform(rng, self.viscosity), float(rng.uniform(*self.amplitude)), float(rng.uniform(*self.phase))]

    def solve(self, parameters: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        grid = np.arange(self.resolution) / self.resolution
        snapshots = torch.stack([solve_burgers(A * np.sin(2 * np.pi * (grid - theta)), self.t_final, viscosity=nu,
                                               dt=self.dt) for nu, A, theta in parameters])
        log_bounds = (math.log(self.viscosity[0]), math.log(self.viscosity[1]))
        x = torch.tensor([[_unit(math.log(nu), log_bounds), _unit(A, self.amplitude), math.cos(2 * math.pi * theta),
                           math.sin(2 * math.pi * theta)] for nu, A, theta in parameters])
        return x, snapshots


class DarcySnapshotsDataModule(SnapshotsDataModule):
    """Darcy snapshots on ``resolution²`` nodes, boundaries included (module doc): parameters ``(c, s)`` and the GRF
    (drawn from the same generator), inputs ``x = log a (batch, 1, r, r)``, snapshots ``u`` flattened. The defaults
    (300 / 50 / 100 samples on 33²) take about 1 s to generate. Fact (a class attribute): ``in_channels`` (1)."""

    name, in_channels = "darcy", 1
    facts = ("in_channels",)

    def __init__(self, data_dir: str = "data", num_classes: int = 4, n_train: int = 300, n_val: int = 50,
                 n_test: int = 100, resolution: int = 33, contrast=(1.5, 30.0), scale=(0.3, 3.0), alpha: float = 2.0,
                 tau: float = 3.0, batch_size: int = 32, seed: int = 0, num_workers: int = 0):
        super().__init__(num_classes, n_train, n_val, n_test, resolution, seed, batch_size, num_workers, data_dir)
        if resolution < 3:
            raise ValueError(f"data.resolution={resolution}: the Darcy grid needs at least 3 nodes a side")
        if not alpha > 1:
            raise ValueError(f"data.alpha={alpha!r} must exceed 1 (= dim / 2) for a GRF with finite variance")
        self.contrast, self.scale = _range("contrast", contrast), _range("scale", scale)
        self.alpha, self.tau = float(alpha), float(tau)

    def tag(self) -> str:
        return (f"c{self.contrast[0]:g}-{self.contrast[1]:g}-s{self.scale[0]:g}-{self.scale[1]:g}-"
                f"alpha{self.alpha:g}-tau{self.tau:g}")

    def sample(self, rng: np.random.Generator) -> list[float]:
        """``[c, s, g]``: contrast and scale log-uniform, ``g`` an integer seed of the sample's GRF."""
        return [_log_uniform(rng, self.contrast), _log_uniform(rng, self.scale), float(rng.integers(2 ** 31))]

    def solve(self, parameters: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        a = torch.stack([s * darcy_coefficient(1, self.resolution, self.alpha, self.tau, a_pos=c, a_neg=1.0,
                                               seed=int(g))[0] for c, s, g in parameters])
        return a.log().unsqueeze(1), solve_darcy(a).flatten(1)
