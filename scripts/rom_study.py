"""Local reduced-order bases from sine k-medoids vs Euclidean k-means vs one global POD basis (Daniel et al.,
"Physics-informed cluster analysis and a priori efficiency criterion for the construction of local reduced-order
bases"), on the zoo's snapshot sets (``zoo.data.pde.rom_snapshots``): Burgers with viscosity and amplitude variation
(``burgers``), the same with random translations of ``u0`` (``burgers_shift``), and Darcy with contrast and scale
variation (``darcy``); 300 training and 100 test snapshots each.

    OMP_NUM_THREADS=1 python scripts/rom_study.py --out runs/rom_study.json      # both problems, about 2 min

For every problem, number of clusters ``K`` and modes per cluster ``m``: the training snapshots are clustered
(``sine``: k-medoids on the sine dissimilarity, the paper's; ``euclid``: Euclidean k-means), one POD basis of ``m``
modes is built per cluster, and every held-out (test) snapshot is projected on

* ``assigned``: the basis of the cluster it is assigned to by the clustering's own rule (nearest medoid by the sine,
  nearest centre by the Euclidean distance): what a ROM-net with a perfect classifier of that rule would reach;
* ``oracle``: the best of the ``K`` bases (a lower bound, no classifier can do better);

against one global POD basis of ``m`` modes (equal online cost) and of ``K·m`` modes (equal storage). Errors are
mean relative projection errors ``‖u − V Vᵀ u‖ / ‖u‖``. Claim checked: at equal ``K`` and ``m``, sine clustering gives
lower errors than Euclidean k-means.

ROM-net: ``rom_net`` learns input -> sine cluster (the datamodule's labels) by Adam on the training split; its
validation accuracy ``a`` feeds the efficiency criterion (``zoo.rom.criterion``, the expected-error form: the paper's
own formula could not be read), whose predicted gain ``ē_glob / ē(a)`` (misclassifications spread evenly) is compared
with the gain measured with the classifier's test predictions, ``ē_glob / mean_i E[i, ŷ_i]``; a second prediction
uses the classifier's confusion matrix on the validation split instead, ``ē_glob / ē(P_val)``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

import zoo
from zoo.data.pde.rom_snapshots import BurgersSnapshotsDataModule, DarcySnapshotsDataModule
from zoo.rom import (assign_clusters, cluster_snapshots, efficiency_criterion, expected_error, local_pod, pod,
                      projection_error, uniform_confusion)

#: problem -> (datamodule, settings): Burgers with ν and A (the notes' set), the same with translations θ, Darcy
PROBLEMS = {"burgers": (BurgersSnapshotsDataModule, {}),
            "burgers_shift": (BurgersSnapshotsDataModule, {"phase": (0.0, 1.0)}),
            "darcy": (DarcySnapshotsDataModule, {})}
CLUSTERINGS = {"sine": dict(dissimilarity="sine", method="kmedoids"),
               "euclid": dict(dissimilarity="euclid", method="kmeans")}


def errors_on_bases(S_test: np.ndarray, bases: list[np.ndarray]) -> np.ndarray:
    """``E (n_test, K)``: the relative projection error of every test snapshot on every basis."""
    return np.stack([projection_error(S_test, basis) for basis in bases], axis=1)


def projection_table(S_train, S_test, ks, modes, seed) -> list[dict]:
    rows = []
    for k in ks:
        for name, kwargs in CLUSTERINGS.items():
            labels, representatives = cluster_snapshots(S_train, k, seed=seed, **kwargs)
            assigned = assign_clusters(S_test, representatives, dissimilarity=kwargs["dissimilarity"])
            for m in modes:
                E = errors_on_bases(S_test, local_pod(S_train, labels, n_modes=m))
                rows.append({"K": k, "m": m, "clustering": name, "sizes": np.bincount(labels).tolist(),
                             "assigned": float(E[np.arange(len(E)), assigned].mean()),
                             "oracle": float(E.min(1).mean())})
        for m in modes:
            rows.append({"K": k, "m": m, "clustering": "global",
                         "assigned": float(projection_error(S_test, pod(S_train, n_modes=m)[0]).mean()),
                         "global_Km": float(projection_error(S_test, pod(S_train, n_modes=k * m)[0]).mean())})
    return rows


def validation_confusion(y: np.ndarray, predicted: np.ndarray, k: int, accuracy: float) -> np.ndarray:
    """``P (k, k)``: row ``c`` the frequencies of the predictions for the validation samples of cluster ``c`` (the
    uniform row of ``accuracy`` for a cluster without validation samples)."""
    P = uniform_confusion(k, accuracy)
    for c in np.unique(y):
        P[c] = np.bincount(predicted[y == c], minlength=k) / (y == c).sum()
    return P


def train_rom_net(dm, epochs: int, seed: int) -> tuple[torch.nn.Module, dict]:
    """``rom_net`` (sized by the datamodule's facts) trained by Adam on the training split; accuracies per split."""
    torch.manual_seed(seed)
    model = zoo.create_model("rom_net", n_classes=dm.num_classes, n_features=getattr(dm, "n_features", None),
                             in_channels=getattr(dm, "in_channels", 1))
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-2)
    for _ in range(epochs):
        model.train()
        for x, y in dm.train_dataloader():
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(model(x), y).backward()
            optimizer.step()
    model.eval()
    accuracy = {}
    with torch.no_grad():
        for split in ("train", "val", "test"):
            x, y = dm.splits[split][:]
            accuracy[split] = float((model(x).argmax(1) == y).float().mean())
    return model, accuracy


