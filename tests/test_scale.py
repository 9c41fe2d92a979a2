"""Scaling out: several processes on CPU (DDP over gloo), the Optuna sweep, the SLURM launcher, compile and export."""

import contextlib
import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import time
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
DDP_TIMEOUT = 300  # seconds for the whole 2-process run (about 15 s on 2 idle cores)
GROUP_TIMEOUT = 120  # seconds a collective waits for the other process before it fails (Lightning's default: 30 min)
# gloo's DDP over forked processes, with a short process-group timeout
SHORT_TIMEOUT_DDP = ("trainer.strategy={_target_:lightning.pytorch.strategies.DDPStrategy,start_method:fork,"
                     f"timeout:{{_target_:datetime.timedelta,seconds:{GROUP_TIMEOUT}}}}}")
TRAIN_AND_DUMP = """import json, sys
from hydra import compose, initialize_config_dir
from zoo.cli import CONFIG_DIR, train
with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
    cfg = compose("train", overrides=json.loads(sys.argv[1]))
with open(sys.argv[2], "w") as file:
    json.dump(train(cfg)["metrics"], file)
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _follow_the_test() -> None:
    """In the child before ``exec``: die with the test process (Linux), and take SIGINT again (a shell that starts a
    job in the background ignores it, and torch's DDP ranks learn of their launcher's death only by SIGINT)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def run_in_own_session(command: list[str], env: dict[str, str], timeout: float) -> str:
    """Run ``command`` in a session (process group) of its own and return its output; past ``timeout`` seconds the
    whole group (forked DDP ranks included) is killed and the test fails, so it cannot hang. If the test process
    itself is killed, the command is too, and its DDP ranks follow it."""
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               start_new_session=True, preexec_fn=_follow_the_test)
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # the session's leader is alive: its group id is still its own
        output, _ = process.communicate()
        pytest.fail(f"{command[0]} did not finish in {timeout:.0f} s and was killed with its process group; its last "
                    f"output:\n{output[-4000:]}")
    if process.returncode != 0:
        with contextlib.suppress(ProcessLookupError):  # a rank a failed run left behind
            os.killpg(process.pid, signal.SIGKILL)
        pytest.fail(f"{command[0]} failed (exit code {process.returncode}):\n{output[-4000:]}")
    return output


def train_in_own_session(overrides: list[str], folder: Path, timeout: float) -> dict:
    """The metrics of ``train`` run in a fresh interpreter by :func:`run_in_own_session`, with a fresh
    ``MASTER_PORT`` (Lightning sets it in the parent's environment and reuses it) and without the rank variables
    of any outer run.

    A fresh interpreter because forked ranks deadlock in OpenMP (libgomp) when the parent ran OpenMP-threaded ops
    before the fork and each rank gets more than one thread (``OMP_NUM_THREADS`` set, or 4+ cores); one thread per
    rank, what Lightning picks on 2 cores, is also made explicit."""
    env = {key: value for key, value in os.environ.items()
           if key not in ("WORLD_SIZE", "LOCAL_RANK", "NODE_RANK", "GROUP_RANK", "STANDALONE_PORT")}
    env.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(free_port()), OMP_NUM_THREADS="1")
    result = folder.parent / f"{folder.name}.returned.json"  # beside the run folder (train writes metrics.json)
    run_in_own_session([sys.executable, "-c", TRAIN_AND_DUMP, json.dumps([f"paths.output_dir={folder}", *overrides]),
                        str(result)], env, timeout)
    return json.loads(result.read_text())


def running(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie (Linux ``/proc``; ``False`` where there is none)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False


def test_ddp_cpu_two_processes_match_one_with_the_same_global_batch(make_cfg, tmp_path):
    """2 processes × batch 16 take the steps of 1 process × batch 32 (same samples, averaged gradients); the test
    split (181 samples: uneven over 2 processes) is evaluated once per sample and the metrics are synced."""
    one = train(make_cfg(*TINY, "data.batch_size=32"))["metrics"]
    two = train_in_own_session([f"paths.data_dir={tmp_path / 'data'}", *TINY, "data.batch_size=16", "trainer=ddp_cpu",
                                "trainer.devices=2", SHORT_TIMEOUT_DDP], tmp_path / "ddp", DDP_TIMEOUT)
    assert two["test/acc"] == one["test/acc"]  # torchmetrics syncs its counts: exact
    assert two["val/loss"] == pytest.approx(one["val/loss"], rel=1e-5)  # 180 samples: 90 per process
    # Lightning's synced epoch mean is mean_p(sum_p) / mean_p(count_p), the count's mean taken in an integer tensor
    # (181 / 2 -> 90): 181/180 times the one-process loss, until ZooTask.log_value passes float batch sizes
    assert two["test/loss"] == pytest.approx(one["test/loss"], rel=1e-2)


def test_a_run_that_hangs_fails_at_its_timeout_and_leaves_no_process(tmp_path):
    """The DDP test's guard: a run that never ends (a process that forked a child and sleeps, as a launcher waiting
    for deadlocked ranks) fails the test at its timeout, and the whole process group is gone."""
    marker = tmp_path / "child.pid"
    hang = (f"import os, time\nif os.fork() == 0:\n    open({str(marker)!r}, 'w').write(str(os.getpid()))\n"
            "time.sleep(600)")
    started = time.monotonic()
    with pytest.raises(pytest.fail.Exception, match="did not finish in 3 s and was killed with its process group"):
        run_in_own_session([sys.executable, "-c", hang], dict(os.environ), timeout=3)
    assert time.monotonic() - started < 60
    child = int(marker.read_text())
    for _ in range(50):  # SIGKILL is delivered at once; give init a moment to reap the child
        if not running(child):
            break
        time.sleep(0.1)
    assert not running(child)


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
