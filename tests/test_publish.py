"""Pretrained weights by name: zoo.publish writes a Hub-shaped folder with a model card; create_model(pretrained=...)
and train.py init_from= read it back (or a run folder, or hf://owner/repo through a mocked huggingface_hub); a card,
config or weights file changed after publishing is refused, naming the file."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import huggingface_hub
import pytest
import safetensors.torch
import torch
import yaml

import zoo
from zoo.card import CardError, read_card
from zoo.cli import train

ROOT = Path(__file__).resolve().parents[1]
TINY = ["model.d_model=8", "model.n_layers=1", "model.d_state=4", "data.batch_size=16", "+trainer.limit_train_batches=3",
        "+trainer.limit_val_batches=1", "+trainer.limit_test_batches=1", "trainer.max_epochs=1", "logger=none"]


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """A finished run of the real entry point (``train.py``: ``.hydra/``, ``metrics.json``, ``checkpoints/``)."""
    folder = tmp_path_factory.mktemp("runs") / "s4d"
    data = folder.parent / "data"
    subprocess.run([sys.executable, "train.py", *TINY, f"hydra.run.dir={folder}", f"paths.data_dir={data}"],
                   cwd=ROOT, check=True, capture_output=True, env={**os.environ, "WANDB_MODE": "disabled"})
    return folder


@pytest.fixture
def published(run, tmp_path) -> Path:
    return zoo.publish(run, tmp_path / "s4d_digits")


def outputs(model: torch.nn.Module) -> torch.Tensor:
    with torch.no_grad():
        return model.eval()(torch.linspace(-1, 1, 2 * 40).reshape(2, 40, 1))


def test_publish_then_create_model_gives_identical_outputs(run, published):
    assert sorted(path.name for path in published.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    best = zoo.load_model(run / "checkpoints" / "best.ckpt")
    for source in (published, str(published), run):
        model = zoo.create_model("s4d", pretrained=source)
        assert model.training  # like any new model
        assert torch.equal(outputs(model), outputs(best))
    with pytest.raises(ValueError, match="holds a 's4d' model, not 'fno'"):
        zoo.create_model("fno", pretrained=published)


def test_the_model_card_holds_the_runs_metrics_and_command(run, published):
    card = read_card(published / "README.md")
    summary = json.loads((run / "metrics.json").read_text())
    overrides = yaml.safe_load((run / ".hydra" / "overrides.yaml").read_text())
    assert card["zoo"]["metrics"] == summary["metrics"] and "test/acc" in summary["metrics"]
    assert card["zoo"]["command"] == "python train.py " + " ".join(overrides) and "+trainer.limit_train_batches=3" in \
        card["zoo"]["command"]
    assert card["zoo"]["model"] == json.loads((published / "config.json").read_text())
    assert card["zoo"]["paper"] == zoo.model_info("s4d").paper and card["zoo"]["zoo_commit"] == summary["code"]["commit"]
    assert card["library_name"] == "zoo" and "ssm" in card["tags"]
    text = (published / "README.md").read_text()
    assert f"| `test/acc` | {summary['metrics']['test/acc']:.6g} |" in text and card["zoo"]["command"] in text


def test_init_from_a_published_folder_or_a_run_folder(make_cfg, run, published, capsys):
    for index, source in enumerate((published, run)):  # init.strict: every tensor loaded, none missing or skipped
        train(make_cfg(*TINY, f"init_from={source}", "init.strict=true", "test=false", folder=f"fine{index}"))
        assert "loaded" in capsys.readouterr().out


@pytest.mark.parametrize("tamper,named", [
    ("card", "README.md was edited after zoo.publish"),        # a metric edited in the card
    ("config", "config.json does not match the model card"),   # a constructor argument (same shapes: it would load)
    ("weights", "model.safetensors is not the file"),
])
def test_a_tampered_card_config_or_weights_is_refused(make_cfg, published, tamper, named):
    if tamper == "card":
        card = published / "README.md"
        card.write_text(re.sub(r"test/acc: .*", "test/acc: 0.99", card.read_text(), count=1))
    elif tamper == "config":
        config = json.loads((published / "config.json").read_text())
        (published / "config.json").write_text(json.dumps({**config, "dropout": 0.0}))
    else:
        state = safetensors.torch.load_file(published / "model.safetensors")
        safetensors.torch.save_file({key: value + 1 for key, value in state.items()}, published / "model.safetensors")
    with pytest.raises(CardError, match=named):
        zoo.create_model("s4d", pretrained=published)
    with pytest.raises(CardError, match=named):
        train(make_cfg(*TINY, f"init_from={published}"))


def test_a_hub_id_downloads_through_huggingface_hub(published, monkeypatch):
    calls = []

    def snapshot_download(repo_id, revision=None, allow_patterns=None):
        calls.append((repo_id, revision, allow_patterns))
        return str(published)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    model = zoo.create_model("s4d", pretrained="hf://someone/s4d-digits@v1")
    assert torch.equal(outputs(model), outputs(zoo.create_model("s4d", pretrained=published)))
    assert calls == [("someone/s4d-digits", "v1", ["model.safetensors", "config.json", "README.md"])]

    def offline(**kwargs):
        raise huggingface_hub.errors.LocalEntryNotFoundError("cannot reach the Hub and no cached snapshot")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", offline)
    with pytest.raises(ConnectionError, match="hf://someone/s4d-digits.*LocalEntryNotFoundError.*huggingface-cli "
                                              "download someone/s4d-digits --local-dir"):
        zoo.create_model("s4d", pretrained="hf://someone/s4d-digits")
    with pytest.raises(ValueError, match="hf://owner/repo"):
        zoo.create_model("s4d", pretrained="hf://no-owner")
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)
    with pytest.raises(ImportError, match=r"\.\[hub\]"):
        zoo.create_model("s4d", pretrained="hf://someone/s4d-digits")


def test_publish_refuses_an_unfinished_run_or_a_used_folder(run, published, tmp_path):
    unfinished = tmp_path / "unfinished"
    shutil.copytree(run, unfinished)
    (unfinished / "metrics.json").unlink()
    with pytest.raises(FileNotFoundError, match="metrics.json is missing: publish needs a finished run"):
        zoo.publish(unfinished, tmp_path / "out")
    with pytest.raises(FileExistsError, match="not empty"):
        zoo.publish(run, published)
    assert not (tmp_path / "out").exists()


def readme_example(marker: str) -> str:
    """The README's python block that contains ``marker``."""
    blocks = [block.split("```")[0] for block in (ROOT / "README.md").read_text().split("```python\n")[1:]]
    return next(block for block in blocks if marker in block)


def test_the_readme_plain_pytorch_loop_learns_and_keeps_the_ssm_recipe():
    namespace = {}
    exec(readme_example("zoo.parameter_groups(model"), namespace)
    losses, optimizer, model = namespace["losses"], namespace["optimizer"], namespace["model"]
    assert losses[-1] < 0.5 * losses[0]
    names = {id(param): name for name, param in model.named_parameters()}
    ssm = [group for group in optimizer.param_groups
           if {names[id(p)].rsplit(".", 1)[-1] for p in group["params"]} == {"log_dt", "A_real_log", "A_imag", "B"}]
    assert len(ssm) == 1 and ssm[0]["lr"] == 1e-3 and ssm[0]["weight_decay"] == 0.0
    base = [group for group in optimizer.param_groups if group is not ssm[0]]
    assert len(base) == 1 and base[0]["lr"] == namespace["lr"] and base[0]["weight_decay"] == 0.05
