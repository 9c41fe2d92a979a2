"""ROM-net's classifier: the network that picks, for a new input, which local reduced-order basis to use (Daniel,
Casenave, Akkari, Ketata & Ryckelynck; the ROM-net of Daniel et al., 2020).

The training snapshots are clustered (:func:`zoo.rom.cluster_snapshots`, sine k-medoids), one POD basis is built per
cluster (:func:`zoo.rom.local_pod`), and a classifier learns the map from the problem's input, known before the
solution, to the cluster of its solution:

- a field ``a (B, C, H, W)`` (Darcy's coefficient): ``depth`` blocks of 3×3 convolution, batch norm, GELU and 2×2
  max-pooling (``width · 2^i`` channels), global average pooling, a linear head;
- a parameter vector ``p (B, p)`` (``n_features`` set; Burgers' viscosity, amplitude, phase): an MLP of ``depth``
  GELU layers of ``width`` units, a linear head.

Either way ``forward -> logits (B, n_classes)``, trained by cross-entropy on the cluster labels (the classification
task). The paper's classifiers for fields are larger CNNs; this one is the small form that the zoo's snapshot sets need.
"""

from __future__ import annotations

import torch
from torch import nn

from zoo.registry import register_model

PAPER = ("Physics-informed cluster analysis and a priori efficiency criterion for the construction of local "
         "reduced-order bases (Daniel, Casenave, Akkari, Ketata & Ryckelynck)")


def _example(model: "ROMNet"):
    x = torch.randn(2, model.n_features) if model.n_features else torch.randn(2, model.in_channels, 16, 16)
    return x, (2, model.n_classes)


@register_model("rom_net", family="rom", paper=PAPER, task="classification", example=_example)
class ROMNet(nn.Module):
    """``forward(a (B, in_channels, H, W)) -> logits (B, n_classes)``, or with ``n_features`` set,
    ``forward(p (B, n_features)) -> logits (B, n_classes)`` (module doc).

    Args:
        n_classes: K, the number of clusters (local bases). in_channels: C of a field input. n_features: the length
            of a parameter-vector input (``None``: the input is a field). width: channels of the first convolution,
            or units of every MLP layer. depth: convolution blocks or hidden layers.
    """

    def __init__(self, n_classes: int = 4, in_channels: int = 1, n_features: int | None = None, width: int = 32,
                 depth: int = 2):
        super().__init__()
        for key, value in (("n_classes", n_classes), ("in_channels", in_channels), ("width", width),
                           ("depth", depth)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"model.{key}={value!r}: expected a positive integer")
        if n_features is not None and (not isinstance(n_features, int) or n_features < 1):
            raise ValueError(f"model.n_features={n_features!r}: expected a positive integer, or null for field inputs")
        self.n_classes, self.in_channels, self.n_features = n_classes, in_channels, n_features
        if n_features:
            sizes = [n_features] + [width] * depth
            layers = [m for i in range(depth) for m in (nn.Linear(sizes[i], sizes[i + 1]), nn.GELU())]
            self.features = nn.Sequential(*layers)
            self.head = nn.Linear(width, n_classes)
        else:
            channels = [in_channels] + [width * 2 ** i for i in range(depth)]
            layers = [m for i in range(depth) for m in (nn.Conv2d(channels[i], channels[i + 1], 3, padding=1),
                                                        nn.BatchNorm2d(channels[i + 1]), nn.GELU(), nn.MaxPool2d(2))]
            self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
            self.head = nn.Linear(channels[-1], n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        expected = (2, self.n_features) if self.n_features else (4, self.in_channels)
        if x.ndim != expected[0] or x.shape[1] != expected[1]:
            shape = f"(B, {self.n_features})" if self.n_features else f"(B, {self.in_channels}, H, W)"
            raise ValueError(f"rom_net built for inputs {shape} got shape {tuple(x.shape)}: set model.n_features "
                             f"(parameter vectors) or model.in_channels and n_features=null (fields) to match the data")
        return self.head(self.features(x))


__all__ = ["ROMNet"]
