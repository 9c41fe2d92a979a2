"""Model registry: a name maps to a constructor and a :class:`ModelInfo`.

Every paper's model registers itself with :func:`register_model`; users and configs build it with
:func:`create_model` from plain keyword arguments, so a YAML file or a checkpoint's hyper-parameters can
rebuild it::

    @register_model("s4d", family="ssm", paper="...", task="classification", capabilities=("step",),
                    example=lambda model: (torch.randn(2, 64, model.d_input), (2, model.d_output)))
    def s4d(d_model: int = 64, **kwargs) -> S4DModel: ...

    zoo.list_models("s4*")                  # ['s4d']
    zoo.model_info("s4d").module            # 'zoo.ssm.s4d', where S4DModel is defined
    zoo.create_model("s4d", d_model=128)    # an nn.Module

``task`` names the task config that trains the model (``configs/task/<task>.yaml``, one of :data:`TASKS`) and
``capabilities`` come from :data:`CAPABILITIES`: a name outside either is an error at registration.

:func:`create_model` checks every keyword argument against the constructor's annotations before it builds
the model, and the model it returns refuses a floating input whose dtype is not its parameters': a bad value
in a config or a float64 batch gets an error that names it, not one from deep inside torch.
"""

from __future__ import annotations

import collections.abc
import difflib
import fnmatch
import functools
import os
import typing
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import torch
from torch import nn

from zoo.arguments import check_arguments

#: attribute under which :func:`create_model` records ``{"name": ..., **kwargs}`` on the model it builds
CONFIG_ATTR = "zoo_config"

#: the task configs, ``configs/task/<task>.yaml``: the objective a registered model trains with
TASKS = ("anomaly", "bayes_fit", "classification", "generative", "operator", "pde_solve", "pinn", "potential",
         "regression", "adversarial")

#: what a model can do besides ``forward``, for ``list_models(capability=...)``
CAPABILITIES = {
    "step": "a recurrent mode: setup_step(), default_state(batch), step(x, state) -> (y, state)",
    "sequence": "maps (batch, length, d_input) sequences",
    "resolution_invariant": "trains on one grid and evaluates on another",
    "graph_level": "one output per graph of a torch_geometric Batch",
    "sample": "sample(...) draws new data",
    "irregular": "takes irregularly sampled sequences",
    "pretraining": "a self-supervised loss(batch) that pre-trains an encoder",
}


@dataclass(frozen=True)
class ModelInfo:
    """What the registry knows of a model besides its constructor."""

    name: str
    family: str
    paper: str
    #: the task config that trains it: ``configs/task/<task>.yaml``
    task: str
    #: the module that defines the model's class, e.g. ``"zoo.ssm.s4d"``
    module: str
    capabilities: frozenset[str] = field(default_factory=frozenset)
    constructor: Callable[..., nn.Module] | None = field(default=None, repr=False, compare=False)
    #: ``example(model) -> (input, output_shape)``: a small input for ``model(input)`` (a tuple: ``model(*input)``)
    #: and the shape it must give
    example: Callable[[nn.Module], tuple[Any, tuple[int, ...]]] | None = field(default=None, repr=False, compare=False)
    #: where the constructor's ``**kwargs`` go, when not to the class its return annotation names
    kwargs_to: Callable[..., nn.Module] | None = field(default=None, repr=False, compare=False)


_REGISTRY: dict[str, ModelInfo] = {}


