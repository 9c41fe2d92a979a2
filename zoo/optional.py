"""Optional dependencies, imported where they are used so that ``import zoo`` works on a base install
(``pip install -e .``); a missing one raises an error that names the extra of ``pyproject.toml`` to install."""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path
from types import ModuleType

#: top-level module -> the extra that installs it
EXTRAS = {"matplotlib": "generative", "ot": "generative", "torchcde": "generative",
          "qm9pack": "chem", "rdkit": "chem", "tblite": "chem",
          "onnxruntime": "export", "onnxscript": "export", "skimage": "inverse", "bm3d": "inverse",
          "e3nn": "equivariant", "pyriemann": "eeg", "moabb": "eeg", "pyamg": "graph", "huggingface_hub": "hub"}


def _missing(top: str) -> ModuleNotFoundError:
    return ModuleNotFoundError(f'{top} is missing: pip install -e ".[{EXTRAS[top]}]"', name=top)


def require(module: str) -> ModuleType:
    """``importlib.import_module(module)`` for a module of an optional package (``"rdkit.Chem"``), or a
    ``ModuleNotFoundError`` that names the extra installing it."""
    top = module.partition(".")[0]
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as err:
        if err.name != top:
            raise  # the package is there but lacks a module or a dependency of its own: its message says which
        raise _missing(top) from err


def locate(package: str) -> Path:
    """The folder of an optional package, found without importing it (for packages whose import is broken but
    whose data files are usable), or the error of :func:`require`."""
    try:
        spec = importlib.util.find_spec(package)
    except ModuleNotFoundError:  # an import hook that refuses it
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise _missing(package)
    return Path(spec.submodule_search_locations[0])
