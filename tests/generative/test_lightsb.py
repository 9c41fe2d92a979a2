"""LightSB against closed forms and quadrature in float64: log c, log v, the conditional plan, the bridge, the drift,
and the EOT benchmark's ground truth (the well-specified case)."""

import math

import pytest
import torch

import zoo
from zoo.data.transport.eot_benchmark import GaussianMixtureBenchmark
from zoo.generative import LightSB, brownian_bridge


def random_model(covariance: str, dim: int = 2, K: int = 3, epsilon: float = 0.7, seed: int = 0) -> LightSB:
    """A float64 model with random parameters (S_k eigenvalues in (0.3, 0.8), random rotations if full)."""
    torch.manual_seed(seed)
    model = LightSB(dim, K, epsilon, covariance).double()
    with torch.no_grad():
        model.r.copy_(torch.randn(K, dim, dtype=torch.float64))
        model.s.copy_(torch.empty(K, dim, dtype=torch.float64).uniform_(math.log(0.3), math.log(0.8)))
        model.log_alpha_raw.copy_(epsilon * torch.randn(K, dtype=torch.float64))
        if covariance == "full":
            model.U.parametrizations.weight.original.copy_(torch.randn(K, dim, dim, dtype=torch.float64))
    return model


def grid(half_width: float = 9.0, n: int = 601) -> tuple[torch.Tensor, float]:
    """A 2-D quadrature grid ``(n*n, 2)`` and its cell area."""
    axis = torch.linspace(-half_width, half_width, n, dtype=torch.float64)
    points = torch.cartesian_prod(axis, axis)
    return points, (axis[1] - axis[0]).item() ** 2


def log_v_reference(model: LightSB, x: torch.Tensor) -> torch.Tensor:
    """``log Σ_k α_k N(x | r_k, ε S_k)`` with torch.distributions and the explicit matrices ``S_k``."""
    S = model.S().detach()
    normal = torch.distributions.MultivariateNormal(model.r.detach(), covariance_matrix=model.epsilon * S)
    return (model.log_alpha.detach() + normal.log_prob(x.unsqueeze(1))).logsumexp(-1)


