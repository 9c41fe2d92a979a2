"""Regression and generative tasks, and the relative L2 metric, on tiny models."""

import lightning as L
import pytest
import torch
from torch import nn

import zoo
from zoo.evaluation import Evaluator
from zoo.metrics import RelativeL2Error, relative_l2
from zoo.registry import _REGISTRY
from zoo.tasks import ClassificationTask, GenerativeTask, RegressionTask
from zoo.tasks.optim import build_optimizer, build_scheduler

OPTIMIZER = {"name": "Adam", "lr": 0.01}


def fit_steps(task, batch, steps=80, lr=0.01):
    optimizer = torch.optim.Adam(task.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        loss = task.shared_step(batch, "train")
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


@pytest.fixture(autouse=True)
def quiet_log(monkeypatch):
    """Steps are called outside a Trainer here: logging is a no-op."""
    monkeypatch.setattr("lightning.LightningModule.log", lambda *args, **kwargs: None)
    monkeypatch.setattr("lightning.LightningModule.log_dict", lambda *args, **kwargs: None)


def test_relative_l2_closed_form():
    target = torch.tensor([[3.0, 4.0], [1.0, 0.0]])
    prediction = torch.tensor([[3.0, 4.0 + 5.0], [0.0, 0.0]])
    assert relative_l2(prediction, target).item() == pytest.approx((5 / 5 + 1 / 1) / 2)
    metric = RelativeL2Error()
    metric.update(prediction[:1], target[:1])
    metric.update(prediction[1:], target[1:])
    assert metric.compute().item() == pytest.approx(1.0)


def test_regression_task_sequence_to_sequence():
    torch.manual_seed(0)
    task = RegressionTask({"name": "s4d", "d_input": 1, "d_output": 1, "d_model": 16, "n_layers": 1, "d_state": 8,
                           "pooling": "none", "dropout": 0.0}, OPTIMIZER, loss="rel_l2")
    x = torch.randn(8, 32, 1)
    y = torch.cumsum(x, dim=1) * 0.1  # a causal LTI map S4D can represent
    losses = fit_steps(task, (x, y))
    assert losses[-1] < losses[0] / 5
    with pytest.raises(ValueError, match=r"model returned shape \(8, 32, 1\) but the target has shape \(8, 32\)"):
        task.shared_step((x, y[..., 0]), "train")
    with pytest.raises(ValueError, match="unknown regression loss 'l3'"):
        RegressionTask({"name": "s4d"}, OPTIMIZER, loss="l3")


def test_classification_task_checks_logit_shape():
    task = ClassificationTask({"name": "s4d", "d_output": 4, "d_model": 8, "n_layers": 1, "d_state": 4}, 10, OPTIMIZER)
    with pytest.raises(ValueError, match=r"logits of shape \(2, 4\).*num_classes=10"):
        task.shared_step((torch.randn(2, 16, 1), torch.zeros(2, dtype=torch.long)), "train")


class GaussianFit(nn.Module):
    """A toy generative model: maximum likelihood of a diagonal Gaussian, ``loss(batch)`` its NLL."""

    def __init__(self, dim: int = 3):
        super().__init__()
        self.mean, self.log_std = nn.Parameter(torch.zeros(dim)), nn.Parameter(torch.zeros(dim))

    def loss(self, batch: torch.Tensor) -> dict:
        nll = (0.5 * ((batch - self.mean) / self.log_std.exp()) ** 2 + self.log_std).sum(-1).mean()
        return {"loss": nll, "mean_norm": self.mean.norm()}


def test_generative_task_uses_model_loss(monkeypatch):
    monkeypatch.setattr("zoo.registry._REGISTRY", dict(_REGISTRY))
    zoo.register_model("gaussian_fit", family="test", paper="-", task="generative")(GaussianFit)
    task = GenerativeTask({"name": "gaussian_fit"}, OPTIMIZER)
    data = torch.randn(256, 3) * 2.0 + 5.0
    fit_steps(task, data, steps=1500, lr=0.05)
    assert torch.allclose(task.model.mean, data.mean(0), atol=0.02)
    with pytest.raises(TypeError, match="'s4d' has no loss\\(batch\\) method"):
        GenerativeTask({"name": "s4d"}, OPTIMIZER)


class Recorder(Evaluator):
    """Scores the Gaussian fit by its mean's norm and writes a stand-in figure; remembers its calls."""

    def __init__(self):
        self.calls = []

    def __call__(self, model, datamodule):
        self.calls.append((model, datamodule, torch.is_grad_enabled()))
        return {"mean_norm": model.mean.norm().item()}

    def plot(self, model, datamodule, path):
        path.write_text("figure")


def test_generative_task_scores_with_its_evaluator_after_testing(monkeypatch, tmp_path):
    monkeypatch.setattr("zoo.registry._REGISTRY", dict(_REGISTRY))
    zoo.register_model("gaussian_fit", family="test", paper="-", task="generative")(GaussianFit)
    logged = {}
    monkeypatch.setattr("lightning.LightningModule.log", lambda self, name, value, **_: logged.update({name: value}))
    evaluator = Recorder()
    task = GenerativeTask({"name": "gaussian_fit"}, OPTIMIZER, evaluator=evaluator)
    data = L.LightningDataModule.from_datasets(test_dataset=torch.randn(16, 3), batch_size=8)
    trainer = L.Trainer(default_root_dir=tmp_path, logger=False, enable_progress_bar=False, enable_model_summary=False)
    trainer.test(task, datamodule=data, verbose=False)
    assert evaluator.calls == [(task.model, data, True)]  # once, after the test loop, gradients on
    assert logged["test/mean_norm"] == 0.0 and (tmp_path / "samples.png").read_text() == "figure"
    trainer.save_checkpoint(tmp_path / "task.ckpt")  # the evaluator is no hyper-parameter: a plain checkpoint
    assert set(torch.load(tmp_path / "task.ckpt", weights_only=True)["hyper_parameters"]) == {"model", "optimizer",
                                                                                             "scheduler"}


@pytest.mark.parametrize("optimizer, scheduler, error, message", [
    ({"name": "AdamW", "lr": "abc"}, None, TypeError,
     "torch.optim.AdamW: lr='abc' is a str, expected float | torch.Tensor (task.optimizer.lr)"),
    ({"name": "Adam", "lr": 0.01, "betas": [0.9]}, None, TypeError, "betas=[0.9] is a list, expected tuple[float"),
    ({"name": "AdamW", "lr": -1.0}, None, ValueError, "task.optimizer (AdamW): Invalid learning rate: -1.0"),
    (OPTIMIZER, {"name": "cosine", "warmup_steps": "abc"}, ValueError,
     "task.scheduler.warmup_steps='abc': expected an int >= 0"),
    (OPTIMIZER, {"name": "cosine", "warmup_steps": -5}, ValueError, "task.scheduler.warmup_steps=-5"),
])
def test_bad_optimizer_options_name_the_key(optimizer, scheduler, error, message):
    with pytest.raises(error) as caught:
        build_scheduler(build_optimizer(nn.Linear(2, 1), optimizer), scheduler, total_steps=10)
    assert message in str(caught.value)
