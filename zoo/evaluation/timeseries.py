"""Sample quality of a time-series generator (TimeGAN's and KoVAE's protocol) on a
:class:`~zoo.data.sequence.timeseries.TimeSeriesDataModule`.

``model.sample(n_test)`` ``(n_test, T, d)`` is scored against the complete (never masked) test sequences with the
discriminative and predictive scores of :mod:`zoo.metrics.timeseries`, seeded by the datamodule's ``seed``; under
``fast_dev_run`` the post-hoc GRUs train for 2 iterations and one classifier.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from zoo.evaluation.base import Evaluator, quick
from zoo.metrics.timeseries import discriminative_scores, predictive_score
from zoo.optional import require


class TimeSeriesEvaluator(Evaluator):
    """Discriminative and predictive scores of a model's samples, and a figure of them.

    Args:
        discriminative_iterations, predictive_iterations, batch_size: the post-hoc GRUs' training (TimeGAN and
            KoVAE: 2000, 5000, 128).
        discriminative_repeats: classifiers behind the discriminative score's mean and std (the papers: 10).
    """

    def __init__(self, discriminative_iterations: int = 2000, discriminative_repeats: int = 10,
                 predictive_iterations: int = 5000, batch_size: int = 128):
        for key, value in (("discriminative_iterations", discriminative_iterations),
                           ("discriminative_repeats", discriminative_repeats),
                           ("predictive_iterations", predictive_iterations), ("batch_size", batch_size)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{key} must be a positive int, got {value!r}")
        self.iterations = (discriminative_iterations, predictive_iterations)
        self.discriminative_repeats, self.batch_size = discriminative_repeats, batch_size

    def __call__(self, model: nn.Module, datamodule) -> dict[str, float]:
        """``{"discriminative", "discriminative_std", "predictive"}`` of ``model.sample(n_test)`` against the
        complete test split (the discriminative mean and std over ``discriminative_repeats`` classifiers)."""
        real = datamodule.complete_sequences("test")
        fake = model.sample(len(real)).detach().float().cpu()
        if fake.shape != real.shape:
            raise ValueError(f"model.sample({len(real)}) gave shape {tuple(fake.shape)}, expected {tuple(real.shape)}")
        iterations, repeats = ((2, 2), 1) if quick(datamodule) else (self.iterations, self.discriminative_repeats)
        scores = torch.tensor(discriminative_scores(real, fake, iterations[0], self.batch_size, datamodule.seed,
                                                    repeats))
        return {"discriminative": float(scores.mean()),
                "discriminative_std": float(scores.std()) if repeats > 1 else 0.0,
                "predictive": predictive_score(real, fake, iterations[1], self.batch_size, datamodule.seed)}

    def plot(self, model: nn.Module, datamodule, path: str | Path, n: int = 6) -> None:
        """Channel 0 of ``n`` real test sequences beside ``n`` generated ones, saved to ``path``."""
        require("matplotlib").use("Agg")
        plt = require("matplotlib.pyplot")
        real, fake = datamodule.complete_sequences("test")[:n], model.sample(n).detach().float().cpu()
        figure, axes = plt.subplots(1, 2, figsize=(9, 3), sharey=True)
        for axis, data, title in ((axes[0], real, "real (test)"), (axes[1], fake, "generated")):
            axis.plot(data[..., 0].T.numpy())
            axis.set_title(f"{datamodule.dataset}: {title}, channel 0")
            axis.set_xlabel("t")
        figure.tight_layout()
        figure.savefig(path, dpi=100)
        plt.close(figure)
