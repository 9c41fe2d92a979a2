"""Every import points down (the layers of the architecture), read from the source of ``zoo/`` with ``ast``.

Every import counts: module level, inside functions, ``import x`` and ``from x import y`` (as ``x.y`` where that is a
module of zoo, so ``from zoo import graph`` is an import of ``zoo.graph``), relative ones resolved. The model families
are the packages whose modules call ``register_model``, so a new family is checked as soon as it registers a model.
"""

import ast
from pathlib import Path

from zoo.registry import list_models, model_info

ZOO = Path(__file__).resolve().parent.parent / "zoo"
#: the shared layer under the families: what a family may import besides itself
LAYER_ONE = ("zoo.functional", "zoo.metrics", "zoo.registry", "zoo.checkpoint", "zoo.io", "zoo.cache", "zoo.optional",
             "zoo.arguments", "zoo.normaliser", "zoo.modes", "zoo.parameters", "zoo.card", "zoo.publish")
#: what no model imports: training, data, evaluation and configuration
TRAINING = ("zoo.tasks", "zoo.data", "zoo.evaluation", "zoo.cli", "zoo.callbacks", "lightning", "pytorch_lightning",
            "hydra")
#: the one datamodule base under the data domains: what a domain may import of zoo/data besides itself
DATA_BASE = ("zoo.data.base", "zoo.data.sampling")
#: (importer, imported) allowed across the layers: the one sideways arrow, adapters (not a family) know the
#: operators' spectral weights (FactorizedWeight, FactorizedTensor) that they adapt
EXCEPTIONS = (("zoo.adapters", "zoo.operators.spectral"),)


def within(module: str, packages) -> bool:
    """Whether ``module`` is one of ``packages`` or inside one."""
    return any(module == package or module.startswith(package + ".") for package in packages)


def module_name(path: Path, root: Path = ZOO) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_module(name: str, root: Path) -> bool:
    path = root.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def imports(path: Path, root: Path = ZOO) -> list[tuple[int, str]]:
    """``(line, module)`` of every import in the file ``path`` of the package ``root``, sorted."""
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {(node.lineno, alias.name) for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + [base] if base else anchor)
            found |= {(node.lineno, f"{base}.{alias.name}" if is_module(f"{base}.{alias.name}", root) else base)
                      for alias in node.names}
    return sorted(found)


def registers_models(tree: ast.AST) -> bool:
    return any(isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) ==
               "register_model" for node in ast.walk(tree))


MODULES = {module_name(path): path for path in sorted(ZOO.rglob("*.py"))}
FAMILIES = sorted({".".join(name.split(".")[:2]) for name, path in MODULES.items()
                   if name.count(".") >= 2 and registers_models(ast.parse(path.read_text()))})


def violations(importers, imported) -> list[str]:
    """``file:line imports module`` for every import of a module that ``imported(importer, module)`` refuses, in
    every module ``importers(name)`` selects."""
    return [f"{path.relative_to(ZOO.parent)}:{line} imports {module}"
            for name, path in MODULES.items() if importers(name)
            for line, module in imports(path) if imported(name, module)]


def family(name: str) -> str | None:
    return next((package for package in FAMILIES if within(name, [package])), None)


def data_domain(name: str) -> str | None:
    """The data domain of module ``name``: ``zoo.data.<domain>`` for a module inside a subpackage of zoo/data."""
    parts = name.split(".")
    inside = len(parts) > 2 and parts[:2] == ["zoo", "data"] and (ZOO / "data" / parts[2]).is_dir()
    return ".".join(parts[:3]) if inside else None


def report(rule: str, found: list[str]) -> str:
    return f"{rule}:\n  " + "\n  ".join(found)


def test_the_families_are_found_and_hold_every_registered_model():
    assert {"zoo.ssm", "zoo.operators", "zoo.graph", "zoo.generative", "zoo.molecules"} <= set(FAMILIES)
    for name in list_models():
        constructor = model_info(name).constructor
        assert family(getattr(constructor, "func", constructor).__module__), name