def register_model(
    name: str,
    *,
    family: str,
    paper: str,
    task: str,
    capabilities: tuple[str, ...] | list[str] = (),
    example: Callable[[nn.Module], tuple[Any, tuple[int, ...]]] | None = None,
    kwargs_to: Callable[..., nn.Module] | None = None,
) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator that registers a class or function building an ``nn.Module`` under ``name``.

    ``task`` is one of :data:`TASKS` and each capability a key of :data:`CAPABILITIES`; a function's return
    annotation names the class it builds, whose module :attr:`ModelInfo.module` records. ``example(model)``
    returns a small input and the output shape it must give; the registry sweep test runs every registered model
    on it. The constructor's annotations are the types :func:`create_model` checks; ``**kwargs`` are checked
    against the class its return annotation names, or ``kwargs_to``.
    """

    def decorator(constructor: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _REGISTRY:
            raise ValueError(f"model name {name!r} is already registered (by {_REGISTRY[name].constructor!r})")
        if task not in TASKS:
            raise ValueError(f"register_model({name!r}): unknown task {task!r}; the task configs are "
                             f"{', '.join(TASKS)} (configs/task/<task>.yaml)")
        for capability in capabilities:
            _check_capability(capability, f"register_model({name!r})")
        _REGISTRY[name] = ModelInfo(name=name, family=family, paper=paper, task=task, module=_module(constructor),
                                    capabilities=frozenset(capabilities), constructor=constructor, example=example,
                                    kwargs_to=kwargs_to)
        return constructor

    return decorator


def _check_capability(capability: str, caller: str) -> None:
    if capability not in CAPABILITIES:
        raise ValueError(f"{caller}: unknown capability {capability!r}; known: {', '.join(CAPABILITIES)}")


def _module(constructor: Callable[..., nn.Module]) -> str:
    """The module that defines the class ``constructor`` builds: the class itself (or a ``functools.partial``'s),
    else the class its return annotation names; without one, the module that defines ``constructor``."""
    target = constructor.func if isinstance(constructor, functools.partial) else constructor
    if not isinstance(target, type):
        returned = typing.get_type_hints(target).get("return")
        target = returned if isinstance(returned, type) else target
    return target.__module__


def _unknown(name: str) -> KeyError:
    close = difflib.get_close_matches(name, _REGISTRY, n=5, cutoff=0.4)
    hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
    return KeyError(f"unknown model {name!r}{hint} Registered models: {', '.join(sorted(_REGISTRY))}")


def model_info(name: str) -> ModelInfo:
    """The :class:`ModelInfo` of a registered model; an unknown name lists the close matches."""
    if name not in _REGISTRY:
        raise _unknown(name)
    return _REGISTRY[name]


def list_models(pattern: str = "*", family: str | None = None, capability: str | None = None) -> list[str]:
    """Sorted names matching an fnmatch ``pattern`` (``"s4*"``), optionally of one family or capability (a key of
    :data:`CAPABILITIES`)."""
    if capability is not None:
        _check_capability(capability, "list_models")
    return sorted(
        info.name
        for info in _REGISTRY.values()
        if fnmatch.fnmatchcase(info.name, pattern)
        and (family is None or info.family == family)
        and (capability is None or capability in info.capabilities)
    )


#: the real dtype of a complex one (``torch.dtype.to_real``, which torch.compile cannot trace)
_REAL = {torch.complex32: torch.float16, torch.complex64: torch.float32, torch.complex128: torch.float64}


def _converter(dtype: torch.dtype) -> str:
    """The tensor method that converts to ``dtype``: ``float()``, ``double()``, ... or ``to(torch.<dtype>)``."""
    names = {torch.float16: "half", torch.bfloat16: "bfloat16", torch.float32: "float", torch.float64: "double"}
    return f"{names[dtype]}()" if dtype in names else f"to({dtype})"


def _tensors(args: tuple, kwargs: dict) -> Iterator[tuple[str, torch.Tensor]]:
    """``(name, tensor)`` for every tensor among a forward call's arguments and the values of dict arguments."""
    for key, value in [*enumerate(args), *kwargs.items()]:
        items = value.items() if isinstance(value, collections.abc.Mapping) else [(None, value)]
        for inner, item in items:
            if isinstance(item, torch.Tensor):
                yield f"input {key!r}" + ("" if inner is None else f"[{inner!r}]"), item


def check_input_dtypes(model: nn.Module, args: tuple, kwargs: dict) -> None:
    """Forward pre-hook of every model :func:`create_model` builds: a floating input whose dtype is not the (real)
    dtype of the model's parameters (nor, under autocast, the autocast dtype) is a ``TypeError`` that says how to
    convert one of the two; torch's own error names neither."""
    param = next((p for p in model.parameters() if p.is_floating_point() or p.is_complex()), None)
    if param is None:
        return
    dtype = _REAL.get(param.dtype, param.dtype)
    for where, tensor in _tensors(args, kwargs):
        if not tensor.is_floating_point() or tensor.dtype == dtype:
            continue
        device = tensor.device.type
        if not (torch.is_autocast_enabled(device) and tensor.dtype == torch.get_autocast_dtype(device)):
            name = getattr(model, CONFIG_ATTR, {}).get("name", type(model).__name__)
            raise TypeError(f"{name}: {where} is {tensor.dtype} but the model's parameters are {dtype}: convert the "
                            f"input (x.{_converter(dtype)}) or the model (model.{_converter(tensor.dtype)})")


def create_model(name: str, pretrained: str | os.PathLike | None = None, **kwargs) -> nn.Module:
    """Build the registered model ``name`` from plain keyword arguments, or with trained weights.

    Keyword arguments set to ``None`` are dropped (so a config can leave a key unset); the others are checked
    against the constructor's annotations (:func:`zoo.arguments.check_arguments`). The model remembers
    ``{"name": name, **kwargs}`` as ``model.zoo_config`` for :func:`zoo.save_pretrained` and checks the dtype
    of its inputs (:func:`check_input_dtypes`).

    ``pretrained``: a folder written by :func:`zoo.publish` (its model card checked against its files) or
    :func:`zoo.save_pretrained`, a run folder of ``train.py`` (its best checkpoint, else its last), a ``.ckpt``, or
    ``"hf://owner/repo"`` (downloaded with huggingface_hub). The model is built with the stored constructor arguments
    (``kwargs`` may override those that keep every tensor's shape, e.g. ``dropout=0.0``), its weights loaded strictly,
    in training mode like any new model; a stored model of another name is an error.
    """
    if pretrained is not None:
        from zoo.checkpoint import load_model  # checkpoint builds its models through this module

        return load_model(pretrained, name=name, **kwargs).train()
    info = model_info(name)
    kwargs = {key: value for key, value in kwargs.items() if value is not None}
    check_arguments(info.constructor, kwargs, caller=f"create_model({name!r})", prefix="model",
                    kwargs_to=info.kwargs_to)
    try:
        model = info.constructor(**kwargs)
    except TypeError as err:
        raise TypeError(f"create_model({name!r}, ...): {err}") from err
    setattr(model, CONFIG_ATTR, {"name": name, **kwargs})
    model.register_forward_pre_hook(check_input_dtypes, with_kwargs=True)
    return model
