"""RVGP against its two baselines on vector fields over the sphere and the torus (Peach et al., ICLR 2024).

    OMP_NUM_THREADS=1 python scripts/rvgp_study.py --out runs/rvgp_study.json

For each manifold (1500 Fibonacci-sphere points; a jittered 50 × 40 torus), seed (the random training nodes, the
torus jitter, the random field), field (``rotation``, ``gradient``, ``diffused_random``: :mod:`zoo.data.manifold`)
and split (``superres``: observe a random 20 %; ``inpaint``: mask a cap of chord radius ``--cap-radius``, 0.7, around
one singularity and observe 20 % of the rest), three exact GPs are fitted by L-BFGS on their marginal likelihoods
(``--steps``, 30) and scored on the held-out nodes:

* ``rvgp``: :class:`zoo.gp.RVGP`, the connection-Laplacian kernel (``--n-eigenpairs``);
* ``eigenmap``: :class:`zoo.gp.rvgp_baselines.EigenmapGP`, independent GPs per ambient component on the scalar
  graph-Laplacian eigenmaps (the reference's fallback; the same k and kNN graph);
* ``ambient``: :class:`zoo.gp.rvgp_baselines.AmbientGP`, an RBF GP per component on the coordinates.

Metrics (:mod:`zoo.metrics.vector_fields`): relative L2 and mean angular error (degrees) on the held-out nodes; the
normal share ``‖N Nᵀ V̂‖ / ‖V̂‖`` against the exact normals; on ``inpaint``, the singularities of the field (true
outside the cap, predicted inside) by winding numbers in the exact frames, and the distance from the masked one to
the nearest found of its index (``recovered``: under half the cap radius; the mean is over the runs that found
one). The torus rotation has no zero: its
inpainting scores no singularity. Writes every run to ``--out`` (JSON) and prints a markdown table of the means
(± standard deviations) over the seeds.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch

from zoo.data.manifold import ManifoldVectorsDataModule
from zoo.data.manifold.vector_fields import FIELDS, MANIFOLDS, exact_frames, normals
from zoo.data.manifold.datamodule import SPLITS
from zoo.gp.rvgp import RVGP
from zoo.gp.rvgp_baselines import AmbientGP, EigenmapGP
from zoo.metrics.vector_fields import (field_relative_l2, field_singularities, mean_angular_error, normal_fraction,
                                       singularity_error)

METRICS = ("rel_l2", "angle_deg", "normal", "singularity_error")


def models(n_eigenpairs: int) -> dict[str, torch.nn.Module]:
    return {"rvgp": RVGP(n_eigenpairs=n_eigenpairs), "eigenmap": EigenmapGP(n_eigenpairs=n_eigenpairs),
            "ambient": AmbientGP()}


def score(data: ManifoldVectorsDataModule, idx: torch.Tensor, prediction: torch.Tensor) -> dict[str, float]:
    """The metrics (module doc) of ``prediction (m, 3)`` at the held-out nodes ``idx (m,)``."""
    truth = torch.from_numpy(data.field)[idx]
    n = torch.from_numpy(normals(data.manifold, data.points))[idx]
    result = {"rel_l2": field_relative_l2(prediction, truth).item(),
              "angle_deg": mean_angular_error(prediction, truth).item(),
              "normal": normal_fraction(prediction, n).item()}
    if data.split == "inpaint" and data.center_index:
        field = data.field.copy()
        field[idx.numpy()] = prediction.numpy()
        locations, indices = field_singularities(data.points, field, exact_frames(data.manifold, data.points))
        error = singularity_error(locations, indices, data.center, data.center_index)
        result |= {"singularity_error": error if math.isfinite(error) else None,   # None: none of its index found
                   "recovered": error < data.cap_radius / 2}
    return result


def run(manifold: str, seed: int, n_eigenpairs: int, steps: int, cap_radius: float) -> list[dict]:
    """Every field and split of one manifold and seed; the models' spectra are built once and their initial
    hyper-parameters restored before each fit."""
    rows = []
    gps = None
    for field in FIELDS:
        for split in SPLITS:
            data = ManifoldVectorsDataModule(manifold=manifold, field=field, split=split, seed=seed,
                                             cap_radius=cap_radius)
            data.setup()
            train, (idx, _) = data.splits["train"][0], data.splits["test"][0]
            if gps is None:
                gps = models(n_eigenpairs)
                for gp in gps.values():
                    gp.set_manifold(train["points"])
                initial = {name: {key: value.clone() for key, value in gp.state_dict().items()}
                           for name, gp in gps.items()}
            for name, gp in gps.items():
                gp.load_state_dict(initial[name])
                start = time.perf_counter()
                gp.fit(train_idx=train["train_idx"], vectors=train["vectors"], steps=steps)
                prediction = gp.predict(idx)
                rows.append({"manifold": manifold, "field": field, "split": split, "seed": seed, "model": name,
                             "seconds": time.perf_counter() - start, **score(data, idx, prediction)})
    return rows


def summary(rows: list[dict]) -> str:
    """A markdown table: mean ± std over the seeds of every metric, and how often the singularity was recovered."""
    lines = ["| manifold | field | split | model | rel. L2 | angle (°) | normal | sing. error | recovered |",
             "|---|---|---|---|---|---|---|---|---|"]
    keys = sorted({(r["manifold"], r["field"], r["split"]) for r in rows},
                  key=lambda k: (MANIFOLDS.index(k[0]), FIELDS.index(k[1]), SPLITS.index(k[2])))
    for key in keys:
        group = [r for r in rows if (r["manifold"], r["field"], r["split"]) == key]
        best = min({r["model"] for r in group}, key=lambda m: np.mean([r["rel_l2"] for r in group if r["model"] == m]))
        for model in ("rvgp", "eigenmap", "ambient"):
            runs = [r for r in group if r["model"] == model]
            cells = []
            for metric in METRICS:
                values = [r[metric] for r in runs if metric in r]
                found = np.array([value for value in values if value is not None])
                cells.append("–" if not values else f"{found.mean():.3g} ± {found.std():.2g}" if len(found) else "∞")
            recovered = [r["recovered"] for r in runs if "recovered" in r]
            name = f"**{model}**" if model == best else model
            lines.append(f"| {' | '.join(key)} | {name} | {' | '.join(cells)} | "
                         f"{f'{sum(recovered)}/{len(recovered)}' if recovered else '–'} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("runs/rvgp_study.json"))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--n-eigenpairs", type=int, default=100, help="k of RVGP and of the eigenmap baseline")
    parser.add_argument("--steps", type=int, default=30, help="L-BFGS iterations on the marginal likelihood")
    parser.add_argument("--cap-radius", type=float, default=0.7, help="chord radius of the inpainting cap (one "
                        "closed-form singularity inside up to 0.8 on both manifolds)")
    parser.add_argument("--manifolds", nargs="+", default=list(MANIFOLDS), choices=MANIFOLDS)
    args = parser.parse_args()
    torch.set_num_threads(1)
    start, rows = time.perf_counter(), []
    for manifold in args.manifolds:
        for seed in range(args.seeds):
            rows += run(manifold, seed, args.n_eigenpairs, args.steps, args.cap_radius)
            print(f"{manifold} seed {seed}: {time.perf_counter() - start:.0f} s", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"settings": {key: value for key, value in vars(args).items() if key != "out"},
                                    "seconds": time.perf_counter() - start, "runs": rows}, indent=1))
    print(summary(rows))


if __name__ == "__main__":
    main()
