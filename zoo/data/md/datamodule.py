"""Molecular-dynamics frames for interatomic potentials: the resumable sharded build and the datamodule reading it.

:func:`build_md` runs, for each temperature, ``trajectories_per_temperature`` independent BAOAB trajectories on
GFN2-xTB (:func:`zoo.data.md.dynamics.sample_trajectory`, seeds ``(seed, temperature, k)``) that share its samples;
each trajectory is one shard ``T{temperature}_traj{k:03d}.pt`` saved atomically, so an interrupted build resumes
where it stopped (finished shards are skipped), and ``manifest.json`` records the settings so that a folder built
with others is refused. ``scripts/build_md.py`` is its command line.

The default build of :class:`MDDataModule` (ethanol; 1600 frames at 300 K, 500 at 600 K and at 1200 K; 4
trajectories per temperature, a frame every 20 fs after a 0.5 ps burn-in; 116k GFN2-xTB single points, about
0.9 ms each) took 1.5 min with one process and 1.1 min with two (``OMP_NUM_THREADS=1``, on a 2-core x86 machine:
two processes share its cores, and the four long 300 K trajectories balance poorly), the same frames either way.
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import os
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Callable, Sequence

import torch
from torch_geometric.data import Batch, Data

from zoo.cache import atomic_save
from zoo.data.base import SplitDataModule
from zoo.data.md.dynamics import BURN_IN, DT_FS, FRICTION, STRIDE, find_molecule, sample_trajectory
from zoo.io import atomic_path

log = logging.getLogger(__name__)


def shard_name(temperature: int, trajectory: int) -> str:
    return f"T{temperature}_traj{trajectory:03d}.pt"


def _build_shard(job: tuple[Path, dict]) -> int:
    """Sample one trajectory (``job``: its path and :func:`sample_trajectory`'s arguments) and save it; returns its
    frame count, dropped ones included."""
    path, arguments = job
    start = time.perf_counter()
    frames = sample_trajectory(**arguments)
    atomic_save({**frames, "temperature": arguments["temperature"], "seconds": time.perf_counter() - start}, path)
    return arguments["n_samples"]


def md_settings(molecule: str, temperatures: Sequence[int], samples_per_temperature: Sequence[int],
                trajectories_per_temperature: int = 4, stride: int = STRIDE, burn_in: int = BURN_IN, seed: int = 0,
                dt_fs: float = DT_FS, friction: float = FRICTION) -> dict:
    """The checked settings of a build (:func:`build_md`'s keywords); every bad one is an error naming it."""
    find_molecule(molecule)
    temperatures, samples = list(temperatures), list(samples_per_temperature)
    if not temperatures or any(not isinstance(t, int) or t <= 0 for t in temperatures) or \
            len(set(temperatures)) < len(temperatures):
        raise ValueError(f"temperatures must be distinct positive integers (K), got {temperatures}")
    if len(samples) != len(temperatures) or any(not isinstance(n, int) or n < 1 for n in samples):
        raise ValueError(f"samples_per_temperature must hold one positive integer per temperature {temperatures}, "
                         f"got {samples}")
    if not isinstance(trajectories_per_temperature, int) or not 1 <= trajectories_per_temperature <= min(samples):
        raise ValueError(f"trajectories_per_temperature must be an integer from 1 to the fewest samples of a "
                         f"temperature ({min(samples)}), got {trajectories_per_temperature}")
    if not (isinstance(stride, int) and stride >= 1 and isinstance(burn_in, int) and burn_in >= 0 and
            isinstance(seed, int) and dt_fs > 0 and friction > 0):
        raise ValueError(f"stride (>= 1), burn_in (>= 0) and seed must be integers and dt_fs and friction positive, "
                         f"got stride={stride}, burn_in={burn_in}, seed={seed}, dt_fs={dt_fs}, friction={friction}")
    return {"molecule": molecule, "temperatures": temperatures,
            "samples_per_temperature": samples, "trajectories_per_temperature": trajectories_per_temperature,
            "stride": stride, "burn_in": burn_in, "seed": seed, "dt_fs": dt_fs, "friction": friction}


def build_md(folder: str | os.PathLike, temperatures: Sequence[int], samples_per_temperature: Sequence[int],
             trajectories_per_temperature: int = 4, stride: int = STRIDE, burn_in: int = BURN_IN, seed: int = 0,
             workers: int = 1, progress: Callable[[int], None] | None = None, molecule: str = "ethanol",
             dt_fs: float = DT_FS, friction: float = FRICTION) -> int:
    """Build the missing shards of ``folder`` (module doc); returns how many were built (0: all were there).

    ``samples_per_temperature[i]`` frames of ``temperatures[i]`` K are split evenly over the trajectories;
    ``stride``, ``burn_in`` (steps), ``dt_fs`` and ``friction`` (1/fs) are :func:`sample_trajectory`'s. ``workers``
    processes (``1``: in this one); ``progress(frames)`` is called as each shard is saved.
    """
    folder = Path(folder)
    settings = {**md_settings(molecule, temperatures, samples_per_temperature, trajectories_per_temperature, stride,
                              burn_in, seed, dt_fs, friction), "method": "GFN2-xTB"}
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    manifest = folder / "manifest.json"
    if manifest.is_file():
        if json.loads(manifest.read_text()) != settings:
            raise ValueError(f"{folder} holds shards built with {manifest.read_text()}, not {json.dumps(settings)}: "
                             "use those settings or another folder")
    else:
        with atomic_path(manifest) as tmp:
            tmp.write_text(json.dumps(settings))
    jobs = []
    for temperature, samples in zip(temperatures, samples_per_temperature):
        for k in range(trajectories_per_temperature):
            path = folder / shard_name(temperature, k)
            if not path.is_file():
                n_samples = samples // trajectories_per_temperature + (k < samples % trajectories_per_temperature)
                jobs.append((path, {"molecule": molecule, "temperature": temperature, "n_samples": n_samples,
                                    "stride": stride, "burn_in": burn_in, "seed": (seed, temperature, k),
                                    "dt_fs": dt_fs, "friction": friction}))
    # spawn, not fork: a forked child of a process whose OpenMP threads (tblite's, torch's) have run can deadlock
    context = multiprocessing.get_context("spawn")
    with context.Pool(min(workers, len(jobs))) if workers > 1 and jobs else nullcontext() as pool:
        for frames in (map if pool is None else pool.imap_unordered)(_build_shard, jobs):
            if progress is not None:
                progress(frames)
    return len(jobs)


def read_md(folder: str | os.PathLike, temperatures: Sequence[int], trajectories_per_temperature: int) -> dict:
    """The frames of each temperature in ``folder``, trajectories in order: ``{temperature: {"z" (N,), "pos"
    (n, N, 3) Å, "energy" (n,) eV, "forces" (n, N, 3) eV/Å (float64), "dropped" (frames not intact)}}``."""
    frames = {}
    for temperature in temperatures:
        paths = [Path(folder) / shard_name(temperature, k) for k in range(trajectories_per_temperature)]
        missing = [path.name for path in paths if not path.is_file()]
        if missing:
            raise FileNotFoundError(f"{folder} lacks the shards {missing}: build them with build_md (or "
                                    "scripts/build_md.py) and the settings of its manifest.json")
        shards = [torch.load(path, map_location="cpu", weights_only=True) for path in paths]
        frames[temperature] = {"z": shards[0]["z"], "dropped": sum(int(shard["dropped"]) for shard in shards),
                               **{key: torch.cat([shard[key] for shard in shards]) for key in ("pos", "energy",
                                                                                               "forces")}}
    return frames


class MDDataModule(SplitDataModule):
    """Langevin-MD frames of one molecule on GFN2-xTB (module doc) as PyG graphs, for interatomic potentials.

    The first temperature's ``n_train + n_val + n_test`` frames are split at random (``seed``) into ``train``,
    ``val`` and ``test``; each other temperature's ``n_test`` frames are a test split ``test_<T>K``, so
    ``test_names = ("test", "test_600K", "test_1200K")`` for the default ``temperatures``. Missing shards are built
    here on first use (:func:`build_md`, ``build_workers`` processes, seed ``seed``) in
    ``data_dir/md/<molecule>_<hash of the settings>/``.

    Items: ``Data(pos (N, 3) Å, z (N,) long, energy (1,) eV, forces (N, 3) eV/Å)``, float32; a batch is their PyG
    ``Batch``: ``pos (N_total, 3)``, ``z (N_total,)``, ``batch (N_total,)``, ``energy (B,)``, ``forces (N_total, 3)``. ``energy`` is relative to :attr:`energy_shift`, the mean
    GFN2-xTB energy (eV) of the training frames: every frame is the same molecule, so this is its reference energy,
    and a model learns only how the energy depends on the configuration (add ``energy_shift`` back for absolute
    energies). Forces are unchanged.
    """

    collate = staticmethod(Batch.from_data_list)

    def __init__(self, data_dir: str = "data", molecule: str = "ethanol", n_train: int = 1000, n_val: int = 100,
                 n_test: int = 500, temperatures: Sequence[int] = (300, 600, 1200), batch_size: int = 16, seed: int = 0,
                 num_workers: int = 0, trajectories: int = 4, build_workers: int = 1):
        super().__init__(batch_size=batch_size, num_workers=num_workers)
        if any(not isinstance(n, int) or n < 1 for n in (n_train, n_val, n_test)):
            raise ValueError(f"n_train, n_val and n_test must be positive integers, got {n_train}, {n_val}, {n_test}")
        self.temperatures = list(temperatures)
        self.settings = md_settings(molecule, self.temperatures, [n_train + n_val + n_test] +
                                    [n_test] * (len(self.temperatures) - 1), trajectories, seed=seed)
        tag = hashlib.sha1(json.dumps(self.settings, sort_keys=True).encode()).hexdigest()[:8]
        self.folder = Path(data_dir) / "md" / f"{molecule}_{tag}"
        self.n_train, self.n_val, self.n_test, self.seed = n_train, n_val, n_test, seed
        self.build_workers = build_workers
        self.test_names = ("test", *(f"test_{t}K" for t in self.temperatures[1:]))
        self.energy_shift: float | None = None

    def build(self) -> int:
        """Build the missing shards (:func:`build_md`), logging progress; returns how many were built."""
        return build_md(self.folder, workers=self.build_workers, progress=lambda frames: log.info(
            "built a trajectory of %d frames in %s", frames, self.folder), **self.settings)

    def prepare_data(self) -> None:
        self.build()

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        self.build()
        frames = read_md(self.folder, self.temperatures, self.settings["trajectories_per_temperature"])
        for temperature, found in frames.items():
            (log.warning if found["dropped"] else log.info)(
                "%d frames at %d K, %d dropped as no longer intact", len(found["energy"]), temperature,
                found["dropped"])
        first = frames[self.temperatures[0]]
        wanted = self.n_train + self.n_val + self.n_test
        if wanted > len(first["energy"]):
            raise ValueError(f"n_train + n_val + n_test = {wanted} frames asked for at {self.temperatures[0]} K, but "
                             f"{self.folder} holds {len(first['energy'])} intact ones ({first['dropped']} dropped): "
                             "lower n_train, n_val or n_test, or change seed for another build")
        order = torch.randperm(len(first["energy"]), generator=torch.Generator().manual_seed(self.seed))
        indices = dict(zip(("train", "val", "test"), order[:wanted].split([self.n_train, self.n_val, self.n_test])))
        self.energy_shift = float(first["energy"][indices["train"]].mean())
        for name, index in indices.items():
            self.splits[name] = self.graphs(first, index)
        for name, temperature in zip(self.test_names[1:], self.temperatures[1:]):
            found = frames[temperature]
            if len(found["energy"]) < self.n_test:
                raise ValueError(f"n_test = {self.n_test} frames asked for at {temperature} K, but {self.folder} "
                                 f"holds {len(found['energy'])} intact ones ({found['dropped']} dropped): lower "
                                 "n_test, or change seed for another build")
            self.splits[name] = self.graphs(found, torch.arange(self.n_test))

    def graphs(self, frames: dict, index: torch.Tensor) -> list[Data]:
        """The frames ``index`` of one temperature (:func:`read_md`) as float32 graphs, energies shifted."""
        return [Data(pos=frames["pos"][i].float(), z=frames["z"].clone(),
                     energy=(frames["energy"][i:i + 1] - self.energy_shift).float(), forces=frames["forces"][i].float())
                for i in index.tolist()]
