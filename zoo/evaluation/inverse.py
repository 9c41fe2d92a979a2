"""Reconstruction benchmarks for linear inverse problems with a diffusion prior (``eval.py inverse=dds|hirdiff``).

A benchmark takes the first ``n_images`` images of a split of the run's data (or of the ``data`` it is given, the
synthetic hyperspectral images for HIR-Diff), measures them with a problem's operator plus Gaussian noise, and
reconstructs them with every method of ``methods``: the prior's samplers (:func:`zoo.inverse.dds`,
:func:`zoo.inverse.dps`, :func:`zoo.inverse.hirdiff`) and the classical baselines. It reports PSNR and SSIM (and SAM
for hyperspectral images) of each reconstruction against the truth, on the images' own [0, 1] scale with no
min-max normalisation (:mod:`zoo.metrics.images`), and each method's wall time; :meth:`InverseBenchmark.write`
puts them in ``inverse.json`` and draws truth / measurement / reconstructions into ``inverse.png``. Every method
returns its final iterate: none is picked by comparing with the truth (HIR-Diff's reference code does that).

Problems (:data:`PROBLEMS`):

- ``mri4x``: single-coil Cartesian MRI, 4× undersampled phase encodes with a fully sampled centre; the images are
  measured in the prior's space [-1, 1]; baseline: zero-filled ``Aᴴy``.
- ``ct16``: 16-view parallel-beam CT in the prior's space; baseline: filtered back-projection.
- ``hsi_denoise`` (σ = 50/255), ``hsi_sr4`` (9 × 9 Gaussian blur, keep every 4th pixel), ``hsi_inpaint`` (80 % of
  the pixels missing): hyperspectral images measured in [0, 1]; baselines: the rank-r SVD projection, the same
  guidance without the prior, and per-band BM3D (denoising).

Randomness (mask, noise, samplers) comes from one ``torch.Generator`` seeded by ``seed``.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import Tensor, nn

from zoo import inverse
from zoo.evaluation.base import Evaluator
from zoo.io import atomic_path
from zoo.metrics.images import psnr, spectral_angle, ssim
from zoo.modes import evaluating
from zoo.optional import require


@dataclass(frozen=True)
class Problem:
    """How a benchmark measures images of shape ``(C, H, W)``: ``operator(shape, generator)``, the default noise
    σ (absolute, in the measurement space), whether the images are measured in the prior's space [-1, 1]
    (``prior_space``) or in [0, 1], and ``view(op, y)``: the measurement drawn as images ``(B, C, H, W)``."""

    benchmark: str
    operator: Callable[[tuple, torch.Generator], inverse.LinearOperator]
    noise: float
    prior_space: bool
    view: Callable[[inverse.LinearOperator, Tensor], Tensor]


def _seed(generator: torch.Generator) -> int:
    return int(torch.randint(2 ** 31, (), generator=generator))


PROBLEMS = {
    "mri4x": Problem("dds", lambda shape, g: inverse.MRIMask.cartesian(
        shape[-1], acceleration=4, seed=_seed(g), channels=shape[0]), noise=0.01, prior_space=True,
        view=lambda op, y: op.AH(y)),
    "ct16": Problem("dds", lambda shape, g: inverse.ParallelBeamCT(shape[-1], n_views=16, channels=shape[0]),
                    noise=0.01, prior_space=True, view=lambda op, y: op.fbp(y)),
    "hsi_denoise": Problem("hirdiff", lambda shape, g: inverse.Identity(shape), noise=50 / 255, prior_space=False,
                           view=lambda op, y: inverse.naive_estimate(y, op)),
    "hsi_sr4": Problem("hirdiff", lambda shape, g: inverse.BlurDownsample(
        inverse.gaussian_kernel(9), factor=4, size=shape[-1], channels=shape[0]), noise=0.0, prior_space=False,
        view=lambda op, y: inverse.naive_estimate(y, op)),
    "hsi_inpaint": Problem("hirdiff", lambda shape, g: inverse.Inpaint(
        (torch.rand(shape[-2:], generator=g, dtype=torch.float64) < 0.2).double(), channels=shape[0]),
        noise=0.0, prior_space=False, view=lambda op, y: inverse.naive_estimate(y, op)),
}


def _reconstructors() -> dict[str, Callable]:
    """``{method: f(model, op, y, problem, noise, generator, **options) -> x}``: ``problem`` the name, ``noise`` σ,
    ``x`` in the space the images were measured in. ``baseline`` is the problem's classical reconstruction (its
    ``view``: zero-filled ``Aᴴy`` for MRI, filtered back-projection for CT, the naive estimate for HSIs)."""
    def baseline(model, op, y, problem, noise, generator):
        return PROBLEMS[problem].view(op, y)

    def tv(model, op, y, problem, noise, generator, lam: float, iters: int = 300):
        return inverse.tv_reconstruction(op, y, lam=lam, iters=iters)

    def dds(model, op, y, problem, noise, generator, **options):
        return inverse.dds(model, op, y, generator=generator, **options)

    def dps(model, op, y, problem, noise, generator, **options):
        return inverse.dps(model, op, y, generator=generator, **options)

    def hirdiff(model, op, y, problem, noise, generator, **options):
        return inverse.hirdiff(model, y, op, generator=generator, **options)

    def guidance(model, op, y, problem, noise, generator, **options):
        return inverse.guidance_only(y, op, **options)

    def svd(model, op, y, problem, noise, generator, rank: int = 3):
        return inverse.svd_projection(y, rank=rank, op=op)

    def bm3d(model, op, y, problem, noise, generator):
        if problem != "hsi_denoise":
            raise ValueError(f"inverse.methods.bm3d is a denoiser: it applies to hsi_denoise, not {problem}; "
                             "remove it with ~inverse.methods.bm3d")
        return inverse.bm3d_bands(y, sigma=noise, op=op)

    return {"baseline": baseline, "tv": tv, "dds": dds, "dps": dps, "hirdiff": hirdiff,
            "guidance": guidance, "svd": svd, "bm3d": bm3d}


RECONSTRUCTORS = _reconstructors()


def _images(datamodule, split: str, n_images: int) -> Tensor:
    """The first ``n_images`` images ``(n, C, H, W)`` in [0, 1] of ``split`` (items ``{"x": (C, H, W)}`` in
    [-1, 1])."""
    if not datamodule.splits:
        datamodule.setup()
    if split not in datamodule.splits:
        raise ValueError(f"inverse.split {split!r} is not a split of {type(datamodule).__name__}: "
                         f"{sorted(datamodule.splits)}")
    items = datamodule.splits[split]
    if len(items) < n_images:
        raise ValueError(f"inverse.n_images={n_images} but the {split} split holds {len(items)} images")
    first = items[0]
    if not (isinstance(first, dict) and "x" in first and first["x"].dim() == 3):
        raise ValueError(f"{type(datamodule).__name__}'s items must be {{'x': (C, H, W) in [-1, 1]}} images for an "
                         "inverse benchmark (e.g. data=phantoms, rgb_crops or hsi)")
    return (torch.stack([items[i]["x"] for i in range(n_images)]).double() + 1) / 2


class InverseBenchmark(Evaluator):
    """``benchmark(model, datamodule) -> {"<method>/psnr": ..., "<method>/ssim": ..., "<method>/seconds": ...}``
    (module doc); ``write(folder)`` saves ``inverse.json`` and ``inverse.png``.

    ``benchmark``: ``dds`` or ``hirdiff`` (the option of ``configs/inverse/``; it must own ``problem``).
    ``methods``: ``{name: {"method": <one of RECONSTRUCTORS>, **options}}`` (``method`` defaults to ``name``).
    ``noise``: σ of the measurement noise (``None``: the problem's). ``data``: a datamodule whose images replace the
    run's (the hyperspectral test images). Everything runs on the model's device and in its dtype.
    """

    def __init__(self, benchmark: str, problem: str, methods: dict, n_images: int = 8, split: str = "test",
                 noise: float | None = None, seed: int = 0, data=None):
        if problem not in PROBLEMS:
            raise ValueError(f"unknown inverse.problem {problem!r}: expected one of {sorted(PROBLEMS)}")
        if PROBLEMS[problem].benchmark != benchmark:
            raise ValueError(f"inverse.problem={problem} belongs to inverse={PROBLEMS[problem].benchmark}, not "
                             f"inverse={benchmark}")
        unknown = {name: spec.get("method", name) for name, spec in methods.items()
                   if spec.get("method", name) not in RECONSTRUCTORS}
        if unknown:
            raise ValueError(f"inverse.methods: unknown method(s) {unknown}; known: {sorted(RECONSTRUCTORS)}")
        self.benchmark, self.problem, self.methods = benchmark, problem, {k: dict(v) for k, v in methods.items()}
        self.n_images, self.split, self.seed, self.data = n_images, split, seed, data
        self.noise = PROBLEMS[problem].noise if noise is None else noise
        self.result: dict | None = None

    def __call__(self, model: nn.Module, datamodule) -> dict[str, float]:
        problem = PROBLEMS[self.problem]
        truth = _images(self.data or datamodule, self.split, self.n_images)
        like = next(model.parameters())
        device = like.device
        generator = torch.Generator().manual_seed(self.seed)
        op = problem.operator(tuple(truth.shape[1:]), generator)
        x = (2 * truth - 1 if problem.prior_space else truth).to(like)
        clean = op.A(x)
        y = clean + self.noise * _noise_like(clean, generator)
        reconstructions = {"measurement": self._unit(problem.view(op, y), problem)}
        metrics = self._scores("measurement", reconstructions["measurement"], truth)
        for name, spec in self.methods.items():
            options = dict(spec)
            method = RECONSTRUCTORS[options.pop("method", name)]
            sampler = torch.Generator(device=device).manual_seed(self.seed)
            start = time.perf_counter()
            with evaluating(model):
                estimate = method(model, op, y, self.problem, self.noise, sampler, **options)
            seconds = time.perf_counter() - start
            reconstructions[name] = self._unit(estimate, problem)
            metrics.update(self._scores(name, reconstructions[name], truth), **{f"{name}/seconds": seconds})
        self.result = {"problem": self.problem, "noise": self.noise, "n_images": self.n_images,
                       "methods": self.methods, "metrics": metrics}
        self._figure = (truth, reconstructions)
        return {key: value for key, value in metrics.items() if not isinstance(value, list)}

    @staticmethod
    def _unit(estimate: Tensor, problem: Problem) -> Tensor:
        """A reconstruction on the truth's [0, 1] scale, clipped to it, float64 on the CPU."""
        estimate = estimate.detach().double().cpu()
        return ((estimate + 1) / 2 if problem.prior_space else estimate).clamp(0, 1)

    @staticmethod
    def _scores(name: str, unit: Tensor, truth: Tensor) -> dict:
        """PSNR, SSIM (and SAM for more than 3 channels) of ``unit`` (:meth:`_unit`) against ``truth``: the means as
        ``<name>/<metric>``, the per-image values as ``<name>/<metric>_per_image``."""
        scores = {"psnr": psnr(unit, truth), "ssim": ssim(unit, truth)}
        if truth.shape[1] > 3:
            scores["sam"] = spectral_angle(unit, truth)
        out = {f"{name}/{key}": value.mean().item() for key, value in scores.items()}
        out.update({f"{name}/{key}_per_image": value.tolist() for key, value in scores.items()})
        return out

    def write(self, folder: str | Path) -> dict:
        """``inverse.json`` (settings, per-method means and per-image values) and ``inverse.png`` in ``folder``."""
        if self.result is None:
            raise RuntimeError("run the benchmark (benchmark(model, datamodule)) before writing it")
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        with atomic_path(folder / "inverse.json") as tmp:
            tmp.write_text(json.dumps(self.result, indent=2))
        with atomic_path(folder / "inverse.png") as tmp:
            self._plot(tmp)
        return {"inverse": str(folder / "inverse.json"), "figure": str(folder / "inverse.png")}

    def _plot(self, path: Path, rows: int = 2) -> None:
        plt = require("matplotlib.pyplot")
        truth, estimates = self._figure
        columns = {"truth": truth, **estimates}
        rows = min(rows, len(truth))
        figure, axes = plt.subplots(rows, len(columns), figsize=(1.9 * len(columns), 2.0 * rows), squeeze=False)
        metrics = self.result["metrics"]
        for column, (name, images) in enumerate(columns.items()):
            for row in range(rows):
                axis = axes[row][column]
                axis.imshow(_displayable(images[row]), cmap="gray", vmin=0, vmax=1)
                axis.set_xticks([]), axis.set_yticks([])
                if row == 0:
                    score = metrics.get(f"{name}/psnr")
                    axis.set_title(name if score is None else f"{name}\n{score:.2f} dB", fontsize=8)
        figure.tight_layout()
        figure.savefig(path, dpi=120, format="png")
        plt.close(figure)


def _noise_like(clean: Tensor, generator: torch.Generator) -> Tensor:
    """Standard Gaussian noise of ``clean``'s shape (complex: unit variance split over the real and imaginary
    parts), drawn on the CPU from ``generator``."""
    real = clean.real if clean.is_complex() else clean
    draw = torch.randn(real.shape, generator=generator, dtype=torch.float64)
    if clean.is_complex():
        draw = torch.complex(draw, torch.randn(real.shape, generator=generator, dtype=torch.float64)) / math.sqrt(2)
    return draw.to(clean)


def _displayable(image: Tensor) -> Tensor:
    """``(H, W)`` or ``(H, W, 3)`` for ``imshow``: gray, RGB, or three evenly spaced bands of a hyperspectral
    image as false colour."""
    if image.shape[0] == 1:
        return image[0]
    if image.shape[0] > 3:
        image = image[torch.linspace(0, image.shape[0] - 1, 3).round().long()]
    return image.permute(1, 2, 0)
