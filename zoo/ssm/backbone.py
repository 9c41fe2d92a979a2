"""The residual sequence backbone shared by the SSM models (S4D, S5, ...), generic over the sequence layer.

``x (batch, length, d_input)`` -> Linear ``encoder`` -> ``n_layers`` × [layer, channel dropout, residual,
LayerNorm] -> pooling -> Linear ``decoder``, as the backbone of state-spaces/s4's ``example.py``. Post-norm::

    x ← norm(x + dropout(layer(x)))

or, with ``prenorm=True``, ``x ← x + dropout(layer(norm(x)))``. A layer maps ``(batch, length, d_model)`` to the
same shape; a layer with a recurrent mode also has ``setup_step()``, ``default_state(batch)`` and
``step(u (batch, d_model), state) -> (y (batch, d_model), state)``, and then so does the backbone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from einops import rearrange
from torch import Tensor, nn

from zoo.registry import register_model

POOLINGS = ("mean", "last", "none")


def check_input(x: Tensor, who: str, shape: str, ndim: int, last: int) -> None:
    """Raise a clear error unless ``x`` is a floating tensor with ``ndim`` dimensions and last size ``last``."""
    if not isinstance(x, Tensor) or x.ndim != ndim or x.shape[-1] != last or 0 in x.shape:
        got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"{who} expects input of shape {shape}, got {got}")
    if not x.is_floating_point():
        raise TypeError(f"{who} expects a floating-point input, got {x.dtype}")


def register_ssm_tensor(module: nn.Module, name: str, tensor: Tensor, lr: float) -> None:
    """Register an SSM tensor (Λ, B, Δ) with its own lr and no weight decay (``param._optim``), or, when
    ``lr == 0``, as a frozen buffer."""
    if lr == 0:
        module.register_buffer(name, tensor)
    else:
        module.register_parameter(name, nn.Parameter(tensor))
        getattr(module, name)._optim = {"lr": lr, "weight_decay": 0.0}


def sequence_example(model: "SequenceBackbone") -> tuple[Tensor, tuple[int, ...]]:
    """The registry example: an input ``(2, 64, d_input)`` and the output shape ``model`` must give."""
    shape = (2, 64, model.d_output) if model.pooling == "none" else (2, model.d_output)
    return torch.randn(2, 64, model.d_input), shape


class SequenceBackbone(nn.Module):
    """Encoder, ``n_layers`` residual blocks of ``make_layer()``, pooling and decoder.

    ``forward(x (batch, length, d_input))`` -> ``(batch, d_output)`` for ``pooling="mean"|"last"``, or
    ``(batch, length, d_output)`` for ``pooling="none"``. Dropout masks whole channels (one mask per channel,
    shared over the length), as the reference's DropoutNd. Subclasses only build ``make_layer``: error messages
    name the subclass.

    Recurrent mode (every layer causal and with a step mode, ``pooling="last"|"none"``): ``setup_step()``,
    ``default_state(batch)`` (a list with one state per layer) and
    ``step(x (batch, d_input), state) -> (y (batch, d_output), state)``, where ``y`` after step t equals the
    sequence-mode output at position t (for "last": of the sequence x_0 … x_t). Mean pooling has no step mode.
    """

    def __init__(
        self,
        make_layer: Callable[[], nn.Module],
        d_input: int,
        d_output: int,
        d_model: int,
        n_layers: int,
        dropout: float = 0.0,
        prenorm: bool = False,
        pooling: str = "mean",
    ):
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"unknown pooling {pooling!r}; valid choices: {', '.join(POOLINGS)}")
        self.d_input, self.d_output, self.d_model = d_input, d_output, d_model
        self.prenorm, self.pooling = prenorm, pooling
        self.encoder = nn.Linear(d_input, d_model)
        self.layers = nn.ModuleList(make_layer() for _ in range(n_layers))
        self.norms = nn.ModuleList(nn.LayerNorm(d_model) for _ in range(n_layers))
        self.dropout = nn.Dropout1d(dropout)
        self.decoder = nn.Linear(d_model, d_output)

    def forward(self, x: Tensor) -> Tensor:
        """``x (batch, length, d_input)`` -> ``(batch, d_output)``, or ``(batch, length, d_output)`` for "none"."""
        check_input(x, type(self).__name__, f"(batch, length, d_input={self.d_input})", 3, self.d_input)
        x = self.encoder(x)
        for layer, norm in zip(self.layers, self.norms):
            z = layer(norm(x) if self.prenorm else x)
            x = x + rearrange(self.dropout(rearrange(z, "b l h -> b h l")), "b h l -> b l h")
            x = x if self.prenorm else norm(x)
        if self.pooling == "mean":
            x = x.mean(dim=1)
        elif self.pooling == "last":
            x = x[:, -1]
        return self.decoder(x)

    def _check_steppable(self) -> None:
        name = type(self).__name__
        if self.pooling == "mean":
            raise RuntimeError(f"{name} with pooling='mean' has no step mode; use pooling='last' or 'none'")
        for layer in self.layers:
            if not all(hasattr(layer, method) for method in ("setup_step", "default_state", "step")):
                raise RuntimeError(f"{name}: its {type(layer).__name__} layers have no step mode")

    def setup_step(self) -> None:
        """Cache every layer's discrete system (call again after the parameters change or move device)."""
        self._check_steppable()
        for layer in self.layers:
            layer.setup_step()

    def default_state(self, batch_size: int) -> list[Any]:
        """One zero state per layer (see the layer's ``default_state``)."""
        return [layer.default_state(batch_size) for layer in self.layers]

    def step(self, x: Tensor, state: list[Any]) -> tuple[Tensor, list[Any]]:
        """One time step: ``x (batch, d_input)`` -> ``(y (batch, d_output), new state)``."""
        self._check_steppable()
        name = type(self).__name__
        check_input(x, f"{name}.step", f"(batch, d_input={self.d_input})", 2, self.d_input)
        if len(state) != len(self.layers):
            raise ValueError(f"{name}.step expects a state list of {len(self.layers)} tensors, got {len(state)}")
        x, new_state = self.encoder(x), []
        for layer, norm, layer_state in zip(self.layers, self.norms, state):
            z, layer_state = layer.step(norm(x) if self.prenorm else x, layer_state)
            x = x + self.dropout(z.unsqueeze(-1)).squeeze(-1)
            x = x if self.prenorm else norm(x)
            new_state.append(layer_state)
        return self.decoder(x), new_state


def register_sequence_model(name: str, paper: str) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Register a backbone model of the SSM family: sequence classification (or seq2seq), step mode, and
    :func:`sequence_example` as the registry sweep's input."""
    return register_model(name, family="ssm", paper=paper, task="classification", capabilities=("step", "sequence"),
                          example=sequence_example)
