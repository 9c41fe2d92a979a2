"""METALIC's bandit: the GP posterior against the dense formula, the product kernel in closed form, sub-linear regret
on a synthetic reward table (single and sequential), and clear errors."""

from __future__ import annotations

import math

import pytest
import torch

from zoo.pinn import MetalicBandit
from zoo.pinn.metalic import reward


def observed_bandit(**kwargs) -> MetalicBandit:
    bandit = MetalicBandit(["a", "b", "c"], context_dim=1, warmup=0, **kwargs)
    generator = torch.Generator().manual_seed(0)
    for _ in range(6):
        beta = torch.rand(1, generator=generator, dtype=torch.float64)
        mask = bandit.arms[int(torch.randint(len(bandit.arms), (1,), generator=generator))]
        bandit.update(beta, mask, float(torch.randn(1, generator=generator)))
    return bandit


def test_the_product_kernel_is_rbf_times_the_hamming_kernel():
    surrogate = MetalicBandit(["a", "b", "c", "d"], context_dim=1).surrogates[0]
    surrogate.log_params = torch.tensor([math.log(2.0), math.log(0.5), math.log(3.0), -4.0], dtype=torch.float64)
    z1, z2 = torch.tensor([[0.0]], dtype=torch.float64), torch.tensor([[1.0]], dtype=torch.float64)
    c1, c2 = torch.tensor([[1.0, 0, 1, 0]], dtype=torch.float64), torch.tensor([[0.0, 0, 1, 1]], dtype=torch.float64)
    expected = 2.0 * math.exp(-1.0 / (2 * 0.25)) * math.exp(-3.0 * 2 / 4)
    assert surrogate.kernel(z1, c1, z2, c2).item() == pytest.approx(expected, rel=1e-14)


def test_the_posterior_is_the_dense_gp_formula():
    bandit = observed_bandit()
    surrogate = bandit.surrogates[0]
    beta = torch.tensor([0.3], dtype=torch.float64)
    mean, covariance = bandit.scores(beta)
    z, c = beta.expand(len(bandit.arms), 1), bandit.arms.double()
    y = surrogate.r
    m, s = y.mean(), y.std()
    noise = surrogate.log_params[3].exp() + 1e-8
    gram = surrogate.kernel(surrogate.z, surrogate.c, surrogate.z, surrogate.c)
    gram = gram + noise * torch.eye(len(y), dtype=torch.float64)
    cross = surrogate.kernel(surrogate.z, surrogate.c, z, c)
    inverse = torch.linalg.inv(gram)
    assert torch.allclose(mean, m + s * cross.T @ inverse @ ((y - m) / s), atol=1e-10)
    assert torch.allclose(covariance, s**2 * (surrogate.kernel(z, c, z, c) - cross.T @ inverse @ cross), atol=1e-10)


def synthetic(beta: float, mask: torch.Tensor) -> float:
    """A reward table ``c · w(β)`` whose best arm moves with β; its maximum over the arms at β is :func:`best`."""
    return float(mask.double() @ weights(beta))


def weights(beta: float) -> torch.Tensor:
    return torch.tensor([math.cos(math.pi * beta), -0.3, math.sin(math.pi * beta) - 0.4, beta - 0.5],
                        dtype=torch.float64)


def best(beta: float) -> float:
    """The best arm's reward in closed form: the sum of the positive weights (or the largest, if none is)."""
    w = weights(beta)
    return float(w.clamp_min(0).sum()) if (w > 0).any() else float(w.max())


@pytest.mark.parametrize("acquisition", ["ucb", "ts"])
def test_regret_on_a_synthetic_table_grows_sublinearly(acquisition):
    bandit = MetalicBandit(["a", "b", "c", "d"], context_dim=1, acquisition=acquisition, seed=1)
    generator, regrets = torch.Generator().manual_seed(2), []
    for _ in range(45):
        beta = float(torch.rand(1, generator=generator))
        mask = bandit.select([beta])
        regrets.append(best(beta) - synthetic(beta, mask))
        bandit.update([beta], mask, synthetic(beta, mask))
    first, last = sum(regrets[:15]) / 15, sum(regrets[-15:]) / 15
    assert last < 0.25 * first


def test_the_sequential_bandit_learns_both_phases():
    bandit = MetalicBandit(["a", "b", "c", "d"], context_dim=1, sequential=True, seed=3)
    generator, regrets = torch.Generator().manual_seed(4), []
    for _ in range(40):
        beta = float(torch.rand(1, generator=generator))
        adam = bandit.select([beta])
        adam_reward = synthetic(beta, adam)
        lbfgs = bandit.select([beta], adam_reward=adam_reward)
        final = (synthetic(beta, adam) + synthetic(beta, lbfgs)) / 2
        regrets.append(best(beta) - final)
        bandit.update([beta], torch.stack([adam, lbfgs]), final, adam_reward=adam_reward)
    assert sum(regrets[-10:]) / 10 < 0.35 * sum(regrets[:10]) / 10


def test_the_reward_is_minus_log10_the_capped_error():
    assert reward(1e-3) == pytest.approx(3.0)
    assert reward(math.inf) == reward(math.nan) == reward(1e5) == -2.0


def test_bad_input_is_named():
    with pytest.raises(ValueError, match=r"conditions=\[\]: give the distinct candidate interface conditions"):
        MetalicBandit([], context_dim=1)
    with pytest.raises(ValueError, match="acquisition='eps': expected one of"):
        MetalicBandit(["a"], context_dim=1, acquisition="eps")
    bandit = MetalicBandit(["a", "b"], context_dim=1)
    with pytest.raises(ValueError, match="beta has 2 entries but the bandit's context_dim is 1"):
        bandit.select([0.1, 0.2])
    with pytest.raises(ValueError, match=r"mask has shape \(3,\) but the bandit expects \(2,\)"):
        bandit.update([0.1], [1, 0, 1], 1.0)
    with pytest.raises(ValueError, match="adam_reward is for the sequential bandit"):
        bandit.select([0.1], adam_reward=1.0)
    with pytest.raises(ValueError, match="reward=nan must be finite"):
        bandit.update([0.1], [1, 0], math.nan)
    with pytest.raises(ValueError, match=r"bandit expects \(2, 2\).*for each phase"):
        MetalicBandit(["a", "b"], context_dim=1, sequential=True).update([0.1], [1, 0], 1.0, adam_reward=0.5)
