"""The adversarial task: n_critic critic steps per generator step with both optimisers' states in the checkpoint, a
resumed run ends where a straight one does, finite losses, conditional batches, and train.py experiment=wgan_gp_bar
runs on a tiny bar."""

from __future__ import annotations

import lightning as L
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from zoo.cli import train
from zoo.tasks import AdversarialTask

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:FutureWarning",
                                        "ignore:.*does not have many workers:UserWarning",
                                        "ignore:.*smaller than the logging interval:UserWarning",
                                        "ignore:Checkpoint directory .* exists and is not empty:UserWarning")

MODEL = {"name": "wgan_gp", "channels": 2, "length": 16, "latent_dim": 4, "width": 8, "n_blocks": 2}
OPTIMIZER = {"name": "Adam", "lr": 1e-4, "betas": [0.0, 0.9]}
TINY = ["data.n_train=24", "data.n_val=8", "data.n_test=8", "data.n_cells=100", "data.n_steps=390",
        "data.n_records=16", "data.batch_size=8", "model.width=8", "model.n_blocks=2", "logger=csv",
        "trainer.check_val_every_n_epoch=1"]


def steps(task: AdversarialTask) -> tuple[int, int]:
    """(generator, critic) optimiser steps taken, from Adam's per-parameter step counts."""
    return tuple(int(next(iter(optimizer.state.values()))["step"]) for optimizer in task.trainer.optimizers)


@pytest.mark.parametrize("conditional", [False, True])
def test_n_critic_critic_steps_per_generator_step(tmp_path, conditional):
    torch.manual_seed(0)
    tensors = [torch.randn(40, 2, 16)] + ([torch.randn(40, 3)] if conditional else [])
    loader = DataLoader(TensorDataset(*tensors), batch_size=4)
    task = AdversarialTask(model={**MODEL, "cond_dim": 3 if conditional else 0}, optimizer=OPTIMIZER, n_critic=3)
    trainer = L.Trainer(max_epochs=2, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, default_root_dir=tmp_path)
    trainer.fit(task, train_dataloaders=loader, val_dataloaders=loader)
    assert steps(task) == (20 // 3, 20) and trainer.global_step == 20 + 20 // 3
    metrics = trainer.callback_metrics
    for key in ("train/critic_loss", "train/wasserstein", "train/gradient_penalty", "train/generator_loss",
                "val/energy_distance", "val/wasserstein"):
        assert torch.isfinite(metrics[key]), key


def test_a_resumed_run_ends_where_a_straight_one_does(make_cfg):
    straight = train(make_cfg("experiment=wgan_gp_bar", *TINY, "trainer.max_epochs=2", folder="straight"))
    first = train(make_cfg("experiment=wgan_gp_bar", *TINY, "trainer.max_epochs=1", folder="resumed"))
    resumed = train(make_cfg("experiment=wgan_gp_bar", *TINY, "trainer.max_epochs=2",
                             f"ckpt_path={first['last_checkpoint']}", folder="resumed"))
    assert straight["global_step"] == resumed["global_step"] == 6 + 6 // 5
    a, b = (torch.load(run["last_checkpoint"], weights_only=True) for run in (straight, resumed))
    assert len(a["optimizer_states"]) == 2
    for key, value in a["state_dict"].items():
        assert torch.allclose(value, b["state_dict"][key], atol=1e-6), key
    assert all(torch.isfinite(torch.tensor(v)) for v in straight["metrics"].values())


def test_bad_input_is_named():
    with pytest.raises(TypeError, match="model 'lightsb' has no latent, critic, critic_loss"):
        AdversarialTask(model={"name": "lightsb", "dim": 2}, optimizer=OPTIMIZER)
    with pytest.raises(ValueError, match="task.n_critic=0 must be a positive integer"):
        AdversarialTask(model=MODEL, optimizer=OPTIMIZER, n_critic=0)
