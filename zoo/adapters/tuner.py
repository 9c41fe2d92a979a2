"""Put adapters into any zoo model and take them out again: inject, merge, unmerge, unload, save, load.

One adapter set per model. :func:`inject_adapters` replaces every targeted layer by an
:class:`~zoo.adapters.layers.AdapterLayer` holding the original as ``base_layer`` (its parameters become
``<name>.base_layer.*``; the update's are ``<name>.adapter.*``) and freezes everything except the adapters
and ``modules_to_save``. :func:`save_adapters` writes only those tensors (``adapter_model.safetensors``) and
the config (``adapter_config.json``); :func:`load_adapters` injects and loads them into a base model.
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from pathlib import Path

import safetensors
import safetensors.torch
from torch import nn

from zoo.adapters.config import AdapterConfig, FLoRAConfig, config_from_dict, name_matches
from zoo.adapters.layers import SUPPORTED, AdapterLayer, LowRankDelta, TuckerDelta, weight_modes
from zoo.checkpoint import CONFIG_ATTR, write_atomically

CONFIG_FILE = "adapter_config.json"
WEIGHTS_FILE = "adapter_model.safetensors"
ADAPTER_CONFIG_ATTR = "zoo_adapter_config"
#: the fix every error about an adapter folder ends with
WRITTEN_BY = "expected a folder written by zoo.adapters.save_adapters (or train.py with finetune=flora|lora)"


def adapter_layers(model: nn.Module) -> dict[str, AdapterLayer]:
    """The injected layers of ``model`` by dotted name."""
    return {name: module for name, module in model.named_modules() if isinstance(module, AdapterLayer)}


def _saved_names(model: nn.Module, config: AdapterConfig) -> list[str]:
    """The modules ``config.modules_to_save`` names (exact name or ``.name`` suffix, or a regular expression)."""
    names = [name for name, _ in model.named_modules()
             if name and config.modules_to_save and name_matches(name, config.modules_to_save)]
    return [name for name in names if not any(name.startswith(other + ".") for other in names)]


def _build(layer: nn.Module, config: AdapterConfig, name: str) -> AdapterLayer:
    wrapper, out_mode, is_complex = SUPPORTED[type(layer)]
    dims, rank = weight_modes(layer), config.rank_for(name)
    if isinstance(config, FLoRAConfig):
        try:
            delta = TuckerDelta(dims, rank, config.scale, config.init, is_complex, out_mode)
        except ValueError as err:
            raise ValueError(f"{name}: {err} (set rank_pattern={{{name!r}: [...]}} for this layer)") from None
    else:
        delta = LowRankDelta(dims, rank, config.alpha, is_complex, out_mode)
    delta.to(device=next(layer.parameters()).device)
    return wrapper(layer, delta, config.dropout)


def inject_adapters(model: nn.Module, config: AdapterConfig) -> nn.Module:
    """Wrap every layer of ``model`` that ``config`` targets (in place) and train only the adapters and
    ``modules_to_save``; returns ``model``.

    Raises ``ValueError`` if ``model`` has adapters already, if a named target cannot carry an adapter, or if
    nothing matches (the message lists the layers that can).
    """
    if adapter_layers(model):
        raise ValueError("the model has adapters already: merge_and_unload() it (or start from the base model) "
                         "before injecting another set")
    saved = _saved_names(model, config)
    missing = [name for name in config.modules_to_save if not any(s == name or s.endswith("." + name) for s in saved)]
    if isinstance(config.modules_to_save, list) and missing:
        raise ValueError(f"modules_to_save {missing} name no module of {type(model).__name__}")
    candidates, refused = [], []
    for name, module in model.named_modules():
        if not name or not config.targets(name) or any(name == s or name.startswith(s + ".") for s in saved):
            continue
        if type(module) in SUPPORTED:
            candidates.append(name)
        elif config.target_modules is not None and not any(module.children()):
            refused.append(f"{name} ({type(module).__name__})")
    if refused:
        supported = ", ".join(cls.__name__ for cls in SUPPORTED)
        raise ValueError(f"target_modules names layers no adapter supports: {', '.join(refused)}; supported: {supported}")
    if not candidates:
        adaptable = [name for name, module in model.named_modules() if type(module) in SUPPORTED]
        raise ValueError(f"no layer of {type(model).__name__} matches target_modules={config.target_modules!r} "
                         f"(exclude_modules={config.exclude_modules!r}); adaptable layers: {adaptable[:12]}"
                         f"{' ...' if len(adaptable) > 12 else ''}")
    for name in candidates:
        parent, _, child = name.rpartition(".")
        owner = model.get_submodule(parent)
        setattr(owner, child, _build(getattr(owner, child), config, name))
    setattr(model, ADAPTER_CONFIG_ATTR, config)
    mark_only_adapters_trainable(model)
    return model


def adapter_config(model: nn.Module) -> AdapterConfig:
    """The config ``model``'s adapters were injected with (a clear error if it has none)."""
    config = getattr(model, ADAPTER_CONFIG_ATTR, None)
    if config is None:
        raise ValueError(f"{type(model).__name__} has no adapters: call inject_adapters(model, config) first")
    return config


def mark_only_adapters_trainable(model: nn.Module) -> None:
    """``requires_grad`` on the adapters' parameters and those of ``modules_to_save``; off everywhere else."""
    config = adapter_config(model)
    model.requires_grad_(False)
    for layer in adapter_layers(model).values():
        layer.adapter.requires_grad_(True)
    for name in _saved_names(model, config):
        model.get_submodule(name).requires_grad_(True)


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """``(trainable, total)`` parameter counts (a complex parameter's real pairs count as two numbers)."""
    params = list(model.parameters())
    return sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params)


