"""METALIC: a contextual bandit that picks an XPINN's interface conditions from the PDE parameter.

"Meta Learning of Interface Conditions for Multi-Domain Physics-Informed Neural Networks" (Li, Penwarden, Xu,
Tillinghast, Narayan, Kirby, Zhe; ICML 2023). An arm is a non-empty subset of the K candidate conditions, a mask
``c ∈ {0, 1}^K`` (``2^K − 1`` arms); the context is the PDE parameter β; the reward of a trained XPINN is
``r = −log₁₀ (its relative L2 error)``. A GP surrogate ``r(β, c)`` with the product kernel::

    k((β, c), (β', c')) = s² exp(−|β − β'|² / 2ℓ²) · exp(−λ H(c, c') / K),   H the Hamming distance

(RBF on the context times the paper's categorical kernel), hyper-parameters ``s, ℓ, λ`` and the noise σ² set by
maximising the marginal likelihood after every update, picks

    UCB  c_t = argmax_c μ(β_t, c) + √κ σ(β_t, c)     (κ = 1, as in METALIC's code)
    TS   c_t = argmax_c f(c),  f ~ the joint posterior over all arms at β_t

for ``warmup`` random rounds first. The sequential variant keeps two surrogates: one picks the conditions of the
Adam phase from β, the other those of the L-BFGS phase from ``(β, r_Adam)``, the reward after the Adam phase;
both learn the final reward. Everything is float64 torch.
"""

from __future__ import annotations

import itertools
import math
from typing import Sequence

import torch
from torch import Tensor

ACQUISITIONS = ("ucb", "ts")
#: the surrogate's initial log s², log ℓ, log λ, log σ²
INITIAL = torch.tensor([0.0, 0.0, 0.0, math.log(1e-2)], dtype=torch.float64)


