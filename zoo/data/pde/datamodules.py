"""Operator-learning data sets made by our own PDE solvers: Darcy flow, Burgers and 2-D Navier-Stokes.

Each datamodule maps an input function to the solution it determines, both sampled on a uniform grid:

- :class:`DarcyDataModule`: the coefficient ``a`` (thresholded GRF, 12 / 3) -> the pressure ``u`` of
  ``-div(a grad u) = 1``, ``u = 0`` on the boundary (FNO's Darcy). Grids are nodes including both
  boundaries, ``s = (S - 1) / m + 1`` (e.g. 421 -> 211, 141, 85; 65 -> 33, 17).
- :class:`BurgersDataModule`: ``u(x, 0)`` -> ``u(x, t_final)`` of periodic viscous Burgers (FNO's Burgers).
- :class:`NavierStokesDataModule`: the vorticity ``w(0)`` -> ``w(t_final)`` on the unit torus with FNO's
  forcing, the one-shot setting of Transform Once (T1).

The solvers are in :mod:`zoo.data.pde.solvers`. Periodic grids are ``x_j = j / s``, so ``s = S / m``.

**Resolutions.** Every sample is solved once, on the finest grid (``solver_resolution``, by default the
largest of ``resolution`` and ``test_resolutions``), and subsampled: train and validation at
``resolution``; the test split at each of ``test_resolutions`` (the same samples on different grids, as
FNO's 421 -> 85 data), so ``test_dataloader()`` returns one loader per test resolution, the training
resolution first. A resolution the solver grid cannot be subsampled to is an error that lists the
reachable ones.

**Batches** are ``(x, y)`` in physical units: ``x`` ``(batch, in_channels, *spatial)`` float32, the input field
as solved (e.g. Darcy's coefficient, 3 or 12), and ``y`` ``(batch, out_channels, *spatial)`` float32. The
datamodule normalises nothing; after :meth:`setup` it exposes the training split's per-channel statistics
``x_mean, x_std, y_mean, y_std`` (shape ``(channels,)``, scalars per channel, so the same ones apply at every
resolution). :class:`zoo.tasks.OperatorTask` copies them when a fit starts, keeps them in its checkpoint and
normalises every input with its own copy, ``(x - x_mean) / x_std``, so a checkpoint evaluated on other data
(another contrast, a shifted set) still sees its training normalisation. ``periodic`` says which grid
convention (and so which finite differences) applies. ``in_channels``, ``out_channels``, ``n_dim`` and
``periodic`` are fixed by the problem: class attributes (the ``facts`` model and task configs read as
``${zoo_data:in_channels}``, :mod:`zoo.data.base`), not constructor arguments.

**Loaders.** Train and validation at ``resolution``, one test split per test resolution (``test``, then
``test_<resolution>``: ``test_names``), all through :class:`zoo.data.base.SplitDataModule`'s one loader path: under
DDP each validation and test sample (at every resolution) is read on exactly one process.

**Generation and cache.** Sample ``i`` of a split is drawn from ``numpy.random.default_rng([seed, split, i])``
(split 0, 1, 2 = train, val, test), so a split's samples do not depend on the other splits' sizes, and a
smaller split is a prefix of a larger one. Samples are solved in chunks (batched where the solver is) under
a progress bar, and each split is cached under ``data_dir/<problem>/`` (``zoo.cache.cached``, atomic
writes) in a file whose name holds every generation parameter, the solver grid, the split, its size and the
seed; train and test at other resolutions subsample the same file.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
from rich.progress import track
from torch.utils.data import TensorDataset

from zoo.cache import cached
from zoo.data.base import SplitDataModule
from zoo.data.pde.solvers import (burgers_initial_condition, darcy_coefficient, fno_forcing, solve_burgers,
                                  solve_darcy, solve_navier_stokes, vorticity_initial_condition)

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
_CACHE_VERSION = 1  # bump when a solver changes what a seed produces


def _name(value) -> str:
    """A parameter value as it appears in a cache file name."""
    return "default" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def _check_physics(n_dim: int, positive: dict, **exponents) -> None:
    """Every value of ``positive`` is positive, and every GRF exponent ``e`` of ``(-Δ + τ²)^(-e)`` exceeds
    ``n_dim / 2`` (a field with finite variance)."""
    for key, value in positive.items():
        if not value > 0:
            raise ValueError(f"{key} must be positive, got {value!r}")
    for key, value in exponents.items():
        if not value > n_dim / 2:
            raise ValueError(f"{key} must exceed {n_dim / 2:g} (= dim / 2) for a GRF with finite variance, "
                             f"got {value!r}")


class _PDEDataModule(SplitDataModule):
    """Generation, caching, subsampling and training statistics shared by the PDE datamodules.

    A subclass sets ``name``, ``n_dim``, ``periodic``, ``chunk_size`` and ``min_solver_resolution``, and
    implements :meth:`physics` (the parameters that change the data), :meth:`sample_input` (one input
    field on the solver grid from a generator) and :meth:`solve` (a chunk of inputs -> outputs).
    """

    name: str
    n_dim: int
    periodic: bool
    chunk_size: int = 32
    min_solver_resolution: int = 3
    in_channels = out_channels = 1
    facts = ("in_channels", "out_channels", "n_dim", "periodic")

    def __init__(self, n_train: int, n_val: int, n_test: int, resolution: int, test_resolutions,
                 solver_resolution: int | None, batch_size: int, seed: int, num_workers: int, data_dir: str):
        super().__init__(batch_size=batch_size, num_workers=num_workers)
        for key, value in (("n_train", n_train), ("n_val", n_val), ("n_test", n_test)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{key} must be a positive integer, got {value!r}")
        if not isinstance(seed, int) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        test_resolutions = [resolution] if test_resolutions is None else [int(r) for r in test_resolutions]
        if not test_resolutions or test_resolutions[0] != resolution:
            raise ValueError(f"test_resolutions must start with the training resolution {resolution}, got "
                             f"{test_resolutions}: e.g. [{resolution}, {2 * resolution - (not self.periodic)}]")
        if len(set(test_resolutions)) != len(test_resolutions):
            raise ValueError(f"test_resolutions has repeated entries: {test_resolutions}")
        self.sizes = {"train": n_train, "val": n_val, "test": n_test}
        self.resolution, self.test_resolutions = int(resolution), test_resolutions
        self.solver_resolution = max(test_resolutions) if solver_resolution is None else int(solver_resolution)
        self.seed, self.data_dir = seed, Path(data_dir)
        self._check_grids()

    # ---- grids -----------------------------------------------------------------------------------------
    def _reachable(self) -> list[int]:
        """Every grid size (at least 3) an exact subsample of the solver grid has, ascending."""
        S = self.solver_resolution
        if self.periodic:
            sizes = [S // m for m in range(S, 0, -1) if S % m == 0]
        else:
            sizes = [(S - 1) // m + 1 for m in range(S - 1, 0, -1) if (S - 1) % m == 0]
        return [size for size in sizes if size >= 3]

    def _check_grids(self) -> None:
        S = self.solver_resolution
        if S < self.min_solver_resolution or (self.periodic and S % 2):
            parity = "an even integer " if self.periodic else "an integer "
            raise ValueError(f"solver_resolution must be {parity}>= {self.min_solver_resolution} for "
                             f"{type(self).__name__}, got {S}")
        reachable = self._reachable()
        for r in self.test_resolutions:  # test_resolutions[0] is the training resolution
            if r not in reachable:
                rule = "S / r" if self.periodic else "(S - 1) / (r - 1)"
                raise ValueError(
                    f"resolution {r} is not reachable by subsampling the solver grid S = {S} ({rule} must be an "
                    f"integer{'' if self.periodic else '; these grids include both boundaries'}): choose among "
                    f"{reachable}, or set solver_resolution to a grid that contains every resolution")

    def subsample(self, values: torch.Tensor, resolution: int) -> torch.Tensor:
        """``(n, C, *[solver_resolution])`` -> ``(n, C, *[resolution])`` by taking every m-th point."""
        S = self.solver_resolution
        m = S // resolution if self.periodic else (S - 1) // (resolution - 1)
        return values[(Ellipsis, *[slice(None, None, m)] * self.n_dim)]

    # ---- generation and cache --------------------------------------------------------------------------
    def physics(self) -> dict:
        raise NotImplementedError

    def sample_input(self, rng: np.random.Generator) -> torch.Tensor:
        raise NotImplementedError

    def solve(self, inputs: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def cache_path(self, split: str) -> Path:
        """The cache file of ``split``: every generation parameter is in its name."""
        physics = "-".join(f"{key}{_name(value)}" for key, value in self.physics().items())
        name = (f"{self.name}-v{_CACHE_VERSION}-{physics}-s{self.solver_resolution}-seed{self.seed}-"
                f"{split}{self.sizes[split]}.pt")
        return self.data_dir / self.name / name

    def generate(self, split: str) -> dict[str, torch.Tensor]:
        """``{"x": (n, 1, *S), "y": (n, 1, *S)}`` float32 on the solver grid for ``split``."""
        n, index = self.sizes[split], SPLITS.index(split)
        log.info("%s: solving %d %s samples on a %s grid", self.name, n, split,
                 "x".join([str(self.solver_resolution)] * self.n_dim))
        xs, ys = [], []
        starts = range(0, n, self.chunk_size)
        description = f"{self.name} {split} ({n} samples, grid {self.solver_resolution})"
        for start in track(starts, description=description, total=len(starts)):
            stop = min(start + self.chunk_size, n)
            inputs = torch.stack([self.sample_input(np.random.default_rng([self.seed, index, i]))
                                  for i in range(start, stop)])
            xs.append(inputs.float())
            ys.append(self.solve(inputs).float())
        return {"x": torch.cat(xs).unsqueeze(1), "y": torch.cat(ys).unsqueeze(1)}

    def load(self, split: str) -> dict[str, torch.Tensor]:
        """The cached ``split`` on the solver grid (see :meth:`generate`), generated and cached if missing."""
        return cached(self.cache_path(split), lambda: self.generate(split))

    def prepare_data(self) -> None:
        for split in SPLITS:
            self.load(split)

    # ---- statistics and splits ---------------------------------------------------------------------------
    @property
    def test_names(self) -> list[str]:
        """The test splits, one per test resolution: ``test`` at the training resolution, then ``test_<resolution>``
        (each its own loader and metric prefix)."""
        return ["test", *(f"test_{resolution}" for resolution in self.test_resolutions[1:])]

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        data = {split: self.load(split) for split in SPLITS}
        train_x = self.subsample(data["train"]["x"], self.resolution).double()
        train_y = self.subsample(data["train"]["y"], self.resolution).double()
        axes = [0, *range(2, 2 + self.n_dim)]
        self.x_mean, self.x_std = train_x.mean(axes).float(), train_x.std(axes).float()
        self.y_mean, self.y_std = train_y.mean(axes).float(), train_y.std(axes).float()
        if (self.x_std == 0).any() or (self.y_std == 0).any():
            raise ValueError(f"{self.name}: a channel of the training data is constant (std 0); use more samples")

        def dataset(split: str, resolution: int) -> TensorDataset:
            return TensorDataset(self.subsample(data[split]["x"], resolution).contiguous(),
                                 self.subsample(data[split]["y"], resolution).contiguous())

        self.splits = {"train": dataset("train", self.resolution), "val": dataset("val", self.resolution),
                       **{name: dataset("test", resolution)
                          for name, resolution in zip(self.test_names, self.test_resolutions)}}


class DarcyDataModule(_PDEDataModule):
    """FNO's Darcy flow: ``a`` (thresholded Neumann GRF) -> ``u``, 2-D, grids with both boundaries.

    ``x``: ``(batch, 1, s, s)`` the coefficient (``a_neg`` or ``a_pos``); ``y``: ``(batch, 1, s, s)`` pressure (0 to
    about 0.017, zero on the boundary). The defaults (1000 / 100 / 200 samples, trained at 33², tested at 33² and
    65², solved at 65²) took 28 s to generate on a busy 2-core CPU (one sparse solve per sample); FNO's data is
    ``solver_resolution=421`` (about 2.5 s a sample) subsampled to 85 (``resolution=85``).
    """

    name, n_dim, periodic, chunk_size = "darcy", 2, False, 16

    def __init__(self, data_dir: str = "data", n_train: int = 1000, n_val: int = 100, n_test: int = 200,
                 resolution: int = 33, test_resolutions=(33, 65), solver_resolution: int | None = None,
                 alpha: float = 2.0, tau: float = 3.0, a_pos: float = 12.0, a_neg: float = 3.0, forcing: float = 1.0,
                 batch_size: int = 32, seed: int = 0, num_workers: int = 0):
        _check_physics(self.n_dim, {"a_pos": a_pos, "a_neg": a_neg}, alpha=alpha)
        super().__init__(n_train, n_val, n_test, resolution, test_resolutions, solver_resolution, batch_size, seed,
                         num_workers, data_dir)
        self.alpha, self.tau, self.a_pos, self.a_neg, self.forcing = alpha, tau, a_pos, a_neg, forcing

    def physics(self) -> dict:
        return {"alpha": float(self.alpha), "tau": float(self.tau), "a": f"{self.a_pos:g}-{self.a_neg:g}",
                "f": float(self.forcing)}

    def sample_input(self, rng: np.random.Generator) -> torch.Tensor:
        return darcy_coefficient(1, self.solver_resolution, self.alpha, self.tau, self.a_pos, self.a_neg, seed=rng)[0]

    def solve(self, inputs: torch.Tensor) -> torch.Tensor:
        return solve_darcy(inputs, f=self.forcing)


class BurgersDataModule(_PDEDataModule):
    """FNO's Burgers: ``u(x, 0) ~ GRF(gamma=2.5, tau=7, sigma=49)`` -> ``u(x, t_final)``, 1-D periodic.

    ``x``, ``y``: ``(batch, 1, s)``. The defaults (viscosity 0.01 as neuraloperator's small set, ``t_final = 1``,
    1000 / 100 / 200 samples, trained at 256, tested at 256 and 1024, solved at 1024 with ETDRK4 steps of 0.005)
    take about 18 s to generate on a busy 2-core CPU; 1024 points resolve viscosity 0.01. FNO's paper uses 0.1,
    at which the solution decays to about 2 % of ``u0`` by ``t = 1`` (``y`` std 0.005 against 0.28), so the map
    is close to the heat semigroup; FNO's public generator pairs this ``u0`` with viscosity 1e-3 (solved at 8192).
    """

    name, n_dim, periodic, chunk_size, min_solver_resolution = "burgers", 1, True, 100, 4

    def __init__(self, data_dir: str = "data", n_train: int = 1000, n_val: int = 100, n_test: int = 200,
                 resolution: int = 256, test_resolutions=(256, 1024), solver_resolution: int | None = None,
                 viscosity: float = 0.01, t_final: float = 1.0, gamma: float = 2.5, tau: float = 7.0,
                 sigma: float = 49.0, dt: float = 5e-3, batch_size: int = 32, seed: int = 0, num_workers: int = 0):
        _check_physics(self.n_dim, {"viscosity": viscosity, "t_final": t_final, "dt": dt}, gamma=gamma)
        super().__init__(n_train, n_val, n_test, resolution, test_resolutions, solver_resolution, batch_size, seed,
                         num_workers, data_dir)
        self.viscosity, self.t_final, self.dt = viscosity, t_final, dt
        self.gamma, self.tau, self.sigma = gamma, tau, sigma

    def physics(self) -> dict:
        return {"nu": float(self.viscosity), "T": float(self.t_final), "gamma": float(self.gamma),
                "tau": float(self.tau), "sigma": float(self.sigma), "dt": float(self.dt)}

    def sample_input(self, rng: np.random.Generator) -> torch.Tensor:
        return burgers_initial_condition(1, self.solver_resolution, self.gamma, self.tau, self.sigma, seed=rng)[0]

    def solve(self, inputs: torch.Tensor) -> torch.Tensor:
        return solve_burgers(inputs, self.t_final, self.viscosity, self.dt)


class NavierStokesDataModule(_PDEDataModule):
    """2-D vorticity ``w(0) ~ GRF(alpha=2.5, tau=7)`` -> ``w(t_final)`` on the torus with FNO's forcing.

    ``x``, ``y``: ``(batch, 1, s, s)``. The defaults (viscosity 1e-3, ``t_final = 10``, steps of 0.02,
    1000 / 100 / 200 samples, solved at 64², trained at 32², tested at 32² and 64²) are sized for a CPU:
    they took 3 min to generate on a busy 2-core CPU (one torch thread; 1000 samples in 137 s), and the
    steps of 0.02 agree with steps of 0.001 to 4e-6 (relative L2) at ``t = 10``. T1's data is
    ``t_final = 50``: use ``dt=0.01`` there (steps of 0.025 blow up before ``t = 50``), about 10x the time.
    ``sigma=None`` is FNO's initial amplitude ``sqrt(2) tau^(alpha - 1)``.
    """

    name, n_dim, periodic, chunk_size, min_solver_resolution = "navier_stokes", 2, True, 10, 4

    def __init__(self, data_dir: str = "data", n_train: int = 1000, n_val: int = 100, n_test: int = 200,
                 resolution: int = 32, test_resolutions=(32, 64), solver_resolution: int | None = None,
                 viscosity: float = 1e-3, t_final: float = 10.0, alpha: float = 2.5, tau: float = 7.0,
                 sigma: float | None = None, dt: float = 0.02, batch_size: int = 32, seed: int = 0,
                 num_workers: int = 0):
        _check_physics(self.n_dim, {"viscosity": viscosity, "t_final": t_final, "dt": dt}, alpha=alpha)
        super().__init__(n_train, n_val, n_test, resolution, test_resolutions, solver_resolution, batch_size, seed,
                         num_workers, data_dir)
        self.viscosity, self.t_final, self.dt = viscosity, t_final, dt
        self.alpha, self.tau, self.sigma = alpha, tau, sigma
        self.forcing = fno_forcing(self.solver_resolution)

    def physics(self) -> dict:
        return {"nu": float(self.viscosity), "T": float(self.t_final), "alpha": float(self.alpha),
                "tau": float(self.tau), "sigma": None if self.sigma is None else float(self.sigma),
                "dt": float(self.dt)}

    def sample_input(self, rng: np.random.Generator) -> torch.Tensor:
        return vorticity_initial_condition(1, self.solver_resolution, self.alpha, self.tau, self.sigma, seed=rng)[0]

    def solve(self, inputs: torch.Tensor) -> torch.Tensor:
        return solve_navier_stokes(inputs, self.t_final, self.viscosity, self.forcing, self.dt)
