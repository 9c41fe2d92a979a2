import json
import os
import stat
import subprocess
import sys

import pytest
import torch
from torch import nn

import zoo
from zoo.checkpoint import CheckpointError, Fitted, load_weights, read_checkpoint, read_pretrained
from zoo.registry import _REGISTRY


@pytest.fixture
def model():
    torch.manual_seed(0)
    return zoo.create_model("s4d", d_model=16, n_layers=2, d_state=8).eval()


def test_save_pretrained_load_model_round_trip(model, tmp_path):
    folder = zoo.save_pretrained(model, tmp_path / "pretrained")
    assert json.loads((folder / "config.json").read_text())["name"] == "s4d"
    loaded = zoo.load_model(folder)
    assert isinstance(loaded, nn.Module) and not loaded.training
    x = torch.randn(3, 20, 1)
    assert torch.equal(model(x), loaded(x))


def test_save_pretrained_needs_a_config(tmp_path):
    with pytest.raises(ValueError, match="create_model"):
        zoo.save_pretrained(nn.Linear(2, 2), tmp_path)


def test_missing_corrupt_truncated_and_foreign_files(model, tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.ckpt does not exist"):
        read_checkpoint(tmp_path / "nowhere.ckpt")
    corrupt = tmp_path / "corrupt.ckpt"
    corrupt.write_bytes(b"this is not a checkpoint")
    with pytest.raises(CheckpointError, match="corrupt.ckpt.*corrupt, truncated"):
        zoo.load_model(corrupt)
    good = tmp_path / "good.ckpt"
    torch.save({"state_dict": {f"model.{k}": v for k, v in model.state_dict().items()},
                "hyper_parameters": {"model": model.zoo_config}}, good)
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="truncated.ckpt"):
        zoo.load_model(truncated)
    foreign = tmp_path / "foreign.ckpt"
    torch.save({"weights": torch.zeros(2)}, foreign)
    with pytest.raises(CheckpointError, match="foreign.ckpt is not a zoo checkpoint"):
        zoo.load_model(foreign)
    assert torch.equal(zoo.load_model(good)(torch.ones(1, 5, 1)), model(torch.ones(1, 5, 1)))


def test_checkpoint_of_another_model(model, tmp_path, monkeypatch):
    monkeypatch.setattr("zoo.registry._REGISTRY", dict(_REGISTRY))
    zoo.register_model("tiny_mlp", family="test", paper="-", task="regression")(
        lambda width=4: nn.Sequential(nn.Linear(1, width), nn.Linear(width, 1)))
    other = zoo.save_pretrained(zoo.create_model("tiny_mlp"), tmp_path / "other")
    with pytest.raises(CheckpointError, match="holds a 'tiny_mlp' model, not 's4d'"):
        zoo.load_model(other, name="s4d")
    _, state = read_pretrained(other)
    with pytest.raises(CheckpointError, match="no tensor of the checkpoint matches"):
        load_weights(model, state)


def test_load_weights_reports_shape_skipped_and_strict(model, tmp_path):
    torch.manual_seed(1)
    five_classes = zoo.create_model("s4d", d_model=16, n_layers=2, d_state=8, d_output=5)
    report = load_weights(five_classes, model.state_dict())
    assert {key for key, _, _ in report.shape_skipped} == {"decoder.weight", "decoder.bias"}
    assert not report.missing and not report.unexpected
    assert torch.equal(five_classes.encoder.weight, model.encoder.weight)
    assert "decoder.weight checkpoint [10, 16] -> model [5, 16]" in str(report)
    with pytest.raises(CheckpointError, match="strict=True"):
        load_weights(five_classes, model.state_dict(), strict=True)
    renamed = {f"backbone.{key}": value for key, value in model.state_dict().items()}
    assert load_weights(five_classes, renamed, remap={"backbone.": ""}).loaded


def test_load_model_overrides(model, tmp_path):
    folder = zoo.save_pretrained(model, tmp_path / "m")
    assert zoo.load_model(folder, dropout=0.0).zoo_config["dropout"] == 0.0


KILLED_WRITE = """
import os, sys
from zoo.checkpoint import write_atomically

def killed(path):
    open(path, "w").write("half")
    os._exit(1)

write_atomically(sys.argv[1], {"config.json": killed})
"""


def test_write_atomically_honours_the_umask_and_removes_what_a_killed_write_left(model, tmp_path):
    assert subprocess.run([sys.executable, "-c", KILLED_WRITE, str(tmp_path)]).returncode == 1
    assert len(list(tmp_path.glob(".config.json.*.tmp"))) == 1  # the killed process's temporary
    old = os.umask(0o002)
    try:
        zoo.save_pretrained(model, tmp_path)
    finally:
        os.umask(old)
    assert {path.name: stat.S_IMODE(path.stat().st_mode) for path in tmp_path.iterdir()} == {
        "config.json": 0o664, "model.safetensors": 0o664}  # group-writable as the umask says; no temporaries


class FittedScale(Fitted):
    """A parameter and two buffers whose shapes the data fixes."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(2))
        self.register_fitted("inputs")
        self.register_fitted("index", dtype=torch.long)


def test_fitted_buffers_load_at_their_stored_shapes(tmp_path):
    fitted = FittedScale()
    assert not fitted.is_fitted
    fitted.inputs, fitted.index = torch.randn(3, 4, dtype=torch.float64), torch.arange(5)
    assert fitted.is_fitted
    for load in (lambda model, state: load_weights(model, state, strict=True), nn.Module.load_state_dict):
        fresh = nn.Sequential(FittedScale())
        load(fresh, {f"0.{key}": value for key, value in fitted.state_dict().items()})
        assert torch.equal(fresh[0].inputs, fitted.inputs) and torch.equal(fresh[0].index, fitted.index)
