"""Interatomic potentials: energies and forces, ``F = −∂E/∂r`` by autograd, trained on both (MACE's loss).

Batches are torch_geometric ``Batch``es with ``pos (N, 3)`` Å, ``z (N,)``, ``batch (N,)``, ``energy (B,)`` eV and
``forces (N, 3)`` eV/Å; the model maps a batch to ``energy (B,)``. The loss (Batatia et al., 2022) is

    λ_E (1/B) Σ_b ((Ê_b − E_b) / n_b)² + λ_F (1/3N) Σ_i |F̂_i − F_i|²

with ``n_b`` the atoms of molecule b. Metrics, per stage and test split: ``energy_mae`` (meV per molecule),
``forces_mae`` (meV/Å per component) and ``forces_rmse``. Validation and testing need gradients too: the forces
are computed with autograd re-enabled, on a copy of the batch made outside inference mode.
"""

from __future__ import annotations

import torch
from torchmetrics import MeanAbsoluteError, MeanSquaredError

from zoo.functional import energy_and_forces
from zoo.tasks.base import ZooTask

MEV = 1000.0


class PotentialTask(ZooTask):
    """Args: ``energy_weight`` λ_E and ``forces_weight`` λ_F of the loss (module doc)."""

    def __init__(self, model: dict, optimizer: dict, scheduler: dict | None = None, energy_weight: float = 1.0,
                 forces_weight: float = 100.0):
        if energy_weight < 0 or forces_weight < 0 or energy_weight + forces_weight == 0:
            raise ValueError(f"energy_weight={energy_weight} and forces_weight={forces_weight}: expected "
                             "non-negative weights, not both zero")
        super().__init__(model, optimizer, scheduler)
        self.init_metrics({"energy_mae": MeanAbsoluteError(), "forces_mae": MeanAbsoluteError(),
                           "forces_rmse": MeanSquaredError(squared=False)})

    def shared_step(self, batch, stage: str) -> torch.Tensor:
        for key in ("pos", "z", "energy", "forces"):
            if getattr(batch, key, None) is None:
                raise ValueError(f"the potential task needs batches with pos, z, energy and forces; this one has no "
                                 f"{key!r} (use an MD datamodule such as data=ethanol_md)")
        training = stage == "train"
        with torch.inference_mode(False), torch.enable_grad():
            batch = batch if training else batch.clone()      # tensors made in inference mode cannot enter autograd
            energy, forces = energy_and_forces(self.model, batch, create_graph=training)
        if energy.shape != batch.energy.shape or forces.shape != batch.forces.shape:
            raise ValueError(f"the model gave energies {tuple(energy.shape)} for targets {tuple(batch.energy.shape)}: "
                             "a potential returns one energy per molecule of the batch")
        atoms = torch.bincount(batch.batch, minlength=len(energy)).to(energy.dtype)
        energy_term = ((energy - batch.energy) / atoms).square().mean()
        forces_term = (forces - batch.forces).square().mean()
        loss = self.hparams.energy_weight * energy_term + self.hparams.forces_weight * forces_term
        size = len(energy)
        self.log_value(stage, "loss", loss.detach(), batch_size=size, prog_bar=not training)
        collection = self.metrics[f"{stage}_"]
        collection["energy_mae"](MEV * energy.detach(), MEV * batch.energy)
        collection["forces_mae"](MEV * forces.detach(), MEV * batch.forces)
        collection["forces_rmse"](MEV * forces.detach(), MEV * batch.forces)
        self.log_dict(collection, prog_bar=True, on_step=False, on_epoch=True, add_dataloader_idx=False)
        return loss
