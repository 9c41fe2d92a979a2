"""Sample quality of an entropic-OT / Schrödinger-bridge model on unpaired pairs
(:mod:`zoo.data.transport.eot_benchmark`, :mod:`zoo.data.transport.toy2d`): the cBW²₂-UVP and BW²₂-UVP (%) of
:mod:`zoo.metrics.bures`, and a figure.

- :class:`EOTBenchmarkEvaluator`: against the benchmark's closed-form plan (``datamodule.ground_truth()``):
  ``n_conditional`` model samples per test input against the true conditional moments (``cbw2_uvp``),
  ``n_marginal`` samples of the model's p1 (``bw2_uvp``), both over ``tr Cov(p1)``; a model with exact conditional
  moments (``model.conditional_moments(x0)``, as LightSB) also gets ``cbw2_uvp_exact``, free of sampling noise.
- :class:`SinkhornEvaluator` (our choice for targets with no closed-form plan, documented): POT's Sinkhorn plan on
  samples is the reference. ``ot.sinkhorn`` uses the kernel ``exp(−M/reg)``, so with the squared-Euclidean cost
  ``M = ot.dist(x, y)`` the EOT of cost ½‖x − y‖² and weight ε is ``reg = 2ε`` (log-domain iterations, stable for
  small ε). For the test inputs ``x_i`` and ``n_reference`` target samples ``y_j``, the reference conditional of
  ``x_i`` is the discrete law ``P_ij / a_i`` on the ``y_j``; its mean and covariance are compared with those of
  ``n_conditional`` model samples of ``x1 | x_i`` (``cbw2_uvp_sinkhorn``), and the model's pooled samples with the
  moments of the ``y_j`` (``bw2_uvp``), both over ``tr Cov`` of the ``y_j``. The discrete plan converges to the
  continuous one as both sample sizes grow; with few test inputs (a debug run) it is only indicative.

Model samples are drawn with the global RNG seeded from the datamodule's ``seed`` (and restored after).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn

from zoo.evaluation.base import Evaluator
from zoo.metrics.bures import bw2_uvp, cbw2_uvp, cbw2_uvp_moments, sample_moments
from zoo.optional import require


def _parameter(model: nn.Module) -> Tensor:
    """A parameter of ``model``: inputs go ``.to(it)`` (its device and dtype)."""
    return next(model.parameters())


@torch.no_grad()
def conditional_samples(model: nn.Module, x: Tensor, n: int, chunk: int = 100_000, seed: int = 0) -> Tensor:
    """``n`` draws of ``model.sample`` per row of ``x (m, D)``, ``(m, n, D)`` float64, at most ``chunk`` rows per
    call, with the global RNG seeded by ``seed`` inside (and restored after)."""
    like, per_chunk, parts = _parameter(model), max(1, chunk // n), []
    with torch.random.fork_rng(devices=[like.device] if like.device.type == "cuda" else []):
        torch.manual_seed(seed)
        for start in range(0, x.shape[0], per_chunk):
            rows = x[start:start + per_chunk].to(like)
            parts.append(model.sample(rows.repeat_interleave(n, 0)).double().cpu().view(rows.shape[0], n, -1))
    return torch.cat(parts)


def sinkhorn_plan(x: Tensor, y: Tensor, epsilon: float, iterations: int = 5000) -> Tensor:
    """The entropic plan ``(n_x, n_y)`` between uniform weights on ``x`` and ``y`` (cost ‖x − y‖², reg 2ε)."""
    a = torch.full((x.shape[0],), 1 / x.shape[0], dtype=torch.float64)
    b = torch.full((y.shape[0],), 1 / y.shape[0], dtype=torch.float64)
    ot = require("ot")
    return ot.sinkhorn(a, b, ot.dist(x, y), reg=2 * epsilon, method="sinkhorn_log", numItermax=iterations,
                       stopThr=1e-9)


class PairsEvaluator(Evaluator):
    """What both evaluators share: ``n_conditional`` model samples per test input, drawn at most ``chunk`` rows per
    ``model.sample`` call, and the figure. ``counts`` are further sample sizes to check (each at least 2)."""

    def __init__(self, n_conditional: int, chunk: int, **counts: int):
        for key, value in {"n_conditional": n_conditional, **counts}.items():
            if not isinstance(value, int) or value < 2:
                raise ValueError(f"{key} must be an integer >= 2 (sample moments need two samples), got {value!r}")
        self.n_conditional, self.chunk = n_conditional, chunk

    def plot(self, model: nn.Module, datamodule, path: str | Path, n: int = 512, n_paths: int = 8) -> None:
        """Scatter p0, p1 and the model's samples (first two coordinates) with a few SDE trajectories."""
        require("matplotlib").use("Agg")
        plt = require("matplotlib.pyplot")
        generator = torch.Generator().manual_seed(datamodule.seed)
        x0, x1 = datamodule.sample_p0(n, generator), datamodule.sample_p1(n, generator)
        like = _parameter(model)
        with torch.no_grad():
            samples = model.sample(x0.to(like)).cpu()
            paths = model.sample_trajectory(x0[:n_paths].to(like), 100).cpu()
        figure, ax = plt.subplots(figsize=(6, 6))
        ax.scatter(*x0[:, :2].T, s=4, alpha=0.4, label="x0 ~ p0")
        ax.scatter(*x1[:, :2].T, s=4, alpha=0.4, label="x1 ~ p1")
        ax.scatter(*samples[:, :2].T, s=4, alpha=0.4, label="model x1 | x0")
        for path_ in paths:
            ax.plot(*path_[:, :2].T, color="black", linewidth=0.7, alpha=0.7)
        ax.set_title(f"{type(datamodule).__name__} (first two coordinates), {n_paths} SDE trajectories")
        ax.legend(loc="best", markerscale=3)
        figure.savefig(path, dpi=120, bbox_inches="tight")
        plt.close(figure)


