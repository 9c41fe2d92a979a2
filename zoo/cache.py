"""A disk cache for generated datasets and precomputed initialisations, written atomically.

Entries are tensors or plain containers of them, saved with ``torch.save`` and read back with
``torch.load(weights_only=True)``. A write goes to a temporary file in the same folder and is renamed
into place (:func:`zoo.io.atomic_path`), so a crash or a concurrent run never leaves a half-written entry,
and the entry is readable by whoever the umask lets read it.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Callable, TypeVar

import torch

from zoo.io import atomic_path, remove_orphans

T = TypeVar("T")


def cache_dir() -> Path:
    """``$ZOO_CACHE_DIR``, or ``~/.cache/zoo``."""
    return Path(os.environ.get("ZOO_CACHE_DIR", "~/.cache/zoo")).expanduser()


def atomic_save(obj, path: str | os.PathLike) -> Path:
    """``torch.save(obj, path)`` through a temporary file in the same folder and an atomic rename."""
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)
    return path


def cached(path: str | os.PathLike, build: Callable[[], T]) -> T:
    """Load ``path`` if it holds a readable entry; otherwise ``build()`` it, save it atomically and return it.
    Either way, the temporaries that killed writes of ``path`` left are removed (:func:`zoo.io.remove_orphans`)."""
    path = Path(path)
    if path.is_file():
        remove_orphans(path)  # a write cleans them too (atomic_save)
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # a corrupt entry is derived data: rebuild it
            warnings.warn(f"cache entry {path} is unreadable ({err}); rebuilding it", stacklevel=2)
    obj = build()
    atomic_save(obj, path)
    return obj

