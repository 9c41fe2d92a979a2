"""Model cards of published zoo models, and published folders on the Hugging Face Hub.

A published folder (:func:`zoo.publish`) holds ``model.safetensors``, ``config.json`` (``{"name": ..., **kwargs}``) and
``README.md``, the model card: YAML front matter in the Hub's layout (``library_name``, ``license``, ``tags``) with a
``zoo`` block (model config, paper, data, command, metrics, version, commit, the SHA-256 of the two other files) and a
``zoo_card_sha256`` of the card itself, then the card's prose. :func:`verify_card` refuses a folder whose card, config
or weights changed after publishing, naming the file: a card's metrics always describe the weights beside it.

``hf://owner/repo`` (``hf://owner/repo@revision``) names a published folder on the Hub: :func:`hub_snapshot`
downloads it through ``huggingface_hub`` (the ``[hub]`` extra) and says what to do on an offline machine.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import json
import os
import subprocess
from pathlib import Path

import yaml

from zoo.optional import require

CARD_NAME = "README.md"
HUB_PREFIX = "hf://"
#: the front-matter line that holds the card's own digest (the card's text without this line, hashed)
DIGEST_KEY = "zoo_card_sha256"
#: the files of a published folder that the Hub download fetches
PUBLISHED_FILES = ("model.safetensors", "config.json", CARD_NAME)


class CardError(ValueError):
    """A published folder whose card, config or weights do not belong together."""


def file_sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _without_digest(text: str) -> str:
    return "".join(line for line in text.splitlines(keepends=True) if not line.startswith(f"{DIGEST_KEY}:"))


def write_card(path: str | os.PathLike, metadata: dict, body: str) -> None:
    """Write the card ``---\\n<metadata as YAML>\\n<digest line>---\\n<body>`` to ``path``; the digest is the SHA-256 of
    the card's text without its digest line."""
    text = f"---\n{yaml.safe_dump(metadata, sort_keys=False, allow_unicode=True)}---\n{body}"
    digest = hashlib.sha256(text.encode()).hexdigest()
    Path(path).write_text(text.replace("---\n", f"---\n{DIGEST_KEY}: {digest}\n", 1))


def read_card(path: str | os.PathLike) -> dict | None:
    """The front matter of the model card ``path``, checked against its digest, or ``None`` for a README that is not a
    zoo model card (no front matter with a ``zoo`` block: it claims no metrics). A zoo card edited after publishing is
    a :class:`CardError` naming the file."""
    path = Path(path)
    text = path.read_text()
    head, separator, _ = text.removeprefix("---\n").partition("\n---\n")
    try:
        metadata = yaml.safe_load(head) if text.startswith("---\n") and separator else None
    except yaml.YAMLError as err:
        raise CardError(f"{path}: its front matter is not valid YAML ({err}); restore the card zoo.publish wrote") from err
    if not isinstance(metadata, dict) or "zoo" not in metadata:
        return None
    if hashlib.sha256(_without_digest(text).encode()).hexdigest() != metadata.get(DIGEST_KEY):
        raise CardError(f"{path} was edited after zoo.publish wrote it (its {DIGEST_KEY} no longer matches its text): "
                        "its metrics may not describe the weights beside it; restore the card or publish the run again")
    return metadata


def verify_card(folder: str | os.PathLike) -> dict | None:
    """Check that the published ``folder``'s card, ``config.json`` and ``model.safetensors`` belong together (the card's
    model config equals ``config.json``; both files' SHA-256 are the card's); return the card's ``zoo`` block, or
    ``None`` for a folder without a zoo model card (a :func:`zoo.save_pretrained` folder)."""
    folder = Path(folder)
    metadata = read_card(folder / CARD_NAME) if (folder / CARD_NAME).is_file() else None
    if metadata is None:
        return None
    card = metadata["zoo"]
    config_path, weights_path = folder / "config.json", folder / "model.safetensors"
    config = json.loads(config_path.read_text())
    if config != card.get("model"):
        changed = sorted(key for key in set(config) | set(card.get("model") or {})
                         if config.get(key) != (card.get("model") or {}).get(key))
        raise CardError(f"{config_path} does not match the model card {folder / CARD_NAME} (they differ in "
                        f"{', '.join(changed)}): the card's metrics were measured with the config it records, so the "
                        "folder is refused; restore config.json or publish the run again")
    for path, key in ((config_path, "config_sha256"), (weights_path, "weights_sha256")):
        if file_sha256(path) != card.get(key):
            raise CardError(f"{path} is not the file the model card {folder / CARD_NAME} was published with (its "
                            f"SHA-256 differs from the card's {key}): restore it or publish the run again")
    return card


def code_version() -> dict:
    """``{"version": <zoo's installed version>, "commit": <git commit of the zoo checkout>}``; the commit ends in
    ``-dirty`` when the checkout has uncommitted changes, and is ``"unknown"`` for an install that is not a git
    checkout (a wheel in site-packages: no enclosing repository's commit is taken for zoo's)."""
    root = Path(__file__).resolve().parent.parent

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, check=True,
                              timeout=30).stdout.strip()

    commit = "unknown"
    if (root / ".git").exists():
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            commit = git("rev-parse", "HEAD") + ("-dirty" if git("status", "--porcelain", "--untracked-files=no") else "")
    try:
        version = importlib.metadata.version("zoo")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    return {"version": version, "commit": commit}


def hub_snapshot(source: str) -> Path:
    """Download the published folder ``hf://owner/repo[@revision]`` (or take it from the local Hub cache) and return
    its local path."""
    repo_id, _, revision = source.removeprefix(HUB_PREFIX).partition("@")
    if repo_id.count("/") != 1:
        raise ValueError(f"pretrained={source!r}: a Hub model is named hf://owner/repo (or hf://owner/repo@revision)")
    huggingface_hub = require("huggingface_hub")
    try:
        return Path(huggingface_hub.snapshot_download(repo_id=repo_id, revision=revision or None,
                                                      allow_patterns=list(PUBLISHED_FILES)))
    except Exception as err:  # offline, unknown repo, gated, ...: huggingface_hub raises many types
        raise ConnectionError(
            f"could not download {source} from the Hugging Face Hub ({type(err).__name__}: {err}). On a machine "
            f"without internet, download it on a connected one (huggingface-cli download {repo_id} --local-dir "
            "<folder>), copy the folder over and pass pretrained=<folder> (init_from=<folder>)") from err