class EOTBenchmarkEvaluator(PairsEvaluator):
    """cBW²₂-UVP and BW²₂-UVP against the closed-form plan of an
    :class:`~zoo.data.transport.eot_benchmark.EOTBenchmarkDataModule` (see the module docstring).

    Args:
        n_conditional: model samples per test input (the paper: 1000).
        n_marginal: model samples of p1 for BW²₂-UVP (the paper: 100k).
        chunk: rows per ``model.sample`` call.
    """

    def __init__(self, n_conditional: int = 1000, n_marginal: int = 100_000, chunk: int = 100_000):
        super().__init__(n_conditional, chunk, n_marginal=n_marginal)
        self.n_marginal = n_marginal

    def __call__(self, model: nn.Module, datamodule) -> dict[str, float]:
        """``{"cbw2_uvp", "bw2_uvp"}`` (%), and ``"cbw2_uvp_exact"`` for a model with ``conditional_moments``."""
        truth = datamodule.ground_truth()
        x_test, variance = truth["x_test"], float(torch.trace(truth["p1_cov"]))
        seed = datamodule.seed
        scores = [cbw2_uvp(conditional_samples(model, x, self.n_conditional, self.chunk, seed + i), mean, cov,
                           variance) * x.shape[0]
                  for i, (x, mean, cov) in enumerate(zip(x_test.split(100), truth["mean"].split(100),
                                                         truth["cov"].split(100)))]
        x0 = datamodule.sample_p0(self.n_marginal, torch.Generator().manual_seed(seed))
        x1 = conditional_samples(model, x0, 1, self.chunk, seed)[:, 0]
        metrics = {"cbw2_uvp": sum(scores) / x_test.shape[0],
                   "bw2_uvp": bw2_uvp(x1, truth["p1_mean"], truth["p1_cov"], variance)}
        if hasattr(model, "conditional_moments"):
            with torch.no_grad():
                exact = model.conditional_moments(x_test.to(_parameter(model)))
            metrics["cbw2_uvp_exact"] = cbw2_uvp_moments(*exact, truth["mean"], truth["cov"], variance)
        return metrics


class SinkhornEvaluator(PairsEvaluator):
    """cBW²₂-UVP and BW²₂-UVP against POT's Sinkhorn plan between a pairs datamodule's test inputs and samples of
    its p1 at its ``epsilon`` (see the module docstring).

    Args:
        n_reference: target samples ``y_j`` of the Sinkhorn plan.
        n_conditional: model samples per test input.
        sinkhorn_iterations: the most Sinkhorn iterations.
        chunk: rows per ``model.sample`` call.
    """

    def __init__(self, n_reference: int = 4000, n_conditional: int = 1000, sinkhorn_iterations: int = 5000,
                 chunk: int = 20_000):
        super().__init__(n_conditional, chunk, n_reference=n_reference)
        self.n_reference, self.sinkhorn_iterations = n_reference, sinkhorn_iterations

    def __call__(self, model: nn.Module, datamodule) -> dict[str, float]:
        """``{"cbw2_uvp_sinkhorn", "bw2_uvp"}`` (%) of ``model.sample`` against the Sinkhorn plan."""
        x, seed = datamodule.test_inputs(), datamodule.seed
        y = datamodule.sample_p1(self.n_reference, torch.Generator().manual_seed(seed * 1_000_003 + 999_994))
        conditional = sinkhorn_plan(x, y, datamodule.epsilon, self.sinkhorn_iterations) * x.shape[0]  # rows sum to 1
        means = conditional @ y
        centred = y.unsqueeze(0) - means.unsqueeze(1)                       # (n_test, n_reference, D)
        covs = torch.einsum("ij,ijd,ije->ide", conditional, centred, centred)
        y_mean, y_cov = sample_moments(y)
        variance = float(torch.trace(y_cov))
        samples = conditional_samples(model, x, self.n_conditional, self.chunk, seed)
        return {"cbw2_uvp_sinkhorn": cbw2_uvp(samples, means, covs, variance),
                "bw2_uvp": bw2_uvp(samples.reshape(-1, x.shape[1]), y_mean, y_cov, variance)}
