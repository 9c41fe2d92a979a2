"""FWSVD: Fisher-weighted low-rank factorisation of a model's Linear layers, beside plain SVD.

Hsu, Hua, Chang, Lou, Shen, Jin, "Language model compression with weighted low-rank factorization" (ICLR 2022).
The method is the subject of a patent application by its authors (Samsung Research): US 2023/0106213 A1.

For a layer ``y = x Wᵀ + b`` with ``W: (out, in)``:

- the empirical Fisher of its weight, ``I_W = (1/|D|) Σ_{d∈D} (∂ℓ(d)/∂W)²``, from squared *per-sample* gradients
  of the task loss (:func:`fisher_information`);
- the importance of each input feature ``Î = diag(√(Σ_o I_{o,1}), …, √(Σ_o I_{o,in}))`` (``reduce="in"``);
- the weighted problem ``min_{A,B} ‖(W − A B) Î‖_F`` over rank-r factors, solved by the SVD ``W Î = U S Vᵀ``:
  ``A = U_r S_r^{1/2}`` (out, r), ``B = S_r^{1/2} V_rᵀ Î⁻¹`` (r, in). Its error is the Eckart–Young tail
  ``√Σ_{i>r} σ_i(W Î)²``; plain SVD is ``Î = 1``.

The paper weights "rows", which is ambiguous in the torch layout; ``reduce="in"`` is the reading of the two public
re-implementations (s-nlp/lora_fwsvd, hahnyuan/ASVD4LLM). ``reduce="out"`` weights the outputs instead,
``min ‖Î_out (W − A B)‖_F`` with ``Î_out = diag(√(Σ_j I_{o,j}))``, and ``reduce="both"`` both sides,
``min ‖Î_out (W − A B) Î_in‖_F``, with ``A = Î_out⁻¹ U_r S_r^{1/2}``. Each diagonal is divided by its largest entry
(the minimiser does not depend on the scale, so a uniform Fisher gives exactly SVD's factors) and floored at
``eps`` so that its inverse exists. Unlike ASVD's ``calib_fisher_info``, which squares the gradient of a whole
batch's loss, the Fisher here is the per-sample one of the paper (``torch.func.vmap`` of ``grad``). The
factorisation runs in float64 and the factors are cast to the weight's dtype.
"""

from __future__ import annotations

import itertools
import math
import re
import warnings
from typing import Callable, Iterable

import torch
from torch import nn
from torch.func import functional_call, grad, vmap
from torch.utils._pytree import tree_leaves, tree_map

from zoo.checkpoint import REBUILDERS, CheckpointError
from zoo.compress.factorized import FactorizedLinear
from zoo.modes import evaluating
from zoo.registry import CONFIG_ATTR

REDUCE = ("in", "out", "both")
PER_SAMPLE = ("auto", "vmap", "loop")
#: the key of ``model.zoo_config`` that records the factorised layers: ``{"method": ..., "ranks": {name: r}}``
RECORD = "compression"
Targets = str | list[str] | None


def linear_layers(model: nn.Module, targets: Targets = None) -> dict[str, nn.Linear]:
    """The ``nn.Linear`` layers of ``model`` that ``targets`` selects, by dotted name.

    ``targets``: ``None`` (every one), a list of names, or a regular expression that must match a whole name. Only
    modules of exactly that class count (``nn.MultiheadAttention``'s ``out_proj``, whose weight its parent reads,
    is a subclass), never the two inside a :class:`FactorizedLinear`.
    """
    inside = {id(child) for module in model.modules() if isinstance(module, FactorizedLinear)
              for child in module.children()}
    found = {name: module for name, module in model.named_modules()
             if name and type(module) is nn.Linear and id(module) not in inside}
    if not found:
        raise ValueError(f"model: {type(model).__name__} has no nn.Linear layer to factorise (already factorised "
                         "layers do not count; a bare nn.Linear cannot be replaced in place: wrap it in a module)")
    if targets is None:
        return found
    if isinstance(targets, str):
        chosen = {name: layer for name, layer in found.items() if re.fullmatch(targets, name)}
    else:
        unknown = [name for name in targets if name not in found]
        if unknown:
            raise ValueError(f"targets: {unknown} are not nn.Linear layers of {type(model).__name__}; "
                             f"its Linear layers: {list(found)}")
        chosen = {name: found[name] for name in targets}
    if not chosen:
        raise ValueError(f"targets={targets!r} matches no nn.Linear layer of {type(model).__name__}; pass some of "
                         f"{list(found)} or a regular expression that matches whole names")
    return chosen


