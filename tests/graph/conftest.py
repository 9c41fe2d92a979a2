"""The graph models' outputs from before the packed SPE and the one-pass Chebyshev filters (issue 16).

``tests/fixtures/graph/a78ab53_outputs.pt`` was written by commit a78ab53's ``SPE`` and ``RQGNN`` in float64 on
seven random G(n, 0.35) graphs (3 to 12 nodes): per case the initial parameters (one vector), the inputs, a
training-mode forward, the gradients of ``(out * weights).sum()`` (one vector), and for SPE the gradients of the
eigenpairs, the BatchNorm running statistics after that step and an eval-mode forward.
"""

from pathlib import Path

import pytest
import torch

FIXTURE = Path(__file__).parents[1] / "fixtures" / "graph" / "a78ab53_outputs.pt"


@pytest.fixture(scope="session")
def a78ab53() -> dict:
    return torch.load(FIXTURE, weights_only=True)
