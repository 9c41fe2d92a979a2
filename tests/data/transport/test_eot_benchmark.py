"""The rebuilt Gaussian-mixture EOT benchmark: construction, closed-form plan and drift (against quadrature,
torch.distributions autograd and Monte Carlo, float64), and the datamodules' batches."""

import math

import pytest
import torch

from zoo.data.transport.eot_benchmark import SCALES, EOTBenchmarkDataModule, GaussianMixtureBenchmark
from zoo.data.transport.toy2d import Toy2DDataModule


def log_f(benchmark: GaussianMixtureBenchmark, y: torch.Tensor, extra_variance: float = 0.0) -> torch.Tensor:
    """log Σ_k p_k N(y | μ_k, (σ² + extra) I) with torch.distributions."""
    scale = math.sqrt(benchmark.f_variance + extra_variance)
    normal = torch.distributions.Independent(torch.distributions.Normal(benchmark.f_means, scale), 1)
    return (benchmark.f_weights.log() + normal.log_prob(y.unsqueeze(-2))).logsumexp(-1)


def test_instances_follow_the_construction_and_are_seeded():
    for epsilon, scales in SCALES.items():
        for dim, scale in scales.items():
            benchmark = GaussianMixtureBenchmark(dim, epsilon, seed=0)
            assert benchmark.f_variance == pytest.approx((0.5 * scale) ** 2)
            assert benchmark.p0_variance == 0.25
            for means, values in ((benchmark.p0_means, [-2.0, 0.0, 2.0]), (benchmark.f_means, [-2.0, -1, 0, 1, 2])):
                # every coordinate is a permutation of the grid values
                grid = torch.tensor(values, dtype=torch.float64)[:, None].expand_as(means)
                assert torch.equal(means.sort(0).values, grid)
            assert benchmark.p0_weights.sum().item() == pytest.approx(1.0)
            assert benchmark.f_weights.sum().item() == pytest.approx(1.0)
    same, other = GaussianMixtureBenchmark(16, 1.0, seed=0), GaussianMixtureBenchmark(16, 1.0, seed=1)
    assert torch.equal(GaussianMixtureBenchmark(16, 1.0, seed=0).f_means, same.f_means)
    assert not torch.equal(other.f_means, same.f_means)
    with pytest.raises(ValueError, match="dim in"):
        GaussianMixtureBenchmark(3, 1.0)
    with pytest.raises(ValueError, match="epsilon in"):
        GaussianMixtureBenchmark(2, 0.5)


def test_conditional_plan_by_quadrature():
    """π(y|x) ∝ exp(-|x - y|²/2ε) f(y): its mean and covariance by quadrature on a 2-D grid."""
    benchmark = GaussianMixtureBenchmark(2, 1.0, seed=0)
    axis = torch.linspace(-6, 6, 801, dtype=torch.float64)
    points = torch.cartesian_prod(axis, axis)
    x = torch.tensor([[0.5, -1.0], [-2.0, 2.0]], dtype=torch.float64)
    mean, cov = benchmark.conditional_moments(x)
    for i in range(2):
        weights = (-(points - x[i]).square().sum(-1) / (2 * benchmark.epsilon) + log_f(benchmark, points)).softmax(0)
        centred = points - weights @ points
        torch.testing.assert_close(mean[i], weights @ points, rtol=1e-8, atol=1e-8)
        torch.testing.assert_close(cov[i], (weights.unsqueeze(1) * centred).T @ centred, rtol=1e-6, atol=1e-8)
    # sampling from the plan reproduces its moments
    samples = benchmark.sample_plan(x[:1].expand(100_000, 2), torch.Generator().manual_seed(0))
    torch.testing.assert_close(samples.mean(0), mean[0], atol=0.02, rtol=0)
    torch.testing.assert_close(torch.cov(samples.T), cov[0], atol=0.03, rtol=0.03)


@pytest.mark.parametrize("dim,epsilon", [(2, 0.1), (16, 1.0), (64, 10.0)])
def test_drift_is_eps_grad_log_of_the_smoothed_potential(dim, epsilon):
    """g*(x, t) = ε ∇ log Σ p_k N(x | μ_k, (σ² + ε(1 - t)) I), by autograd through torch.distributions."""
    benchmark = GaussianMixtureBenchmark(dim, epsilon, seed=0)
    x = benchmark.sample_p0(16, torch.Generator().manual_seed(0)).requires_grad_(True)
    for t in (0.0, 0.4, 0.95):
        (gradient,) = torch.autograd.grad(log_f(benchmark, x, epsilon * (1 - t)).sum(), x)
        torch.testing.assert_close(benchmark.drift(x.detach(), t), epsilon * gradient, rtol=1e-9, atol=1e-10)


def test_drift_by_monte_carlo():
    """g*(x, t) = ε ∇_x log E_ξ f(x + √((1-t)ε) ξ): a reparameterised Monte-Carlo estimate of the integral."""
    benchmark = GaussianMixtureBenchmark(2, 1.0, seed=0)
    t, xi = 0.5, torch.randn(400_000, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    x = torch.tensor([[0.3, -0.7], [1.5, 0.5]], dtype=torch.float64, requires_grad=True)
    log_h = torch.stack([(log_f(benchmark, point + math.sqrt((1 - t) * benchmark.epsilon) * xi)).logsumexp(0)
                         for point in x])
    (gradient,) = torch.autograd.grad(log_h.sum(), x)
    torch.testing.assert_close(benchmark.drift(x.detach(), t), benchmark.epsilon * gradient, atol=0.02, rtol=0.02)


def test_datamodule_batches_epochs_and_caching(tmp_path):
    data = EOTBenchmarkDataModule(dim=2, epsilon=1.0, data_dir=str(tmp_path), n_train=300, n_val=100, n_test=20,
                                  n_variance=10_000, batch_size=128)
    loader = data.train_dataloader()
    first, second = list(loader), list(loader)
    assert len(loader) == 3 and [batch["x0"].shape[0] for batch in first] == [128, 128, 44]
    assert first[0]["x0"].dtype == torch.float32 and first[0]["x1"].shape == (128, 2)
    assert not torch.equal(first[0]["x0"], second[0]["x0"])      # fresh samples every epoch
    val = [batch["x0"] for batch in data.val_dataloader()]
    assert torch.equal(torch.cat(val), torch.cat([batch["x0"] for batch in data.val_dataloader()]))  # fixed
    test = torch.cat([batch["x0"] for batch in data.test_dataloader()])
    assert test.shape == (20, 2)
    stored = data.load()
    assert data.cache_path.is_file() and torch.allclose(stored["x_test"].float(), test)
    assert stored["p1_cov"].shape == (2, 2)


@pytest.mark.parametrize("target", ["swiss_roll", "moons"])
def test_toy_pairs(target):
    data = Toy2DDataModule(target=target, epsilon=0.5, n_test=40)
    generator = torch.Generator().manual_seed(0)
    y = data.sample_p1(2000, generator)
    assert y.shape == (2000, 2) and y.abs().max() < 4
    with pytest.raises(ValueError, match="target must be one of"):
        Toy2DDataModule(target="circles")
