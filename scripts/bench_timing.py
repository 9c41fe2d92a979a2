"""Wall-clock timing shared by the benchmarks: one call in milliseconds, and interleaved rounds reduced to medians."""

from __future__ import annotations

import statistics
import time
from typing import Callable

import torch


def timed(fn: Callable[[], object], device: str) -> float:
    """Milliseconds of ``fn()``, waiting for the GPU's queue on ``device == "cuda"``."""
    start = time.perf_counter()
    fn()
    if device == "cuda":
        torch.cuda.synchronize()
    return 1000 * (time.perf_counter() - start)


def interleaved_medians(functions: dict[str, Callable[[], object]], repeats: int, device: str) -> dict[str, float]:
    """Upper-median milliseconds of each of ``functions`` over ``repeats`` rounds that call them in turn, after one
    warm-up round (interleaving spreads a shared machine's slow spells over all of them)."""
    times = {key: [] for key in functions}
    for index in range(repeats + 1):
        for key, fn in functions.items():
            elapsed = timed(fn, device)
            if index:
                times[key].append(elapsed)
    return {key: statistics.median_high(values) for key, values in times.items()}
