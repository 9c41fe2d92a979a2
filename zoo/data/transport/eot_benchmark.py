"""The Gaussian-mixture entropic-OT / Schrödinger-bridge benchmark (Gushchin et al., NeurIPS 2023), rebuilt offline.

**Construction.** For any input p0 and positive potential f, the plan ``π(x, y) = p0(x) π(y|x)`` with
``π(y|x) ∝ exp(−‖x − y‖²/2ε) f(y)`` is by construction the EOT plan (cost ½‖x − y‖², weight ε) between p0 and
its own second marginal p1. With ``f = Σ_k p_k N(μ_k, σ² I)`` everything is closed form::

    w_k(x) ∝ p_k N(x | μ_k, (σ² + ε) I)          C = εσ² / (ε + σ²)          m_k(x) = (ε μ_k + σ² x) / (ε + σ²)
    π(y|x) = Σ_k w_k(x) N(y | m_k(x), C I)
    g*(x, t) = ε ∇_x log Σ_k p_k N(x | μ_k, (σ² + ε(1 − t)) I)        (the SB drift)

**Instances** (the deleted draft notebook of the benchmark repository, commit 438dcb9; the released files are
a Google-Drive download we do not use, so an instance is statistically equivalent, not identical):

- p0: 3 components, weights ``rand(3)`` normalised, per coordinate the centres are a random permutation of
  {−2, 0, 2}, covariance ``0.25 I``;
- f: 5 components, weights ``rand(5)`` normalised, per coordinate a random permutation of {−2, …, 2},
  covariance ``(0.5 s)² I`` with ``s`` from :data:`SCALES` (D ∈ {2, 16, 64, 128}, ε ∈ {0.1, 1, 10}).

Parameters are drawn from ``numpy.random.default_rng([seed, D, round(1000 ε)])``.

Since f's components are isotropic, ``v*(y) = e^{−‖y‖²/2ε} f(y)`` is itself a 5-component Gaussian mixture, so
LightSB with diagonal ``S`` and K ≥ 5 is *well specified*: :meth:`GaussianMixtureBenchmark.lightsb_parameters`.

**Datamodule.** Unpaired batches ``{"x0": (B, D), "x1": (B, D)}`` of p0 and p1 (:mod:`zoo.data.transport.pairs`:
a fresh training stream, fixed validation and test batches); the test inputs are those of the cBW²₂-UVP (with as
many p1 samples for the test loss). :meth:`EOTBenchmarkDataModule.ground_truth` holds
what a model is scored against (:class:`zoo.evaluation.transport.EOTBenchmarkEvaluator`): the test inputs, the true
conditional moments there, and the moments of p1 estimated from ``n_variance`` samples (``tr Cov(p1)`` normalises
cBW²₂-UVP and BW²₂-UVP); the test inputs and the moments of p1 are cached under ``data_dir/eot_benchmark/``
(``zoo.cache``, atomic writes).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from zoo.data.base import GeneratedData
from zoo.data.transport.pairs import PairsDataModule
from zoo.functional import mixture_moments

#: the scale s of f's covariance (0.5 s)² I for each (ε, D)
SCALES = {0.1: {2: 0.5, 16: 1.0, 64: 8.0, 128: 8.0}, 1.0: {2: 0.5, 16: 1.0, 64: 2.0, 128: 2.0},
          10.0: {2: 0.5, 16: 1.0, 64: 2.0, 128: 2.0}}
_CACHE_VERSION = 1  # bump when the construction changes what a seed produces


def mixture_log_weights(x: Tensor, log_p: Tensor, means: Tensor, variance: float) -> Tensor:
    """``log p_k + log N(x | μ_k, variance·I)``, ``(n, K)``, for ``x (n, D)``, ``log_p (K,)``, ``means (K, D)``."""
    dim = x.shape[-1]
    distance = torch.cdist(x, means).square()
    return log_p - 0.5 * distance / variance - 0.5 * dim * math.log(2 * math.pi * variance)


class GaussianMixtureBenchmark:
    """One benchmark instance (p0, f) for ``dim`` and ``epsilon``, in float64, with its closed-form plan and drift."""

    def __init__(self, dim: int, epsilon: float, seed: int = 0):
        if float(epsilon) not in SCALES or dim not in SCALES[float(epsilon)]:
            raise ValueError(f"the benchmark is defined for epsilon in {sorted(SCALES)} and dim in "
                             f"{sorted(SCALES[1.0])}, got epsilon={epsilon!r}, dim={dim!r}")
        self.dim, self.epsilon, self.seed = dim, float(epsilon), seed
        rng = np.random.default_rng([seed, dim, round(1000 * self.epsilon)])

        def centres(n: int) -> Tensor:  # per coordinate an independent permutation of 0 .. n-1: (n, dim)
            return torch.as_tensor(np.stack([rng.permutation(n) for _ in range(dim)], 1), dtype=torch.float64)

        def weights(n: int) -> Tensor:
            w = rng.random(n)
            return torch.as_tensor(w / w.sum(), dtype=torch.float64)

        self.p0_weights, self.p0_means, self.p0_variance = weights(3), 2 * centres(3) - 2, 0.25
        self.f_weights, self.f_means = weights(5), centres(5) - 2
        self.f_variance = (0.5 * SCALES[self.epsilon][dim]) ** 2

    # ---- p0 and the plan ---------------------------------------------------------------------------------
    def sample_p0(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``n`` samples of p0, ``(n, D)`` float64."""
        k = torch.multinomial(self.p0_weights, n, replacement=True, generator=generator)
        noise = torch.randn(n, self.dim, generator=generator, dtype=torch.float64)
        return self.p0_means[k] + math.sqrt(self.p0_variance) * noise

    @property
    def conditional_variance(self) -> float:
        """``C = εσ² / (ε + σ²)``, the variance (per coordinate) of every component of ``π(y|x)``."""
        return self.epsilon * self.f_variance / (self.epsilon + self.f_variance)

    def conditional_components(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``w_k(x)`` ``(n, 5)`` and ``m_k(x)`` ``(n, 5, D)`` of ``π(y|x)`` for ``x (n, D)``, float64."""
        x = x.double()
        log_w = mixture_log_weights(x, self.f_weights.log(), self.f_means, self.f_variance + self.epsilon)
        means = (self.epsilon * self.f_means + self.f_variance * x.unsqueeze(1)) / (self.epsilon + self.f_variance)
        return log_w.softmax(-1), means

    def conditional_moments(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Mean ``(n, D)`` and covariance ``(n, D, D)`` of ``π(·|x)`` (of the mixture, moment-matched)."""
        mean, between = mixture_moments(*self.conditional_components(x))
        return mean, between + self.conditional_variance * torch.eye(self.dim, dtype=torch.float64)

    def sample_plan(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """One ``y ~ π(·|x)`` per row of ``x (n, D)``, float64."""
        w, means = self.conditional_components(x)
        k = torch.multinomial(w, 1, generator=generator)[:, 0]
        noise = torch.randn(x.shape, generator=generator, dtype=torch.float64)
        return means[torch.arange(x.shape[0]), k] + math.sqrt(self.conditional_variance) * noise

    def sample_p1(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``n`` samples of p1 (``x ~ p0``, then ``y ~ π(·|x)``), ``(n, D)`` float64."""
        return self.sample_plan(self.sample_p0(n, generator), generator)

    def drift(self, x: Tensor, t: float) -> Tensor:
        """The ground-truth SB drift ``g*(x, t) = ε Σ_k w_k (μ_k − x) / (σ² + ε(1 − t))``, ``(n, D)`` float64."""
        variance = self.f_variance + self.epsilon * (1 - t)
        w = mixture_log_weights(x.double(), self.f_weights.log(), self.f_means, variance).softmax(-1)
        return self.epsilon * (w @ self.f_means - x.double()) / variance

    def lightsb_parameters(self) -> dict[str, Tensor]:
        """The exact LightSB potential ``v* = e^{−‖y‖²/2ε} f``: ``S_k = σ²/(ε+σ²) I`` as ``s (5, D)`` (log of the
        diagonal), ``r_k = ε μ_k/(ε+σ²)`` ``(5, D)``, ``log α_k = log p_k + log N(0 | μ_k, (σ²+ε) I)`` ``(5,)``."""
        total = self.epsilon + self.f_variance
        s = torch.full((5, self.dim), math.log(self.f_variance / total), dtype=torch.float64)
        log_alpha = mixture_log_weights(torch.zeros(1, self.dim, dtype=torch.float64), self.f_weights.log(),
                                        self.f_means, total)[0]
        return {"s": s, "r": self.epsilon * self.f_means / total, "log_alpha": log_alpha}


class EOTBenchmarkDataModule(GeneratedData, PairsDataModule):
    """The Gaussian-mixture EOT benchmark for ``dim`` D and ``epsilon`` ε; see the module docstring."""

    def __init__(self, dim: int = 16, epsilon: float = 1.0, benchmark_seed: int = 0, data_dir: str = "data",
                 n_train: int = 128_000, n_val: int = 4096, n_test: int = 1000, n_variance: int = 1_000_000,
                 batch_size: int = 128, seed: int = 0, chunk: int = 100_000):
        super().__init__(n_train=n_train, n_val=n_val, n_test=n_test, batch_size=batch_size, seed=seed)
        if not isinstance(n_variance, int) or n_variance < 2:
            raise ValueError(f"n_variance must be an integer >= 2 (sample moments need two samples), "
                             f"got {n_variance!r}")
        self.benchmark = GaussianMixtureBenchmark(dim, epsilon, benchmark_seed)
        self.dim, self.epsilon = dim, float(epsilon)
        self.n_variance, self.chunk = n_variance, chunk
        self.cache_path = (Path(data_dir) / "eot_benchmark" / f"eot-v{_CACHE_VERSION}-d{dim}-eps{self.epsilon:g}-"
                           f"bench{benchmark_seed}-seed{seed}-test{n_test}-var{n_variance}.pt")

    def sample_p0(self, n: int, generator: torch.Generator) -> Tensor:
        return self.benchmark.sample_p0(n, generator)

    def sample_p1(self, n: int, generator: torch.Generator) -> Tensor:
        return self.benchmark.sample_p1(n, generator)

    def _generate(self) -> dict[str, Tensor]:
        """The test inputs and the mean and covariance of p1 from ``n_variance`` samples (float64)."""
        generator, total, outer = torch.Generator().manual_seed(self.seed * 1_000_003 + 999_995), 0, 0
        for start in range(0, self.n_variance, self.chunk):
            y = self.sample_p1(min(self.chunk, self.n_variance - start), generator)
            total, outer = total + y.sum(0), outer + y.T @ y
        mean = total / self.n_variance
        cov = (outer - self.n_variance * torch.outer(mean, mean)) / (self.n_variance - 1)
        return {"x_test": self.test_inputs(), "p1_mean": mean, "p1_cov": cov}

    def ground_truth(self) -> dict[str, Tensor]:
        """What a model is scored against (float64): the test inputs ``x_test (n_test, D)``, the mean
        ``mean (n_test, D)`` and covariance ``cov (n_test, D, D)`` of the true plan ``π(·|x)`` at each of them, and
        the moments of p1 ``p1_mean (D,)``, ``p1_cov (D, D)`` (from ``n_variance`` samples, cached)."""
        stored = self.load()
        mean, cov = self.benchmark.conditional_moments(stored["x_test"])
        return {**stored, "mean": mean, "cov": cov}


__all__ = ["EOTBenchmarkDataModule", "GaussianMixtureBenchmark", "mixture_log_weights"]
