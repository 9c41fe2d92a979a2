"""The ACM classifier against its baselines on the synthetic motor-imagery regimes (the README's EEG table).

Within-session 5-fold accuracy on the trials of ``data=eeg_synthetic`` (the folds of its datamodule: ``data.fold``
``k`` tests on fold ``k``), per regime and data seed:

- ``acm_nested``: :class:`zoo.eeg.ACMClassifier`, order and lag chosen on each outer fold's training trials by an
  inner 3-fold grid search over p, τ ∈ {1..6} (nested CV, MOABB's inner folds); the chosen (p, τ) per fold are recorded;
- ``acm_heuristic``: the same with p, τ from the false-nearest-neighbour / mutual-information heuristics;
- the baselines ``cov_ts_svm`` (covariance + tangent space + SVM), ``csp_lda``, ``mdm`` (:func:`zoo.eeg.baseline`);
- ``--parts torch``: the registered torch modules through ``train.py experiment=acm_eeg_<regime>`` (``acm_ts``) and
  the same with ``model.order=1`` (``cov_ts``), one run per fold, each in its own folder under ``--runs``.

    python scripts/eeg_study.py --out runs/eeg_study.json          # 3 regimes x 3 seeds, scikit-learn (~30 min, 2 cores)
    python scripts/eeg_study.py --parts torch --out runs/eeg_torch.json      # acm_ts and cov_ts, 90 runs
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from study_runs import train_single_threaded

REGIMES = ("spatial", "temporal", "mixed")
METHODS = ("acm_nested", "acm_heuristic", "cov_ts_svm", "csp_lda", "mdm")
GRID = (1, 2, 3, 4, 5, 6)


def sklearn_folds(job: dict) -> dict:
    """Every scikit-learn method on every outer fold of one regime and data seed."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import numpy as np

    from zoo.data import EEGSyntheticDataModule
    from zoo.data.eeg.datamodules import fold_indices
    from zoo.eeg import ACMClassifier, baseline

    data = EEGSyntheticDataModule(regime=job["regime"], seed=job["seed"], data_dir=job["data_dir"])
    x, y = data.trials()
    result = {**job, "accuracy": {method: [] for method in METHODS}, "chosen": {"acm_nested": [], "acm_heuristic": []}}
    for fold in range(data.n_folds):
        split = fold_indices(y, n_folds=data.n_folds, fold=fold, val_fraction=data.val_fraction, seed=data.seed)
        train, test = np.concatenate([split["train"], split["val"]]), split["test"]
        for method in METHODS:
            if method.startswith("acm"):
                model = ACMClassifier(selection="cv" if method == "acm_nested" else "heuristic", orders=GRID,
                                      lags=GRID, random_state=job["seed"])
            else:
                model = baseline(method)
            model.fit(x[train], y[train])
            result["accuracy"][method].append(float((model.predict(x[test]) == y[test]).mean()))
            if method.startswith("acm"):
                result["chosen"][method].append([model.order_, model.lag_])
        print(job["regime"], job["seed"], fold, {m: a[-1] for m, a in result["accuracy"].items()}, flush=True)
    return result


def torch_run(job: dict) -> dict:
    """One ``train.py`` run of a torch module on one fold; returns its test accuracy."""
    summary = train_single_threaded(job["overrides"])
    return {**job, "accuracy": summary["metrics"]["test/acc"], "fit_seconds": summary["fit_seconds"]}


def torch_jobs(regimes, seeds, runs: Path, data_dir: str, n_folds: int = 5) -> list[dict]:
    return [{"regime": regime, "seed": seed, "fold": fold, "model": model,
             "overrides": [f"experiment=acm_eeg_{regime}", f"data.seed={seed}", f"data.fold={fold}",
                           f"paths.data_dir={data_dir}", "logger=csv",
                           f"paths.output_dir={runs / regime / model / f'seed{seed}_fold{fold}'}",
                           *([] if model == "acm_ts" else ["model.order=1"])]}
            for regime in regimes for seed in seeds for fold in range(n_folds) for model in ("acm_ts", "cov_ts")]


def summarise(results: list[dict], torch_results: list[dict]) -> dict:
    """Mean and std over seeds of the 5-fold mean accuracy, per regime and method."""
    import numpy as np

    table = {}
    for regime in {result["regime"] for result in results + torch_results}:
        per_method = {}
        for result in (r for r in results if r["regime"] == regime):
            for method, folds in result["accuracy"].items():
                per_method.setdefault(method, []).append(float(np.mean(folds)))
        for model in {r["model"] for r in torch_results}:
            seeds = sorted({r["seed"] for r in torch_results if r["regime"] == regime and r["model"] == model})
            per_method[model] = [float(np.mean([r["accuracy"] for r in torch_results if r["regime"] == regime
                                                and r["model"] == model and r["seed"] == seed])) for seed in seeds]
        table[regime] = {method: {"mean": float(np.mean(values)), "std": float(np.std(values)), "seeds": values}
                         for method, values in per_method.items()}
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--regimes", nargs="+", default=list(REGIMES), choices=REGIMES)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--parts", nargs="+", default=["sklearn"], choices=["sklearn", "torch"],
                        help="torch: train acm_ts and acm_ts with order 1 (cov_ts) on every fold")
    parser.add_argument("--runs", type=Path, default=Path("runs/eeg_study"), help="the torch runs' folders")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    data_dir = tempfile.mkdtemp(prefix="eeg_study_data_")
    jobs = [{"regime": regime, "seed": seed, "data_dir": data_dir} for regime in args.regimes for seed in args.seeds]
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(args.workers, mp_context=context) as pool:
        results = list(pool.map(sklearn_folds, jobs)) if "sklearn" in args.parts else []
        torch_results = list(pool.map(torch_run, torch_jobs(args.regimes, args.seeds, args.runs, data_dir))
                             ) if "torch" in args.parts else []
    summary = {"table": summarise(results, torch_results), "sklearn": results, "torch": torch_results}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=1))
    for regime, methods in summary["table"].items():
        print(regime, {method: f"{v['mean']:.3f} ± {v['std']:.3f}" for method, v in methods.items()})


if __name__ == "__main__":
    main()
