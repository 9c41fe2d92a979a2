"""Scaling out: several processes on CPU (DDP over gloo), the Optuna sweep, the SLURM launcher, compile and export."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from hydra import compose, initialize_config_dir

import zoo
from zoo.cli import CONFIG_DIR, train

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from export import example_input, export  # noqa: E402

TINY = ["model.d_model=16", "model.n_layers=1", "model.d_state=8", "model.dropout=0.0", "trainer.max_epochs=2",
        "+trainer.overfit_batches=3", "data.test_size=181", "logger=none", "callbacks=progress"]


def test_ddp_cpu_two_processes_match_one_with_the_same_global_batch(make_cfg):
    """2 processes × batch 16 take the steps of 1 process × batch 32 (same samples, averaged gradients); the test
    split (181 samples: uneven over 2 processes) is evaluated once per sample and the metrics are synced."""
    one = train(make_cfg(*TINY, "data.batch_size=32"))["metrics"]
    two = train(make_cfg(*TINY, "data.batch_size=16", "trainer=ddp_cpu", "trainer.devices=2"))["metrics"]
    assert two["test/acc"] == one["test/acc"]
    assert two["val/loss"] == pytest.approx(one["val/loss"], rel=1e-5)
    assert two["test/loss"] == pytest.approx(one["test/loss"], rel=1e-2)  # a mean of the 2 processes' means


def test_optuna_sweep_runs_three_trials_and_writes_the_best_parameters(tmp_path):
    command = [sys.executable, "train.py", "-m", "hparams_search=optuna", "hydra.sweeper.n_trials=3",
               f"hydra.sweep.dir={tmp_path}", f"paths.data_dir={tmp_path / 'data'}", "logger=none",
               "callbacks=progress", "test=false", "trainer.max_epochs=1", "+trainer.limit_train_batches=2",
               "+trainer.limit_val_batches=1", "model.d_model=8", "model.n_layers=1", "model.d_state=4"]
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True, timeout=600)
    results = yaml.safe_load((tmp_path / "optimization_results.yaml").read_text())
    assert set(results["best_params"]) == {"task.optimizer.lr", "task.optimizer.weight_decay"}
    assert 1e-4 <= results["best_params"]["task.optimizer.lr"] <= 1e-2
    assert 0 <= results["best_value"] <= 1  # val/acc of the default experiment, maximised
    assert len([path for path in tmp_path.iterdir() if path.name.isdigit()]) == 3


def test_slurm_launcher_config_composes():
    overrides = ["hydra/launcher=slurm", "hydra.launcher.nodes=2", "hydra.launcher.gpus_per_node=4",
                 "hydra.launcher.partition=gpu", "trainer=ddp", "trainer.num_nodes=2", "trainer.devices=4", "ckpt_path=last"]
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose("train", overrides=overrides, return_hydra_config=True)
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("SlurmLauncher")
    assert (launcher.nodes, launcher.gpus_per_node, launcher.tasks_per_node) == (2, 4, 4)
    assert launcher.partition == "gpu" and launcher.max_num_timeout == 3 and launcher.timeout_min == 240
    assert (cfg.trainer.num_nodes, cfg.trainer.devices, cfg.trainer.strategy) == (2, 4, "ddp")
    out = subprocess.run([sys.executable, "train.py", *overrides, "--cfg", "job"], cwd=ROOT, check=True,
                         capture_output=True, text=True, timeout=300).stdout
    assert yaml.safe_load(out)["ckpt_path"] == "last"


def test_ckpt_path_last_resumes_when_the_run_folder_has_one(make_cfg, tmp_path):
    small = ["model.d_model=8", "model.n_layers=1", "model.d_state=4", "+trainer.limit_train_batches=2",
             "+trainer.limit_val_batches=1", "logger=none", "callbacks=default", "test=false"]
    first = train(make_cfg(*small, "trainer.max_epochs=1", "ckpt_path=last"))  # nothing to resume: from scratch
    assert first["global_step"] == 2
    again = train(make_cfg(*small, "trainer.max_epochs=2", "ckpt_path=last"))  # a requeued job: continues
    assert again["global_step"] == 4


@pytest.mark.parametrize("name", ["s4d", "fno"])
def test_torch_export_gives_the_eager_outputs(name, tmp_path):
    model = zoo.create_model(name)
    path = export(model, tmp_path / f"{name}.pt2", "export")
    program = torch.export.load(path)
    inputs = example_input(model)
    assert torch.allclose(program.module()(inputs), model.eval()(inputs), atol=1e-5)


def test_onnx_export_of_a_conv_operator_and_a_clear_refusal_for_fft_models(tmp_path):
    path = export(zoo.create_model("lsm"), tmp_path / "lsm.onnx", "onnx")  # checked by onnxruntime inside
    assert path.stat().st_size > 0
    with pytest.raises(RuntimeError, match="has no ONNX form.*--format export"):
        export(zoo.create_model("fno"), tmp_path / "fno.onnx", "onnx")


def test_compile_flag_trains_and_keeps_checkpoint_keys(make_cfg, monkeypatch):
    """compile=true compiles the model in place (here with dynamo's eager backend: inductor's code generation takes
    a minute on 2 cores), so checkpoints keep the plain keys and load into an uncompiled model."""
    compiled = []
    original = torch.nn.Module.compile

    def compile_eagerly(module, *args, **kwargs):
        compiled.append(type(module).__name__)
        return original(module, backend="eager")

    monkeypatch.setattr(torch.nn.Module, "compile", compile_eagerly)
    small = ["model.d_model=8", "model.n_layers=1", "model.d_state=4", "+trainer.limit_train_batches=2",
             "+trainer.limit_val_batches=1", "+trainer.limit_test_batches=1", "logger=none", "trainer.max_epochs=1"]
    summary = train(make_cfg(*small, "compile=true"))
    state = torch.load(summary["best_checkpoint"], weights_only=True)["state_dict"]
    assert compiled == ["S4DModel"]
    assert not any("_orig_mod" in key for key in state)
    assert zoo.load_model(summary["best_checkpoint"]) is not None