def test_imports_are_read_at_every_depth_and_relative_ones_resolved(tmp_path):
    root = tmp_path / "zoo"
    for folder in (root / "graph", root / "data"):
        folder.mkdir(parents=True)
        (folder / "__init__.py").write_text("")
    (root / "__init__.py").write_text("")
    (root / "graph" / "spectrum.py").write_text("")
    (root / "data" / "graphs.py").write_text(
        "import lightning.pytorch as pl\nfrom . import splits\nfrom ..graph import spectrum\n"
        "def f():\n    from ..graph.spectrum import eigvec_mask\n    from zoo import graph\n")
    assert imports(root / "data" / "graphs.py", root) == [
        (1, "lightning.pytorch"), (2, "zoo.data"), (3, "zoo.graph.spectrum"), (5, "zoo.graph.spectrum"),
        (6, "zoo.graph")]


def test_data_imports_no_model_family():
    found = violations(lambda name: within(name, ["zoo.data"]), lambda _, module: family(module))
    assert not found, report("zoo/data imports a model family (shared math belongs in zoo/functional)", found)


def test_data_domains_import_only_themselves_the_data_base_and_layer_one():
    assert sorted({data_domain(name) for name in MODULES} - {None}) == [
        "zoo.data.eeg", "zoo.data.graph", "zoo.data.images", "zoo.data.manifold", "zoo.data.md", "zoo.data.pde", "zoo.data.sequence",
        "zoo.data.spectra", "zoo.data.tensor", "zoo.data.transport"]

    def refused(name: str, module: str) -> bool:
        return within(module, ["zoo"]) and not within(module, [data_domain(name), *DATA_BASE, *LAYER_ONE])

    found = violations(data_domain, refused)
    assert not found, report(f"a data domain imports zoo code outside itself, {', '.join(DATA_BASE)} and layer one "
                             "(another domain's code it needs belongs in the base or zoo/functional)", found)


def test_the_data_base_imports_no_domain():
    found = violations(lambda name: within(name, DATA_BASE),
                       lambda _, module: within(module, ["zoo.data"]) and not within(module, DATA_BASE))
    assert not found, report("the data base imports a data domain", found)


def test_cli_and_tasks_import_no_model_family():
    found = violations(lambda name: within(name, ["zoo.cli", "zoo.tasks"]), lambda _, module: family(module))
    assert not found, report("zoo/cli.py or zoo/tasks imports a model family (name it in a config's _target_; "
                             "losses belong in zoo/tasks/losses.py)", found)


def test_no_other_layer_imports_a_model_family():
    """Layer one, adapters, callbacks, evaluation, tools: only ``zoo/__init__.py`` (which registers every family)
    and the :data:`EXCEPTIONS` reach into a family from outside."""
    def outside(name: str) -> bool:
        return name != "zoo" and not family(name) and not within(name, ["zoo.data", "zoo.cli", "zoo.tasks"])

    def refused(name: str, module: str) -> bool:
        return bool(family(module)) and not any(within(name, [importer]) and within(module, [imported])
                                                for importer, imported in EXCEPTIONS)

    found = violations(outside, refused)
    assert not found, report("a module outside the model families imports one", found)


def test_families_import_no_training_code():
    found = violations(family, lambda _, module: within(module, TRAINING))
    assert not found, report(f"a model family imports one of {', '.join(TRAINING)}", found)


def test_families_import_only_themselves_and_layer_one():
    def refused(name: str, module: str) -> bool:
        return within(module, ["zoo"]) and not within(module, [family(name), *LAYER_ONE])

    found = violations(family, refused)
    assert not found, report(f"a model family imports zoo code outside itself and {', '.join(LAYER_ONE)}", found)


def test_tools_on_any_model_import_only_themselves_and_layer_one():
    """``zoo.analysis``, ``zoo.compress`` and ``zoo.inverse`` take any ``nn.Module``: no family, no training code."""
    tools = ("zoo.analysis", "zoo.compress", "zoo.inverse")

    def tool(name: str) -> str | None:
        return next((package for package in tools if within(name, [package])), None)

    found = violations(tool, lambda name, module: within(module, ["zoo"]) and not within(module, [tool(name),
                                                                                                  *LAYER_ONE])
                       or within(module, TRAINING))
    assert not found, report(f"a tool imports zoo code outside itself and {', '.join(LAYER_ONE)}, or training code",
                             found)
