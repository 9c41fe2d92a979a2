import pytest
import torch


@pytest.fixture
def float64_default():
    """Build models in float64, so closed-form checks see no float32 rounding of the init."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)
