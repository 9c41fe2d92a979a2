"""The boundary conditions of a mechanical submodel under random impacts (Boukraichi et al.): the WGAN-GP's data.

Each sample is one full simulation of the 1-D elastic bar of :mod:`zoo.data.pde.solvers.elastic_bar`: lognormal
random stiffness outside the zone of interest ``[a, b]``, one random impact left of it (amplitude, position, radius,
time), and the displacement histories ``u(a, t), u(b, t)`` at ``T = n_records`` times over ``[0, t_final]``: the
submodel's boundary conditions, the distribution a generator learns. Two ``regime`` s: ``fixed`` (every impact at
``t0 = 0.5``) and ``varying`` (``t0`` uniform on ``[0.1, 0.9]``: the arrival times vary, a translation that is
non-linear in PCA space).

**Batches** are tuples from a ``TensorDataset``: ``(x,)``, or ``(x, cond)`` with ``conditional``:

- ``x`` ``(B, 2, T)`` float32: the traces divided by one scale, ``x_scale``, the training split's root mean square
  over every entry (no shift: a bar at rest stays at 0);
- ``cond`` ``(B, 4)`` float32: the impact parameters (``IMPACT_PARAMETERS``), standardised column-wise with the
  training split's ``cond_mean`` / ``cond_std`` (a fixed column's std is set to 1).

``raw(split)`` gives a split's unnormalised ``{"traces" (n, 2, T), "qoi" (n,), "impacts" (n, 4)}`` (float64; ``qoi``
is the full model's peak strain over ``[a, b]``, the Monte-Carlo reference), what the study compares generators on.

**Generation and cache.** All ``n_train + n_val + n_test`` samples are drawn from ``numpy.random.default_rng(seed)``
and solved in one batch, then split in that order; the entry is cached under ``data_dir/elastic_bar/`` in a file
named by every generation parameter (:class:`zoo.data.base.GeneratedData`, atomic writes).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import TensorDataset

from zoo.data.base import GeneratedData, SplitDataModule, check_positive
from zoo.data.pde.solvers.elastic_bar import REACH, lognormal_stiffness, node_index, sample_impacts, solve_bar

log = logging.getLogger(__name__)

REGIMES = {"fixed": (0.5, 0.5), "varying": (0.1, 0.9)}  # the impact time's range
_CACHE_VERSION = 1  # bump when the solver changes what a seed produces


class ElasticBarDataModule(GeneratedData, SplitDataModule):
    """Boundary-condition histories of the elastic bar's zone of interest (module doc).

    Args:
        data_dir: cache folder. regime: ``fixed`` or ``varying`` impact times. n_train, n_val, n_test: split sizes.
        n_cells: cells of the bar ``[0, 1]``. zone: ``[a, b]``, nodes of the grid. t_final: the simulated time.
        n_steps: leapfrog steps (a multiple of ``n_records - 1``). n_records: T, samples per trace. sigma: the
        GRF amplitude of ``log E``. conditional: batches carry the impact parameters. batch_size, seed,
        num_workers: as usual.

    Facts: ``channels`` (2: ``u(a, t), u(b, t)``) and ``n_parameters`` (4: the impact's), what a model's
    ``channels`` / ``cond_dim`` read; ``length`` (T) is the data config's ``n_records``.
    """

    channels, n_parameters = 2, 4
    facts = ("channels", "n_parameters")

    def __init__(self, data_dir: str = "data", regime: str = "varying", n_train: int = 2800, n_val: int = 200,
                 n_test: int = 2000, n_cells: int = 200, zone: list[float] = [0.6, 0.8], t_final: float = 2.0,
                 n_steps: int = 1016, n_records: int = 128, sigma: float = 5.0, conditional: bool = False,
                 batch_size: int = 64, seed: int = 0, num_workers: int = 0):
        super().__init__(batch_size=batch_size, num_workers=num_workers)
        if regime not in REGIMES:
            raise ValueError(f"data.regime={regime!r}: expected one of {tuple(REGIMES)}")
        check_positive(n_train=n_train, n_val=n_val, n_test=n_test)
        if len(zone) != 2:
            raise ValueError(f"data.zone={list(zone)} must be [a, b]")
        for key, x in zip(("data.zone[0] (a)", "data.zone[1] (b)"), zone):
            node_index(x, 1.0, n_cells, key)
        if not REACH < zone[0] < zone[1]:
            raise ValueError(f"data.zone={list(zone)} must be [a, b] with {REACH} < a < b (the impacts act on "
                             f"[0, {REACH}] and the zone of interest must be unloaded)")
        self.data_dir, self.regime, self.seed = Path(data_dir), regime, seed
        self.sizes = {"train": n_train, "val": n_val, "test": n_test}
        self.n_cells, self.zone, self.t_final = n_cells, (float(zone[0]), float(zone[1])), float(t_final)
        self.n_steps, self.n_records, self.sigma, self.conditional = n_steps, n_records, float(sigma), conditional
        self.x_scale = 1.0
        self.cond_mean, self.cond_std = torch.zeros(self.n_parameters), torch.ones(self.n_parameters)

    @property
    def cache_path(self) -> Path:
        sizes = "-".join(str(size) for size in self.sizes.values())
        name = (f"bar-v{_CACHE_VERSION}-{self.regime}-n{self.n_cells}-zone{self.zone[0]:g}-{self.zone[1]:g}-"
                f"t{self.t_final:g}-steps{self.n_steps}-T{self.n_records}-sigma{self.sigma:g}-{sizes}-"
                f"seed{self.seed}.pt")
        return self.data_dir / "elastic_bar" / name

    def _generate(self) -> dict[str, torch.Tensor]:
        n = sum(self.sizes.values())
        log.info("elastic bar: %d full simulations (%s impact times) into %s", n, self.regime, self.cache_path)
        rng = np.random.default_rng(self.seed)
        i_zone = tuple(round(x * self.n_cells) for x in self.zone)
        stiffness = lognormal_stiffness(n, self.n_cells, i_zone, sigma=self.sigma, seed=rng)
        impacts = sample_impacts(n, rng, time=REGIMES[self.regime])
        out = solve_bar(stiffness, impacts, self.zone, t_final=self.t_final, n_steps=self.n_steps,
                        n_records=self.n_records)
        return {"traces": torch.from_numpy(out["traces"]), "qoi": torch.from_numpy(out["qoi"]),
                "impacts": torch.from_numpy(impacts)}

    def raw(self, split: str) -> dict[str, torch.Tensor]:
        """``split``'s unnormalised ``{"traces", "qoi", "impacts"}`` (module doc)."""
        if split not in self.sizes:
            raise ValueError(f"split={split!r}: expected one of {tuple(self.sizes)}")
        data, start = self.load(), 0
        for name, size in self.sizes.items():
            if name == split:
                return {key: value[start:start + size] for key, value in data.items()}
            start += size

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        train = self.raw("train")
        self.x_scale = float(train["traces"].pow(2).mean().sqrt())
        self.cond_mean = train["impacts"].mean(0).float()
        std = train["impacts"].std(0).float()
        self.cond_std = torch.where(std > 0, std, torch.ones_like(std))
        for split in self.sizes:
            data = self.raw(split)
            tensors = [(data["traces"] / self.x_scale).float()]
            if self.conditional:
                tensors.append((data["impacts"].float() - self.cond_mean) / self.cond_std)
            self.splits[split] = TensorDataset(*tensors)