def fisher_information(model: nn.Module, data: Iterable, loss_fn: Callable, targets: Targets = None,
                       max_batches: int | None = None, per_sample: str = "auto") -> dict[str, torch.Tensor]:
    """The empirical Fisher ``I_W = (1/|D|) Σ_d (∂ℓ(d)/∂W)²`` of every targeted Linear weight: ``{name: (out, in)}``
    in float64.

    ``data`` yields ``(input, target)`` batches (tensors or nests of tensors with the batch first, moved to the
    weights' device); ``loss_fn(output, target)`` is a batch-mean loss, called on a batch of one for each sample,
    so it must return a scalar. ``max_batches`` stops early. ``per_sample``: ``"vmap"`` (``torch.func``:
    ``vmap(grad(...))`` over ``functional_call``), ``"loop"`` (autograd, one sample at a time: for models with
    operations ``torch.func`` cannot transform, such as an ``autograd.Function`` without ``setup_context``), or
    ``"auto"`` (vmap, and the loop with a warning once vmap fails). The model runs in eval mode; every module's
    mode is restored afterwards. The per-sample gradients of a whole batch are held at once: use smaller batches
    for wide layers.
    """
    if max_batches is not None and not _positive_int(max_batches):
        raise ValueError(f"max_batches must be a positive int or None, got {max_batches!r}")
    if per_sample not in PER_SAMPLE:
        raise ValueError(f"per_sample must be one of {PER_SAMPLE}, got {per_sample!r}")
    layers = linear_layers(model, targets)
    keys = {f"{name}.weight": name for name in layers}
    params = {key: value.detach() for key, value in model.named_parameters()}
    buffers = dict(model.named_buffers())
    weights = {key: layers[name].weight.detach() for key, name in keys.items()}
    device = next(iter(weights.values())).device

    def sample_loss(W: dict[str, torch.Tensor], x, y) -> torch.Tensor:
        """``ℓ(d)`` of one sample ``d = (x, y)`` (no batch dimension) with the targets' weights ``W``."""
        x, y = tree_map(lambda t: t.unsqueeze(0), (x, y))
        loss = loss_fn(functional_call(model, ({**params, **W}, buffers), (x,)), y)
        if not isinstance(loss, torch.Tensor) or loss.dim() != 0:
            shape = tuple(loss.shape) if isinstance(loss, torch.Tensor) else type(loss).__name__
            raise ValueError(f"loss_fn must return a scalar tensor (a batch-mean loss, e.g. reduction='mean'), "
                             f"got {shape} for a batch of one")
        return loss

    vmapped = vmap(grad(sample_loss), in_dims=(None, 0, 0))

    def looped(x, y) -> dict[str, torch.Tensor]:
        """``{key: (n, out, in)}``: the gradients of ``sample_loss`` one sample at a time, by autograd."""
        grads = []
        for n in range(len(tree_leaves(x)[0])):
            W = {key: value.clone().requires_grad_() for key, value in weights.items()}
            loss = sample_loss(W, *tree_map(lambda t: t[n], (x, y)))
            grads.append(torch.autograd.grad(loss, list(W.values()), allow_unused=True, materialize_grads=True))
        return {key: torch.stack(values) for key, values in zip(weights, zip(*grads))}

    sums = {key: torch.zeros_like(W, dtype=torch.float64) for key, W in weights.items()}
    count, mode = 0, per_sample
    with evaluating(model), torch.enable_grad():
        for batch in itertools.islice(data, max_batches):
            if not (isinstance(batch, (tuple, list)) and len(batch) == 2):
                raise ValueError(f"data must yield (input, target) batches, got a {type(batch).__name__}")
            x, y = tree_map(lambda t: t.to(device) if isinstance(t, torch.Tensor) else t, tuple(batch))
            try:
                grads = looped(x, y) if mode == "loop" else vmapped(weights, x, y)
            except RuntimeError as err:
                if mode != "auto":
                    raise
                warnings.warn(f"fisher_information: torch.func cannot transform {type(model).__name__} ({err}); "
                              "computing the per-sample gradients one sample at a time", stacklevel=2)
                mode, grads = "loop", looped(x, y)
            for key, g in grads.items():
                sums[key] += g.double().square().sum(0)
            count += next(iter(grads.values())).shape[0]
    if count == 0:
        raise ValueError("data yielded no batch: pass a non-empty iterable of (input, target) batches, e.g. the "
                         "training set's DataLoader")
    return {keys[key]: total / count for key, total in sums.items()}


