"""Metrics that papers report."""

from zoo.metrics.regression import RelativeL2Error, relative_l2

__all__ = ["RelativeL2Error", "relative_l2"]
