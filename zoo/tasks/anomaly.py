"""Graph-level anomaly detection: class-balanced focal loss, AUC and Macro-F1 per epoch (RQGNN's protocol).

Batches are PyG ``Batch`` objects with graph labels ``y`` ``(num_graphs,)`` (1 = anomaly), or ``(Batch, y)``
pairs as the other graph datamodules give them; the model maps a batch to logits ``(num_graphs, 2)``.
The class weights ``w_c = (1−β)/(1−β^{n_c})`` (rescaled to sum to 2) come from ``class_counts`` or, when it
is not given, from the datamodule's ``label_counts("train")``; they are printed when first computed, since
they change the loss a lot on small sets (β = 0.999 gives 0.20 / 1.80 for 2000 / 100 graphs but about
0.9 / 1.1 at the TU screens' sizes). Select the best
checkpoint on ``val/auc`` (``monitor`` in the config); the paper takes test F1 from a separate
best-``val/macro_f1`` checkpoint.
"""

from __future__ import annotations

import torch

from zoo.metrics.anomaly import anomaly_metrics
from zoo.tasks.base import ZooTask
from zoo.tasks.losses import class_balanced_focal_loss, class_balanced_weights


class AnomalyTask(ZooTask):
    """Logs ``{stage}/loss``, ``{stage}/auc`` and ``{stage}/macro_f1`` for stage in train, val, test.

    Args:
        gamma: focal exponent γ (1.5). beta: class-balance β (0.999).
        class_counts: ``[normal, anomalous]`` training counts; ``None`` reads them from the datamodule.
    """

    def __init__(self, model: dict, optimizer: dict, scheduler: dict | None = None, gamma: float = 1.5,
                 beta: float = 0.999, class_counts: list[int] | None = None):
        super().__init__(model, optimizer, scheduler)
        self.init_metrics(anomaly_metrics())
        self.class_weights: torch.Tensor | None = None

    def _weights(self) -> torch.Tensor:
        if self.class_weights is None:
            counts = self.hparams.class_counts
            if counts is None:
                datamodule = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
                if not hasattr(datamodule, "label_counts"):
                    raise ValueError("AnomalyTask needs the training class counts: pass class_counts=[normal, "
                                     "anomalous] or use a datamodule with a label_counts('train') method")
                counts = datamodule.label_counts("train")
            self.class_weights = class_balanced_weights(torch.as_tensor(counts), self.hparams.beta).float()
            if self._trainer is not None:
                self.print(f"class-balanced weights (normal, anomaly): {self.class_weights.tolist()}")
        return self.class_weights.to(self.device)

    def objective(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return class_balanced_focal_loss(logits, y, self._weights(), self.hparams.gamma)

    def shared_step(self, batch, stage: str) -> torch.Tensor:
        self._weights()  # a missing class count is an error before the model runs
        graphs, y = batch if isinstance(batch, (tuple, list)) else (batch, batch.y)  # (Batch, y) or a Batch
        logits = self(graphs)
        if logits.ndim != 2 or logits.shape != (graphs.num_graphs, 2):
            raise ValueError(f"the model returned logits of shape {tuple(logits.shape)}; the anomaly task expects "
                             f"(num_graphs={graphs.num_graphs}, 2): set the model's num_classes to 2")
        loss = self.objective(logits, y)
        self.log_value(stage, "loss", loss, batch_size=graphs.num_graphs, prog_bar=stage != "test")
        self.log_metrics(stage, logits, y)
        return loss
