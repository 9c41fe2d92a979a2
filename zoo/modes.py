"""Module modes for the tools that run any ``nn.Module``: eval mode inside a block, every submodule's own mode back."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from torch import nn


@contextmanager
def evaluating(model: nn.Module) -> Iterator[None]:
    """``model.eval()`` inside (dropout and BatchNorm statistics off); on exit, even after an error, every submodule's
    own ``training`` flag as it was (a model may hold submodules in different modes)."""
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for module, training in modes:
            module.training = training
