import copy
import importlib
import inspect
import pickle
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

import zoo
from zoo.arguments import accepts, parameters
from zoo.checkpoint import CONFIG_DIR
from zoo.molecules.dmt import random_batch
from zoo.registry import _REGISTRY, CAPABILITIES, TASKS, model_info
from zoo.ssm.s4d import S4DModel


def test_list_models_wildcards_family_capability():
    assert "s4d" in zoo.list_models("s4*")
    assert zoo.list_models("s4*") == sorted(zoo.list_models("s4*"))
    assert "s4d" in zoo.list_models(family="ssm")
    assert "s4d" not in zoo.list_models(family="operators")
    assert "s4d" in zoo.list_models(capability="step")
    assert zoo.list_models("no_such_*") == []


def test_an_unknown_capability_lists_the_known_ones():
    with pytest.raises(ValueError, match=r"list_models: unknown capability 'stepp'; known: step, sequence, "):
        zoo.list_models(capability="stepp")


def test_the_tasks_are_the_task_configs():
    assert sorted(TASKS) == sorted(path.stem for path in (Path(CONFIG_DIR) / "task").glob("*.yaml"))


@pytest.mark.parametrize("name", zoo.list_models())
def test_one_hop_finds_the_model_and_its_task_config(name):
    """``info.module`` defines the model's class and names the model; ``info.task`` is a task config."""
    info = model_info(name)
    assert type(zoo.create_model(name)).__module__ == info.module
    assert info.module.startswith(f"zoo.{info.family}.")
    assert f'"{name}"' in inspect.getsource(importlib.import_module(info.module)), f"{name}: not named in {info.module}"
    assert (Path(CONFIG_DIR) / "task" / f"{info.task}.yaml").is_file()
    assert info.capabilities <= set(CAPABILITIES)


