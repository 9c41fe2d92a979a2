"""Publish a finished run: weights, config and a model card in one folder, in the layout the Hugging Face Hub expects.

``zoo.publish(run_folder, out_folder)`` takes a run folder written by ``train.py`` (``metrics.json``, ``.hydra/``,
``checkpoints/``) and writes ``out_folder`` with

- ``model.safetensors`` and ``config.json``: the run's best checkpoint (else its last) as :func:`zoo.save_pretrained`
  writes it, loaded strictly first, so the folder holds exactly the tested weights;
- ``README.md``: the model card (:mod:`zoo.card`): model, paper, data, the exact command, the measured metrics of
  ``metrics.json``, the zoo version and commit, licence notes, and the digests that tie it to the two files.

``huggingface_hub.upload_folder(repo_id="owner/repo", folder_path=out_folder)`` pushes it (the ``[hub]`` extra);
``zoo.create_model(name, pretrained="hf://owner/repo")`` or ``train.py init_from=hf://owner/repo`` reads it back.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
from pathlib import Path

import yaml

from zoo.card import CARD_NAME, code_version, file_sha256, write_card
from zoo.checkpoint import CONFIG_NAME, WEIGHTS_NAME, build_model, load_weights, read_pretrained, run_checkpoint, \
    save_pretrained
from zoo.registry import model_info


def _read(path: Path, what: str):
    """A run folder's JSON / YAML file, or an error naming it and what writes it."""
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: publish needs a finished run folder of train.py ({what})")
    return json.loads(path.read_text()) if path.suffix == ".json" else yaml.safe_load(path.read_text())


def run_commands(run: Path) -> tuple[str, list[str]]:
    """The command that started the run (``.hydra/overrides.yaml``) and those that resumed it in its folder
    (``.hydra/resumed_*/overrides.yaml``, oldest first)."""
    def command(overrides: Path) -> str:
        return " ".join(["python train.py", *map(shlex.quote, _read(overrides, "Hydra writes it") or [])])

    resumed = sorted(run.glob(".hydra/resumed_*/overrides.yaml"))
    return command(run / ".hydra" / "overrides.yaml"), [command(path) for path in resumed]


def data_note(data: dict) -> str:
    """Where the training data came from, for the card's licence notes."""
    source = str(data.get("_target_", "?")).rpartition(".")[2]
    if "root" in data or "download" in data:
        return (f"`{source}` read from `data.root`: a public data set whose own licence and terms apply to these "
                "weights and their use")
    return f"generated offline by the zoo's own `{source}` (no third-party data)"


def card_body(zoo: dict, name: str) -> str:
    """The card's prose: what the model is, how it was made, what it measured, how to use it."""
    metrics = "\n".join(f"| `{key}` | {value:.6g} |" for key, value in sorted(zoo["metrics"].items()))
    resumed = "".join(f"\n- resumed with `{command}`" for command in zoo["resumed"])
    settings = ", ".join(f"{key}={value}" for key, value in zoo["data"].items() if key != "_target_")
    return f"""
# `{name}`, trained with zoo

Paper: {zoo["paper"]}.

- model: `{json.dumps(zoo["model"])}` (task `{zoo["task"]}`)
- data: `{zoo["data"].get("_target_")}` ({settings})
- command: `{zoo["command"]}`{resumed}
- seed {zoo["seed"]}, {zoo["epochs"]} epochs, {zoo["global_step"]} steps, {zoo["parameters"]:,} parameters; the weights
  of `{zoo["checkpoint"]}`
- zoo {zoo["zoo_version"]}, commit `{zoo["zoo_commit"]}` ({zoo["commit_of"]})

## Measured (the run's `metrics.json`)

| metric | value |
|---|---|
{metrics}

## Use

```python
import zoo
model = zoo.create_model("{name}", pretrained="<this folder or hf://owner/repo>")
```

or start a run from it: `python train.py ... init_from=<this folder or hf://owner/repo>`. Loading checks this card
against `config.json` and `model.safetensors` (their SHA-256 are recorded above) and refuses a folder where any of
the three was changed.

## Licence notes

Data: {data_note(zoo["data"])}. The method is the paper's; the weights are this run's. The card's `license` field
is the one given to `zoo.publish`.
"""


def publish(run_folder: str | os.PathLike, out_folder: str | os.PathLike, *, license: str = "other") -> Path:
    """Write the published folder of a finished ``train.py`` run (see the module docstring) and return its path.

    Args:
        run_folder: a run folder (``metrics.json``, ``.hydra/``, ``checkpoints/``).
        out_folder: a new (or empty) folder; it appears complete or not at all.
        license: the card's licence id (Hub metadata, e.g. ``"mit"``, ``"apache-2.0"``).
    """
    run, out = Path(run_folder), Path(out_folder)
    summary = _read(run / "metrics.json", "train.py writes it after the test")
    run_config = _read(run / ".hydra" / "config.yaml", "Hydra writes it")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise FileExistsError(f"{out} already exists and is not empty: publish into a new folder")
    checkpoint = run_checkpoint(run)
    config, state = read_pretrained(checkpoint)
    model = build_model(config)
    load_weights(model, state, strict=True)
    command, resumed = run_commands(run)
    info = model_info(config["name"])
    version = summary.get("code") or {**code_version(), "of": "of the publishing checkout: the run recorded none"}
    staging = out.parent / f".{out.name}.publishing-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        save_pretrained(model, staging, config)
        zoo = {"model": config, "paper": info.paper, "task": info.task, "data": run_config.get("data") or {},
               "command": command, "resumed": resumed, "metrics": summary["metrics"], "seed": summary.get("seed"),
               "epochs": summary.get("epochs"), "global_step": summary.get("global_step"),
               "parameters": summary.get("parameters"), "checkpoint": checkpoint.name,
               "zoo_version": version["version"], "zoo_commit": version["commit"],
               "commit_of": version.get("of", "recorded by the training run"),
               "config_sha256": file_sha256(staging / CONFIG_NAME), "weights_sha256": file_sha256(staging / WEIGHTS_NAME)}
        metadata = {"library_name": "zoo", "license": license, "tags": ["zoo", info.family, config["name"], info.task],
                    "zoo": zoo}
        write_card(staging / CARD_NAME, metadata, card_body(zoo, config["name"]))
        if out.is_dir():
            out.rmdir()
        staging.rename(out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out
