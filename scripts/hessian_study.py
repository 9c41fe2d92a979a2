"""Sagun et al.'s claims on the Hessian of over-parametrised MLPs, at CPU size, measured with ``zoo.analysis``.

    python scripts/hessian_study.py --out hessian_study.json      # ≈ 8 min on one core; figure needs matplotlib

Data: k Gaussian clusters = k classes (k = 2, 5, 10) in d = 10, N = 1000 (N/k points per class), cluster means
~ N(0, I), unit within-cluster noise (torch, seed per run): neighbouring clusters overlap a little, so training
takes 100–2500 Adam steps (with means ~ N(0, 3² I) it stopped after 8–90 steps, barely off the initialisation).
Model: MLP d → h → h → k with ReLU, h = 16, 28, 40 (M = 482 … 2490 parameters). "Trained": full-batch Adam
(lr 1e-2, float32) until the training loss is below 1e-3 or 4000 steps. Loss ℓ = softmax cross-entropy; every
Hessian is of the full-data loss, in float64.

Measured, for 3 seeds each:

* all M eigenvalues of H (``method="exact"``): the outlier count (``zoo.analysis.outlier_count``: largest drop in
  the log spectrum above 1e-3 λ_max) against k, and the bulk fraction #{|λ| < 1e-3 λ_max} / M against M;
* the top 20 eigenvalues of H and of its Gauss–Newton part G (``gauss_newton_spectrum``, Lanczos) at the minimum;
* controls at h = 28: the same nets at initialisation, and trained (same budget) on shuffled labels;
* SB vs LB at h = 28: SGD (momentum 0.9) with batch 10 (lr 0.01, ≤ 200 epochs) and batch 500 (lr 0.1, ≤ 2000
  epochs) from one initialisation, each until the training loss is below 1e-3 (SB at lr 0.05 stalled at a loss
  of 0.4–1.5 for k = 5, 10); L((1 − α) w_SB + α w_LB) on α ∈ [−0.5, 1.5] (``interpolate_loss``), barrier =
  max_{α∈[0,1]} L(α) − max(L(0), L(1)); and, as a contrast, the barrier between the SB solution and an LB solution
  from a different initialisation.

Writes the JSON (every run, plus the summary tables printed) to ``--out`` and the figure to
``docs/figures/hessian_spectra.png`` (``--figure``). Nothing is tuned to make a claim hold; the tables are what the
runs give.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from statistics import mean

import torch
import torch.nn.functional as F
from torch import nn

from zoo.analysis import gauss_newton_spectrum, hessian_spectrum, interpolate_loss, outlier_count

D, N, CLASSES, WIDTHS, SEEDS, CONTROL_WIDTH = 10, 1000, (2, 5, 10), (16, 28, 40), (0, 1, 2), 28
TARGET_LOSS, BULK = 1e-3, 1e-3
ALPHAS = torch.arange(-10, 31) / 20  # −0.5 … 1.5 in steps of 0.05, with 0 and 1 exactly


def blobs(k: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """X (N, D) float32 and y (N,): k Gaussian clusters, one class each, N/k points per class."""
    g = torch.Generator().manual_seed(1000 * k + seed)
    means = torch.randn(k, D, generator=g)
    y = torch.arange(N) % k
    return means[y] + torch.randn(N, D, generator=g), y


def mlp(k: int, h: int, seed: int) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(D, h), nn.ReLU(), nn.Linear(h, h), nn.ReLU(), nn.Linear(h, k))


def full_loss(model: nn.Module, X: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return float(F.cross_entropy(model(X), y))


def train_adam(model: nn.Module, X: torch.Tensor, y: torch.Tensor, steps: int = 4000) -> int:
    """Full-batch Adam until L < TARGET_LOSS; returns the number of steps taken."""
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    for step in range(1, steps + 1):
        optimiser.zero_grad()
        loss = F.cross_entropy(model(X), y)
        if loss.item() < TARGET_LOSS:
            return step - 1
        loss.backward()
        optimiser.step()
    return steps


def train_sgd(model: nn.Module, X: torch.Tensor, y: torch.Tensor, batch: int, lr: float, epochs: int,
              seed: int) -> int:
    """Minibatch SGD (momentum 0.9) until the full-data L < TARGET_LOSS; returns the epochs taken."""
    optimiser = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    g = torch.Generator().manual_seed(seed)
    for epoch in range(1, epochs + 1):
        for idx in torch.randperm(N, generator=g).split(batch):
            optimiser.zero_grad()
            F.cross_entropy(model(X[idx]), y[idx]).backward()
            optimiser.step()
        if full_loss(model, X, y) < TARGET_LOSS:
            return epoch
    return epochs


def spectrum_row(model: nn.Module, X: torch.Tensor, y: torch.Tensor, k: int, **info) -> dict:
    """One network's measurements: H's full spectrum, G's top 20, max_{i≤k} |λ_i(G) − λ_i(H)| / λ_i(H)."""
    data = [(X, y)]
    start = time.perf_counter()
    eigs = hessian_spectrum(model, F.cross_entropy, data, method="exact")
    top_G = gauss_newton_spectrum(model, F.cross_entropy, data, method="lanczos", k=20)
    lam_max = float(eigs[0])
    with torch.no_grad():
        accuracy = float((model(X).argmax(-1) == y).float().mean())
    return {"k": k, **info, "M": eigs.numel(), "loss": full_loss(model, X, y), "accuracy": accuracy,
            "lambda_max": lam_max, "lambda_min": float(eigs[-1]), "outliers": outlier_count(eigs, floor=BULK),
            "bulk_fraction": float((eigs.abs() < BULK * lam_max).double().mean()),
            "negative_fraction": float((eigs < -BULK * lam_max).double().mean()),
            "top_H": eigs[:30].tolist(), "top_G": top_G.tolist(),
            "topk_G_vs_H": float(((top_G[:k] - eigs[:k]).abs() / eigs[:k].abs()).max()),
            "seconds": time.perf_counter() - start}


