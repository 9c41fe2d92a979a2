"""A checkpoint is data: a run config inside a .ckpt that names code is refused by every entry point, and nothing runs.

The payloads load with ``torch.load(weights_only=True)`` (plain containers), so only the way the zoo reads the
stored run config stands between them and Hydra's ``instantiate``.
"""

import json
import sys
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir

import zoo
from zoo.adapters import load_adapters
from zoo.checkpoint import CheckpointError, config_targets, current_target
from zoo.cli import CONFIG_DIR, evaluate, train

ROOT = Path(__file__).resolve().parents[1]
TINY = ["model.d_model=8", "model.n_layers=1", "model.d_state=4", "trainer.max_epochs=1", "+trainer.limit_train_batches=2",
        "+trainer.limit_val_batches=1", "+trainer.limit_test_batches=1", "logger=none", "test=false"]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """A real checkpoint of a tiny default run."""
    folder = tmp_path_factory.mktemp("run")
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose("train", overrides=[f"paths.output_dir={folder}", f"paths.data_dir={folder / 'data'}", *TINY])
    return Path(train(cfg)["last_checkpoint"])


def payloads(marker: Path) -> dict[str, tuple[str, dict]]:
    """``name: (key the error must name, {section: config})``: each would create ``marker`` if instantiated."""
    makedirs = {"_target_": "os.makedirs", "name": str(marker)}
    return {
        "makedirs as data": ("zoo_config.data._target_", {"data": makedirs}),
        "makedirs as evaluator": ("zoo_config.evaluator._target_", {"evaluator": makedirs}),
        "open as task": ("zoo_config.task._target_", {"task": {"_target_": "builtins.open", "file": str(marker),
                                                               "mode": "w"}}),
        "nested target": ("zoo_config.data.batch_size._target_",
                          {"data": {"_target_": "zoo.data.SeqDigitsDataModule", "batch_size": makedirs}}),
        "positional args": ("zoo_config.data._args_", {"data": {"_target_": "zoo.data.SeqDigitsDataModule",
                                                                "_args_": [makedirs]}}),
        "partial": ("zoo_config.task._partial_", {"task": {"_target_": "zoo.tasks.ClassificationTask",
                                                           "_partial_": True}}),
    }


def tampered(checkpoint: Path, folder: Path, sections: dict) -> Path:
    """A copy of ``checkpoint`` in ``folder`` whose stored run config has ``sections`` replaced."""
    state = torch.load(checkpoint, weights_only=True)
    state["zoo_config"] = {**state["zoo_config"], **sections}
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(state, folder / "evil.ckpt")
    torch.load(folder / "evil.ckpt", weights_only=True)  # the payload passes PyTorch's safe loader
    return folder / "evil.ckpt"


def entry_points(make_cfg, path: Path, folder: Path) -> dict:
    """Every way the zoo reads a checkpoint, called on ``path``."""
    sys.path.insert(0, str(ROOT / "scripts"))
    import export  # scripts/export.py

    def export_script():
        sys.argv = ["export.py", str(path), "--out", str(folder / "model.pt2")]
        export.main()

    return {
        "eval.py": lambda: evaluate(make_cfg(f"ckpt_path={path}", config="eval", folder="eval")),
        "train.py ckpt_path=": lambda: train(make_cfg(*TINY, f"ckpt_path={path}", folder="resume")),
        "train.py init_from=": lambda: train(make_cfg(*TINY, f"init_from={path}", folder="init")),
        "zoo.load_model": lambda: zoo.load_model(path),
        "scripts/export.py": export_script,
    }


@pytest.mark.parametrize("payload", list(payloads(Path("x"))))
def test_a_checkpoint_naming_code_is_refused_by_every_entry_point(checkpoint, make_cfg, tmp_path, payload, monkeypatch):
    marker = tmp_path / "pwned"
    key, sections = payloads(marker)[payload]
    path = tampered(checkpoint, tmp_path / "ckpt", sections)
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    for name, call in entry_points(make_cfg, path, tmp_path).items():
        with pytest.raises(CheckpointError) as error:
            call()
        assert str(path) in str(error.value) and key in str(error.value), name
        assert not marker.exists(), f"{name} ran the checkpoint's {key}"


def test_adapter_files_are_read_as_data(checkpoint, tmp_path):
    """An adapter config never names code: a ``_target_`` in ``adapter_config.json`` is an unknown option."""
    marker = tmp_path / "pwned"
    folder = tmp_path / "adapters"
    folder.mkdir()
    (folder / "adapter_config.json").write_text(json.dumps({"method": "lora", "rank": 2, "_target_": "os.makedirs",
                                                            "name": str(marker)}))
    with pytest.raises(ValueError) as error:
        load_adapters(zoo.load_model(checkpoint), folder)
    assert "adapter_config.json" in str(error.value) and "_target_" in str(error.value)
    assert not marker.exists()


def test_only_the_repositorys_zoo_targets_are_accepted():
    data, task, evaluator = config_targets("data"), config_targets("task"), config_targets("evaluator")
    assert "zoo.data.SeqDigitsDataModule" in data and "zoo.tasks.ClassificationTask" in task
    assert "zoo.evaluation.timeseries.TimeSeriesEvaluator" in evaluator
    assert all(target.startswith("zoo.") for target in data | task | evaluator)


def test_a_class_that_moved_is_found_by_its_name_inside_zoo_only():
    """A checkpoint written before a datamodule moved still names the class; nothing outside ``zoo.`` matches."""
    assert current_target("data", "zoo.data.SeqDigitsDataModule") == "zoo.data.SeqDigitsDataModule"
    assert current_target("data", "zoo.data.old_place.SeqDigitsDataModule") == "zoo.data.SeqDigitsDataModule"
    assert current_target("data", "evil.SeqDigitsDataModule") is None
    assert current_target("data", "zoo.data.NoSuchDataModule") is None
    assert current_target("task", ["zoo.tasks.ClassificationTask"]) is None


def test_a_real_run_still_evaluates(checkpoint, make_cfg):
    """The check refuses payloads, not the zoo's own checkpoints."""
    metrics = evaluate(make_cfg(f"ckpt_path={checkpoint}", "+trainer.limit_test_batches=1", config="eval"))["metrics"]
    assert 0 <= metrics["test/acc"] <= 1
