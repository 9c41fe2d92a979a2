"""Eigenvalue PINNs (Sarkar, 2025): a model that is a bound state ``ψ`` and its energy ``E``, trained on its own
objective ``model.loss(batch)["loss"]`` at fresh collocation points every step (:mod:`zoo.data.pde.quantum_well`).

Evaluation batches are the reference state on a uniform grid from wall to wall, ``{"x" (M, 1), "potential" (M,),
"psi" (M,), "energy" ()}``. The model's ``ψ`` is normalised there (trapezoid rule, float64) and signed to overlap the
reference positively; the metrics are ``energy`` (``model.eigenvalue(x, potential)``), ``energy_rel_error``
``|E − E_ref| / |E_ref|``, ``psi_l2_error`` ``‖ψ̂ − ψ_ref‖₂`` (ψ_ref has unit norm, so it is relative too) and
``norm``, ``∫ψ²`` before normalising (≈ 0: ψ collapsed). There is no model selection: the test scores the final
iterate.
"""

from __future__ import annotations

import torch

from zoo.tasks.base import ZooTask


class PINNTask(ZooTask):
    """A model with ``loss(batch) -> {"loss", ...}`` and ``eigenvalue(x, potential) -> E`` (module doc)."""

    def __init__(self, model: dict, optimizer: dict, scheduler: dict | None = None):
        super().__init__(model, optimizer, scheduler)
        if not all(callable(getattr(self.model, method, None)) for method in ("loss", "eigenvalue")):
            raise ValueError(f"model {model['name']!r} has no loss(batch) and eigenvalue(x, potential): the pinn task "
                             "trains eigenvalue PINNs such as pinn_eigen")

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        parts = self.model.loss(batch)
        for name, value in parts.items():
            self.log_value("train", name, value.detach(), batch_size=1, prog_bar=name in ("loss", "energy"))
        return parts["loss"]

    def shared_step(self, batch: dict, stage: str) -> torch.Tensor:
        x, reference = batch["x"], batch["psi"]
        psi = self(x)[:, 0]
        norm = torch.trapezoid(psi.square(), x[:, 0])
        aligned = psi / norm.sqrt() * torch.trapezoid(psi * reference, x[:, 0]).sign()
        error = torch.trapezoid((aligned - reference).square(), x[:, 0]).sqrt()
        energy = self.model.eigenvalue(x, batch["potential"])
        metrics = {"energy": energy, "energy_rel_error": (energy - batch["energy"]).abs() / batch["energy"].abs(),
                   "psi_l2_error": error, "norm": norm}
        for name, value in metrics.items():
            self.log_value(stage, name, value, batch_size=1, prog_bar=name in ("energy_rel_error", "psi_l2_error"))
        return error