def barrier(losses: torch.Tensor) -> float:
    """max_{α∈[0,1]} L(α) − max(L(0), L(1)) on the ALPHAS grid."""
    inside = (ALPHAS >= 0) & (ALPHAS <= 1)
    ends = max(float(losses[ALPHAS == 0]), float(losses[ALPHAS == 1]))
    return float(losses[inside].max()) - ends


def sb_lb_row(k: int, seed: int) -> dict:
    X, y = blobs(k, seed)
    sb, lb, lb_other = mlp(k, CONTROL_WIDTH, seed), mlp(k, CONTROL_WIDTH, seed), mlp(k, CONTROL_WIDTH, seed + 100)
    epochs = {"SB": train_sgd(sb, X, y, batch=10, lr=0.01, epochs=200, seed=seed),
              "LB": train_sgd(lb, X, y, batch=500, lr=0.1, epochs=2000, seed=seed),
              "LB_other_init": train_sgd(lb_other, X, y, batch=500, lr=0.1, epochs=2000, seed=seed)}
    same = interpolate_loss(sb, lb, F.cross_entropy, [(X, y)], ALPHAS)
    other = interpolate_loss(sb, lb_other, F.cross_entropy, [(X, y)], ALPHAS)
    return {"k": k, "seed": seed, "epochs": epochs, "loss_SB": full_loss(sb, X, y), "loss_LB": full_loss(lb, X, y),
            "loss_LB_other_init": full_loss(lb_other, X, y), "barrier": barrier(same),
            "barrier_other_init": barrier(other), "alphas": ALPHAS.tolist(), "curve": same.tolist(),
            "curve_other_init": other.tolist()}


def summarise(rows: list[dict], keys: tuple[str, ...], fields: tuple[str, ...]) -> list[dict]:
    """Mean and per-seed values of ``fields`` grouped by ``keys``."""
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault(tuple(row[key] for key in keys), []).append(row)
    return [{**dict(zip(keys, group)), **{f: [r[f] for r in members] for f in fields},
             **{f"{f}_mean": mean(r[f] for r in members) for f in fields}} for group, members in groups.items()]


def print_table(title: str, table: list[dict], keys: tuple[str, ...], fields: tuple[str, ...]) -> None:
    """A Markdown table: one row per group, each field as its per-seed values ``v0 / v1 / v2``."""
    def cell(value) -> str:
        return " / ".join(f"{v:.3g}" for v in value) if isinstance(value, list) else str(value)

    lines = [[*keys, *fields]] + [[cell(row[name]) for name in (*keys, *fields)] for row in table]
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    print(f"\n{title}")
    for n, line in enumerate(lines):
        print("| " + " | ".join(c.rjust(w) for c, w in zip(line, widths)) + " |")
        if n == 0:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|")


