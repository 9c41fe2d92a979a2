"""METALIC against fixed choices of an XPINN's interface conditions (the README's METALIC table).

For each PDE family (:mod:`zoo.pinn.parametric`) every arm (non-empty subset of ``--conditions``) is trained once
at each of ``--train-betas`` parameters, from the same initialisation: the environment's reward table, so that the
best fixed arm in hindsight and the regret are exact. On it, per seed, ``--rounds`` rounds draw β from those
parameters and METALIC (UCB or TS), a random arm, all the conditions and the best fixed arm in hindsight each
play; then on ``--test-betas`` held-out β (not in the table) METALIC's greedy arm (the posterior mean's argmax),
a random arm, all the conditions, the best fixed training arm, and every condition of the model at once
(``all_available``) are trained. Errors are relative L2 against the manufactured solution (capped at 100).
Writes ``results.json``, ``results.md`` and, with matplotlib, ``cumulative_error.png`` under ``--out``.

    python scripts/metalic.py --families poisson --sequential --out runs/metalic/poisson      # ~6 min on a free core
    python scripts/metalic.py --families advection --rounds 20 --seeds 1 --out runs/metalic/advection
"""

from __future__ import annotations

import argparse
import json
import math
import os
from pathlib import Path

#: family -> (input dimension, the range of β)
RANGES = {"poisson": (1, (1.0, 4.5)), "advection": (2, (1.0, 8.0))}
METHODS = ("metalic", "random", "all", "best_fixed")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("runs/metalic"))
    parser.add_argument("--families", nargs="+", default=list(RANGES), choices=list(RANGES))
    parser.add_argument("--conditions", nargs="+",
                        default=["solution", "residual", "residual_continuity", "flux", "normal_second"])
    parser.add_argument("--train-betas", type=int, default=3)
    parser.add_argument("--test-betas", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--acquisition", default="ucb", choices=["ucb", "ts"])
    parser.add_argument("--adam-steps", type=int, default=500)
    parser.add_argument("--lbfgs-steps", type=int, default=200)
    parser.add_argument("--sequential", action="store_true", help="also seed 0 with the sequential bandit (one arm "
                        "for Adam, one for L-BFGS), trained live: the table has single arms only")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    results = {family: study(family, args) for family in args.families}
    (args.out / "results.json").write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()},
                                                       "results": results}, indent=1))
    (args.out / "results.md").write_text(table(results))
    print(table(results))
    plot(results, args.out / "cumulative_error.png")


class Trainer:
    """Trains an XPINN per (β, mask, which conditions) once, cached in ``cache.json`` (a rerun resumes)."""

    def __init__(self, family: str, args: argparse.Namespace):
        self.family, self.args = family, args
        self.path = args.out / f"cache_{family}.json"
        self.cache = json.loads(self.path.read_text()) if self.path.exists() else {}

    def error(self, beta: float, mask: list[bool], conditions: list[str] | None = None) -> float:
        import torch

        from zoo.pinn import XPINN, fit_xpinn
        from zoo.pinn.parametric import make_problem

        key = f"{beta:.6f}|{''.join(str(int(m)) for m in mask)}|{'study' if conditions else 'available'}"
        if key not in self.cache:
            torch.manual_seed(0)
            model = XPINN(dims=RANGES[self.family][0], conditions=conditions)
            errors = fit_xpinn(model, make_problem(self.family, beta), mask, adam_steps=self.args.adam_steps,
                               lbfgs_steps=self.args.lbfgs_steps)
            self.cache[key] = min(errors["final"], 1e2)
            self.path.write_text(json.dumps(self.cache))
        return self.cache[key]


def study(family: str, args: argparse.Namespace) -> dict:
    import torch
    from tqdm import tqdm

    from zoo.pinn import MetalicBandit
    from zoo.pinn.metalic import reward

    trainer, conditions = Trainer(family, args), list(args.conditions)
    low, high = RANGES[family][1]
    betas = torch.linspace(low, high, args.train_betas, dtype=torch.float64).tolist()
    arms = MetalicBandit(conditions, context_dim=1).arms
    everything = [True] * len(conditions)
    errors = torch.zeros(len(betas), len(arms), dtype=torch.float64)       # the reward table's errors
    for b, a in tqdm([(b, a) for b in range(len(betas)) for a in range(len(arms))], desc=f"{family}: reward table"):
        errors[b, a] = trainer.error(betas[b], arms[a].tolist(), conditions)
    all_index = len(arms) - 1
    test = (low + (high - low) * torch.rand(args.test_betas, generator=torch.Generator().manual_seed(12345),
                                            dtype=torch.float64)).tolist()
    curves, regret = {m: [] for m in METHODS}, {m: [] for m in METHODS}
    held_out = {m: [] for m in (*METHODS, "all_available")}
    best_log = errors.log10().min(1).values                               # the best arm's log10 error at each β
    for seed in tqdm(range(args.seeds), desc=f"{family}: bandit seeds"):
        generator = torch.Generator().manual_seed(seed)
        sequence = torch.randint(len(betas), (args.rounds,), generator=generator)
        bandit = MetalicBandit(conditions, context_dim=1, acquisition=args.acquisition, seed=seed)
        played = []
        for b in sequence.tolist():
            arm = int((arms == bandit.select([betas[b]])).all(-1).nonzero())
            played.append(float(errors[b, arm]))
            bandit.update([betas[b]], arms[arm], reward(played[-1]))
        random_arms = torch.randint(len(arms), (args.rounds,), generator=generator)
        best = int(errors[sequence].sum(0).argmin())
        rounds = {"metalic": played, "random": errors[sequence, random_arms].tolist(),
                  "all": errors[sequence, all_index].tolist(), "best_fixed": errors[sequence, best].tolist()}
        for method, values in rounds.items():
            values = torch.tensor(values, dtype=torch.float64)
            curves[method].append(values.cumsum(0).tolist())
            regret[method].append((values.log10() - best_log[sequence]).cumsum(0).tolist())
        test_arms = torch.randint(len(arms), (len(test),), generator=generator)
        for i, beta in enumerate(tqdm(test, desc=f"{family}: held-out β, seed {seed}", leave=False)):
            picks = {"metalic": bandit.select([beta], greedy=True).tolist(), "random": arms[test_arms[i]].tolist(),
                     "all": everything, "best_fixed": arms[best].tolist()}
            for method, mask in picks.items():
                held_out[method].append(trainer.error(beta, mask, conditions))
            available = [True] * (7 if RANGES[family][0] == 1 else 9)
            held_out["all_available"].append(trainer.error(beta, available))
    if args.sequential:                   # seed 0's rounds: the same β as the first seed's above
        sequence = torch.randint(len(betas), (args.rounds,), generator=torch.Generator().manual_seed(0))
        played, held_out["metalic_sequential"] = sequential_run(family, args, [betas[b] for b in sequence], test)
        values = torch.tensor(played, dtype=torch.float64)
        curves["metalic_sequential"] = [values.cumsum(0).tolist()]
        regret["metalic_sequential"] = [(values.log10() - best_log[sequence]).cumsum(0).tolist()]
    return {"train_betas": betas, "test_betas": test, "arms": len(arms),
            "table_best_arm_error": errors.min(1).values.tolist(), "curves": curves, "regret": regret,
            "held_out": held_out}


