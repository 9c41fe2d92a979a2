"""Build a PDE data set into a data folder, where the datamodules (and so ``train.py``) find it cached.

    python scripts/make_pde_data.py darcy --data-dir data --solver-resolution 421 --resolution 85 \\
        --test-resolutions 85 141 211 421 --n-train 1000 --n-test 100          # FNO's Darcy set
    python scripts/make_pde_data.py navier_stokes --t-final 50 --dt 0.01 --resolution 64 --test-resolutions 64
    python scripts/make_pde_data.py burgers --solver-resolution 8192 --resolution 1024 --test-resolutions 1024 8192

Options left out take the datamodule's defaults (``configs/data/<problem>.yaml`` has the same ones); train
with the same values, e.g. ``python train.py data=darcy data.resolution=85 data.solver_resolution=421 ...``,
and the run reads these files instead of generating them. ``--set key=value`` passes any other constructor
argument (``--set a_neg=4`` for the coefficient of FNO's public script).
"""

from __future__ import annotations

import argparse
import ast
import time

import torch

from zoo.data import BurgersDataModule, DarcyDataModule, NavierStokesDataModule

PROBLEMS = {"darcy": DarcyDataModule, "burgers": BurgersDataModule, "navier_stokes": NavierStokesDataModule}
PHYSICS = ("viscosity", "t_final", "dt")  # time-dependent problems only


def parse_set(items: list[str]) -> dict:
    """``["a_neg=4", "sigma=None"]`` -> ``{"a_neg": 4, "sigma": None}`` (values read as Python literals)."""
    values = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--set expects key=value, got {item!r}")
        try:
            values[key] = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            values[key] = text
    return values


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("problem", choices=sorted(PROBLEMS))
    parser.add_argument("--data-dir", default="data", help="folder of the cache (paths.data_dir; default: data)")
    for split in ("train", "val", "test"):
        parser.add_argument(f"--n-{split}", type=int, help=f"number of {split} samples")
    parser.add_argument("--resolution", type=int, help="training grid size")
    parser.add_argument("--test-resolutions", type=int, nargs="+", help="test grid sizes, the training one first")
    parser.add_argument("--solver-resolution", type=int, help="grid the PDE is solved on (default: the finest)")
    parser.add_argument("--seed", type=int, help="generation seed")
    parser.add_argument("--viscosity", type=float, help="burgers / navier_stokes: nu")
    parser.add_argument("--t-final", type=float, help="burgers / navier_stokes: the output time")
    parser.add_argument("--dt", type=float, help="burgers / navier_stokes: the time step")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="any other constructor argument")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    args = parser.parse_args(argv)

    kwargs = {key: value for key, value in vars(args).items()
              if value is not None and key not in ("problem", "data_dir", "set", "threads")}
    if args.problem == "darcy" and any(key in kwargs for key in PHYSICS):
        parser.error("darcy is steady: --viscosity, --t-final and --dt apply to burgers and navier_stokes only")
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        kwargs |= parse_set(args.set)
        data = PROBLEMS[args.problem](data_dir=args.data_dir, **kwargs)
    except (TypeError, ValueError) as err:
        parser.error(str(err))
    for split in ("train", "val", "test"):
        path = data.cache_path(split)
        if path.is_file():
            print(f"{split:5s} already cached: {path}")
            continue
        start = time.perf_counter()
        data.load(split)
        print(f"{split:5s} {data.sizes[split]} samples in {time.perf_counter() - start:.1f} s: {path}")


if __name__ == "__main__":
    main()