def plot(rows: list[dict], interpolations: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (spec, bulk, interp) = plt.subplots(1, 3, figsize=(16, 4.5))
    colours = dict(zip(CLASSES, ("tab:blue", "tab:orange", "tab:green")))
    for row in rows:
        if row["seed"] == 0 and row["h"] == CONTROL_WIDTH:
            style = {"trained": "-", "init": ":", "shuffled": "--"}[row["condition"]]
            values = torch.tensor(row["top_H"]).clamp_min(1e-12)
            spec.semilogy(range(1, 31), values / values[0], style, color=colours[row["k"]],
                          label=f"k={row['k']} {row['condition']}")
    spec.set(xlabel="index i", ylabel="λ_i / λ_max", title=f"top 30 eigenvalues of H (h={CONTROL_WIDTH}, seed 0)",
             ylim=(1e-5, 1.5))
    spec.legend(fontsize=7, ncol=3)
    for k in CLASSES:
        trained = [r for r in rows if r["k"] == k and r["condition"] == "trained"]
        bulk.plot([r["M"] for r in trained], [r["bulk_fraction"] for r in trained], "o", color=colours[k],
                  label=f"k={k}")
    bulk.set(xlabel="parameters M", ylabel="fraction |λ| < 1e-3 λ_max", title="bulk at 0 (trained)")
    bulk.legend()
    for row in interpolations:
        interp.semilogy(row["alphas"], row["curve"], color=colours[row["k"]], lw=1,
                        label=f"k={row['k']}" if row["seed"] == 0 else None)
        interp.semilogy(row["alphas"], row["curve_other_init"], ":", color=colours[row["k"]], lw=1)
    interp.axvline(0, color="grey", lw=0.5)
    interp.axvline(1, color="grey", lw=0.5)
    interp.set(xlabel="α (0: SB, 1: LB)", ylabel="training loss",
               title="L((1−α) w_SB + α w_LB); dotted: LB from another init")
    interp.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="hessian_study.json", help="JSON file to write")
    parser.add_argument("--figure", default="docs/figures/hessian_spectra.png", help="PNG to write ('' for none)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    start = time.perf_counter()

    rows = []
    for k in CLASSES:
        for seed in SEEDS:
            X, y = blobs(k, seed)
            for h in WIDTHS:
                model = mlp(k, h, seed)
                if h == CONTROL_WIDTH:
                    rows.append(spectrum_row(model, X, y, k=k, h=h, seed=seed, condition="init", steps=0))
                    shuffled = mlp(k, h, seed)
                    y_shuffled = y[torch.randperm(N, generator=torch.Generator().manual_seed(seed))]
                    steps = train_adam(shuffled, X, y_shuffled)
                    rows.append(spectrum_row(shuffled, X, y_shuffled, k=k, h=h, seed=seed, condition="shuffled",
                                             steps=steps))
                steps = train_adam(model, X, y)
                rows.append(spectrum_row(model, X, y, k=k, h=h, seed=seed, condition="trained", steps=steps))
                print(f"k={k} seed={seed} h={h}: {time.perf_counter() - start:.0f} s", flush=True)
    interpolations = [sb_lb_row(k, seed) for k in CLASSES for seed in SEEDS]

    fields = ("M", "steps", "loss", "outliers", "bulk_fraction", "negative_fraction", "lambda_max", "topk_G_vs_H")
    table = summarise(rows, ("condition", "k", "h"), fields)
    print_table("H of the full-data loss (values per seed 0 1 2)", table, ("condition", "k", "h"), fields)
    sb_fields = ("loss_SB", "loss_LB", "loss_LB_other_init", "barrier", "barrier_other_init")
    sb_lb = summarise(interpolations, ("k",), sb_fields)
    print_table("SB (batch 10) vs LB (batch 500) interpolation (values per seed 0 1 2)", sb_lb, ("k",), sb_fields)
    wall = time.perf_counter() - start
    print(f"\nwall time {wall:.0f} s")

    Path(args.out).write_text(json.dumps({"config": {"D": D, "N": N, "classes": CLASSES, "widths": WIDTHS,
                                                     "seeds": SEEDS, "target_loss": TARGET_LOSS, "bulk": BULK},
                                          "summary": table, "sb_lb_summary": sb_lb, "runs": rows,
                                          "interpolations": interpolations, "wall_seconds": wall}, indent=1))
    if args.figure:
        plot(rows, interpolations, Path(args.figure))


if __name__ == "__main__":
    main()
