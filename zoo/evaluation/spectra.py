"""Structure elucidation from spectra (DiffSpectra) on a :class:`~zoo.data.SpectraDataModule`.

``k`` samples of ``model.sample(spectra, n_atoms=..., n_steps=...)`` for each of the first ``n_spectra`` test
spectra, with the true atom counts (``atom_count="true"``, the reference's mode) or the model's predicted ones
(``"predicted"``), scored with :func:`zoo.metrics.molecules.molecule_metrics`, next to the nearest-neighbour
spectrum retrieval baseline on the same spectra (:func:`retrieval_baseline`). Under ``fast_dev_run``: 2 spectra,
2 samples, 5 steps.
"""

from __future__ import annotations

import torch
from torch import nn

from zoo.evaluation.base import Evaluator, quick
from zoo.metrics.molecules import molecule_metrics, spectrum_retrieval

ATOM_COUNT_MODES = ("true", "predicted")


def retrieval_baseline(datamodule, n_spectra: int | None = None, k: int = 10) -> dict[str, float]:
    """Nearest-neighbour retrieval (cosine on spectra) of the first ``n_spectra`` test spectra (all when ``None``)
    from the training molecules: ``top1``, ``top{k}``, ``tanimoto`` (:func:`~zoo.metrics.molecules.spectrum_retrieval`).
    """
    test, train = datamodule.split("test")[:n_spectra], datamodule.split("train")
    return spectrum_retrieval(torch.stack([item["spectrum"] for item in train]), [item["smiles"] for item in train],
                              torch.stack([item["spectrum"] for item in test]), [item["smiles"] for item in test],
                              ks=(1, k))


class SpectraEvaluator(Evaluator):
    """Top-k, validity, stability and Tanimoto of a model's structures for test spectra, beside retrieval.

    Args:
        n_spectra: test spectra sampled.
        k: samples per spectrum (top-1 and top-k).
        sample_steps: sampling steps per sample.
        atom_count: ``"true"`` (sample with the true atom counts) or ``"predicted"`` (the model's count head).
    """

    def __init__(self, n_spectra: int = 100, k: int = 10, sample_steps: int = 100, atom_count: str = "true"):
        if atom_count not in ATOM_COUNT_MODES:
            raise ValueError(f"atom_count must be one of {ATOM_COUNT_MODES}, got {atom_count!r}")
        if min(n_spectra, k, sample_steps) < 1:
            raise ValueError(f"n_spectra, k and sample_steps must be positive, got {n_spectra}, {k}, {sample_steps}")
        self.n_spectra, self.k, self.sample_steps, self.atom_count = n_spectra, k, sample_steps, atom_count

    def budget(self, datamodule) -> tuple[int, int, int]:
        """``(n_spectra, k, sample_steps)``; 2 spectra × 2 samples × 5 steps under ``fast_dev_run``."""
        if quick(datamodule):
            return min(2, self.n_spectra), min(2, self.k), min(5, self.sample_steps)
        return self.n_spectra, self.k, self.sample_steps

    @torch.no_grad()
    def __call__(self, model: nn.Module, datamodule) -> dict[str, float]:
        """``top1``, ``top{k}``, ``validity``, ``connected``, ``atom_stability``, ``molecule_stability``,
        ``tanimoto`` of ``model.sample`` on the first ``n_spectra`` test spectra (in batches of the datamodule's
        ``batch_size`` spectra), ``true_atom_count`` (1.0 when sampling used the true atom counts) and the retrieval
        baseline on the same spectra (``nn_top1``, ``nn_top{k}``, ``nn_tanimoto``)."""
        n_spectra, k, steps = self.budget(datamodule)
        test, size = datamodule.split("test")[:n_spectra], datamodule.batch_size
        device = next(model.parameters()).device
        was_training = model.training
        model.eval()
        samples: list[list] = [[] for _ in test]
        for start in range(0, len(test), size):
            items = test[start:start + size]
            spectra = torch.stack([item["spectrum"] for item in items]).repeat_interleave(k, 0).to(device)
            counts = None
            if self.atom_count == "true":
                counts = torch.tensor([len(item["atom_types"]) for item in items]).repeat_interleave(k)
            for j, (mol, _) in enumerate(model.sample(spectra, n_atoms=counts, n_steps=steps)):
                samples[start + j // k].append(mol)
        model.train(was_training)
        metrics = molecule_metrics(samples, [item["smiles"] for item in test], ks=(1, k))
        metrics["true_atom_count"] = float(self.atom_count == "true")
        baseline = retrieval_baseline(datamodule, len(test), k)
        return {**metrics, **{f"nn_{key}": value for key, value in baseline.items()}}
