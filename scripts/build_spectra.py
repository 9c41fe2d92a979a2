"""Build the GFN2-xTB IR set of QM9 molecules that :class:`zoo.data.SpectraDataModule` reads.

    OMP_NUM_THREADS=1 python scripts/build_spectra.py --n 5000 --workers 2 --out data/spectra

Molecules: a seeded permutation of every QM9 molecule in the ``qm9pack`` wheel (``pip install qm9pack tblite``),
the first ``--n`` of it, cut into shards of ``--shard-size``. Each shard is computed by one process and saved
atomically as ``shard_XXXXX.pt``, so an interrupted build resumes where it stopped (finished shards are skipped)
and several builds with the same seed add up. A molecule is dropped (and counted in its shard's ``failed``) when
GFN2-xTB does not converge, no bond graph fits its relaxed geometry, or that graph is not QM9's molecule.
Set ``OMP_NUM_THREADS=1``: the parallelism is across processes.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from multiprocessing import Pool
from pathlib import Path

import torch
from tqdm import tqdm

from zoo.cache import atomic_save
from zoo.data.spectra.ir import GRID
from zoo.data.spectra.qm9 import build_molecule, qm9_records


def build_shard(job: tuple) -> tuple[int, int, float]:
    """Compute and save one shard; returns ``(molecules kept, molecules tried, seconds)``."""
    path, records, hwhm = job
    start, cpu_start, molecules, failed = time.perf_counter(), time.process_time(), [], []
    for record in records:
        try:
            molecules.append(build_molecule(record, hwhm))
        except Exception as err:  # noqa: BLE001  (SCF failure, no bond graph, changed molecule: drop and record it)
            failed.append((record["index"], f"{type(err).__name__}: {err}"[:200]))
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    atomic_save({"molecules": molecules, "failed": failed, "seconds": seconds, "cpu_seconds": cpu_seconds, "hwhm": hwhm,
                 "grid": torch.tensor(GRID, dtype=torch.float32)}, path)
    return len(molecules), len(records), seconds


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=5000, help="molecules to build (the first n of the permutation)")
    parser.add_argument("--out", default="data/spectra", help="folder of the shards")
    parser.add_argument("--workers", type=int, default=2, help="processes")
    parser.add_argument("--shard-size", type=int, default=25)
    parser.add_argument("--seed", type=int, default=0, help="seed of the permutation of QM9")
    parser.add_argument("--hwhm", type=float, default=10.0, help="Lorentzian half width at half maximum, cm^-1")
    args = parser.parse_args(argv)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    settings = {"seed": args.seed, "shard_size": args.shard_size, "hwhm": args.hwhm, "method": "GFN2-xTB"}
    manifest = out / "manifest.json"
    if manifest.is_file() and json.loads(manifest.read_text()) != settings:
        sys.exit(f"{out} holds shards built with {manifest.read_text()}; use those settings or another --out")
    manifest.write_text(json.dumps(settings))
    records = sorted(qm9_records(), key=lambda record: record["index"])
    order = torch.randperm(len(records), generator=torch.Generator().manual_seed(args.seed))[:args.n].tolist()
    jobs = []
    for shard, start in enumerate(range(0, len(order), args.shard_size)):
        path = out / f"shard_{shard:05d}.pt"
        if not path.is_file():
            jobs.append((path, [records[i] for i in order[start:start + args.shard_size]], args.hwhm))
    kept = tried = 0
    wall = time.perf_counter()
    with Pool(args.workers) as pool, tqdm(total=sum(len(job[1]) for job in jobs), unit="mol") as bar:
        for n_kept, n_tried, _ in pool.imap_unordered(build_shard, jobs):
            kept, tried = kept + n_kept, tried + n_tried
            bar.update(n_tried)
    minutes = (time.perf_counter() - wall) / 60
    print(f"built {kept}/{tried} molecules in {len(jobs)} shards, {minutes:.1f} min with {args.workers} processes: "
          f"{tried / max(minutes, 1e-9):.1f} molecules/minute")


if __name__ == "__main__":
    main()
