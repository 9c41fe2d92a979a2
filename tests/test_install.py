"""A base install (``pip install -e .``): every optional package is missing, yet zoo imports, builds every model
but the one made of an extra's layers (``cg_mace``: e3nn's products), and a function that needs an extra says which
one to install."""

from __future__ import annotations

import importlib.metadata
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement

import zoo
from zoo.optional import EXTRAS

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"

# Runs in a fresh interpreter whose path finder cannot see the distributions of argv[1] nor the modules of argv[2]
# (neither their code nor their metadata, as if they were not installed).
SCRIPT = r'''
import importlib, importlib.machinery, json, pkgutil, re, sys

DISTRIBUTIONS, MODULES = json.loads(sys.argv[1]), json.loads(sys.argv[2])


class BaseInstall(importlib.machinery.PathFinder):
    @classmethod
    def find_spec(cls, name, path=None, target=None):
        return None if name.partition(".")[0] in MODULES else super().find_spec(name, path, target)

    @classmethod
    def find_distributions(cls, *args, **kwargs):
        return (distribution for distribution in super().find_distributions(*args, **kwargs)
                if re.sub(r"[-_.]+", "-", distribution.metadata["Name"]).lower() not in DISTRIBUTIONS)


sys.meta_path[sys.meta_path.index(importlib.machinery.PathFinder)] = BaseInstall
import torch
import zoo
import zoo.cli

for module in pkgutil.walk_packages(zoo.__path__, "zoo."):
    importlib.import_module(module.name)
for name in zoo.list_models():
    try:
        zoo.create_model(name)
    except ModuleNotFoundError as err:  # a model built of an optional package's layers
        print(f"{name}: {err}")

from zoo.functional import spline_coeffs

try:
    spline_coeffs(torch.zeros(1, 3, 1))
except ModuleNotFoundError as err:
    print(err)
'''


def _name(distribution: str) -> str:
    return re.sub(r"[-_.]+", "-", distribution).lower()


def base_closure() -> set[str]:
    """The distributions ``pip install -e .`` installs: zoo, its ``dependencies`` and theirs (no extras)."""
    todo = [Requirement(line) for line in tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]]
    seen = {"zoo"}
    while todo:
        requirement = todo.pop()
        name = _name(requirement.name)
        if name in seen or requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        seen.add(name)
        todo += [Requirement(line) for line in importlib.metadata.distribution(name).requires or []]
    return seen


def optional() -> tuple[set[str], set[str]]:
    """The distributions installed here that a base install lacks (the extras and what they pull in), and their
    top-level modules (those no base distribution shares)."""
    base = base_closure()
    installed = {_name(distribution.metadata["Name"]) for distribution in importlib.metadata.distributions()}
    modules = {module for module, distributions in importlib.metadata.packages_distributions().items()
               if not any(_name(distribution) in base for distribution in distributions)}
    return installed - base, modules


def test_base_install_imports_everything_and_names_the_extra():
    distributions, modules = optional()
    assert {"torchcde", "ot", "matplotlib", "rdkit", "tblite", "qm9pack", "tensorboard", "onnx", "onnxruntime",
            "optuna", "submitit", "hydra_plugins", "torchdiffeq", "torchsde", "pytest"} <= modules
    result = subprocess.run([sys.executable, "-c", SCRIPT, json.dumps(sorted(distributions)), json.dumps(sorted(modules))],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert 'torchcde is missing: pip install -e ".[generative]"' in result.stdout, result.stdout
    unbuilt = [line for line in result.stdout.splitlines() if line.partition(": ")[0] in zoo.list_models()]
    assert unbuilt == ['cg_mace: e3nn is missing: pip install -e ".[equivariant]"'], result.stdout


def test_the_extra_an_error_names_installs_the_module():
    extras = tomllib.loads(PYPROJECT.read_text())["project"]["optional-dependencies"]
    provided_by = importlib.metadata.packages_distributions()
    for module, extra in EXTRAS.items():
        listed = {_name(Requirement(line).name) for line in extras[extra]}
        assert listed & {_name(name) for name in provided_by[module]}, f"{module} is in no distribution of [{extra}]"
