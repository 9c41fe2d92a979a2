"""The quantum-well table (Sarkar, 2025): the eigenvalue PINN and Deep Ritz on the three wells over seeds, the
finite-difference references, and the two ablations, as one markdown table.

Every trained row is ``python train.py experiment=<well> seed=<s> [overrides]`` (``--jobs`` at a time), read back
from its run folder's ``metrics.json``; the finite-difference rows are computed here::

    python scripts/quantum_wells.py --seeds 0 1 2 --jobs 2 > eigen_results.md

Rows: PINN (``model.objective=pinn``), Deep Ritz (``model.objective=ritz``) per well; FD at 4000 nodes against the
closed form (box), the transcendental root (finite well: the truncation to [−3, 3] is part of the difference) or
FD at 16 000 nodes (barrier); ablations on the infinite well: no normalisation (``model.normalisation_weight=0``)
and E started at 35, near E₂ = 4π² (``model.energy=35 data.state=2``: scored against the second state).
"""

from __future__ import annotations

import argparse
import json
import math
import re
import statistics
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from zoo.data import QuantumWellDataModule
from zoo.functional.schrodinger import schrodinger_eigenpairs
from zoo.pinn.reference import finite_well_energies

ROOT = Path(__file__).resolve().parent.parent
WELLS = {"infinite well": ("pinn_infinite_well", {"well": "box", "domain": [0.0, 1.0]}),
         "finite well": ("pinn_finite_well", {}),
         "barrier": ("pinn_barrier", {"well": "barrier", "v0": 20.0, "half_width": 0.1, "domain": [-1.0, 1.0]})}
ABLATIONS = {"PINN, no normalisation (λ_n = 0)": ["model.normalisation_weight=0"],
             "PINN, E from 35 (near E₂ = 4π²), scored against E₂": ["model.energy=35", "data.state=2"]}


def train(experiment: str, seed: int, overrides: list[str]) -> dict:
    """The test metrics of one ``train.py`` run (its ``metrics.json``)."""
    command = [sys.executable, "train.py", f"experiment={experiment}", f"seed={seed}", *overrides]
    output = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True).stdout
    folder = re.findall(r"run folder: (\S+)", output)[-1]
    return json.loads((Path(folder) / "metrics.json").read_text())["metrics"]


def summary(values: list[float]) -> str:
    spread = f" ± {statistics.stdev(values):.1e}" if len(values) > 1 else ""
    return f"{statistics.mean(values):.3e}{spread} (max {max(values):.1e})"


def trained_row(name: str, runs: list[dict]) -> str:
    energies = [run["test/energy"] for run in runs]
    return (f"| {name} | {statistics.mean(energies):.7f} | {summary([r['test/energy_rel_error'] for r in runs])} | "
            f"{summary([r['test/psi_l2_error'] for r in runs])} | "
            f"{statistics.mean(r['test/norm'] for r in runs):.3g} |")


def fd_rows() -> list[str]:
    """FD at 4000 nodes against the closed form, the transcendental root or FD at 16 000 nodes."""
    rows = []
    for name, (_, settings) in WELLS.items():
        data = QuantumWellDataModule(**settings)
        energy = schrodinger_eigenpairs(data.potential, data.lower, data.upper, n=4000)[0][0].item()
        if data.well == "box":
            exact, against = math.pi**2, "π²"
        elif data.well == "finite":
            exact, against = finite_well_energies(data.v0, data.half_width)[0], "the root k tan(ka) = κ"
        else:
            exact = schrodinger_eigenpairs(data.potential, data.lower, data.upper, n=16000)[0][0].item()
            against = "FD, 16 000 nodes"
        rows.append(f"| {name}: FD, 4000 nodes (vs {against}) | {energy:.7f} | {abs(energy - exact) / exact:.1e} | "
                    "reference | 1 |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--jobs", type=int, default=1)
    args = parser.parse_args()
    print("| well: method | E | relative energy error | ψ L2 error (normalised, sign-aligned) | ∫ψ² |")
    print("|---|---|---|---|---|")
    print("\n".join(fd_rows()), flush=True)
    jobs = {f"{well}: PINN": (experiment, []) for well, (experiment, _) in WELLS.items()}
    jobs |= {f"infinite well: {name}": ("pinn_infinite_well", overrides) for name, overrides in ABLATIONS.items()}
    jobs |= {f"{well}: Deep Ritz": (experiment, ["model.objective=ritz"]) for well, (experiment, _) in WELLS.items()}
    with ThreadPoolExecutor(args.jobs) as pool:
        futures = {name: [pool.submit(train, experiment, seed, overrides) for seed in args.seeds]
                   for name, (experiment, overrides) in jobs.items()}
        for name, runs in futures.items():     # in order, each as soon as its seeds are done
            print(trained_row(f"{name} ({len(args.seeds)} seeds)", [future.result() for future in runs]), flush=True)


if __name__ == "__main__":
    main()
