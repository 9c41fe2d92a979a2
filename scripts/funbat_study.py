"""FunBaT against discretised and dense baselines on continuous-indexed synthetic tensors (Fang et al., ICLR 2024).

    OMP_NUM_THREADS=1 python scripts/funbat_study.py --out funbat_study.json      # both tensors, about 7 min

For every tensor (``zoo.data.tensor.continuous``), training size ``N`` and seed: ``N`` noisy entries (noise std
``--noise``) at uniform random coordinates, scored by RMSE against the noiseless tensor on the ``50^K`` grid of cell
centres. Methods:

* ``funbat``: ``zoo.create_model("funbat", modes=K)`` with its defaults (rank 2 per mode, Matérn-3/2, ℓ = 0.1,
  20 conditional-EP sweeps).
* ``binned{B}``: the coordinates cut into ``B`` equal bins per mode, a rank-2 Tucker model fitted to the binned
  entries by masked ALS with a ridge ``λ`` on the factor rows and the core (every entry one observation of its cell;
  an empty bin keeps the row it gets from the ridge alone, zero); prediction at a coordinate is its cell's value.
  ``λ`` from :data:`RIDGES` by the RMSE on a random 20 % of the training entries held out, then refitted on all.
* ``gp``: an exact GP on the raw coordinates with the product kernel ``σ² Π_k k_{3/2}(|x_k − x'_k|; ℓ_k)`` plus noise;
  ``ℓ_k``, ``σ²`` and the noise variance by L-BFGS on the exact log marginal likelihood of (at most
  ``--gp-fit-max``) training entries, then the exact posterior mean on all of them; only for ``N ≤ --gp-max``.
* ``mlp``: a tanh MLP (2 × 64) on the raw coordinates, full-batch Adam on the squared error.

The recovered latent functions (FunBaT's ``E[u^k]`` and binned Tucker's factor rows, on the 50 grid values of each
mode) are compared with the generators up to the Tucker model's invariances (an invertible mixing of each mode's R
functions, which takes in sign and scale): ``recovery_k`` is the root mean squared cosine of the principal angles
between the span of the generator's functions of mode k and the span of the learned ones (1: the generators lie in
the learned span). Wall times are single-process fits (``OMP_NUM_THREADS=1``) excluding data generation; the GP's
includes its hyper-parameter search.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
import warnings

import torch

import zoo
from zoo.data.tensor.continuous import FACTORS, evaluate, grid, make_tensor
from zoo.functional.state_space import matern_covariance, predict_states
from zoo.gp.funbat import kron_rows   # also registers funbat

D64 = torch.float64
#: training sizes per tensor: the 3-mode one's test grid has 125 000 entries, which the GP's prediction pays for
NS = {"u1u5": [200, 500, 1000, 2000, 5000], "tucker3": [500, 1000]}
#: the binned Tucker's ridge candidates (on entries standardised to unit root mean square)
RIDGES = (0.01, 0.1, 1.0, 3.0, 10.0)


def fit_funbat(coords, y, test):
    model = zoo.create_model("funbat", modes=coords.shape[1]).fit(coords, y)
    with warnings.catch_warnings():   # the grid's edge cells may lie just outside the random training coordinates
        warnings.simplefilter("ignore")
        prediction = model(test)
    axis = grid(1, 50)[:, 0]
    latents = [model.factor_moments(k, states=predict_states(model.sdes[k], model.smoothed(k), axis))[0]
               for k in range(model.modes)]
    return prediction, latents


def fit_binned(coords, y, test, bins, rank=2, ridge=1e-2, sweeps=50, seed=0):
    """Masked Tucker-ALS on the bin indexes (module doc); returns the grid prediction and the factor rows there."""
    K = coords.shape[1]
    index = (coords * bins).long().clamp(0, bins - 1)
    generator = torch.Generator().manual_seed(seed)
    factors = [torch.rand(bins, rank, generator=generator, dtype=D64) for _ in range(K)]
    core = torch.rand(rank**K, generator=generator, dtype=D64)
    scale = y.square().mean().sqrt()
    target = y / scale
    for _ in range(sweeps):
        for k in range(K):
            order = [k, *(j for j in range(K) if j != k)]
            W = core.reshape([rank] * K).permute(*order).reshape(rank, -1)
            b = kron_rows([factors[j][index[:, j]] for j in range(K) if j != k]) @ W.T         # (N, R)
            gram = torch.zeros(bins, rank, rank, dtype=D64).index_add_(0, index[:, k], b[:, :, None] * b[:, None])
            rhs = torch.zeros(bins, rank, dtype=D64).index_add_(0, index[:, k], target[:, None] * b)
            factors[k] = torch.linalg.solve(gram + ridge * torch.eye(rank, dtype=D64), rhs)
        z = kron_rows([factors[j][index[:, j]] for j in range(K)])
        core = torch.linalg.solve(z.T @ z + ridge * torch.eye(rank**K, dtype=D64), z.T @ target)
    test_index = (test * bins).long().clamp(0, bins - 1)
    prediction = scale * kron_rows([factors[j][test_index[:, j]] for j in range(K)]) @ core
    axis_index = (grid(1, 50)[:, 0] * bins).long()
    return prediction, [factor[axis_index] for factor in factors]


def fit_binned_cv(coords, y, test, bins, seed):
    """:func:`fit_binned` with ``λ`` chosen on a held-out 20 % of the entries (module doc)."""
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    held, kept = order[:len(y) // 5], order[len(y) // 5:]

    def held_out_error(ridge):
        prediction, _ = fit_binned(coords[kept], y[kept], coords[held], bins, ridge=ridge, seed=seed)
        return (prediction - y[held]).square().mean().item()

    ridge = min(RIDGES, key=held_out_error)
    return fit_binned(coords, y, test, bins, ridge=ridge, seed=seed)


def product_kernel(a, b, lengthscales, variance):
    k = variance
    for d in range(a.shape[1]):
        k = k * matern_covariance(a[:, None, d] - b[None, :, d], 1.5, lengthscales[d], 1.0)
    return k


def fit_gp(coords, y, test, fit_max, steps=50):
    """Exact product-Matérn-3/2 GP (module doc): ``(ℓ_k, σ², noise)`` by marginal likelihood on ``fit_max`` entries."""
    sub = slice(0, min(len(y), fit_max))
    raw = torch.tensor([math.log(0.2)] * coords.shape[1] + [math.log(y.var()), math.log(y.var() / 10)],
                       dtype=D64, requires_grad=True)
    optimizer = torch.optim.LBFGS([raw], max_iter=steps, line_search_fn="strong_wolfe")

    def unpack(theta):
        return theta[:-2].exp(), theta[-2].exp(), theta[-1].exp() + 1e-8

    def closure():
        optimizer.zero_grad()
        lengthscales, variance, noise = unpack(raw)
        x, t = coords[sub], y[sub]
        chol = torch.linalg.cholesky(product_kernel(x, x, lengthscales, variance) + noise * torch.eye(len(t),
                                                                                                       dtype=D64))
        alpha = torch.cholesky_solve(t[:, None], chol)[:, 0]
        loss = 0.5 * t @ alpha + torch.log(torch.diagonal(chol)).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    with torch.no_grad():
        lengthscales, variance, noise = unpack(raw)
        chol = torch.linalg.cholesky(product_kernel(coords, coords, lengthscales, variance) +
                                     noise * torch.eye(len(y), dtype=D64))
        alpha = torch.cholesky_solve(y[:, None], chol)[:, 0]
        prediction = torch.cat([product_kernel(chunk, coords, lengthscales, variance) @ alpha
                                for chunk in test.split(20000)])
    return prediction, {"lengthscales": lengthscales.tolist(), "variance": variance.item(), "noise": noise.item()}


def fit_mlp(coords, y, test, seed, steps=2000, width=64):
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(coords.shape[1], width), torch.nn.Tanh(), torch.nn.Linear(width, width),
                              torch.nn.Tanh(), torch.nn.Linear(width, 1)).double()
    scale = y.std()
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    x = 2 * coords - 1
    for _ in range(steps):
        optimizer.zero_grad()
        loss = (net(x)[:, 0] - y / scale).square().mean()
        loss.backward()
        optimizer.step()
        schedule.step()
    with torch.no_grad():
        return scale * net(2 * test - 1)[:, 0]


def recovery(tensor, latents):
    """Per mode: root mean squared cosine of the principal angles between the generators' and the learned spans."""
    axis = grid(1, 50)[:, 0]
    scores = []
    for factor, learned in zip(FACTORS[tensor], latents):
        true_basis = torch.linalg.qr(factor(axis)).Q
        learned_basis = torch.linalg.svd(learned, full_matrices=False)
        keep = learned_basis.S > 1e-8 * learned_basis.S.max()
        if not keep.any():   # all learned functions zero (a ridge that shrinks everything): nothing recovered
            scores.append(0.0)
            continue
        cosines = torch.linalg.svdvals(true_basis.T @ learned_basis.U[:, keep])
        cosines = torch.cat([cosines, cosines.new_zeros(true_basis.shape[1] - len(cosines))])
        scores.append(cosines.square().mean().sqrt().item())
    return scores


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tensors", nargs="+", default=list(NS), choices=list(FACTORS))
    parser.add_argument("--ns", nargs="+", type=int, help=f"training sizes of every tensor (default {NS})")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--noise", type=float, default=0.05)
    parser.add_argument("--gp-max", type=int, default=3000)
    parser.add_argument("--gp-fit-max", type=int, default=1000)
    parser.add_argument("--mlp-steps", type=int, default=2000)
    parser.add_argument("--out", default="funbat_study.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = []
    for tensor in args.tensors:
        K = len(FACTORS[tensor])
        test = grid(K, 50)
        truth = evaluate(tensor, test)
        for n in args.ns or NS[tensor]:
            for seed in args.seeds:
                coords, y = make_tensor(tensor, n, args.noise, torch.Generator().manual_seed(seed))
                methods = {"funbat": lambda: fit_funbat(coords, y, test),
                           "binned20": lambda: fit_binned_cv(coords, y, test, 20, seed),
                           "binned50": lambda: fit_binned_cv(coords, y, test, 50, seed),
                           "mlp": lambda: (fit_mlp(coords, y, test, seed, args.mlp_steps), None)}
                if n <= args.gp_max:
                    methods["gp"] = lambda: fit_gp(coords, y, test, args.gp_fit_max)
                for method, fit in methods.items():
                    start = time.perf_counter()
                    prediction, extra = fit()
                    seconds = time.perf_counter() - start
                    row = {"tensor": tensor, "n": n, "seed": seed, "method": method, "seconds": seconds,
                           "rmse": (prediction - truth).square().mean().sqrt().item()}
                    if method in ("funbat", "binned20", "binned50"):
                        row["recovery"] = recovery(tensor, extra)
                    elif method == "gp":
                        row["hyperparameters"] = extra
                    rows.append(row)
                    print(json.dumps(row), flush=True)
    with open(args.out, "w") as file:
        json.dump({"args": vars(args), "rows": rows}, file, indent=1)
    print(table(rows))


def table(rows) -> str:
    """Markdown: RMSE mean ± std over seeds, mean fit seconds, mean recovery per mode."""
    lines = ["| tensor | N | method | test RMSE (mean ± std) | fit s | latent recovery per mode |",
             "|---|---|---|---|---|---|"]
    keys = sorted({(r["tensor"], r["n"], r["method"]) for r in rows},
                  key=lambda key: (key[0], key[1], ["funbat", "gp", "binned20", "binned50", "mlp"].index(key[2])))
    for tensor, n, method in keys:
        group = [r for r in rows if (r["tensor"], r["n"], r["method"]) == (tensor, n, method)]
        rmse = [r["rmse"] for r in group]
        spread = statistics.stdev(rmse) if len(rmse) > 1 else 0.0
        recovered = "—"
        if "recovery" in group[0]:
            recovered = ", ".join(f"{statistics.mean(r['recovery'][k] for r in group):.3f}"
                                  for k in range(len(group[0]["recovery"])))
        lines.append(f"| {tensor} | {n} | {method} | {statistics.mean(rmse):.4f} ± {spread:.4f} | "
                     f"{statistics.mean(r['seconds'] for r in group):.2f} | {recovered} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