class RewardSurrogate:
    """The GP ``r(z, c)`` over contexts ``z (context_dim,)`` and masks ``c (K,)``, on standardised rewards.

    ``posterior(z (A, D), c (A, K)) -> (μ (A,), Σ (A, A))`` in reward units; ``fit()`` refits the hyper-parameters
    (log s², log ℓ, log λ, log σ²) to the observations.
    """

    def __init__(self, context_dim: int, conditions: int):
        self.context_dim, self.conditions = context_dim, conditions
        self.z = torch.zeros(0, context_dim, dtype=torch.float64)
        self.c = torch.zeros(0, conditions, dtype=torch.float64)
        self.r = torch.zeros(0, dtype=torch.float64)
        self.log_params = INITIAL.clone()

    def kernel(self, z1: Tensor, c1: Tensor, z2: Tensor, c2: Tensor, log_params: Tensor | None = None) -> Tensor:
        """``k`` (module doc) on ``(n1, D), (n1, K)`` × ``(n2, D), (n2, K)`` -> ``(n1, n2)``."""
        log_variance, log_lengthscale, log_lambda, _ = self.log_params if log_params is None else log_params
        squared = (z1[:, None, :] - z2[None, :, :]).square().sum(-1)
        hamming = (c1[:, None, :] - c2[None, :, :]).abs().sum(-1)
        return log_variance.exp() * torch.exp(-squared / (2 * (2 * log_lengthscale).exp())
                                              - log_lambda.exp() * hamming / self.conditions)

    def add(self, z: Tensor, c: Tensor, r: float) -> None:
        self.z = torch.cat([self.z, z[None]])
        self.c = torch.cat([self.c, c[None]])
        self.r = torch.cat([self.r, torch.tensor([r], dtype=torch.float64)])

    def _standardised(self) -> tuple[Tensor, float, float]:
        mean = float(self.r.mean())
        spread = float(self.r.std()) if len(self.r) > 1 and float(self.r.std()) > 0 else 1.0
        return (self.r - mean) / spread, mean, spread

    def _gram(self, log_params: Tensor) -> Tensor:
        noise = log_params[3].exp() + 1e-8
        return self.kernel(self.z, self.c, self.z, self.c, log_params) + noise * torch.eye(len(self.r),
                                                                                          dtype=torch.float64)

    def fit(self, iterations: int = 50) -> None:
        """Maximise the log marginal likelihood of the standardised rewards by L-BFGS, from the initial values
        every time; each log hyper-parameter is kept smoothly in (−6, 4) as ``−1 + 5 tanh(θ / 5)`` (a clamp's zero
        gradient would strand it at a bound). A failed fit keeps the previous values."""
        if len(self.r) < 3:
            return
        y, _, _ = self._standardised()
        raw = (5 * torch.atanh((INITIAL + 1) / 5)).requires_grad_(True)
        optimiser = torch.optim.LBFGS([raw], lr=0.5, max_iter=iterations, line_search_fn="strong_wolfe")

        def closure() -> Tensor:
            optimiser.zero_grad()
            cholesky = torch.linalg.cholesky(self._gram(-1 + 5 * torch.tanh(raw / 5)))
            alpha = torch.cholesky_solve(y[:, None], cholesky)[:, 0]
            objective = 0.5 * y @ alpha + cholesky.diagonal().log().sum()
            objective.backward()
            return objective

        try:
            optimiser.step(closure)
        except (RuntimeError, ValueError):    # a non-positive-definite Gram matrix on the way: keep the last fit
            return
        if torch.isfinite(raw).all():
            self.log_params = (-1 + 5 * torch.tanh(raw / 5)).detach()

    def posterior(self, z: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
        """``μ (A,)`` and ``Σ (A, A)`` of the reward at ``z (A, D), c (A, K)`` (the prior without observations)."""
        prior = self.kernel(z, c, z, c)
        if not len(self.r):
            return torch.zeros(len(z), dtype=torch.float64), prior
        y, mean, spread = self._standardised()
        cholesky = torch.linalg.cholesky(self._gram(self.log_params))
        cross = self.kernel(self.z, self.c, z, c)                           # (n, A)
        alpha = torch.cholesky_solve(y[:, None], cholesky)[:, 0]
        v = torch.linalg.solve_triangular(cholesky, cross, upper=False)
        return mean + spread * (cross.T @ alpha), spread**2 * (prior - v.T @ v)


class MetalicBandit:
    """``select(beta) -> mask (K,) bool``; ``update(beta, mask, reward)`` (module doc).

    Args:
        conditions: the candidate interface conditions' names (K of them; e.g. an XPINN's ``conditions``).
        context_dim: the PDE parameter's dimension. acquisition: ``"ucb"`` or ``"ts"``. sequential: two surrogates,
            for the Adam and the L-BFGS phase: ``select(beta)`` then ``select(beta, adam_reward=r)``, and
            ``update(beta, mask (2, K), reward, adam_reward=r)``. kappa: UCB's κ. warmup: random rounds first.
        seed: the generator of the random rounds and of Thompson sampling.
    """

    def __init__(self, conditions: Sequence[str], context_dim: int, acquisition: str = "ucb", sequential: bool = False,
                 kappa: float = 1.0, warmup: int = 3, seed: int = 0):
        conditions = tuple(conditions)
        if not conditions or len(set(conditions)) < len(conditions):
            raise ValueError(f"conditions={list(conditions)}: give the distinct candidate interface conditions, "
                             f"e.g. model.conditions of an XPINN")
        if acquisition not in ACQUISITIONS:
            raise ValueError(f"acquisition={acquisition!r}: expected one of {ACQUISITIONS}")
        if context_dim < 1:
            raise ValueError(f"context_dim={context_dim} must be >= 1 (the PDE parameter's dimension)")
        self.conditions, self.context_dim, self.acquisition = conditions, context_dim, acquisition
        self.sequential, self.kappa, self.warmup = sequential, kappa, warmup
        #: every non-empty subset of the conditions, ``(2^K − 1, K)`` bool
        self.arms = torch.tensor([mask for mask in itertools.product([False, True], repeat=len(conditions))
                                  if any(mask)], dtype=torch.bool)
        phases = 2 if sequential else 1
        self.surrogates = [RewardSurrogate(context_dim + phase, len(conditions)) for phase in range(phases)]
        self.generator = torch.Generator().manual_seed(seed)
        self.rounds = 0

    def _context(self, beta: Tensor | Sequence[float] | float, adam_reward: float | None) -> tuple[Tensor, int]:
        """The surrogate's context ``(β[, r_Adam])`` and which surrogate reads it."""
        beta = torch.as_tensor(beta, dtype=torch.float64).reshape(-1)
        if len(beta) != self.context_dim:
            raise ValueError(f"beta has {len(beta)} entries but the bandit's context_dim is {self.context_dim}: "
                             f"give the PDE parameter as {self.context_dim} number(s)")
        if adam_reward is None:
            return beta, 0
        if not self.sequential:
            raise ValueError("adam_reward is for the sequential bandit: build MetalicBandit(..., sequential=True)")
        return torch.cat([beta, torch.tensor([adam_reward], dtype=torch.float64)]), 1

    def _mask(self, mask: Tensor | Sequence[bool]) -> Tensor:
        mask = torch.as_tensor(mask).to(torch.float64)
        shape = (2, len(self.conditions)) if self.sequential else (len(self.conditions),)
        if tuple(mask.shape) != shape:
            raise ValueError(f"mask has shape {tuple(mask.shape)} but the bandit expects {shape}: one 0/1 per "
                             f"condition of {list(self.conditions)}" + (" for each phase" if self.sequential else ""))
        return mask

    def scores(self, beta: Tensor | Sequence[float] | float, adam_reward: float | None = None) -> tuple[Tensor, Tensor]:
        """The surrogate's posterior ``μ (A,), Σ (A, A)`` over :attr:`arms` at the context."""
        context, phase = self._context(beta, adam_reward)
        return self.surrogates[phase].posterior(context.expand(len(self.arms), -1), self.arms.to(torch.float64))

    def select(self, beta: Tensor | Sequence[float] | float, adam_reward: float | None = None,
               greedy: bool = False) -> Tensor:
        """The arm to play at ``beta``, a ``(K,)`` bool mask (``greedy``: the posterior mean's argmax, for held-out
        contexts); the sequential bandit's L-BFGS phase needs ``adam_reward``."""
        self._context(beta, adam_reward)                                   # the context's errors first
        if self.rounds < self.warmup and not greedy:
            return self.arms[int(torch.randint(len(self.arms), (1,), generator=self.generator))]
        mean, covariance = self.scores(beta, adam_reward)
        if greedy:
            score = mean
        elif self.acquisition == "ucb":
            score = mean + math.sqrt(self.kappa) * covariance.diagonal().clamp_min(0).sqrt()
        else:
            jitter = 1e-9 * covariance.diagonal().mean().clamp_min(1e-12)
            cholesky = torch.linalg.cholesky((covariance + covariance.T) / 2 + jitter * torch.eye(len(mean),
                                             dtype=torch.float64))
            score = mean + cholesky @ torch.randn(len(mean), dtype=torch.float64, generator=self.generator)
        return self.arms[int(score.argmax())]

    def update(self, beta: Tensor | Sequence[float] | float, mask: Tensor | Sequence[bool], reward: float,
               adam_reward: float | None = None) -> None:
        """Record the final ``reward`` of the arm ``mask`` played at ``beta`` and refit the surrogate(s)."""
        mask = self._mask(mask)
        if self.sequential and adam_reward is None:
            raise ValueError("the sequential bandit learns from the Adam phase's reward too: pass adam_reward")
        if not math.isfinite(reward):
            raise ValueError(f"reward={reward} must be finite (cap the error of a diverged run)")
        context, _ = self._context(beta, None)
        self.surrogates[0].add(context, mask[0] if self.sequential else mask, reward)
        if self.sequential:
            self.surrogates[1].add(self._context(beta, adam_reward)[0], mask[1], reward)
        for surrogate in self.surrogates:
            surrogate.fit()
        self.rounds += 1


def reward(error: float, cap: float = 1e2) -> float:
    """``−log₁₀ error``, the error capped at ``cap`` (a diverged run's inf or NaN counts as ``cap``)."""
    return -math.log10(min(error, cap) if math.isfinite(error) else cap)
