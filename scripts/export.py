"""Export a trained model for deployment: ``torch.export`` (a ``.pt2`` program) or ONNX.

    python scripts/export.py runs/<run>/checkpoints/best.ckpt --format export --out s4d.pt2
    python scripts/export.py my_lsm/ --format onnx --out lsm.onnx        # a save_pretrained folder works too

The example input of the model's registry entry fixes the traced shapes (``--batch`` changes the batch size).
The exported program is checked against the eager model on that input before it is written. ``torch.export``
takes every model whose forward is a tensor program (S4D, the neural operators, ...); ONNX also needs every op
to have an ONNX form, which the FFT-based models (S4D, FNO) lack: their export stops with a message saying so.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

import zoo
from zoo.optional import require
from zoo.registry import model_info

FORMATS = ("export", "onnx")


def example_input(model: torch.nn.Module, batch: int | None = None) -> torch.Tensor:
    """The registry's example input for ``model`` (a tensor), with its batch axis resized to ``batch``."""
    name = model.zoo_config["name"]
    inputs, _ = model_info(name).example(model)
    if not isinstance(inputs, torch.Tensor):
        raise TypeError(f"{name} takes a {type(inputs).__name__}, not a tensor: only tensor-input models export")
    if batch is not None:
        inputs = inputs[:1].expand(batch, *inputs.shape[1:]).contiguous()
    return inputs


def export(model: torch.nn.Module, path: str | Path, fmt: str = "export", batch: int | None = None,
           atol: float = 1e-4) -> Path:
    """Write ``model`` (eval mode) as a ``torch.export`` program or an ONNX file, after checking that the exported
    program gives the eager outputs to ``atol``; returns the path."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}: expected one of {', '.join(FORMATS)}")
    model = model.eval()
    x = example_input(model, batch)
    with torch.no_grad():
        expected = model(x)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "export":
        program = torch.export.export(model, (x,))
        with torch.no_grad():
            got = program.module()(x)
        torch.export.save(program, path)
    else:
        for module in ("onnxscript", "onnxruntime"):  # a missing extra is named, not taken for "no ONNX form"
            require(module)
        try:
            program = torch.onnx.export(model, (x,), dynamo=True)
        except Exception as err:  # the exporter raises its own error types, one per stage
            raise RuntimeError(f"{model.zoo_config['name']} has no ONNX form ({type(err).__name__}: an op without an "
                               "ONNX translation, e.g. a complex FFT); use --format export instead") from err
        got = program(x)[0]  # run by onnxruntime
        program.save(path)
    if not torch.allclose(got, expected, atol=atol, rtol=atol):
        raise RuntimeError(f"the exported program differs from the model by {float((got - expected).abs().max()):.2e}")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="a .ckpt written by train.py or a save_pretrained folder")
    parser.add_argument("--format", choices=FORMATS, default="export")
    parser.add_argument("--out", required=True, help="the file to write (.pt2 for export, .onnx for onnx)")
    parser.add_argument("--batch", type=int, default=None, help="the traced batch size (default: the example's)")
    args = parser.parse_args()
    path = export(zoo.load_model(args.model), args.out, args.format, args.batch)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
