"""Model registry: a name maps to a constructor and a :class:`ModelInfo`.

Every paper's model registers itself with :func:`register_model`; users and configs build it with
:func:`create_model` from plain keyword arguments, so a YAML file or a checkpoint's hyper-parameters can
rebuild it::

    @register_model("s4d", family="ssm", paper="...", task="classification", capabilities=("step",),
                    example=lambda model: (torch.randn(2, 64, model.d_input), (2, model.d_output)))
    def s4d(d_model: int = 64, **kwargs) -> S4DModel: ...

    zoo.list_models("s4*")                  # ['s4d']
    zoo.create_model("s4d", d_model=128)    # an nn.Module
"""

from __future__ import annotations

import difflib
import fnmatch
from dataclasses import dataclass, field
from typing import Any, Callable

from torch import nn

#: attribute under which :func:`create_model` records ``{"name": ..., **kwargs}`` on the model it builds
CONFIG_ATTR = "zoo_config"


@dataclass(frozen=True)
class ModelInfo:
    """What the registry knows of a model besides its constructor."""

    name: str
    family: str
    paper: str
    task: str
    capabilities: frozenset[str] = field(default_factory=frozenset)
    constructor: Callable[..., nn.Module] | None = field(default=None, repr=False, compare=False)
    #: ``example(model) -> (input, output_shape)``: a small input for ``model(input)`` and the shape it must give
    example: Callable[[nn.Module], tuple[Any, tuple[int, ...]]] | None = field(default=None, repr=False, compare=False)


_REGISTRY: dict[str, ModelInfo] = {}


def register_model(
    name: str,
    *,
    family: str,
    paper: str,
    task: str,
    capabilities: tuple[str, ...] | list[str] = (),
    example: Callable[[nn.Module], tuple[Any, tuple[int, ...]]] | None = None,
) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator that registers a class or function building an ``nn.Module`` under ``name``.

    ``example(model)`` returns a small input and the output shape it must give; the registry sweep
    test runs every registered model on it.
    """

    def decorator(constructor: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _REGISTRY:
            raise ValueError(f"model name {name!r} is already registered (by {_REGISTRY[name].constructor!r})")
        _REGISTRY[name] = ModelInfo(name, family, paper, task, frozenset(capabilities), constructor, example)
        return constructor

    return decorator


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
    """Sorted names matching an fnmatch ``pattern`` (``"s4*"``), optionally of one family or capability."""
    return sorted(
        info.name
        for info in _REGISTRY.values()
        if fnmatch.fnmatchcase(info.name, pattern)
        and (family is None or info.family == family)
        and (capability is None or capability in info.capabilities)
    )


def create_model(name: str, **kwargs) -> nn.Module:
    """Build the registered model ``name`` from plain keyword arguments.

    Keyword arguments set to ``None`` are dropped (so a config can leave a key unset), and the model
    remembers ``{"name": name, **kwargs}`` as ``model.zoo_config`` for :func:`zoo.save_pretrained`.
    """
    constructor = model_info(name).constructor
    kwargs = {key: value for key, value in kwargs.items() if value is not None}
    try:
        model = constructor(**kwargs)
    except TypeError as err:
        raise TypeError(f"create_model({name!r}, ...): {err}") from err
    setattr(model, CONFIG_ATTR, {"name": name, **kwargs})
    return model