@pytest.mark.parametrize("covariance", ["diagonal", "full"])
def test_log_v_and_S(covariance):
    model = random_model(covariance)
    S = model.S().detach()
    eigenvalues = torch.linalg.eigvalsh(S).sort(-1).values
    torch.testing.assert_close(eigenvalues, model.s.detach().exp().sort(-1).values)
    x = torch.randn(50, 2, dtype=torch.float64)
    torch.testing.assert_close(model.log_v(x), log_v_reference(model, x), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("covariance", ["diagonal", "full"])
def test_log_c_and_conditional_plan_by_quadrature(covariance):
    """c(x0) = ∫ exp(<x0, x1>/ε) v(x1) dx1 and the moments of π(x1|x0) ∝ exp(<x0, x1>/ε) v(x1), by quadrature."""
    model = random_model(covariance)
    points, area = grid()
    log_v = log_v_reference(model, points)
    x0 = torch.tensor([[0.3, -0.5], [1.0, 0.4], [-0.8, -0.2]], dtype=torch.float64)
    with torch.no_grad():
        log_c, mean = model.log_c(x0), model(x0)
        for i, x in enumerate(x0):
            log_integrand = points @ x / model.epsilon + log_v
            assert log_c[i].item() == pytest.approx((log_integrand.logsumexp(0) + math.log(area)).item(), abs=1e-8)
            weights = log_integrand.softmax(0)
            torch.testing.assert_close(mean[i], weights @ points, rtol=1e-7, atol=1e-8)
            # exact sampling: sample moments of x1 ~ π(·|x) against the quadrature moments
            samples = model.sample(x.expand(20_000, 2))
            centred = points - weights @ points
            cov = (weights.unsqueeze(1) * centred).T @ centred
            torch.testing.assert_close(samples.mean(0), weights @ points, atol=0.03, rtol=0)
            torch.testing.assert_close(torch.cov(samples.T), cov, atol=0.03, rtol=0.05)
            exact_mean, exact_cov = model.conditional_moments(x[None])
            torch.testing.assert_close(exact_mean[0], weights @ points, rtol=1e-7, atol=1e-8)
            torch.testing.assert_close(exact_cov[0], cov, rtol=1e-6, atol=1e-8)


def test_brownian_bridge_variance_is_eps_t_one_minus_t():
    torch.manual_seed(0)
    epsilon, n = 0.5, 200_000
    x0 = torch.tensor([[1.0, -2.0]], dtype=torch.float64).expand(n, 2)
    x1 = torch.tensor([[3.0, 0.5]], dtype=torch.float64).expand(n, 2)
    for t in (0.1, 0.5, 0.8):
        xt = brownian_bridge(x0, x1, t, epsilon)
        torch.testing.assert_close(xt.mean(0), (1 - t) * x0[0] + t * x1[0], atol=0.01, rtol=0)
        variance = epsilon * t * (1 - t)   # not (ε t (1 - t))², the reference code's former bug
        torch.testing.assert_close(xt.var(0), torch.full((2,), variance, dtype=torch.float64), rtol=0.02, atol=0)
    # the model's bridge marginal with one component: Var x_t = t² ε S + ε t (1 - t)
    model = random_model("diagonal", K=1)
    t = 0.4
    xt = model.sample_bridge(x0[:100_000], t)
    expected = t ** 2 * model.epsilon * model.s.detach()[0].exp() + model.epsilon * t * (1 - t)
    torch.testing.assert_close(xt.var(0), expected, rtol=0.03, atol=0)


@pytest.mark.parametrize("covariance", ["diagonal", "full"])
def test_drift_matches_autograd_of_the_log_integral(covariance):
    """g(x, t) = ε ∇_x log ∫ N(x'|x, (1-t)ε I) φ(x') dx', φ(x') = exp(|x'|²/2ε) v(x'), by quadrature + autograd."""
    model = random_model(covariance, epsilon=0.6)
    points, area = grid(12.0, 601)
    log_phi = points.square().sum(-1) / (2 * model.epsilon) + log_v_reference(model, points)
    for t in (0.0, 0.3, 0.7):
        x = torch.tensor([[0.4, -0.3], [-1.0, 0.8]], dtype=torch.float64, requires_grad=True)
        variance = (1 - t) * model.epsilon
        log_kernel = -(x.unsqueeze(1) - points).square().sum(-1) / (2 * variance) - math.log(2 * math.pi * variance)
        log_h = (log_kernel + log_phi).logsumexp(-1) + math.log(area)
        (gradient,) = torch.autograd.grad(log_h.sum(), x)
        with torch.no_grad():
            torch.testing.assert_close(model.drift(x.detach(), t), model.epsilon * gradient, rtol=1e-6, atol=1e-7)


def test_sample_trajectory_ends_at_the_conditional_plan():
    torch.manual_seed(1)
    model = random_model("diagonal", epsilon=0.5, seed=3)
    x0 = torch.tensor([[0.2, -0.4]], dtype=torch.float64).expand(4000, 2)
    paths = model.sample_trajectory(x0, n_steps=200)
    assert paths.shape == (4000, 201, 2)
    torch.testing.assert_close(paths[:, 0], x0)
    torch.testing.assert_close(paths[:, -1].mean(0), model(x0[:1])[0].detach(), atol=0.08, rtol=0)


def benchmark_model(benchmark: GaussianMixtureBenchmark) -> LightSB:
    """LightSB (K = 5, diagonal, float64) set to the benchmark's exact potential v* = e^{-|y|²/2ε} f."""
    return LightSB(benchmark.dim, 5, benchmark.epsilon).double().set_potential(**benchmark.lightsb_parameters())


@pytest.mark.parametrize("dim,epsilon", [(2, 0.1), (16, 1.0), (64, 10.0)])
def test_true_parameters_reproduce_the_benchmark_plan_and_drift(dim, epsilon):
    benchmark = GaussianMixtureBenchmark(dim, epsilon, seed=0)
    model = benchmark_model(benchmark)
    x = benchmark.sample_p0(64, torch.Generator().manual_seed(0))
    weights = model.component_logits(x).softmax(-1).detach()
    means = model.conditional_means(x).detach()
    true_weights, true_means = benchmark.conditional_components(x)
    torch.testing.assert_close(weights, true_weights, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(means, true_means, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(model.epsilon * model.S().detach()[0],
                               benchmark.conditional_variance * torch.eye(dim, dtype=torch.float64))
    mean, cov = benchmark.conditional_moments(x)
    torch.testing.assert_close(model(x).detach(), mean, rtol=1e-10, atol=1e-12)
    model_mean, model_cov = model.conditional_moments(x)
    torch.testing.assert_close(model_mean.detach(), mean, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(model_cov.detach(), cov, rtol=1e-9, atol=1e-11)
    for t in (0.0, 0.5, 0.9):
        torch.testing.assert_close(model.drift(x, t).detach(), benchmark.drift(x, t), rtol=1e-8, atol=1e-10)


def test_true_parameters_minimise_the_objective():
    """L(θ) = KL(π*‖π_θ) + const: on the same large sample, the true potential beats perturbed ones."""
    benchmark = GaussianMixtureBenchmark(2, 1.0, seed=0)
    generator = torch.Generator().manual_seed(0)
    batch = {"x0": benchmark.sample_p0(100_000, generator), "x1": benchmark.sample_p1(100_000, generator)}
    model = benchmark_model(benchmark).eval()
    best = model.loss(batch)["loss"].item()
    for name, scale in (("r", 0.1), ("s", 0.2), ("log_alpha_raw", 0.3)):
        for seed in range(2):
            perturbed = benchmark_model(benchmark).eval()
            noise = torch.randn(getattr(perturbed, name).shape, generator=torch.Generator().manual_seed(seed),
                                dtype=torch.float64)
            with torch.no_grad():
                getattr(perturbed, name).add_(scale * noise)
            assert perturbed.loss(batch)["loss"].item() > best + 1e-4, name


def test_full_rotations_stay_orthogonal_under_training_and_r_starts_from_samples():
    torch.manual_seed(0)
    model = zoo.create_model("lightsb", dim=3, n_components=4, epsilon=0.5, covariance="full")
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    x1 = torch.randn(8, 3)
    model.train()
    for _ in range(5):
        optimizer.zero_grad()
        model.loss({"x0": torch.randn(8, 3), "x1": x1})["loss"].backward()
        optimizer.step()
    U = model.U.weight.detach().double()
    torch.testing.assert_close(U @ U.transpose(-1, -2), torch.eye(3, dtype=torch.float64).expand(4, 3, 3),
                               atol=1e-5, rtol=0)
    assert bool(model.r_initialised)
    fresh = zoo.create_model("lightsb", dim=3, n_components=4).train()
    fresh.loss({"x0": torch.randn(2, 3), "x1": x1[:2]})
    torch.testing.assert_close(fresh.r.detach(), x1[[0, 1, 0, 1]])  # fewer rows than K: drawn with replacement


def test_bad_input_is_a_clear_error():
    model = zoo.create_model("lightsb", dim=3)
    with pytest.raises(ValueError, match=r"shape \(batch, 3\)"):
        model.sample(torch.zeros(4, 2))
    with pytest.raises(ValueError, match="unpaired"):
        model.loss(torch.zeros(4, 3))
    with pytest.raises(ValueError, match="0 <= t < 1"):
        model.drift(torch.zeros(4, 3), 1.0)
    with pytest.raises(ValueError, match=r"r must have shape \(10, 3\)"):
        model.set_potential(torch.zeros(10), torch.zeros(5, 3), torch.zeros(10, 3))
    with pytest.raises(ValueError, match="covariance must be one of"):
        zoo.create_model("lightsb", covariance="dense")
    with pytest.raises(ValueError, match="epsilon"):
        zoo.create_model("lightsb", epsilon=0.0)
