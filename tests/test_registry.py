import pytest
import torch
from torch import nn

import zoo
from zoo.registry import _REGISTRY, model_info


def test_list_models_wildcards_family_capability():
    assert "s4d" in zoo.list_models("s4*")
    assert zoo.list_models("s4*") == sorted(zoo.list_models("s4*"))
    assert "s4d" in zoo.list_models(family="ssm")
    assert "s4d" not in zoo.list_models(family="operators")
    assert "s4d" in zoo.list_models(capability="step")
    assert zoo.list_models("no_such_*") == []


def test_unknown_model_lists_close_matches():
    with pytest.raises(KeyError, match=r"unknown model 's4'.*did you mean 's4d'"):
        zoo.create_model("s4")


def test_duplicate_name_is_an_error(monkeypatch):
    monkeypatch.setattr("zoo.registry._REGISTRY", dict(_REGISTRY))
    with pytest.raises(ValueError, match="'s4d' is already registered"):
        zoo.register_model("s4d", family="ssm", paper="-", task="classification")(nn.Identity)


def test_create_model_records_config_and_drops_none():
    model = zoo.create_model("s4d", d_model=16, n_layers=1, dt_min=None)
    assert model.zoo_config == {"name": "s4d", "d_model": 16, "n_layers": 1}


def test_unknown_kwarg_names_the_model():
    with pytest.raises(TypeError, match=r"create_model\('s4d'.*d_modle"):
        zoo.create_model("s4d", d_modle=16)


@pytest.mark.parametrize("name", zoo.list_models())
def test_registry_sweep(name):
    """Every model builds from its name alone, gives finite outputs of the documented shape, and every
    trainable parameter receives a gradient."""
    info = model_info(name)
    assert info.family and info.paper and info.task
    assert info.example is not None, f"{name}: register an example(model) -> (input, output_shape)"
    torch.manual_seed(0)
    model = zoo.create_model(name)
    inputs, shape = info.example(model)
    output = model(inputs)
    assert tuple(output.shape) == tuple(shape)
    assert torch.isfinite(output).all()
    output.square().mean().backward()
    for param_name, param in model.named_parameters():
        if param.requires_grad:
            assert param.grad is not None and torch.isfinite(param.grad).all(), param_name
            assert param.grad.abs().sum() > 0, f"{name}: {param_name} received a zero gradient"
