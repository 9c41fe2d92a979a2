"""The time-series evaluator: discriminative and predictive scores of a model's samples against the test split."""

import pytest
import torch

from zoo.data.sequence.timeseries import TimeSeriesDataModule
from zoo.evaluation import TimeSeriesEvaluator


class _Replay(torch.nn.Module):
    """A "model" whose samples are given sequences (real ones, or a constant)."""

    def __init__(self, data):
        super().__init__()
        self.data = data

    def sample(self, n):
        return self.data[:n]


def test_sample_metrics_score_the_models_samples_against_the_test_split(tmp_path):
    module = TimeSeriesDataModule("sines", data_dir=str(tmp_path), n_train=8, n_val=4, n_test=200)
    evaluate = TimeSeriesEvaluator(discriminative_iterations=150, predictive_iterations=20, batch_size=64,
                                   discriminative_repeats=2)
    scores = evaluate(_Replay(torch.zeros(200, 24, 5)), module)  # a constant generator: told apart
    assert set(scores) == {"discriminative", "discriminative_std", "predictive"}
    assert scores["discriminative"] > 0.45 and scores["discriminative_std"] < 0.05 and 0 < scores["predictive"] < 1
    with pytest.raises(ValueError, match=r"model.sample\(200\) gave shape \(200, 24, 4\)"):
        evaluate(_Replay(torch.zeros(200, 24, 4)), module)


def test_the_figure_shows_real_and_generated_sequences(tmp_path):
    module = TimeSeriesDataModule("sines", data_dir=str(tmp_path), n_train=8, n_val=4, n_test=10)
    TimeSeriesEvaluator().plot(_Replay(module.complete_sequences("test")), module, tmp_path / "samples.png")
    assert (tmp_path / "samples.png").stat().st_size > 1000


def test_bad_settings_are_clear_errors():
    with pytest.raises(ValueError, match="discriminative_repeats must be a positive int, got 0"):
        TimeSeriesEvaluator(discriminative_repeats=0)
