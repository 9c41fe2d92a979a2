"""GP-HM against its baselines on the manufactured high-frequency PDEs (the README's GP-HM table).

Every run is ``train.py experiment=<gp_hm_pde | pinn_pde> data.problem=<problem> ...`` (composed here, each in its own
folder under ``--out``); the figure is the test ``rel_l2`` of the final iterate (the task selects no checkpoint). GP-HM
and the single-kernel GPs start from a fixed initialisation (U = 0, frequencies on a linspace), so one run each is the
result; the PINNs run ``--seeds`` seeds. For GP-HM the learned mixture weights are summarised per axis: the share of
the weight within 0.5 cycles per unit of the solution's frequency and the frequency of the largest weight.

    python scripts/pde_study.py --out runs/pde_study            # every problem and solver (hours on 2 cores)
    python scripts/pde_study.py --problems poisson_sin --solvers gp_hm pinn --steps 2000
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from study_runs import train_single_threaded

#: problem -> (data overrides, GP overrides, the solution's frequencies in cycles per unit)
PROBLEMS = {
    "poisson_sin": ([], [], [100 / (2 * math.pi)]),
    "poisson_sin_cos": (["data.problem=poisson_sin_cos"], [], [94 / (2 * math.pi), 106 / (2 * math.pi)]),
    "poisson_x_sin": (["data.problem=poisson_x_sin", "data.grid=[600]"], ["model.freq_scale=40"],
                      [200 / (2 * math.pi)]),
    "allen_cahn_sin": (["data.problem=allen_cahn_sin"], [], [100 / (2 * math.pi)]),
    "poisson_2d_sin_sin": (["data.problem=poisson_2d_sin_sin", "data.grid=[300,300]", "data.n_val=100",
                            "data.n_test=300"], [],
                           [100 / (2 * math.pi)]),
}
#: solver -> (experiment, overrides, seeded)
SOLVERS = {
    "gp_hm": ("gp_hm_pde", [], False),
    "gp_se": ("gp_hm_pde", ["model.kernel=se"], False),
    "gp_matern": ("gp_hm_pde", ["model.kernel=matern"], False),
    "pinn": ("pinn_pde", [], True),
    "pinn_rff": ("pinn_pde", ["model.fourier_features=64", "model.sigma=10.0"], True),
}


def run(job: dict) -> dict:
    """One ``train.py`` run in its own folder; returns the job with its metrics and, for a GP, the weight summary."""
    import zoo

    summary = train_single_threaded(job["overrides"])
    result = {**job, "rel_l2": summary["metrics"]["test/rel_l2"], "fit_seconds": summary["fit_seconds"]}
    if job["solver"] == "gp_hm":
        model = zoo.load_model(summary["last_checkpoint"])
        weights = model.log_w.detach().exp()
        weights = weights / weights.sum(-1, keepdim=True)
        near = sum((model.mu - f).abs() < 0.5 for f in job["frequencies"]).bool()
        result["weight_near_truth"] = (weights * near).sum(-1).tolist()
        result["top_frequency"] = model.mu.gather(-1, weights.argmax(-1, keepdim=True))[:, 0].tolist()
    (Path(summary["last_checkpoint"]).parents[1] / "study_result.json").write_text(json.dumps(result, indent=1))   # survives a crash
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("runs/pde_study"))
    parser.add_argument("--problems", nargs="+", default=list(PROBLEMS), choices=list(PROBLEMS))
    parser.add_argument("--solvers", nargs="+", default=list(SOLVERS), choices=list(SOLVERS))
    parser.add_argument("--steps", type=int, default=None, help="optimiser steps of every run, in epochs of 100 "
                        "(default: each experiment's)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=1, help="runs in parallel, one thread each")
    args = parser.parse_args()
    jobs = []
    for problem in args.problems:
        data, gp, frequencies = PROBLEMS[problem]
        for solver in args.solvers:
            experiment, overrides, seeded = SOLVERS[solver]
            if solver.startswith("gp"):
                overrides = [*overrides, *gp]
            elif problem.startswith("poisson_2d"):   # a PINN step differentiates all 240² points twice: about 1 s
                overrides = [*overrides, "model.dims=2", "data.grid=[240,240]", "data.n_val=100", "data.n_test=300",
                             "task.lbfgs_steps=100"]
            for seed in range(args.seeds if seeded else 1):
                folder = args.out / problem / f"{solver}_seed{seed}"
                steps = [f"trainer.max_epochs={math.ceil(args.steps / 100)}"] if args.steps else []   # 100 per epoch
                jobs.append({"problem": problem, "solver": solver, "seed": seed, "frequencies": frequencies,
                             "overrides": [f"experiment={experiment}", *data, *overrides, *steps, f"seed={seed}",
                                           f"paths.output_dir={folder}", "logger=csv"]})
    with ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        results = list(pool.map(run, jobs))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=1))
    print("| problem | solver | rel. L2 (final iterate) | fit s | GP-HM weight near the true frequency |")
    print("|---|---|---|---|---|")
    for problem in args.problems:
        for solver in args.solvers:
            rows = [r for r in results if r["problem"] == problem and r["solver"] == solver]
            errors = [r["rel_l2"] for r in rows]
            mean = sum(errors) / len(errors)
            spread = f" ± {(sum((e - mean) ** 2 for e in errors) / len(errors)) ** 0.5:.1e}" if len(errors) > 1 else ""
            near = rows[0].get("weight_near_truth")
            print(f"| {problem} | {solver} | {mean:.2e}{spread} | {sum(r['fit_seconds'] for r in rows) / len(rows):.0f} "
                  f"| {', '.join(f'{w:.2f}' for w in near) if near else ''} |")


if __name__ == "__main__":
    main()