def importance(I_W: torch.Tensor, reduce: str = "in", eps: float = 1e-8
               ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """The diagonals of ``Î_out`` ``(out,)`` and ``Î_in`` ``(in,)`` from a Fisher ``I_W: (out, in)``, in float64:
    ``√(Σ_j I_{o,j})`` over outputs and ``√(Σ_o I_{o,j})`` over inputs on the sides ``reduce`` weights (``None``,
    an identity, on the other); each divided by its largest entry and floored at ``eps``."""
    I_W = I_W.double()

    def diagonal(sums: torch.Tensor) -> torch.Tensor:
        root = sums.sqrt()
        return (root / root.max()).clamp_min(eps)

    return (diagonal(I_W.sum(1)) if reduce in ("out", "both") else None,
            diagonal(I_W.sum(0)) if reduce in ("in", "both") else None)


def weighted_factors(W: torch.Tensor, r: int, I_out: torch.Tensor | None = None, I_in: torch.Tensor | None = None
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """``A: (out, r)``, ``B: (r, in)`` minimising ``‖Î_out (W − A B) Î_in‖_F`` for ``W: (out, in)`` and the
    diagonals ``I_out: (out,)``, ``I_in: (in,)`` (``None``: ones): with ``Î_out W Î_in = U S Vᵀ``,
    ``A = Î_out⁻¹ U_r S_r^{1/2}`` and ``B = S_r^{1/2} V_rᵀ Î_in⁻¹``; computed in float64, returned in ``W``'s dtype."""
    ones = W.new_ones(W.shape, dtype=torch.float64)
    I_out, I_in = ones[:, 0] if I_out is None else I_out, ones[0] if I_in is None else I_in
    U, S, Vh = torch.linalg.svd(I_out[:, None] * W.double() * I_in, full_matrices=False)
    root = S[:r].sqrt()
    A = U[:, :r] * root / I_out[:, None]
    B = root[:, None] * Vh[:r] / I_in
    return A.to(W.dtype), B.to(W.dtype)


def _positive_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def layer_ranks(layers: dict[str, nn.Linear], rank: int | None = None, ratio: float | None = None
                ) -> dict[str, int]:
    """``r`` of every layer: ``rank``, or ``floor(ratio · in·out / (in + out))`` (at least 1), the rank that keeps
    the fraction ``ratio`` of the layer's ``in·out`` weights in ``r (in + out)``. Exactly one of the two."""
    if (rank is None) == (ratio is None):
        raise ValueError("give exactly one of rank= (the rank r of every layer) or ratio= (the fraction of each "
                         f"layer's parameters kept, in (0, 1]); got rank={rank!r}, ratio={ratio!r}")
    if rank is not None and not _positive_int(rank):
        raise ValueError(f"rank must be a positive int, got {rank!r}")
    if ratio is not None and not (isinstance(ratio, (int, float)) and not isinstance(ratio, bool) and 0 < ratio <= 1):
        raise ValueError(f"ratio must lie in (0, 1] (the fraction of each layer's parameters kept), got {ratio!r}")
    return {name: rank if rank is not None else
            max(1, math.floor(ratio * layer.in_features * layer.out_features
                              / (layer.in_features + layer.out_features)))
            for name, layer in layers.items()}


def _check_ranks(layers: dict[str, nn.Linear], ranks: dict[str, int]) -> None:
    too_high = {name: min(layer.in_features, layer.out_features) for name, layer in layers.items()
                if ranks[name] > min(layer.in_features, layer.out_features)}
    if too_high:
        found = ", ".join(f"{name} has min(in, out) = {m} < {ranks[name]}" for name, m in too_high.items())
        raise ValueError(f"rank: {found}; pass rank <= {min(too_high.values())}, a ratio=, or targets= without "
                         "those layers")


def _record(model: nn.Module, method: str, ranks: dict[str, int]) -> None:
    """Add ``ranks`` to ``zoo_config["compression"]`` of every module of ``model`` that :func:`zoo.create_model`
    built (``model`` itself, or e.g. a task's ``model``), with names relative to it, so that
    :func:`zoo.save_pretrained` writes them and :func:`zoo.load_model` rebuilds the factorised shapes."""
    for prefix, owner in model.named_modules():
        config, start = getattr(owner, CONFIG_ATTR, None), f"{prefix}." if prefix else ""
        own = {name[len(start):]: r for name, r in ranks.items() if name.startswith(start)}
        if not isinstance(config, dict) or not own:
            continue
        previous = config.get(RECORD, {"method": method, "ranks": {}})
        methods = previous["method"] if method in previous["method"].split("+") else f"{previous['method']}+{method}"
        setattr(owner, CONFIG_ATTR, {**config, RECORD: {"method": methods, "ranks": {**previous["ranks"], **own}}})


def _replace(model: nn.Module, layers: dict[str, nn.Linear], ranks: dict[str, int],
             factors: Callable[[str, nn.Linear, int], tuple[torch.Tensor, torch.Tensor]], method: str) -> nn.Module:
    """Put ``FactorizedLinear.from_factors(*factors(name, layer, r), bias)`` in place of every layer; record it."""
    _check_ranks(layers, ranks)
    for name, layer in layers.items():
        A, B = factors(name, layer, ranks[name])
        bias = None if layer.bias is None else layer.bias.detach()
        model.set_submodule(name, FactorizedLinear.from_factors(A=A, B=B, bias=bias).train(layer.training))
    _record(model, method, ranks)
    return model


def fwsvd(model: nn.Module, fisher: dict[str, torch.Tensor], rank: int | None = None, ratio: float | None = None,
          reduce: str = "in", eps: float = 1e-8, targets: Targets = None) -> nn.Module:
    """Replace every targeted ``nn.Linear`` of ``model`` in place by the :class:`FactorizedLinear` of its
    Fisher-weighted rank-r factors (module docstring) and return ``model``.

    ``fisher``: ``{name: I_W (out, in)}`` from :func:`fisher_information`, with an entry for every target.
    ``rank`` (every layer) or ``ratio`` (the fraction of each layer's parameters kept), exactly one.
    ``reduce``: which side ``Î`` weights, ``"in"`` (default), ``"out"`` or ``"both"``. ``eps``: the floor of ``Î``'s
    diagonal relative to its largest entry. The method is the subject of a patent application by its authors
    (US 2023/0106213 A1).
    """
    if reduce not in REDUCE:
        raise ValueError(f"reduce must be one of {REDUCE} (the side of W that the Fisher weights), got {reduce!r}")
    if not (isinstance(eps, float) and 0 < eps < 1):
        raise ValueError(f"eps must be a float in (0, 1) (Î's floor relative to its largest entry), got {eps!r}")
    layers = linear_layers(model, targets)
    ranks = layer_ranks(layers, rank=rank, ratio=ratio)
    missing = [name for name in layers if name not in fisher]
    if missing:
        raise ValueError(f"fisher has no entry for {missing}: compute it with fisher_information(model, data, "
                         "loss_fn, targets=...) over the same layers that fwsvd targets")
    for name, layer in layers.items():
        I_W = fisher[name]
        if I_W.shape != layer.weight.shape or not torch.isfinite(I_W).all() or (I_W < 0).any() or not I_W.any():
            raise ValueError(f"fisher[{name!r}] must be a finite, non-negative, non-zero tensor shaped like the "
                             f"layer's weight {tuple(layer.weight.shape)}; got shape {tuple(I_W.shape)} (a layer the "
                             "loss does not depend on has a zero Fisher: leave it out with targets=)")

    def factors(name: str, layer: nn.Linear, r: int) -> tuple[torch.Tensor, torch.Tensor]:
        I_out, I_in = importance(fisher[name].to(layer.weight.device), reduce=reduce, eps=eps)
        return weighted_factors(layer.weight.detach(), r, I_out=I_out, I_in=I_in)

    return _replace(model, layers, ranks, factors, method="fwsvd")


def svd(model: nn.Module, rank: int | None = None, ratio: float | None = None, targets: Targets = None) -> nn.Module:
    """:func:`fwsvd` with uniform weights (``Î = 1``): the truncated SVD ``W ≈ U_r S_r V_rᵀ`` of every targeted
    ``nn.Linear``, ``A = U_r S_r^{1/2}``, ``B = S_r^{1/2} V_rᵀ``; replaces them in place and returns ``model``."""
    layers = linear_layers(model, targets)
    ranks = layer_ranks(layers, rank=rank, ratio=ratio)

    return _replace(model, layers, ranks, lambda name, layer, r: weighted_factors(layer.weight.detach(), r),
                    method="svd")


def rebuild(model: nn.Module, record: dict) -> None:
    """Put a :class:`FactorizedLinear` of the recorded shape in place of each Linear that ``record`` (the
    ``"compression"`` entry of a stored model config: ``{"method": ..., "ranks": {name: r}}``, plain data) names,
    for :func:`zoo.load_model` to load the weights into."""
    ranks = record.get("ranks") if isinstance(record, dict) else None
    plain = isinstance(ranks, dict) and ranks and all(_positive_int(r) for r in ranks.values())
    if not plain or not isinstance(record.get("method"), str):
        raise CheckpointError(f"the model config's {RECORD!r} entry must be {{'method': str, 'ranks': {{layer name: "
                              f"positive int}}}} as zoo.compress writes it, got {record!r}")
    try:
        layers = linear_layers(model, targets=list(ranks))
        _replace(model, layers, ranks, lambda name, layer, r: (
            layer.weight.new_zeros(layer.out_features, r), layer.weight.new_zeros(r, layer.in_features)),
            method=record["method"])
    except ValueError as err:
        raise CheckpointError(f"the model config's {RECORD!r} entry does not fit {type(model).__name__}: "
                              f"{err}") from err


REBUILDERS[RECORD] = rebuild


def reconstruction_error(original: nn.Module, compressed: nn.Module) -> float:
    """``Σ ‖W − A B‖_F`` over the :class:`FactorizedLinear` layers of ``compressed``, ``W`` the weight of the
    layer of the same name in ``original`` (an uncompressed copy: ``copy.deepcopy`` before compressing)."""
    return sum(torch.linalg.matrix_norm(original.get_submodule(name).weight.double() - layer.weight.double())
               .item() for name, layer in compressed.named_modules() if isinstance(layer, FactorizedLinear))


def parameter_counts(model: nn.Module) -> dict[str, int]:
    """``{"total": every parameter, "linear": those of nn.Linear modules, the two of each FactorizedLinear
    included}``."""
    linear = sum(p.numel() for module in model.modules() if isinstance(module, nn.Linear)
                 for p in module.parameters(recurse=False))
    return {"total": sum(p.numel() for p in model.parameters()), "linear": linear}
