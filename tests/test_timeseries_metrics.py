"""Discriminative and predictive scores on sanity cases: real against real, a constant generator."""

import numpy as np
import pytest
import torch

from zoo.data.sequence.timeseries import sines
from zoo.metrics.timeseries import discriminative_score, discriminative_scores, predictive_score


def draw(n: int, seed: int) -> torch.Tensor:
    return torch.from_numpy(sines(n, 24, 5, np.random.default_rng(seed))).float()


def test_discriminative_score_is_near_zero_for_real_data_and_large_for_a_constant_generator():
    real, other = draw(400, 0), draw(400, 1)
    assert discriminative_score(real, other, iterations=150, batch_size=64) < 0.08  # chance: |acc - .5| ~ 0.02
    assert discriminative_score(real, torch.zeros_like(real), iterations=150, batch_size=64) > 0.45
    scores = discriminative_scores(real, other, iterations=150, batch_size=64, repeats=3)
    assert len(scores) == 3 and len(set(scores)) > 1                  # own split and classifier per repeat
    assert scores[0] == discriminative_score(real, other, iterations=150, batch_size=64)
    assert discriminative_score(real, other, 150, 64, repeats=3) == pytest.approx(sum(scores) / 3)


def test_predictive_score_of_a_constant_generator_is_the_mae_of_that_constant():
    """Trained on sequences that are all 0.5, the predictor outputs 0.5: its MAE is E|x_{t+1, d} - 0.5|."""
    real = draw(400, 0)
    constant = predictive_score(real, torch.full_like(real, 0.5), iterations=100, batch_size=64)
    assert constant == pytest.approx(float((real[:, 1:, -1] - 0.5).abs().mean()), abs=0.02)
    assert predictive_score(real, draw(400, 1), iterations=200, batch_size=64) < constant


def test_bad_inputs_are_clear_errors():
    real = draw(10, 0)
    with pytest.raises(ValueError, match="same T and d"):
        discriminative_score(real, real[:, :12])
    with pytest.raises(ValueError, match="needs d >= 2 features"):
        predictive_score(real[..., :1], real[..., :1])
    with pytest.raises(ValueError, match="NaN"):
        predictive_score(real, torch.full_like(real, float("nan")))
