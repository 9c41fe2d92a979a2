"""Fixed-step time grids shared by the time-dependent solvers (Burgers, Navier-Stokes)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch


def output_steps(times, dt: float) -> tuple[np.ndarray, float, bool]:
    """The step counts at which to record the solution, the step ``h <= dt``, and whether ``times`` was a
    single number (so the caller returns one snapshot, not a sequence of them).

    ``times`` is a positive number or an increasing sequence of them; ``h = times[-1] / ceil(times[-1] / dt)``
    and every time must be a multiple of ``h`` (e.g. a uniform grid ending at ``times[-1]``).
    """
    single = not isinstance(times, (Sequence, np.ndarray, torch.Tensor))
    t = np.atleast_1d(np.asarray(times, dtype=np.float64))
    if t.ndim != 1 or t.size == 0 or t[0] <= 0 or np.any(np.diff(t) <= 0):
        raise ValueError(f"times must be a positive number or an increasing sequence of positive numbers, "
                         f"got {times!r}")
    if not dt > 0:
        raise ValueError(f"dt must be positive, got {dt!r}")
    h = t[-1] / math.ceil(t[-1] / dt - 1e-9)
    steps = t / h
    if np.any(np.abs(steps - np.round(steps)) > 1e-6):
        raise ValueError(f"every output time must be a multiple of the step h = {h:g} (t_final / ceil(t_final / dt)); "
                         f"got times {t.tolist()}: choose times on a uniform grid or a dt that divides them")
    return np.round(steps).astype(int), h, single
