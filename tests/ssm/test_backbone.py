"""SequenceBackbone: the residual stack shared by the SSM models; S4DModel is exactly the backbone of S4DLayers."""

import inspect
from functools import partial

import pytest
import torch
from torch import nn

from zoo.ssm.backbone import SequenceBackbone
from zoo.ssm.s4d import S4DKernel, S4DLayer, S4DModel
from zoo.ssm.s5 import S5SSM, S5Layer

KWARGS = dict(d_input=2, d_output=3, d_model=8, n_layers=2, dropout=0.2)


@pytest.mark.parametrize("prenorm, pooling", [(False, "mean"), (True, "last"), (False, "none")])
def test_backbone_of_s4d_layers_is_s4d_model(prenorm, pooling):
    """Same seed -> same state_dict (keys and values) and the same outputs, in sequence and step mode."""
    torch.manual_seed(0)
    reference = S4DModel(**KWARGS, d_state=8, prenorm=prenorm, pooling=pooling).eval()
    torch.manual_seed(0)
    make_layer = partial(S4DLayer, KWARGS["d_model"], 8, dropout=KWARGS["dropout"])
    backbone = SequenceBackbone(make_layer, **KWARGS, prenorm=prenorm, pooling=pooling).eval()
    expected, got = reference.state_dict(), backbone.state_dict()
    assert list(got) == list(expected)
    for key in expected:
        torch.testing.assert_close(got[key], expected[key], rtol=0, atol=0)
    x = torch.randn(2, 16, 2)
    torch.testing.assert_close(backbone(x), reference(x), rtol=0, atol=0)
    if pooling != "mean":
        for model in (reference, backbone):
            model.setup_step()
        state_a, state_b = reference.default_state(2), backbone.default_state(2)
        for t in range(4):
            y_a, state_a = reference.step(x[:, t], state_a)
            y_b, state_b = backbone.step(x[:, t], state_b)
            torch.testing.assert_close(y_b, y_a, rtol=0, atol=0)


def test_backbone_errors_name_the_model_and_the_layer():
    backbone = SequenceBackbone(partial(nn.Linear, 4, 4), d_input=1, d_output=2, d_model=4, n_layers=1,
                                pooling="last")
    assert backbone(torch.randn(2, 5, 1)).shape == (2, 2)
    with pytest.raises(ValueError, match=r"SequenceBackbone expects input of shape \(batch, length, d_input=1\)"):
        backbone(torch.randn(2, 5))
    with pytest.raises(RuntimeError, match="SequenceBackbone: its Linear layers have no step mode"):
        backbone.setup_step()
    with pytest.raises(ValueError, match="unknown pooling 'max'"):
        SequenceBackbone(partial(nn.Linear, 4, 4), 1, 2, 4, 1, pooling="max")


@pytest.mark.parametrize("layer", [S4DKernel, S4DLayer, S5SSM, S5Layer])
def test_layers_take_their_options_by_keyword(layer):
    """Only d_model and d_state may be positional: the models build their layers with keyword arguments."""
    parameters = inspect.signature(layer).parameters.values()
    assert [p.name for p in parameters if p.kind is p.POSITIONAL_OR_KEYWORD] == ["d_model", "d_state"]
