"""2-D toy pairs for entropic OT / Schrödinger bridges: a standard Gaussian p0 → a Swiss roll or two moons p1.

Neither target is a finite Gaussian mixture, so unlike :mod:`zoo.data.eot_benchmark` LightSB is *not* well specified
here and no closed-form plan exists. The reference plan is POT's Sinkhorn on samples: ``ot.sinkhorn`` uses the kernel
``exp(−M/reg)``, so with the squared-Euclidean cost ``M = ot.dist(x, y)`` the EOT of cost ½‖x − y‖² and weight ε is
``reg = 2ε`` (log-domain iterations, stable for small ε).

Targets (``(n, 2)``, float64):

- ``swiss_roll``: ``τ = 1.5π(1 + 2u)``, ``u ~ U(0, 1)``, point ``(τ cos τ, τ sin τ) / 7.5`` plus ``N(0, noise²)``
  (the 2-D slice of scikit-learn's roll, scaled as in the LightSB notebook);
- ``moons``: two interleaved half circles (radius 1, the second shifted by (1, −0.5)), centred, plus ``N(0, noise²)``.

**Metric** (our choice, documented): the cBW²₂-UVP recipe of :mod:`zoo.metrics.bures` with the Sinkhorn plan as
the reference. For ``n_test`` test inputs ``x_i`` and ``n_reference`` target samples ``y_j``, the reference
conditional of ``x_i`` is the discrete law ``P_ij / a_i`` on the ``y_j``; its mean and covariance are compared with
those of ``n_conditional`` model samples of ``x1 | x_i`` (``cbw2_uvp_sinkhorn``), and the model's pooled samples
with the moments of the ``y_j`` (``bw2_uvp``), both over ``tr Cov`` of the ``y_j``. The discrete plan converges
to the continuous one as both sample sizes grow; with few test inputs (a debug run) it is only indicative.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from zoo.data.eot_benchmark import PairsDataModule
from zoo.metrics.bures import bw2_uvp, cbw2_uvp, sample_moments
from zoo.optional import require

TARGETS = ("swiss_roll", "moons")


def swiss_roll(n: int, generator: torch.Generator, noise: float) -> Tensor:
    """``n`` points of the 2-D Swiss roll, ``(n, 2)`` float64."""
    tau = 1.5 * math.pi * (1 + 2 * torch.rand(n, generator=generator, dtype=torch.float64))
    points = torch.stack([tau * tau.cos(), tau * tau.sin()], 1) / 7.5
    return points + noise * torch.randn(n, 2, generator=generator, dtype=torch.float64)


def moons(n: int, generator: torch.Generator, noise: float) -> Tensor:
    """``n`` points of two interleaved half circles, centred, ``(n, 2)`` float64."""
    angle = math.pi * torch.rand(n, generator=generator, dtype=torch.float64)
    upper = torch.rand(n, generator=generator) < 0.5
    x = torch.where(upper, angle.cos(), 1 - angle.cos()) - 0.5
    y = torch.where(upper, angle.sin(), 0.5 - angle.sin()) - 0.25
    return torch.stack([x, y], 1) + noise * torch.randn(n, 2, generator=generator, dtype=torch.float64)


class Toy2DDataModule(PairsDataModule):
    """Gaussian → ``target`` (``"swiss_roll"`` or ``"moons"``) with unpaired batches ``{"x0", "x1"}`` ``(B, 2)``
    and the Sinkhorn-referenced metrics of the module docstring."""

    def __init__(self, target: str = "swiss_roll", epsilon: float = 0.1, dim: int = 2, noise: float = 0.1,
                 n_train: int = 128_000, n_val: int = 4096, n_test: int = 500, n_reference: int = 4000,
                 n_conditional: int = 1000, batch_size: int = 128, seed: int = 0, sinkhorn_iterations: int = 5000):
        super().__init__(n_train, n_val, n_test, batch_size, seed)
        if target not in TARGETS:
            raise ValueError(f"target must be one of {TARGETS}, got {target!r}")
        if dim != 2:
            raise ValueError(f"the toy pairs are 2-D (dim=2 is fixed by the data), got dim={dim}")
        if not epsilon > 0:
            raise ValueError(f"epsilon must be positive, got {epsilon!r}")
        for key, value in (("n_reference", n_reference), ("n_conditional", n_conditional)):
            if not isinstance(value, int) or value < 2:
                raise ValueError(f"{key} must be an integer >= 2 (sample moments need two samples), got {value!r}")
        self.target, self.epsilon, self.dim, self.noise = target, float(epsilon), dim, noise
        self.n_reference, self.n_conditional, self.sinkhorn_iterations = n_reference, n_conditional, sinkhorn_iterations

    def sample_p0(self, n: int, generator: torch.Generator) -> Tensor:
        return torch.randn(n, 2, generator=generator, dtype=torch.float64)

    def sample_p1(self, n: int, generator: torch.Generator) -> Tensor:
        return (swiss_roll if self.target == "swiss_roll" else moons)(n, generator, self.noise)

    def sinkhorn_plan(self, x: Tensor, y: Tensor) -> Tensor:
        """The entropic plan ``(n_x, n_y)`` between uniform weights on ``x`` and ``y`` (cost ‖x − y‖², reg 2ε)."""
        a = torch.full((x.shape[0],), 1 / x.shape[0], dtype=torch.float64)
        b = torch.full((y.shape[0],), 1 / y.shape[0], dtype=torch.float64)
        ot = require("ot")
        return ot.sinkhorn(a, b, ot.dist(x, y), reg=2 * self.epsilon, method="sinkhorn_log",
                           numItermax=self.sinkhorn_iterations, stopThr=1e-9)

    def sample_metrics(self, model: torch.nn.Module) -> dict[str, float]:
        """``{"cbw2_uvp_sinkhorn": ..., "bw2_uvp": ...}`` (%) of ``model.sample`` against the Sinkhorn plan."""
        x = self.test_inputs()
        y = self.sample_p1(self.n_reference, torch.Generator().manual_seed(self.seed * 1_000_003 + 999_994))
        conditional = self.sinkhorn_plan(x, y) * x.shape[0]               # rows: P_ij / a_i, each sums to 1
        means = conditional @ y
        centred = y.unsqueeze(0) - means.unsqueeze(1)                       # (n_test, n_reference, 2)
        covs = torch.einsum("ij,ijd,ije->ide", conditional, centred, centred)
        y_mean, y_cov = sample_moments(y)
        variance = float(torch.trace(y_cov))
        samples = self.conditional_samples(model, x, self.n_conditional, 20_000, self.seed)
        return {"cbw2_uvp_sinkhorn": cbw2_uvp(samples, means, covs, variance),
                "bw2_uvp": bw2_uvp(samples.reshape(-1, 2), y_mean, y_cov, variance)}
