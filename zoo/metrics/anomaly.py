"""Graph-level anomaly detection metrics, as RQGNN reports them: AUC of the anomaly score and Macro-F1."""

from __future__ import annotations

import torch
from torchmetrics.classification import BinaryAUROC, MulticlassF1Score


class AnomalyAUROC(BinaryAUROC):
    """AUC of the anomaly score ``softmax(logits)[:, 1]``; ``update(logits (B, 2), target (B,))``."""

    def update(self, logits: torch.Tensor, target: torch.Tensor) -> None:
        if logits.ndim != 2 or logits.shape[1] != 2:
            raise ValueError(f"AnomalyAUROC expects logits (batch, 2) for (normal, anomaly), got {tuple(logits.shape)}")
        super().update(logits.softmax(-1)[:, 1], target)


def anomaly_metrics() -> dict:
    """``{"auc": AUC of softmax(logits)[:, 1], "macro_f1": the mean F1 of both classes at argmax}``."""
    return {"auc": AnomalyAUROC(), "macro_f1": MulticlassF1Score(num_classes=2, average="macro")}
