"""Lightning callbacks of the zoo's runs."""

from __future__ import annotations

import lightning as L
import torch


class FiniteLossCheck(L.Callback):
    """Stop training with a clear message as soon as the training loss is NaN or infinite."""

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch, batch_idx: int):
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        if loss is not None and not torch.isfinite(loss).all():
            raise FloatingPointError(
                f"training loss is {loss.item()} at epoch {trainer.current_epoch}, step {trainer.global_step} "
                f"(batch {batch_idx}): lower task.optimizer.lr, set trainer.gradient_clip_val, or check the data "
                "for NaN/inf values"
            )


class RunConfigInCheckpoint(L.Callback):
    """Store the run's resolved config (plain containers) in every checkpoint as ``checkpoint["zoo_config"]``,
    so ``eval.py`` can rebuild the task and datamodule from the checkpoint alone."""

    def __init__(self, config: dict):
        self.config = config

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict) -> None:
        checkpoint["zoo_config"] = self.config
