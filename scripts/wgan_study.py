"""WGAN-GP against linear generators for the boundary conditions of a submodel (Boukraichi et al.; the README row).

Per regime of impact times (``fixed``, ``varying``): 5000 full simulations of the elastic bar (``data=elastic_bar``:
2800 train, 200 validation, 2000 held out), then

- ``wgan``: ``train.py experiment=wgan_gp_bar data.regime=<regime>`` in this process (the best checkpoint by the
  validation energy distance), and the baselines fitted on the same 2800 training traces: ``pca`` (Gaussian
  Karhunen-Loève, as many components as the GAN's latent size) and ``gmm`` (a 10-component Gaussian mixture on those
  principal scores); ``train`` (2000 training traces) is the sampling-noise floor;
- (i) 2000 samples of each against the 2000 held-out traces (in units of the training RMS): energy distance, sliced
  W2 (256 directions), and two-sample KS statistics of the arrival time at ``a`` (first time ``|u(a, t)|`` reaches 10 %
  of its peak) and of the peak ``|u(a, t)|``;
- (ii) UQ: the submodel on ``[a, b]`` (:func:`zoo.data.pde.solvers.elastic_bar.solve_submodel`, the same for every
  generator) driven by each set of 2000 samples, its peak strain against the full model's Monte Carlo on the 2000
  held-out samples: W1, mean, std, 95 % quantile; ``oracle`` drives the submodel with the held-out traces themselves
  (the error of the 128-sample traces alone).

    python scripts/wgan_study.py --out runs/wgan_study.json      # ~13 min on one core (250 epochs a regime)
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from study_runs import train_single_threaded

REGIMES = ("fixed", "varying")


def arrival_and_peak(traces, times, fraction: float = 0.1):
    """The first time ``|u(a, t)|`` reaches ``fraction`` of its peak, and the peak: ``(n,)`` each."""
    import numpy as np

    trace = np.abs(traces[:, 0])
    peak = trace.max(1)
    return times[np.argmax(trace >= fraction * peak[:, None], axis=1)], peak


def regime_study(regime: str, runs: Path, data_dir: str, epochs: int, n_samples: int, seed: int,
                 overrides: list[str]) -> dict:
    import numpy as np
    import torch
    from scipy.stats import ks_2samp

    from zoo.checkpoint import load_model
    from zoo.data.pde.elastic_bar import ElasticBarDataModule
    from zoo.data.pde.solvers.elastic_bar import solve_submodel
    from zoo.generative import PCAGenerator, PCAMixtureGenerator
    from zoo.metrics.samples import energy_distance, sliced_wasserstein, wasserstein_1d

    start = time.perf_counter()
    data = ElasticBarDataModule(regime=regime, data_dir=data_dir, seed=seed)
    data.setup()
    simulate_seconds = time.perf_counter() - start
    summary = train_single_threaded(["experiment=wgan_gp_bar", f"data.regime={regime}", f"data.seed={seed}",
                                     f"seed={seed}", f"paths.data_dir={data_dir}", f"trainer.max_epochs={epochs}",
                                     f"paths.output_dir={runs / regime}", "logger=csv", *overrides])
    model = load_model(summary["best_checkpoint"] or summary["last_checkpoint"], name="wgan_gp").double()
    train, test = data.raw("train"), data.raw("test")
    torch.manual_seed(seed)
    samples = {"wgan": model.sample(n_samples) * data.x_scale}
    for name, generator in (("pca", PCAGenerator(model.latent_dim, seed=seed)),
                            ("gmm", PCAMixtureGenerator(model.latent_dim, n_mixture=10, seed=seed))):
        samples[name] = generator.fit(train["traces"]).sample(n_samples)
    samples["train"] = train["traces"][:n_samples]
    samples["oracle"] = test["traces"]
    times = np.linspace(0, data.t_final, data.n_records)
    arrival, peak = arrival_and_peak(test["traces"].numpy(), times)
    reference = test["qoi"].numpy()
    q = lambda x: {"mean": float(x.mean()), "std": float(x.std()), "q95": float(np.quantile(x, 0.95))}  # noqa: E731
    result = {"regime": regime, "simulate_seconds": round(simulate_seconds, 1), "fit_seconds": summary["fit_seconds"],
              "wgan_epochs": summary["epochs"], "wgan_steps": summary["global_step"],
              "wgan_val_energy_distance": summary["metrics"].get("val/energy_distance"),
              "full_model_qoi": q(reference), "generators": {}}
    for name, traces in samples.items():
        traces = traces.double()
        entry = {}
        if name != "oracle":
            scaled, held_out = traces / data.x_scale, test["traces"] / data.x_scale
            entry["energy_distance"] = float(energy_distance(scaled, held_out))
            entry["sliced_w2"] = float(sliced_wasserstein(scaled, held_out, n_projections=256, seed=seed))
            arrival_g, peak_g = arrival_and_peak(traces.numpy(), times)
            entry["ks_arrival"] = float(ks_2samp(arrival_g, arrival).statistic)
            entry["ks_peak"] = float(ks_2samp(peak_g, peak).statistic)
        t0 = time.perf_counter()
        qoi = solve_submodel(traces.numpy(), data.t_final, data.zone, n_cells=round((data.zone[1] - data.zone[0])
                             * data.n_cells), n_steps=data.n_steps)["qoi"]
        entry["submodel_seconds"] = round(time.perf_counter() - t0, 2)
        entry["qoi"] = q(qoi)
        entry["qoi_w1"] = float(wasserstein_1d(torch.from_numpy(qoi), torch.from_numpy(reference)))
        result["generators"][name] = entry
        print(regime, name, {k: v for k, v in entry.items() if k != "qoi"}, flush=True)
    result["seconds"] = round(time.perf_counter() - start, 1)
    return result


def tables(results: list[dict]) -> str:
    lines = ["| regime | generator | energy dist. | sliced W2 | KS arrival | KS peak |", "|---|---|---|---|---|---|"]
    for r in results:
        for name, e in r["generators"].items():
            if "energy_distance" in e:
                lines.append(f"| {r['regime']} | {name} | {e['energy_distance']:.4f} | {e['sliced_w2']:.4f} | "
                             f"{e['ks_arrival']:.3f} | {e['ks_peak']:.3f} |")
    lines += ["", "| regime | generator | QoI W1 | mean | std | q95 |", "|---|---|---|---|---|---|"]
    for r in results:
        ref = r["full_model_qoi"]
        lines.append(f"| {r['regime']} | full model (MC) | 0 | {ref['mean']:.5f} | {ref['std']:.5f} | "
                     f"{ref['q95']:.5f} |")
        for name, e in r["generators"].items():
            lines.append(f"| {r['regime']} | {name} | {e['qoi_w1']:.5f} | {e['qoi']['mean']:.5f} | "
                         f"{e['qoi']['std']:.5f} | {e['qoi']['q95']:.5f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/wgan_study.json")
    parser.add_argument("--runs", default="runs/wgan_study")
    parser.add_argument("--data-dir", default="runs/wgan_data")
    parser.add_argument("--regimes", nargs="+", default=list(REGIMES), choices=REGIMES)
    parser.add_argument("--epochs", type=int, default=250)
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--overrides", nargs="*", default=[], help="more train.py overrides, e.g. task.optimizer.lr=5e-4")
    args = parser.parse_args()
    results = [regime_study(regime, Path(args.runs), args.data_dir, args.epochs, args.samples, args.seed,
                            args.overrides) for regime in args.regimes]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2))
    print(tables(results))


if __name__ == "__main__":
    main()
