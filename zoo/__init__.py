"""zoo: spectral, operator and structured linear-algebra models from recent papers, as plain nn.Modules."""

from zoo.registry import ModelInfo, create_model, list_models, model_info, register_model
from zoo.checkpoint import load_model, save_pretrained
from zoo.normaliser import load_operator, operator_statistics
from zoo.parameters import parameter_groups
from zoo.publish import publish
from zoo import eeg, equivariant, generative, gp, graph, molecules, operators, pinn, rom, ssm  # noqa: F401  (registers every family)
from zoo import compress  # noqa: F401  (load_model rebuilds the layers it factorises)

__all__ = [
    "ModelInfo",
    "create_model",
    "list_models",
    "load_model",
    "load_operator",
    "model_info",
    "operator_statistics",
    "parameter_groups",
    "publish",
    "register_model",
    "save_pretrained",
]
