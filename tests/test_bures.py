"""Bures-Wasserstein metrics against POT's ``ot.gaussian`` and closed forms, in float64."""

import numpy as np
import ot
import pytest
import torch

from zoo.metrics import bures_wasserstein_squared, bw2_uvp, cbw2_uvp, cbw2_uvp_moments, sample_moments


def random_gaussian(generator: torch.Generator, dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    mean = torch.randn(dim, generator=generator, dtype=torch.float64)
    factor = torch.randn(dim, dim, generator=generator, dtype=torch.float64)
    return mean, factor @ factor.T + 0.1 * torch.eye(dim, dtype=torch.float64)


@pytest.mark.parametrize("dim", [1, 2, 5, 16])
def test_bures_wasserstein_matches_pot(dim):
    generator = torch.Generator().manual_seed(dim)
    for _ in range(3):
        (m1, c1), (m2, c2) = random_gaussian(generator, dim), random_gaussian(generator, dim)
        expected = ot.gaussian.bures_wasserstein_distance(m1.numpy(), m2.numpy(), c1.numpy(), c2.numpy()) ** 2
        assert bures_wasserstein_squared(m1, c1, m2, c2).item() == pytest.approx(float(expected), rel=1e-8, abs=1e-10)
        # symmetric in its two Gaussians
        assert bures_wasserstein_squared(m2, c2, m1, c1).item() == pytest.approx(float(expected), rel=1e-8, abs=1e-10)


def test_batched_equals_one_by_one_and_closed_forms():
    generator = torch.Generator().manual_seed(0)
    pairs = [(random_gaussian(generator, 4), random_gaussian(generator, 4)) for _ in range(5)]
    m1, c1 = torch.stack([p[0][0] for p in pairs]), torch.stack([p[0][1] for p in pairs])
    m2, c2 = torch.stack([p[1][0] for p in pairs]), torch.stack([p[1][1] for p in pairs])
    batched = bures_wasserstein_squared(m1, c1, m2, c2)
    single = torch.stack([bures_wasserstein_squared(m1[i], c1[i], m2[i], c2[i]) for i in range(5)])
    torch.testing.assert_close(batched, single, rtol=1e-10, atol=1e-12)
    # identical Gaussians: 0; commuting covariances a I, b I: ||m1 - m2||^2 + D (sqrt a - sqrt b)^2
    assert bures_wasserstein_squared(m1, c1, m1, c1).abs().max().item() < 1e-9
    eye = torch.eye(3, dtype=torch.float64)
    value = bures_wasserstein_squared(torch.zeros(3), 4 * eye, torch.ones(3), 9 * eye).item()
    assert value == pytest.approx(3 + 3 * (2 - 3) ** 2, rel=1e-12)


def test_sample_moments_match_numpy():
    samples = torch.randn(3, 50, 4, dtype=torch.float64)
    mean, cov = sample_moments(samples)
    for i in range(3):
        np.testing.assert_allclose(mean[i].numpy(), samples[i].numpy().mean(0), rtol=1e-12)
        np.testing.assert_allclose(cov[i].numpy(), np.cov(samples[i].numpy().T), rtol=1e-10)


def test_uvp_normalisation_matches_pot_on_sample_moments():
    generator = torch.Generator().manual_seed(1)
    samples = torch.randn(400, 3, generator=generator, dtype=torch.float64) * 2 + 1
    mean, cov = random_gaussian(generator, 3)
    moments = np.mean(samples.numpy(), 0), np.cov(samples.numpy().T)
    w2 = ot.gaussian.bures_wasserstein_distance(moments[0], mean.numpy(), moments[1], cov.numpy()) ** 2
    assert bw2_uvp(samples, mean, cov) == pytest.approx(100 * w2 / torch.trace(cov).item(), rel=1e-8)
    assert bw2_uvp(samples, mean, cov, target_variance=10.0) == pytest.approx(100 * w2 / 10.0, rel=1e-8)
    # cBW2-UVP: the mean over inputs of the per-input BW2, over the same normaliser
    stacked = torch.stack([samples, samples + 1])
    means, covs = torch.stack([mean, mean]), torch.stack([cov, cov])
    w2_shifted = ot.gaussian.bures_wasserstein_distance(moments[0] + 1, mean.numpy(), moments[1], cov.numpy()) ** 2
    assert cbw2_uvp(stacked, means, covs, 5.0) == pytest.approx(100 * (w2 + w2_shifted) / 2 / 5.0, rel=1e-8)

    assert cbw2_uvp_moments(*sample_moments(stacked), means, covs, 5.0) == cbw2_uvp(stacked, means, covs, 5.0)


@pytest.mark.parametrize("dim", [2, 16, 64])
def test_sampled_cbw2_uvp_bias_of_an_exact_sampler(dim):
    """n exact samples of N(0, σ²I): E BW² = σ²D/n · (1 + (D+1)/4) to first order (mean and Wishart errors);
    the exact-moment score is 0."""
    n, n_inputs, sigma2, generator = 1000, 3200 // dim, 0.7, torch.Generator().manual_seed(0)
    samples = sigma2 ** 0.5 * torch.randn(n_inputs, n, dim, generator=generator, dtype=torch.float64)
    means = torch.zeros(n_inputs, dim, dtype=torch.float64)
    covs = sigma2 * torch.eye(dim, dtype=torch.float64).expand(n_inputs, -1, -1)
    expected = 100 * sigma2 * dim / n * (1 + (dim + 1) / 4) / 10.0
    assert cbw2_uvp(samples, means, covs, 10.0) == pytest.approx(expected, rel=0.05)
    assert cbw2_uvp_moments(means, covs, means, covs, 10.0) == pytest.approx(0, abs=1e-12)


def test_bad_shapes_are_clear_errors():
    with pytest.raises(ValueError, match="covariance"):
        bures_wasserstein_squared(torch.zeros(3), torch.eye(2), torch.zeros(3), torch.eye(3))
    with pytest.raises(ValueError, match="n >= 2"):
        sample_moments(torch.zeros(1, 3))
    with pytest.raises(ValueError, match="n_inputs"):
        cbw2_uvp(torch.zeros(2, 5, 3), torch.zeros(3, 3), torch.eye(3).repeat(3, 1, 1), 1.0)
