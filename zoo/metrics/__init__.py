"""Metrics that papers report."""

from zoo.metrics.operators import (RelativeH1Error, RelativeL2Error, RelativeLpError, relative_h1, relative_l2,
                                   relative_lp)

__all__ = ["RelativeH1Error", "RelativeL2Error", "RelativeLpError", "relative_h1", "relative_l2", "relative_lp"]