def sequential_run(family: str, args: argparse.Namespace, rounds: list[float], test: list[float]
                   ) -> tuple[list[float], list[float]]:
    """The β of ``rounds`` and then the held-out β played by the sequential bandit: each XPINN trains live, Adam
    with one arm, then L-BFGS with the arm chosen from (β, the Adam phase's reward). Returns the rounds' errors and
    the held-out errors (greedy arms)."""
    import torch
    from tqdm import tqdm

    from zoo.pinn import MetalicBandit
    from zoo.pinn.metalic import reward

    bandit = MetalicBandit(args.conditions, context_dim=1, acquisition=args.acquisition, sequential=True, seed=0)
    played = []
    for beta in tqdm(rounds, desc=f"{family}: sequential rounds"):
        masks, errors = play_phases(bandit, family, beta, args, greedy=False)
        played.append(errors["final"])
        bandit.update([beta], torch.stack(masks), reward(errors["final"]), adam_reward=reward(errors["adam"]))
    return played, [play_phases(bandit, family, beta, args, greedy=True)[1]["final"] for beta in test]


def play_phases(bandit, family: str, beta: float, args: argparse.Namespace, greedy: bool) -> tuple[tuple, dict]:
    """One XPINN trained with the sequential bandit's two arms at ``beta``: ``((adam, lbfgs) masks, errors)``."""
    import torch

    from zoo.pinn import XPINN, fit_xpinn
    from zoo.pinn.metalic import reward
    from zoo.pinn.parametric import make_problem

    torch.manual_seed(0)
    model, problem = XPINN(dims=RANGES[family][0], conditions=args.conditions), make_problem(family, beta)
    adam = bandit.select([beta], greedy=greedy)
    first = fit_xpinn(model, problem, adam, adam_steps=args.adam_steps, lbfgs_steps=0)["adam"]
    lbfgs = bandit.select([beta], adam_reward=reward(first), greedy=greedy)
    final = fit_xpinn(model, problem, lbfgs, adam_steps=0, lbfgs_steps=args.lbfgs_steps)["final"]
    return (adam, lbfgs), {"adam": min(first, 1e2), "final": min(final, 1e2)}


def summary(values: list[float]) -> str:
    logs = [math.log10(v) for v in values]
    return f"{sum(values) / len(values):.3g} ({sum(logs) / len(logs):+.2f})"


def mean_over_seeds(curves: dict, method: str, statistic) -> str:
    """``statistic(curve)`` averaged over the seeds' curves of ``method`` ("-" for a method with none)."""
    runs = curves.get(method)
    return f"{sum(map(statistic, runs)) / len(runs):.3g}" if runs else "-"


def table(results: dict) -> str:
    lines = ["| family | method | cumulative train error | cumulative regret (log10 error over the best arm's) | "
             "regret, first 10 rounds | last 10 rounds | held-out error: mean (mean log10) |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for family, result in results.items():
        for method in result["held_out"]:
            columns = [mean_over_seeds(result["curves"], method, lambda run: run[-1]),
                       mean_over_seeds(result["regret"], method, lambda run: run[-1]),
                       mean_over_seeds(result["regret"], method, lambda run: run[min(9, len(run) - 1)]),
                       mean_over_seeds(result["regret"], method, lambda run: run[-1] - (run[-11] if len(run) > 10
                                                                                         else 0.0))]
            lines.append(f"| {family} | {method} | {' | '.join(columns)} | {summary(result['held_out'][method])} |")
    return "\n".join(lines) + "\n"


def plot(results: dict, path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    fig, axes = plt.subplots(1, len(results), figsize=(5 * len(results), 3.5), squeeze=False)
    for ax, (family, result) in zip(axes[0], results.items()):
        for method, runs in result["curves"].items():
            mean = [sum(values) / len(values) for values in zip(*runs)]
            ax.plot(range(1, len(mean) + 1), mean, label=method)
        ax.set(title=family, xlabel="round", ylabel="cumulative relative L2 error", yscale="log")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