@pytest.mark.parametrize("field, value, message", [
    ("task", "regresion", "register_model('new'): unknown task 'regresion'; the task configs are anomaly, "),
    ("capabilities", ("step", "stepping"), "register_model('new'): unknown capability 'stepping'; known: step, "),
])
def test_an_unknown_task_or_capability_is_refused_at_registration(monkeypatch, field, value, message):
    monkeypatch.setattr("zoo.registry._REGISTRY", dict(_REGISTRY))
    arguments = {"family": "test", "paper": "-", "task": "regression", field: value}
    with pytest.raises(ValueError) as caught:
        zoo.register_model("new", **arguments)(nn.Identity)
    assert message in str(caught.value)
    assert "new" not in zoo.list_models()


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
    trainable parameter receives a gradient (a model fitted by its own inference may have none)."""
    info = model_info(name)
    assert info.family and info.paper and info.task
    assert info.example is not None, f"{name}: register an example(model) -> (input, output_shape)"
    torch.manual_seed(0)
    model = zoo.create_model(name)
    inputs, shape = info.example(model)
    output = model(*inputs) if isinstance(inputs, tuple) else model(inputs)  # a tuple: several arguments
    assert tuple(output.shape) == tuple(shape)
    assert torch.isfinite(output).all()
    objective_only = getattr(model, "objective_parameters", ())   # used by model.loss only (GP-HM's precisions)
    trainable = [(param_name, param) for param_name, param in model.named_parameters()
                 if param.requires_grad and param_name not in objective_only]
    if not trainable:   # fitted by its own inference (bayes_fit): nothing to differentiate
        return
    output.square().mean().backward()
    for param_name, param in trainable:
        assert param.grad is not None and torch.isfinite(param.grad).all(), param_name
        assert param.grad.abs().sum() > 0, f"{name}: {param_name} received a zero gradient"


@pytest.mark.parametrize("name, kwargs, error, message", [
    ("s4d", {"d_state": "abc"}, TypeError, "create_model('s4d'): d_state='abc' is a str, expected int (model.d_state)"),
    ("s4d", {"dropout": "x"}, TypeError, "dropout='x' is a str, expected float (model.dropout)"),
    ("s4d", {"d_model": True}, TypeError, "d_model=True is a bool, expected int (model.d_model)"),
    ("s4d", {"d_model": -1}, ValueError, "create_model('s4d'): d_model=-1 must be >= 1 (model.d_model)"),
    ("s4_ptd", {"n_layers": 0}, ValueError, "n_layers=0 must be >= 1 (model.n_layers)"),
    ("fno", {"modes": [8, "a"]}, TypeError, "modes=[8, 'a'] is a list, expected int | Sequence[int] (model.modes)"),
    ("kvae", {"pred_steps": 1.5}, TypeError, "pred_steps=1.5 is a float, expected int (model.pred_steps)"),  # **kwargs
    ("mg_tfno", {"width": "a"}, TypeError, "width='a' is a str, expected int (model.width)"),  # kwargs_to=tfno
    ("mg_tfno", {"levels": -1}, ValueError, "levels=-1 must be >= 0 (model.levels)"),
    ("diffspectra", {"spectra": "ir"}, TypeError, "expected list[str] | tuple[str, ...] (model.spectra)"),
])
def test_bad_model_arguments_name_the_key(name, kwargs, error, message):
    with pytest.raises(error) as caught:
        zoo.create_model(name, **kwargs)
    assert message in str(caught.value)


def test_arguments_that_fit_the_annotations_pass():
    zoo.create_model("s4d", d_model=8, n_layers=1, dropout=0)  # an int where a float is expected
    zoo.create_model("mg_tfno", levels=0, width=8, modes=4)  # levels may be 0: Annotated[int, AtLeast(0)]
    zoo.create_model("lsm", patch_size=[2, 2], padding=(0, 0), width=8)


@pytest.mark.parametrize("name", zoo.list_models())
def test_every_argument_is_annotated_and_its_default_fits(name):
    info = model_info(name)
    for key, (hint, default) in parameters(info.constructor, info.kwargs_to).items():
        assert hint is not Any, f"{name}: annotate {key}"
        assert default is not inspect.Parameter.empty, f"{name}: {key} needs a default (create_model(name) builds it)"
        assert accepts(hint, default), f"{name}: the default {key}={default!r} is not a {hint}"


def test_input_of_another_dtype_says_how_to_convert():
    model = zoo.create_model("s4d", d_model=8, n_layers=1)
    x = torch.randn(2, 16, 1, dtype=torch.float64)
    message = ("s4d: input 0 is torch.float64 but the model's parameters are torch.float32: convert the input "
               "(x.float()) or the model (model.double())")
    with pytest.raises(TypeError) as caught:
        model(x)
    assert str(caught.value) == message
    for clone in (copy.deepcopy(model), pickle.loads(pickle.dumps(model))):  # the check travels with the model
        with pytest.raises(TypeError, match="convert the input"):
            clone(x)
    assert model.double()(x).dtype == torch.float64
    with torch.autocast("cpu", dtype=torch.bfloat16):  # autocast takes its own dtype, never float64
        model.float()(x.bfloat16())
        with pytest.raises(TypeError, match="convert the input"):
            model(x)
    assert set(model.state_dict()) == set(S4DModel(d_model=8, n_layers=1).state_dict())


class ComplexScale(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(2, dtype=torch.complex64))

    def forward(self, x):
        return (x * self.weight).real


def test_dict_inputs_and_complex_parameters_are_checked(monkeypatch):
    diffspectra = zoo.create_model("diffspectra")
    batch = random_batch(diffspectra)
    with pytest.raises(TypeError, match=r"diffspectra: input 0\['pos'\] is torch.float64"):
        diffspectra({**batch, "pos": batch["pos"].double()})
    monkeypatch.setattr("zoo.registry._REGISTRY", dict(_REGISTRY))
    zoo.register_model("complex_scale", family="test", paper="-", task="regression")(ComplexScale)
    model = zoo.create_model("complex_scale")
    model(torch.ones(2))  # complex64 parameters take float32 inputs
    with pytest.raises(TypeError, match="is torch.float64 but the model's parameters are torch.float32"):
        model(torch.ones(2, dtype=torch.float64))
