"""Build the Langevin-MD frames (GFN2-xTB energies and forces) that :class:`zoo.data.MDDataModule` reads.

    OMP_NUM_THREADS=1 python scripts/build_md.py --samples 1600 500 500 --workers 2 --out data/md/ethanol

For each temperature, ``--trajectories`` independent BAOAB trajectories share its ``--samples`` frames
(:func:`zoo.data.md.datamodule.build_md`); each trajectory is one shard saved atomically, so an interrupted build
resumes where it stopped, and a folder built with other settings is refused. (The datamodule builds its own
missing shards under ``data_dir/md/``; this script is for larger sets or more processes.)
Set ``OMP_NUM_THREADS=1``: the parallelism is across processes.
"""

from __future__ import annotations

import argparse
import time

from tqdm import tqdm

from zoo.data.md.datamodule import build_md
from zoo.data.md.dynamics import BURN_IN, DT_FS, FRICTION, MOLECULES, STRIDE


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="data/md/ethanol", help="folder of the shards")
    parser.add_argument("--molecule", default="ethanol", choices=sorted(MOLECULES))
    parser.add_argument("--temperatures", type=int, nargs="+", default=[300, 600, 1200], help="K")
    parser.add_argument("--samples", type=int, nargs="+", default=[1600, 500, 500],
                        help="frames per temperature (one value: the same for all)")
    parser.add_argument("--trajectories", type=int, default=4, help="independent trajectories per temperature")
    parser.add_argument("--stride", type=int, default=STRIDE, help="steps between frames")
    parser.add_argument("--burn-in", type=int, default=BURN_IN, help="steps before the first frame")
    parser.add_argument("--dt", type=float, default=DT_FS, help="time step, fs")
    parser.add_argument("--friction", type=float, default=FRICTION, help="Langevin friction, 1/fs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2, help="processes")
    args = parser.parse_args(argv)

    samples = args.samples * len(args.temperatures) if len(args.samples) == 1 else args.samples
    wall = time.perf_counter()
    with tqdm(total=sum(samples), unit="frame") as bar:
        built = build_md(args.out, temperatures=args.temperatures, samples_per_temperature=samples,
                         trajectories_per_temperature=args.trajectories, stride=args.stride, burn_in=args.burn_in,
                         seed=args.seed, workers=args.workers, progress=bar.update, molecule=args.molecule,
                         dt_fs=args.dt, friction=args.friction)
    minutes = (time.perf_counter() - wall) / 60
    print(f"built {built} trajectories ({bar.n} frames) in {minutes:.2f} min with {args.workers} processes: "
          f"{bar.n / max(minutes, 1e-9):.0f} frames/minute; {len(args.temperatures) * args.trajectories - built} "
          "were there already")


if __name__ == "__main__":
    main()
