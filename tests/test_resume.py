"""A run never loses work and resumes exactly: last.ckpt every epoch and on SIGTERM, unique run folders, bit-exact
resume, appended logs, and clear messages when a resume cannot be what the user asked for."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import lightning as L
import pytest
import torch

import zoo
import zoo.cli
from zoo.checkpoint import CheckpointError
from zoo.cli import train

ROOT = Path(__file__).resolve().parents[1]
#: a tiny default run: 3 shuffled batches an epoch, dropout on (the RNG matters), csv logs
TINY = ["model.d_model=8", "model.n_layers=1", "model.d_state=4", "model.dropout=0.2", "data.batch_size=16",
        "+trainer.limit_train_batches=3", "+trainer.limit_val_batches=1", "test=false"]


class SignalAt(L.Callback):
    """Send this process ``signum`` at the end of training step ``step`` (SIGTERM: what a scheduler does to a job)."""

    def __init__(self, step: int, signum: signal.Signals = signal.SIGTERM):
        self.step, self.signum = step, signum

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if trainer.global_step == self.step:
            signal.raise_signal(self.signum)


@pytest.fixture
def sigterm_at(monkeypatch):
    """``sigterm_at(step, signum=SIGTERM)``: the next ``train`` receives the signal after that step."""

    def arm(step: int, signum: signal.Signals = signal.SIGTERM):
        build = zoo.cli.build_trainer
        monkeypatch.setattr(zoo.cli, "build_trainer",
                            lambda cfg, callbacks=None: build(cfg, [*callbacks, SignalAt(step, signum)]))

    return arm


def state(path) -> dict:
    return torch.load(path, weights_only=True)


def assert_same_training_state(a: dict, b: dict) -> None:
    assert (a["epoch"], a["global_step"]) == (b["epoch"], b["global_step"])
    assert a["state_dict"].keys() == b["state_dict"].keys()
    for key in a["state_dict"]:
        assert torch.equal(a["state_dict"][key], b["state_dict"][key]), key
    for one, two in zip(a["optimizer_states"], b["optimizer_states"]):
        for index, moments in one["state"].items():
            for name, value in moments.items():
                assert torch.equal(value, two["state"][index][name]), (index, name)
    assert a["lr_schedulers"] == b["lr_schedulers"]


def test_last_ckpt_holds_the_final_step_when_the_last_epoch_did_not_improve(make_cfg):
    """lr = 0 after the first epoch: val/acc cannot improve, so best.ckpt stays at epoch 0; last.ckpt must not."""
    summary = train(make_cfg(*TINY, "trainer.max_epochs=3", "task.optimizer.lr=1e-6", "task.scheduler=null"))
    best, last = state(summary["best_checkpoint"]), state(summary["last_checkpoint"])
    assert Path(summary["last_checkpoint"]).name == "last.ckpt" and Path(summary["best_checkpoint"]).name == "best.ckpt"
    assert last["global_step"] == summary["global_step"] == 9 and last["epoch"] == 2
    assert best["global_step"] < last["global_step"]


def test_last_ckpt_every_n_steps(make_cfg):
    summary = train(make_cfg(*TINY, "trainer.max_epochs=1", "callbacks.last_checkpoint.every_n_train_steps=2"))
    assert state(summary["last_checkpoint"])["global_step"] == 3  # the epoch end comes after step 2's save
    with pytest.raises(Exception, match="every_n_train_steps must be a positive integer"):
        train(make_cfg(*TINY, "callbacks.last_checkpoint.every_n_train_steps=0", folder="bad"))


LIGHTSB = ["experiment=lightsb_eot", "data.n_train=48", "data.batch_size=16", "data.n_val=32", "data.n_test=32",
           "test=false", "model.n_components=4"]


@pytest.mark.parametrize(("stop_at", "run"),
                         [(3, TINY), (2, TINY), (2, [*TINY, "callbacks.last_checkpoint.every_n_train_steps=1"]),
                          (5, LIGHTSB)],
                         ids=["end of epoch", "mid-epoch", "step checkpoint", "generated stream"])
def test_resume_is_bit_exact(make_cfg, sigterm_at, stop_at, run):
    """2 epochs straight == stopped by SIGTERM after ``stop_at`` steps + resumed, with nothing else changed: weights,
    optimizer state, scheduler (dropout and the data order depend on the restored random states and the datamodule's
    position in its shuffled order or generated stream)."""
    run = [*run, "trainer.max_epochs=2"]
    straight = train(make_cfg(*run, folder="straight"))
    sigterm_at(stop_at)
    with pytest.raises(SystemExit) as stopped:
        train(make_cfg(*run, folder="stopped"))
    assert stopped.value.code == 128 + signal.SIGTERM
    last = Path(straight["last_checkpoint"]).parents[2] / "stopped" / "checkpoints" / "last.ckpt"
    assert state(last)["global_step"] == stop_at
    resumed = train(make_cfg(*run, f"ckpt_path={last}", folder="stopped"))
    assert resumed["global_step"] == straight["global_step"] == 6
    assert_same_training_state(state(straight["last_checkpoint"]), state(resumed["last_checkpoint"]))


def test_ctrl_c_stops_after_the_batch_saves_and_exits_130(make_cfg, tmp_path, sigterm_at):
    """A first Ctrl+C never leaves a half-done optimizer step in last.ckpt: the run stops at the batch boundary."""
    sigterm_at(2, signal.SIGINT)
    before = signal.getsignal(signal.SIGINT)   # Python's default, or SIG_IGN when a shell started us in the background
    with pytest.raises(SystemExit) as stopped:
        train(make_cfg(*TINY, "trainer.max_epochs=2"))
    assert stopped.value.code == 128 + signal.SIGINT
    assert state(tmp_path / "checkpoints" / "last.ckpt")["global_step"] == 2
    assert signal.getsignal(signal.SIGINT) is before  # the handler is put back


def test_resume_appends_to_the_csv_log_and_keeps_best_tracking(make_cfg, tmp_path, sigterm_at):
    sigterm_at(3)
    with pytest.raises(SystemExit):
        train(make_cfg(*TINY, "trainer.max_epochs=2", "logger=csv"))
    rows = list(csv.DictReader(open(tmp_path / "csv" / "metrics.csv")))
    best_before = state(tmp_path / "checkpoints" / "best.ckpt")["global_step"]
    resumed = train(make_cfg(*TINY, "trainer.max_epochs=2", "logger=csv",
                             f"ckpt_path={tmp_path / 'checkpoints' / 'last.ckpt'}"))
    after = list(csv.DictReader(open(tmp_path / "csv" / "metrics.csv")))
    assert after[:len(rows)] == rows and len(after) > len(rows)
    assert {row["epoch"] for row in after if row.get("val/acc")} == {"0", "1"}
    assert resumed["best_checkpoint"] == str(tmp_path / "checkpoints" / "best.ckpt") and best_before in (3, 6)


def test_a_changed_max_epochs_is_reported(make_cfg, tmp_path, capsys):
    first = train(make_cfg(*TINY, "trainer.max_epochs=1"))
    capsys.readouterr()
    train(make_cfg(*TINY, "trainer.max_epochs=2", f"ckpt_path={first['last_checkpoint']}"))
    out = capsys.readouterr().out
    assert "trainer.max_epochs: 1 -> 2" in out and "learning rate jumps" in out


def test_resuming_a_complete_run_says_so_and_trains_nothing(make_cfg, tmp_path, capsys):
    first = train(make_cfg(*TINY, "trainer.max_epochs=1"))
    last = Path(first["last_checkpoint"])
    before = last.read_bytes()
    capsys.readouterr()
    again = train(make_cfg(*TINY, "trainer.max_epochs=1", f"ckpt_path={last}"))
    out = " ".join(capsys.readouterr().out.split())
    assert "the run is already complete (it has trained 1 epochs and trainer.max_epochs=1)" in out
    assert "pass a larger trainer.max_epochs" in out and last.read_bytes() == before
    assert again["metrics"] == first["metrics"] and again["already_complete"]
    (tmp_path / "metrics.json").unlink()  # stopped after its last epoch, before its test: the resume tests it
    tested = train(make_cfg(*TINY, "trainer.max_epochs=1", "test=true", "+trainer.limit_test_batches=1",
                            f"ckpt_path={last}"))
    assert "test/acc" in tested["metrics"] and tested["global_step"] == first["global_step"]
    assert last.read_bytes() == before


def test_ckpt_path_last_without_a_checkpoint_says_it_starts_from_scratch(make_cfg, capsys):
    train(make_cfg(*TINY, "trainer.max_epochs=1", "ckpt_path=last"))
    assert "has no checkpoints/last.ckpt, so this run starts from scratch" in capsys.readouterr().out


def test_a_run_never_reuses_another_runs_folder(make_cfg, tmp_path):
    train(make_cfg(*TINY, "trainer.max_epochs=1"))
    with pytest.raises(FileExistsError, match="already holds a run.*ckpt_path=.*last.ckpt"):
        train(make_cfg(*TINY, "trainer.max_epochs=1"))
    (tmp_path / ".owner").write_text(json.dumps({"host": os.uname().nodename, "pid": os.getppid(), "started": "x"}))
    with pytest.raises(RuntimeError, match=f"in use by process {os.getppid()}"):
        train(make_cfg(*TINY, "trainer.max_epochs=2", f"ckpt_path={tmp_path / 'checkpoints' / 'last.ckpt'}"))


def test_resuming_another_models_checkpoint_says_what_differs(make_cfg, tmp_path):
    first = train(make_cfg(*TINY, "trainer.max_epochs=1"))
    with pytest.raises(CheckpointError, match=r"d_model=8 \(this run: 16\).*init_from=") as error:
        train(make_cfg(*TINY, "model.d_model=16", f"ckpt_path={first['last_checkpoint']}", folder="other"))
    assert len(str(error.value)) < 1200  # not a list of hundreds of keys
    with pytest.raises(CheckpointError, match="do not fit .*its model is 's4d', this run's 'fno'"):
        train(make_cfg("experiment=fno_darcy", f"ckpt_path={first['last_checkpoint']}", folder="fno"))


def test_a_folder_as_ckpt_path_names_the_checkpoints_in_it(make_cfg, tmp_path):
    train(make_cfg(*TINY, "trainer.max_epochs=1"))
    with pytest.raises(IsADirectoryError, match=r"is a folder: pass a \.ckpt file.*best\.ckpt"):
        train(make_cfg(*TINY, f"ckpt_path={tmp_path}", folder="again"))
    with pytest.raises(IsADirectoryError, match="is a folder"):
        zoo.load_model(tmp_path / "checkpoints")
    best = zoo.load_model(tmp_path / "checkpoints" / "best.ckpt")  # a run folder stands for its best checkpoint
    assert all(torch.equal(a, b) for a, b in zip(zoo.load_model(tmp_path).state_dict().values(),
                                                 best.state_dict().values()))


def test_init_from_a_finetuned_run_merges_its_adapters(make_cfg, tmp_path):
    base = train(make_cfg(*TINY, "trainer.max_epochs=1", folder="base"))
    tuned = train(make_cfg(*TINY, "trainer.max_epochs=1", f"init_from={base['last_checkpoint']}", "finetune=lora",
                           "finetune.rank=2", "finetune.save=merged", folder="tuned"))
    merged = zoo.load_model(tuned["finetuned"]["merged"])
    with pytest.raises(CheckpointError, match="fine-tuned with lora adapters.*merged.*eval.py"):
        zoo.load_model(tuned["last_checkpoint"])
    cfg = make_cfg(*TINY, "trainer.max_epochs=0", f"init_from={tuned['last_checkpoint']}", folder="again")
    task = zoo.cli.instantiate(cfg.task, _convert_="all")
    zoo.cli.initialise_from(task.model, tuned["last_checkpoint"], "s4d", strict=True)
    for key, value in merged.state_dict().items():
        assert torch.allclose(task.model.state_dict()[key], value, atol=1e-6), key


def _launch(tmp_path: Path, *overrides: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(ROOT / "train.py"), *TINY, f"paths.data_dir={tmp_path / 'data'}",
                             "logger=none", *overrides], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)


def test_two_runs_launched_together_get_two_folders(tmp_path):
    runs = [_launch(tmp_path, "trainer.max_epochs=1") for _ in range(2)]
    outputs = [run.communicate(timeout=300)[0] for run in runs]
    assert all(run.returncode == 0 for run in runs), outputs
    folders = sorted((tmp_path / "runs").glob("*/*"))
    assert len(folders) == 2 and all((folder / "metrics.json").is_file() for folder in folders)


def test_sigterm_saves_a_resumable_checkpoint_and_exits_non_zero(tmp_path):
    """The real thing: a train.py process killed with SIGTERM as a scheduler does, then resumed."""
    run = tmp_path / "run"
    job = _launch(tmp_path, "trainer.max_epochs=400", "callbacks.last_checkpoint.every_n_train_steps=1",
                  f"hydra.run.dir={run}")
    last = run / "checkpoints" / "last.ckpt"
    deadline = time.monotonic() + 240
    while not last.is_file() and job.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1.0)
    job.send_signal(signal.SIGTERM)
    output = job.communicate(timeout=120)[0]
    assert job.returncode == 128 + signal.SIGTERM, output[-3000:]
    assert "SIGTERM at epoch" in output and f"ckpt_path={last}" in output
    saved = state(last)
    assert 0 < saved["global_step"] < 1200
    resumed = _launch(tmp_path, f"trainer.max_epochs={saved['epoch'] + 2}", f"ckpt_path={last}")
    output = resumed.communicate(timeout=300)[0]
    assert resumed.returncode == 0, output[-3000:]
    assert json.loads((run / "metrics.json").read_text())["epochs"] == saved["epoch"] + 2