def merge(model: nn.Module) -> None:
    """Add every adapter's ΔW into its base weight; the forward pass then costs what the base model's does."""
    for layer in adapter_layers(model).values():
        layer.merge()


def unmerge(model: nn.Module) -> None:
    """Undo :func:`merge`: the base weights come back bit for bit."""
    for layer in adapter_layers(model).values():
        layer.unmerge()


def merge_and_unload(model: nn.Module) -> nn.Module:
    """Merge (keeping no copies of the original weights), then put the base layers back in place of the wrappers:
    a plain model with the adapted weights."""
    layers = adapter_layers(model)
    for layer in layers.values():
        layer.merge(restorable=False)
    for name in layers:
        parent, _, child = name.rpartition(".")
        owner = model.get_submodule(parent)
        setattr(owner, child, getattr(owner, child).base_layer)
    if hasattr(model, ADAPTER_CONFIG_ATTR):
        delattr(model, ADAPTER_CONFIG_ATTR)
    model.requires_grad_(True)
    return model


@contextmanager
def disable_adapters(model: nn.Module):
    """Inside the block the model runs as its base (adapters skipped; merged ones are taken out and put back)."""
    layers = adapter_layers(model).values()
    merged = [layer for layer in layers if layer.merged]
    for layer in merged:
        layer.unmerge()
    for layer in layers:
        layer.enabled = False
    try:
        yield model
    finally:
        for layer in layers:
            layer.enabled = True
        for layer in merged:
            layer.merge()


def adapter_state_dict(model: nn.Module) -> dict:
    """The tensors :func:`save_adapters` writes: every adapter parameter and the state of ``modules_to_save``."""
    config = adapter_config(model)
    state = model.state_dict()
    keep = [name + ".adapter." for name in adapter_layers(model)] + [name + "." for name in _saved_names(model, config)]
    return {key: value for key, value in state.items() if key.startswith(tuple(keep))}


def save_adapters(model: nn.Module, folder: str | os.PathLike) -> Path:
    """Write ``adapter_model.safetensors`` (adapter weights and ``modules_to_save`` only) and
    ``adapter_config.json`` (the config, plus the base model's ``{"name", **kwargs}`` if known), atomically."""
    config = adapter_config(model)
    state = {key: value.detach().contiguous() for key, value in adapter_state_dict(model).items()}
    payload = {**config.to_dict(), "base_model": getattr(model, CONFIG_ATTR, None)}
    return write_atomically(folder, {
        WEIGHTS_FILE: lambda path: safetensors.torch.save_file(state, path),
        CONFIG_FILE: lambda path: Path(path).write_text(json.dumps(payload, indent=2, sort_keys=True)),
    })


def read_adapter_config(folder: str | os.PathLike) -> tuple[AdapterConfig, dict | None]:
    """The adapter config saved in ``folder`` and the base model's config (``None`` if it was not recorded).

    The file is read as plain data: a key it does not know (a Hydra ``_target_`` among them) is an error, never
    something to instantiate."""
    path = Path(folder) / CONFIG_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{folder} holds no {CONFIG_FILE}: {WRITTEN_BY}")
    try:
        values = json.loads(path.read_text())
        if not isinstance(values, dict):
            raise ValueError(f"it holds a JSON {type(values).__name__}, not an object")
        base = values.pop("base_model", None)
        if base is not None and not (isinstance(base, dict) and isinstance(base.get("name"), str)):
            raise ValueError(f"base_model must be null or {{'name': <registered model>, ...}}, got {base!r}")
        return config_from_dict(values), base
    except (ValueError, TypeError) as err:  # json's errors, ours and those of the config's own checks
        raise ValueError(f"{path} is not an adapter config ({err}): {WRITTEN_BY}") from err


def load_adapters(model: nn.Module, folder: str | os.PathLike) -> nn.Module:
    """Inject the adapters saved in ``folder`` into the base ``model`` (if it has none yet) and load their
    weights; every saved tensor must fit and every adapter tensor must be present."""
    config, base = read_adapter_config(folder)
    own = getattr(model, CONFIG_ATTR, None)
    if base and own and base.get("name") != own.get("name"):
        raise ValueError(f"{folder} holds adapters for a {base['name']!r} model, not {own['name']!r}")
    weights = Path(folder) / WEIGHTS_FILE
    if not weights.is_file():
        raise FileNotFoundError(f"{folder} holds no {WEIGHTS_FILE}: {WRITTEN_BY}")
    try:
        state = safetensors.torch.load_file(str(weights))
    except safetensors.SafetensorError as err:
        raise ValueError(f"{weights} is not a safetensors file ({err}): {WRITTEN_BY}") from err
    if not adapter_layers(model):
        try:
            inject_adapters(model, config)
        except ValueError as err:
            raise ValueError(f"the adapters in {folder} do not fit this model: {err}") from None
    expected = adapter_state_dict(model)
    missing, unexpected = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    wrong = [f"{key} {tuple(state[key].shape)} vs {tuple(value.shape)}" for key, value in expected.items()
             if key in state and state[key].shape != value.shape]
    if missing or unexpected or wrong:
        raise ValueError(f"the adapters in {folder} do not fit this model: missing {missing[:5]}, unexpected "
                         f"{unexpected[:5]}, shape mismatches {wrong[:5]}")
    model.load_state_dict(state, strict=False)
    return model
