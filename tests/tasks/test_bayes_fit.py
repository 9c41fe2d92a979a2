"""The bayes_fit task: model.fit(**batch) is the training step (no optimiser), and the evaluation splits are scored by
RMSE and the split's relative L2."""

from __future__ import annotations

import lightning as L
import pytest
import torch
from torch.utils.data import DataLoader

import zoo
from zoo.registry import _REGISTRY
from zoo.tasks import BayesFitTask

pytestmark = pytest.mark.filterwarnings("ignore:.*does not have many workers:UserWarning")


class LeastSquares(zoo.checkpoint.Fitted):
    """Ordinary least squares, fitted in closed form: ``forward(x (B, p)) -> x β``."""

    def __init__(self):
        super().__init__()
        self.register_fitted("beta")
        self.fits = 0

    def fit(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.beta = torch.linalg.lstsq(x, y[:, None]).solution[:, 0]
        self.fits += 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.beta


class Linear(L.LightningDataModule):
    def __init__(self):
        super().__init__()
        generator = torch.Generator().manual_seed(0)
        self.beta = torch.randn(3, dtype=torch.float64, generator=generator)
        self.x = torch.randn(40, 3, dtype=torch.float64, generator=generator)
        self.x_test = torch.randn(25, 3, dtype=torch.float64, generator=generator)
        self.noise = 0.1 * torch.randn(25, dtype=torch.float64, generator=generator)

    def train_dataloader(self):
        return DataLoader([{"x": self.x, "y": self.x @ self.beta}], batch_size=None)

    def val_dataloader(self):
        return DataLoader([(self.x_test, self.x_test @ self.beta)], batch_size=None)

    def test_dataloader(self):
        return DataLoader([(self.x_test, self.x_test @ self.beta + self.noise)], batch_size=None)


def test_the_fit_is_the_training_step_and_the_split_is_scored_whole(monkeypatch, tmp_path):
    monkeypatch.setattr("zoo.registry._REGISTRY", dict(_REGISTRY))
    zoo.register_model("least_squares", family="test", paper="-", task="bayes_fit")(LeastSquares)
    task, data = BayesFitTask(model={"name": "least_squares"}), Linear()
    trainer = L.Trainer(max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, default_root_dir=tmp_path)
    trainer.fit(task, datamodule=data)
    assert task.model.fits == 1 and torch.allclose(task.model.beta, data.beta)
    metrics = trainer.test(task, datamodule=data, verbose=False)[0]
    target = data.x_test @ data.beta + data.noise
    assert metrics["test/rmse"] == pytest.approx(data.noise.square().mean().sqrt().item(), rel=1e-6)
    assert metrics["test/rel_l2"] == pytest.approx((data.noise.norm() / target.norm()).item(), rel=1e-6)


def test_an_optimiser_or_a_plain_batch_is_refused(monkeypatch):
    monkeypatch.setattr("zoo.registry._REGISTRY", dict(_REGISTRY))
    zoo.register_model("least_squares", family="test", paper="-", task="bayes_fit")(LeastSquares)
    with pytest.raises(ValueError, match="fits its model by the model's own inference"):
        BayesFitTask(model={"name": "least_squares"}, optimizer={"name": "Adam", "lr": 1e-3})
    with pytest.raises(ValueError, match="training batch is a dict of keyword arguments for model.fit"):
        BayesFitTask(model={"name": "least_squares"}).training_step((torch.zeros(2, 3), torch.zeros(2)), 0)