def rom_net_table(problem, data_dir, ks, modes, epochs, seed) -> list[dict]:
    rows = []
    for k in ks:
        cls, settings = PROBLEMS[problem]
        dm = cls(data_dir=data_dir, num_classes=k, seed=seed, **settings)
        dm.setup()
        start = time.perf_counter()
        model, accuracy = train_rom_net(dm, epochs, seed)
        seconds = time.perf_counter() - start
        S_train, S_test = dm.snapshots("train"), dm.snapshots("test")
        labels, y_test = dm.clusters()[0], dm.labels("test")
        with torch.no_grad():
            predicted = model(dm.splits["test"][:][0]).argmax(1).numpy()
            P = validation_confusion(dm.labels("val"), model(dm.splits["val"][:][0]).argmax(1).numpy(), k,
                                     accuracy["val"])
        for m in modes:
            E = errors_on_bases(S_test, local_pod(S_train, labels, n_modes=m))
            e_global = projection_error(S_test, pod(S_train, n_modes=m)[0])
            criterion = efficiency_criterion(E, y_test, e_global, accuracy=accuracy["val"])
            rows.append({"K": k, "m": m, "acc_train": accuracy["train"], "acc_val": accuracy["val"],
                         "acc_test": accuracy["test"], "train_seconds": seconds, **criterion,
                         "gain_val_confusion": float(e_global.mean() / expected_error(E, y_test, P)),
                         "rom_net_error": float(E[np.arange(len(E)), predicted].mean()),
                         "measured_gain": float(e_global.mean() / E[np.arange(len(E)), predicted].mean())})
    return rows


def markdown(problem: str, projection: list[dict], rom_net: list[dict]) -> str:
    lines = [f"### {problem}: mean relative projection error of the test snapshots", "",
             "| K | m | sine assigned | euclid assigned | sine oracle | euclid oracle | global m | global K·m |",
             "|---|---|---|---|---|---|---|---|"]
    by = {(r["K"], r["m"], r["clustering"]): r for r in projection}
    for k, m in sorted({(r["K"], r["m"]) for r in projection}):
        s, e, g = by[k, m, "sine"], by[k, m, "euclid"], by[k, m, "global"]
        lines.append(f"| {k} | {m} | {s['assigned']:.2e} | {e['assigned']:.2e} | {s['oracle']:.2e} | "
                     f"{e['oracle']:.2e} | {g['assigned']:.2e} | {g['global_Km']:.2e} |")
    lines += ["", f"### {problem}: rom_net (sine clusters) and the efficiency criterion", "",
              "| K | m | acc val | acc test | ē_own | ē_wrong | ē_glob | a* | predicted gain (uniform) | "
              "predicted gain (val confusion) | measured gain |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rom_net:
        lines.append(f"| {r['K']} | {r['m']} | {r['acc_val']:.3f} | {r['acc_test']:.3f} | {r['own']:.2e} | "
                     f"{r['wrong']:.2e} | {r['global']:.2e} | {r['break_even_accuracy']:.3f} | {r['gain']:.2f} | "
                     f"{r['gain_val_confusion']:.2f} | {r['measured_gain']:.2f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="runs/rom_study.json")
    parser.add_argument("--data-dir", default="data")
    parser.add_argument("--problems", nargs="+", default=list(PROBLEMS), choices=list(PROBLEMS))
    parser.add_argument("--ks", nargs="+", type=int, default=[2, 3, 4, 6, 8])
    parser.add_argument("--modes", nargs="+", type=int, default=[1, 2, 4, 8])
    parser.add_argument("--net-ks", nargs="+", type=int, default=[2, 4, 8], help="K of the rom_net runs")
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    results = {"args": vars(args), "problems": {}}
    for problem in args.problems:
        start = time.perf_counter()
        cls, settings = PROBLEMS[problem]
        dm = cls(data_dir=args.data_dir, seed=args.seed, **settings)
        S_train, S_test = dm.snapshots("train"), dm.snapshots("test")
        projection = projection_table(S_train, S_test, args.ks, args.modes, args.seed)
        rom_net = rom_net_table(problem, args.data_dir, args.net_ks, args.modes, args.epochs, args.seed)
        results["problems"][problem] = {"n_train": len(S_train), "n_test": len(S_test), "n_dof": S_train.shape[1],
                                        "projection": projection, "rom_net": rom_net,
                                        "seconds": time.perf_counter() - start}
        print(markdown(problem, projection, rom_net), f"\n\n{problem}: {time.perf_counter() - start:.0f} s\n",
              flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
