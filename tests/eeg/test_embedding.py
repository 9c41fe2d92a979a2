"""The delay embedding against its definition and MOABB's AugmentedDataset, the augmented covariance of an AR(1)
against its closed form, and the order / lag heuristics on signals whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.integrate import solve_ivp
from scipy.signal import lfilter

from zoo.eeg.embedding import (delay_embed, false_neighbours_order, mutual_information_curve,
                               mutual_information_lag)
from zoo.functional.spd import covariance


def test_block_k_is_the_signal_shifted_by_k_lags_and_every_sample_is_used():
    x = torch.arange(2 * 3 * 10, dtype=torch.float64).reshape(2, 3, 10)
    z = delay_embed(x, order=3, lag=2)
    assert z.shape == (2, 9, 10 - 2 * 2)
    for k in range(3):
        torch.testing.assert_close(z[:, 3 * k:3 * (k + 1)], x[..., 2 * k:2 * k + 6])
    assert torch.equal(delay_embed(x, order=1, lag=5), x)


def test_moabb_trim_reproduces_augmented_dataset_bit_for_bit():
    from moabb.pipelines.features import AugmentedDataset

    x = np.random.default_rng(0).standard_normal((4, 5, 60))
    for order, lag in [(1, 1), (2, 1), (3, 4), (6, 2)]:
        expected = AugmentedDataset(order=order, lag=lag).fit(x, None).transform(x)
        ours = delay_embed(torch.tensor(x), order, lag, moabb=True).numpy()
        assert np.array_equal(ours, expected), (order, lag)
        full = delay_embed(torch.tensor(x), order, lag).numpy()  # one lag longer, the same samples before it
        assert full.shape[-1] == expected.shape[-1] + (lag if order > 1 else 0)
        assert np.array_equal(full[..., :expected.shape[-1]], expected)


def test_trials_shorter_than_the_embedding_span_are_an_error():
    with pytest.raises(ValueError, match=r"shorter than \(order - 1\) \* lag \+ 1 = 11"):
        delay_embed(torch.zeros(1, 2, 10), order=6, lag=2)
    delay_embed(torch.zeros(1, 2, 11), order=6, lag=2)
    with pytest.raises(ValueError, match="order must be a positive integer"):
        delay_embed(torch.zeros(1, 2, 10), order=0, lag=1)
    with pytest.raises(ValueError, match=r"\(batch, channels, time\)"):
        delay_embed(torch.zeros(2, 10), order=2, lag=1)


@pytest.mark.parametrize("lag", [1, 3])
def test_augmented_covariance_of_an_ar1_matches_its_closed_form(lag):
    """x_t = φ x_{t−1} + ε_t, ε ~ N(0, σ²): the order-2 ACM is σ²/(1−φ²) [[1, φ^τ], [φ^τ, 1]] (Monte Carlo over
    independent series, within 4 standard errors per entry)."""
    phi, sigma, series, length = 0.7, 1.5, 400, 1000
    noise = sigma * np.random.default_rng(1).standard_normal((series, 1, length + 200))
    x = torch.tensor(lfilter([1.0], [1.0, -phi], noise, axis=-1)[..., 200:])
    acm = covariance(delay_embed(x, order=2, lag=lag), "scm")
    expected = sigma ** 2 / (1 - phi ** 2) * torch.tensor([[1.0, phi ** lag], [phi ** lag, 1.0]], dtype=torch.float64)
    error = acm.std(0) / series ** 0.5
    assert ((acm.mean(0) - expected).abs() < 4 * error).all(), (acm.mean(0), expected, error)


def test_mutual_information_of_a_gaussian_ar1_matches_its_closed_form():
    """For a Gaussian process I(x_t; x_{t+τ}) = −½ log(1 − ρ(τ)²), ρ(τ) = φ^τ for an AR(1)."""
    phi = 0.8
    noise = np.random.default_rng(0).standard_normal((50, 2000))
    x = lfilter([1.0], [1.0, -phi], noise, axis=-1)[:, 500:]
    expected = -0.5 * np.log(1 - phi ** (2 * np.arange(1, 9)))
    np.testing.assert_allclose(mutual_information_curve(x, max_lag=8), expected, rtol=0.1, atol=3e-3)


@pytest.mark.parametrize("period", [20.0, 40.3])
def test_the_lag_heuristic_finds_a_quarter_period_of_a_noisy_oscillation(period):
    """The mutual information of x_t and x_{t+τ} is least where the autocorrelation first vanishes: τ = P/4."""
    rng = np.random.default_rng(0)
    t = np.arange(1000)
    x = np.sin(2 * np.pi * t / period + rng.uniform(0, 2 * np.pi, (30, 1, 1))) + 0.5 * rng.standard_normal((30, 2, 1000))
    assert abs(mutual_information_lag(x, max_lag=30) - period / 4) <= 1


def test_the_order_heuristic_finds_three_dimensions_for_the_lorenz_attractor():
    """Kennel, Brown & Abarbanel (1992): false neighbours of the Lorenz x-coordinate vanish at dimension 3."""
    def lorenz(_, s):
        return [10 * (s[1] - s[0]), s[0] * (28 - s[2]) - s[1], s[0] * s[1] - 8 / 3 * s[2]]

    x = solve_ivp(lorenz, (0, 110), [1.0, 1.0, 1.0], t_eval=np.arange(10, 110, 0.01), rtol=1e-9, atol=1e-9).y[0]
    x = x[None, None, :]
    lag = mutual_information_lag(x, max_lag=40)
    assert 10 <= lag <= 20  # the x-coordinate's first minimum, ~0.15 time units
    assert false_neighbours_order(x, lag, max_order=6) == 3


def test_heuristics_refuse_nan_samples():
    x = np.zeros((2, 2, 100))
    x[1, 0, 5] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        mutual_information_lag(x)
