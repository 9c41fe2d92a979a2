"""``eval.py``'s tools on a checkpoint: ``compress=`` (:mod:`zoo.compress`) and ``analysis=`` (:mod:`zoo.analysis`).

Both differentiate the task's own loss (:meth:`zoo.tasks.base.ZooTask.objective`) through the task's forward (so an
operator's normalisation is included) on the first ``batches`` batches of the run's training split:

- ``compress=fwsvd|svd``: the Fisher of those batches (FWSVD only), every targeted ``nn.Linear`` of the model
  factorised in place, the test set run again; ``metrics.json`` gains ``compressed/<metric>``, the parameter counts
  and the summed reconstruction error, and the compressed model is written as a pretrained folder
  (``pretrained/``, loadable with :func:`zoo.load_model`).
- ``analysis=hessian``: the top ``k`` eigenvalues of the Hessian of that loss (Lanczos) and its stochastic Lanczos
  quadrature density, written to ``hessian.json`` and plotted to ``hessian.png``.
"""

from __future__ import annotations

import copy
import itertools
import json
import time
from pathlib import Path

import torch
from zoo.checkpoint import save_pretrained
from zoo.io import atomic_path
from zoo.optional import require


def training_batches(datamodule, count: int) -> list[tuple]:
    """The first ``count`` ``(input, target)`` batches of ``datamodule``'s training split (a graph ``Batch`` gives
    ``(batch, batch.y)``)."""
    if count < 1:
        raise ValueError(f"batches must be >= 1, got {count}: the number of training batches the loss is taken on")
    datamodule.setup("fit")
    batches = [batch if isinstance(batch, (tuple, list)) else (batch, batch.y)
               for batch in itertools.islice(datamodule.train_dataloader(), count)]
    if not batches:
        raise ValueError(f"{type(datamodule).__name__}'s training split yields no batch: check the data config")
    return batches


def compress(options: dict, task, datamodule, output_dir: Path) -> dict:
    """Factorise ``task.model``'s Linear layers by ``options["method"]`` (``fwsvd`` or ``svd``) with ``rank`` or
    ``ratio`` (the other keys: :func:`zoo.compress.fwsvd`'s); returns the parameter counts (total and in Linear
    layers) and the summed reconstruction error ``Σ ‖W − AB‖_F`` for ``metrics.json``, and writes
    ``output_dir / "pretrained"``."""
    from zoo import compress as methods

    options = dict(options)
    method = options.pop("method")
    if method not in ("fwsvd", "svd"):
        raise ValueError(f"unknown compress.method {method!r}: expected fwsvd or svd (configs/compress/)")
    original = copy.deepcopy(task.model)
    if method == "fwsvd":
        data = training_batches(datamodule, options.pop("batches"))
        methods.fwsvd(task, methods.fisher_information(task, data, task.objective), **options)
    else:
        methods.svd(task, **options)
    folder = save_pretrained(task.model, output_dir / "pretrained")
    return {"method": method, **options, "parameters_before": methods.parameter_counts(original),
            "parameters_after": methods.parameter_counts(task.model),
            "reconstruction_error": methods.reconstruction_error(original, task.model), "pretrained": str(folder)}


def analyse(options: dict, task, datamodule, output_dir: Path) -> dict:
    """Top-``k`` Hessian eigenvalues (Lanczos) and the SLQ density of the task's loss on ``batches`` training
    batches; writes ``hessian.json`` and ``hessian.png`` into ``output_dir``."""
    from zoo.analysis import hessian_spectrum

    options = dict(options)
    method, batches, k, dtype = (options.pop(key) for key in ("method", "batches", "k", "dtype"))
    if method != "hessian":
        raise ValueError(f"unknown analysis.method {method!r}: expected hessian (configs/analysis/)")
    if dtype not in ("float32", "float64"):
        raise ValueError(f"analysis.dtype must be float32 or float64, got {dtype!r}")
    options["dtype"] = getattr(torch, dtype)
    data = training_batches(datamodule, batches)
    start = time.perf_counter()
    top = hessian_spectrum(task, task.objective, data, method="lanczos", k=k, **options)
    lanczos_seconds = time.perf_counter() - start
    density = hessian_spectrum(task, task.objective, data, method="slq", **options)
    result = {"top_eigenvalues": top.tolist(), "lanczos_seconds": lanczos_seconds,
              "slq": {"grid": density.grid.tolist(), "density": density.density.tolist()},
              "batches": len(data), "samples": sum(len(target) for _, target in data)}
    with atomic_path(output_dir / "hessian.json") as tmp:
        tmp.write_text(json.dumps(result, indent=2))
    with atomic_path(output_dir / "hessian.png") as tmp:
        _plot(result, tmp)
    return {"top_eigenvalue": result["top_eigenvalues"][0], "lanczos_seconds": lanczos_seconds,
            "hessian": str(output_dir / "hessian.json")}


def _plot(result: dict, path: Path) -> None:
    plt = require("matplotlib.pyplot")
    figure, (density, top) = plt.subplots(1, 2, figsize=(9, 3.2))
    density.semilogy(result["slq"]["grid"], torch.tensor(result["slq"]["density"]).clamp(min=1e-12))
    density.set(xlabel="eigenvalue λ", ylabel="density", title="SLQ spectral density")
    top.plot(range(1, len(result["top_eigenvalues"]) + 1), result["top_eigenvalues"], "o")
    top.set(xlabel="index", ylabel="λ", title=f"top {len(result['top_eigenvalues'])} (Lanczos)")
    figure.tight_layout()
    figure.savefig(path, dpi=120, format="png")
    plt.close(figure)
