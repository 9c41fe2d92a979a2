"""Keyword arguments checked against a constructor's annotations, before it runs.

A value from a config arrives as whatever the YAML or the command line made of it (``model.d_state=abc`` is
the string ``"abc"``); :func:`check_arguments` turns a value of the wrong type, or a size below 1, into an
error that names the config key, instead of one from deep inside the constructor::

    check_arguments(S4DModel, {"d_state": "abc"}, caller="create_model('s4d')", prefix="model")
    # TypeError: create_model('s4d'): d_state='abc' is a str, expected int (model.d_state)
"""

from __future__ import annotations

import collections.abc
import functools
import inspect
import numbers
import re
import types
import typing
from dataclasses import dataclass
from typing import Annotated, Any, Callable, Literal, Union


@dataclass(frozen=True)
class AtLeast:
    """``Annotated[int, AtLeast(0)]``: the smallest value of an int argument. Without it, an int argument whose
    default is positive (a size, a count) must be at least 1."""

    minimum: int


def parameters(constructor: Callable, kwargs_to: Callable | None = None) -> dict[str, tuple[Any, Any]]:
    """``name -> (type hint, default)`` of every keyword argument ``constructor`` (a class, a function or a
    ``functools.partial``) takes; its ``**kwargs`` are those of ``kwargs_to``, or else of the class its return
    annotation names. An argument without annotation has the hint ``Any``."""
    target = constructor.func if isinstance(constructor, functools.partial) else constructor
    hints = typing.get_type_hints(target.__init__ if isinstance(target, type) else target, include_extras=True)
    returned = hints.get("return")
    if kwargs_to is None and isinstance(returned, type) and returned is not type(None):
        kwargs_to = returned
    found: dict[str, tuple[Any, Any]] = {}
    for param in inspect.signature(constructor).parameters.values():
        if param.kind is param.VAR_KEYWORD and kwargs_to is not None:
            found = {**parameters(kwargs_to), **found}
        elif param.kind in (param.POSITIONAL_OR_KEYWORD, param.KEYWORD_ONLY):
            found[param.name] = (hints.get(param.name, Any), param.default)
    return found


def accepts(hint: Any, value: Any) -> bool:
    """Whether ``value`` is of type ``hint``: a class, ``X | Y``, ``Literal``, ``Annotated``, or a list, tuple,
    sequence or mapping of those (any non-string sequence stands for a list or a tuple). An int is a float, a
    bool is not an int; the forms it does not know (``Callable[...]``, type variables) accept anything."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return True
    if origin is Annotated:
        return accepts(args[0], value)
    if origin in (Union, types.UnionType):
        return any(accepts(arg, value) for arg in args)
    if origin is Literal:
        return value in args
    if hint in (int, float):
        return isinstance(value, numbers.Integral if hint is int else numbers.Real) and not isinstance(value, bool)
    if origin in (list, tuple, collections.abc.Sequence):
        if not isinstance(value, collections.abc.Sequence) or isinstance(value, (str, bytes)):
            return False
        if origin is tuple and args and args[-1] is not Ellipsis:
            return len(value) == len(args) and all(map(accepts, args, value))
        return not args or all(accepts(args[0], item) for item in value)
    if origin in (dict, collections.abc.Mapping):
        return isinstance(value, collections.abc.Mapping) and (not args or all(
            accepts(args[0], key) and accepts(args[1], item) for key, item in value.items()))
    cls = origin or hint
    return not isinstance(cls, type) or isinstance(value, cls)


def describe(hint: Any) -> str:
    """``int``, ``int | Sequence[int]``, ...: a type hint as it reads in the source."""
    if typing.get_origin(hint) is Annotated:
        hint = typing.get_args(hint)[0]
    return hint.__name__ if isinstance(hint, type) else re.sub(r"\b(typing|collections\.abc)\.", "", str(hint))


def minimum(hint: Any, default: Any) -> int | None:
    """The smallest value of an int argument: its :class:`AtLeast`, else 1 when its default is a positive int and
    its annotation takes no fractions (a size or a count), else ``None``."""
    bounds = [item.minimum for item in getattr(hint, "__metadata__", ()) if isinstance(item, AtLeast)]
    if bounds:
        return bounds[0]
    positive = isinstance(default, int) and not isinstance(default, bool) and default > 0
    return 1 if positive and not accepts(hint, 0.5) else None


def check_arguments(constructor: Callable, kwargs: dict[str, Any], *, caller: str, prefix: str,
                    kwargs_to: Callable | None = None) -> None:
    """Raise a ``TypeError`` for a value of ``kwargs`` that does not fit its annotation in ``constructor`` (see
    :func:`parameters`), a ``ValueError`` for an int below its :func:`minimum`; the message starts with
    ``caller`` and names the config key ``<prefix>.<key>``. Keys the constructor does not take are left to it."""
    known = parameters(constructor, kwargs_to)
    for key, value in kwargs.items():
        if key not in known:
            continue
        hint, default = known[key]
        given = f"{caller}: {key}={value!r}"
        if not accepts(hint, value):
            raise TypeError(f"{given} is a {type(value).__name__}, expected {describe(hint)} ({prefix}.{key})")
        bound = minimum(hint, default)
        if bound is not None and isinstance(value, numbers.Integral) and value < bound:
            raise ValueError(f"{given} must be >= {bound} ({prefix}.{key})")


def plain(value: Any) -> Any:
    """``value`` with every mapping made a ``dict`` and every non-string sequence a ``list``, recursively: a config's
    ``DictConfig`` / ``ListConfig`` as the plain containers a checkpoint or a library takes."""
    if isinstance(value, collections.abc.Mapping):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, collections.abc.Sequence) and not isinstance(value, str):
        return [plain(item) for item in value]
    return value
