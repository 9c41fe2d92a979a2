"""The user's journeys: train, resume, fine-tune from weights, evaluate, and the NaN guard."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate
from torch import nn

import zoo
from zoo.callbacks import FiniteLossCheck
from zoo.cli import evaluate, initialise_from, train
from zoo.registry import _REGISTRY
from zoo.data import SeqDigitsDataModule
from zoo.parameters import parameter_groups
from zoo.tasks.optim import build_optimizer

ROOT = Path(__file__).resolve().parents[1]
SMALL = ["model.d_model=16", "model.n_layers=1", "model.d_state=8", "data.batch_size=32", "+trainer.limit_train_batches=3",
         "+trainer.limit_val_batches=2", "+trainer.limit_test_batches=2", "logger=csv"]


def test_overfit_one_batch():
    torch.manual_seed(0)
    data = SeqDigitsDataModule(batch_size=16)
    x, y = next(iter(data.train_dataloader()))
    model = zoo.create_model("s4d", d_model=32, n_layers=2, d_state=16, dropout=0.0)
    optimizer = build_optimizer(model, {"name": "AdamW", "lr": 0.01, "weight_decay": 0.0})
    losses = []
    for _ in range(60):
        loss = torch.nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] / 10


def test_ssm_parameters_get_their_own_lr_and_no_decay():
    model = zoo.create_model("s4d", d_model=8, n_layers=1, d_state=4, lr=0.002)
    groups = parameter_groups(model)
    ssm = [group for group in groups if group.get("lr") == 0.002]
    assert len(groups) == 2 and len(ssm) == 1 and ssm[0]["weight_decay"] == 0.0
    names = {id(p): n for n, p in model.named_parameters()}
    assert {names[id(p)].rsplit(".", 1)[-1] for p in ssm[0]["params"]} == {"log_dt", "A_real_log", "A_imag", "B"}
    optimizer = build_optimizer(model, {"name": "AdamW", "lr": 0.01, "weight_decay": 0.05})
    assert [group["weight_decay"] for group in optimizer.param_groups] == [0.05, 0.0]
    with pytest.raises(ValueError, match="unknown optimizer 'Adamm'"):
        build_optimizer(model, {"name": "Adamm", "lr": 0.1})


def test_train_resume_init_from_and_eval(make_cfg, tmp_path):
    first = train(make_cfg(*SMALL, "trainer.max_epochs=2"))
    run = tmp_path
    assert (run / "checkpoints" / "best.ckpt").is_file() and (run / "checkpoints" / "last.ckpt").is_file()
    assert json.loads((run / "metrics.json").read_text())["metrics"]["test/acc"] == first["metrics"]["test/acc"]
    assert first["global_step"] == 6

    # resume: the run continues at the saved step and epoch, with the optimizer state
    last = run / "checkpoints" / "last.ckpt"
    resumed = train(make_cfg(*SMALL, "trainer.max_epochs=3", f"ckpt_path={last}", "test=false"))
    assert resumed["global_step"] == 9 and resumed["epochs"] == 3

    # fine-tune: new run from the weights, 5 classes: the head is re-initialised, the rest loaded
    best = run / "checkpoints" / "best.ckpt"
    trained = zoo.load_model(best)
    cfg = make_cfg(*SMALL, "trainer.max_epochs=0", f"init_from={best}", "data.num_classes=5", "test=false")
    task = instantiate(cfg.task, _convert_="all")
    initialise_from(task.model, str(best), "s4d")
    assert torch.equal(task.model.encoder.weight, trained.encoder.weight)
    assert task.model.decoder.weight.shape == (5, 16)
    finetuned = train(make_cfg(*SMALL, "trainer.max_epochs=1", f"init_from={best}", "data.num_classes=5",
                               folder="finetuned"))
    assert finetuned["global_step"] == 3 and 0.0 <= finetuned["metrics"]["test/acc"] <= 1.0

    # eval.py on the 10-class checkpoint reproduces the training run's test accuracy
    (run / "metrics.json").unlink()
    evaluated = evaluate(make_cfg(f"ckpt_path={best}", "+trainer.limit_test_batches=2", config="eval"))
    assert evaluated["metrics"]["test/acc"] == pytest.approx(first["metrics"]["test/acc"])
    assert (run / "metrics.json").is_file()

    # the PTD paper's robustness test: the same checkpoint under Fourier noise before every SSM layer
    noisy = evaluate(make_cfg(f"ckpt_path={best}", "+trainer.limit_test_batches=2", "+eval.noise=fourier",
                              "+eval.amplitude=0.5", config="eval"))["metrics"]
    assert noisy["test/acc"] == pytest.approx(first["metrics"]["test/acc"])
    assert 0 <= noisy["noisy/test/acc"] <= 1 and noisy["noisy/test/loss"] != noisy["test/loss"]
    with pytest.raises(ValueError, match="unknown eval.noise 'white'"):
        evaluate(make_cfg(f"ckpt_path={best}", "+eval.noise=white", config="eval"))


def test_operator_run_keeps_its_normaliser_and_tests_every_resolution(make_cfg, tmp_path):
    """Darcy + FNO: the task decodes with the training set's y statistics, which travel in the checkpoint, so
    eval.py reproduces the test metrics of train.py at both resolutions; a bare model returns normalised y."""
    data = ["data.n_train=16", "data.n_val=8", "data.n_test=8", "data.batch_size=8", "data.resolution=17",
            "data.test_resolutions=[17,33]"]
    fitted = train(make_cfg("experiment=fno_darcy", "trainer.max_epochs=1", "model.width=8", "model.modes=6", *data))
    metrics = fitted["metrics"]
    assert {"test/rel_l2", "test/rel_h1", "test_33/rel_l2", "test_33/rel_h1"} <= set(metrics)
    best = fitted["best_checkpoint"]
    evaluated = evaluate(make_cfg(f"ckpt_path={best}", config="eval"))["metrics"]
    for key in ("test/rel_l2", "test_33/rel_l2"):
        assert evaluated[key] == pytest.approx(metrics[key], rel=1e-5)
    state = torch.load(best, weights_only=True)["state_dict"]
    assert state["y_std"].item() > 0 and state["y_mean"].item() > 0  # Darcy's pressure is positive
    model = zoo.load_model(best)
    assert model(torch.zeros(1, 1, 17, 17)).shape == (1, 1, 17, 17)


def test_checkpoint_loads_with_weights_only(make_cfg, tmp_path):
    train(make_cfg(*SMALL, "trainer.max_epochs=1", "test=false"))
    checkpoint = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    assert checkpoint["hyper_parameters"]["model"]["name"] == "s4d"
    assert checkpoint["zoo_config"]["data"]["_target_"] == "zoo.data.SeqDigitsDataModule"


def test_resume_from_a_corrupt_file_is_a_clear_error(make_cfg, tmp_path):
    corrupt = tmp_path / "bad.ckpt"
    corrupt.write_text("garbage")
    with pytest.raises(ValueError, match="bad.ckpt"):
        train(make_cfg(*SMALL, f"ckpt_path={corrupt}"))


def test_init_from_another_model_is_a_clear_error(make_cfg, tmp_path, monkeypatch):
    monkeypatch.setattr("zoo.registry._REGISTRY", dict(_REGISTRY))
    zoo.register_model("tiny_mlp", family="test", paper="-", task="regression")(lambda: nn.Linear(1, 1))
    other = zoo.save_pretrained(zoo.create_model("tiny_mlp"), tmp_path / "other")
    with pytest.raises(ValueError, match="holds a 'tiny_mlp' model but this run builds 's4d'"):
        train(make_cfg(*SMALL, f"init_from={other}"))


def test_nan_loss_stops_with_a_clear_message():
    class Trainer:
        current_epoch, global_step = 3, 42

    with pytest.raises(FloatingPointError, match="training loss is nan at epoch 3, step 42.*lower task.optimizer.lr"):
        FiniteLossCheck().on_train_batch_end(Trainer(), None, {"loss": torch.tensor(float("nan"))}, None, 0)


def test_cli_help_and_multirun(tmp_path):
    help_text = subprocess.run([sys.executable, str(ROOT / "train.py"), "--help"], capture_output=True, text=True,
                               check=True).stdout
    for group in ("experiment", "model", "data", "task", "trainer", "logger", "callbacks"):
        assert f"{group}:" in help_text
    done = subprocess.run([sys.executable, str(ROOT / "train.py"), "-m", "trainer=debug", "seed=0,1", "logger=none",
                           f"hydra.sweep.dir={tmp_path}"], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert all(json.loads((tmp_path / str(job) / "metrics.json").read_text())["seed"] == job for job in (0, 1))


@pytest.mark.gpu
def test_gpu_bf16_run(make_cfg):
    summary = train(make_cfg(*SMALL, "trainer=gpu", "+trainer.fast_dev_run=true"))
    assert summary["global_step"] == 1 and torch.cuda.max_memory_allocated() > 0
