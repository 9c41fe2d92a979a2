"""Transformer: the encoder-only baseline of "Long Range Arena: A Benchmark for Efficient Transformers" (Tay et al.,
ICLR 2021), the architecture of "Attention Is All You Need" (Vaswani et al., 2017) with pre-norm blocks.

The SSM rows of the zoo compare against it: it takes the same ``(batch, length, d_input)`` inputs as the SSM backbone
(:mod:`zoo.ssm.backbone`) and gives the same ``(batch, d_output)`` logits::

    x = u W_E + P                                            (encoder, then positions P (length, d_model))
    x = [c; x]                                               (pooling="cls": a learned token c in front)
    x ← x + Dropout(MHA(LN(x)))                              (n_layers pre-norm blocks)
    x ← x + Dropout(W_2 Dropout(GELU(W_1 LN(x) + b_1)) + b_2)
    h = LN(x);   y = decoder(h_0)  or  decoder(mean of h over the real positions)

with, for each of ``n_heads`` heads of width ``d_head = d_model / n_heads``,
``head_i = softmax(Q_i K_iᵀ / √d_head + M) V_i`` (``M = −∞`` on keys the mask drops) and
``MHA = concat(head_1 … head_H) W_O``. Positions (``positions=``):

    sinusoidal  P[p, 2i] = sin(p ω_i),  P[p, 2i+1] = cos(p ω_i),  ω_i = 10000^(−2i/d_model)   (any length)
    learned     a (max_length, d_model) table, N(0, 0.02²) at init (LRA's learned init)
    none        P = 0: attention then commutes with any permutation of the positions, so both poolings are
                invariant to it

Sizes. LRA's ListOps Transformer is ``d_model=512, n_heads=8, n_layers=6, d_ff=2048``, dropout 0.1, sinusoidal
positions, CLS pooling (``create_model("transformer", d_model=512, n_heads=8, n_layers=6, d_ff=2048)``, 18.9 M
parameters). The defaults here are that architecture at CPU size, as the SSMs' defaults are: ``d_model=64, n_heads=4,
n_layers=2, d_ff=256`` (d_ff = 4 d_model as LRA's; 101 k parameters on sequential digits, the default ``s4d`` 84 k).

Padding: ``forward(x, mask)`` takes an optional ``mask (batch, length)``, True on real positions; masked positions
are never attended to and mean pooling averages over the real ones only. The zoo's ListOps batches carry no mask
(every sequence is padded to ``max_length``), so, like the SSMs, the model then reads the padding as tokens.

Deliberate differences from LRA's code (``lra_benchmarks/models/transformer/transformer.py``):

* The input goes through a ``Linear(d_input, d_model)`` encoder as in the SSM backbone (a one-hot ListOps token
  through it is an embedding lookup), not ``nn.Embed`` on token ids.
* The CLS token carries no position and the tokens keep positions ``0 … L−1`` (LRA adds position 0 to CLS and
  shifts the tokens by one), so one table serves both poolings.
* The head is one ``Linear`` (the SSM backbone's decoder), not LRA's Dense–ReLU–Dense classifier head; the
  attention projections have biases (LRA's have none); one ``dropout`` rate everywhere (LRA: 0.1 for both its
  dropout and its attention dropout); every block has its own weights (LRA's ListOps config ties them).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from zoo.registry import register_model
from zoo.ssm.backbone import check_input, sequence_example

POSITIONS = ("learned", "sinusoidal", "none")
POOLINGS = ("mean", "cls")


def sinusoidal_positions(length: int, d_model: int, *, base: float = 10000.0, dtype: torch.dtype | None = None,
                         device: torch.device | None = None) -> Tensor:
    """The fixed table ``P (length, d_model)``: ``P[p, 2i] = sin(p ω_i)``, ``P[p, 2i+1] = cos(p ω_i)``,
    ``ω_i = base^(−2i/d_model)``; computed in float64, returned in ``dtype`` (default: torch's default dtype)."""
    position = torch.arange(length, dtype=torch.float64, device=device).unsqueeze(-1)
    omega = base ** (-torch.arange(0, d_model, 2, dtype=torch.float64, device=device) / d_model)
    angle = position * omega  # (length, ⌈d_model/2⌉)
    table = torch.stack([angle.sin(), angle.cos()], dim=-1).flatten(-2)[:, :d_model]
    return table.to(dtype or torch.get_default_dtype())


class SelfAttention(nn.Module):
    """Multi-head self-attention: ``z (batch, length, d_model)``, ``mask (batch, length)`` bool or None ->
    ``(batch, length, d_model)``. Four ``nn.Linear`` layers (``query``, ``key``, ``value``, ``output``), so adapters
    and compression reach every projection; the product runs in ``F.scaled_dot_product_attention`` (fused kernels
    where the device has them), with ``dropout`` on the attention weights in training."""

    def __init__(self, d_model: int, n_heads: int, *, dropout: float = 0.0):
        super().__init__()
        self.n_heads, self.dropout = n_heads, dropout
        self.query, self.key, self.value, self.output = (nn.Linear(d_model, d_model) for _ in range(4))

    def forward(self, z: Tensor, mask: Tensor | None = None) -> Tensor:
        q, k, v = (rearrange(layer(z), "b l (h d) -> b h l d", h=self.n_heads)
                   for layer in (self.query, self.key, self.value))
        keys = None if mask is None else mask[:, None, None, :]  # (batch, 1, 1, length): which keys to attend to
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=keys, dropout_p=self.dropout if self.training else 0.0)
        return self.output(rearrange(y, "b h l d -> b l (h d)"))


class TransformerBlock(nn.Module):
    """Pre-norm encoder block on ``(batch, length, d_model)``: ``x + Dropout(MHA(LN(x)))``, then
    ``x + Dropout(FFN(LN(x)))`` with ``FFN = Linear(d_model, d_ff), GELU, Dropout, Linear(d_ff, d_model)``."""

    def __init__(self, d_model: int, n_heads: int, d_ff: int, *, dropout: float = 0.0):
        super().__init__()
        self.attention_norm = nn.LayerNorm(d_model)
        self.attention = SelfAttention(d_model=d_model, n_heads=n_heads, dropout=dropout)
        self.ff_norm = nn.LayerNorm(d_model)
        self.ff = nn.Sequential(nn.Linear(d_model, d_ff), nn.GELU(), nn.Dropout(dropout), nn.Linear(d_ff, d_model))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        """``x (batch, length, d_model)``, ``mask (batch, length)`` or None -> ``(batch, length, d_model)``."""
        x = x + self.dropout(self.attention(self.attention_norm(x), mask))
        return x + self.dropout(self.ff(self.ff_norm(x)))


class TransformerModel(nn.Module):
    """Encoder-only pre-norm Transformer classifier: ``x (batch, length, d_input)`` (and an optional ``mask
    (batch, length)``, True on real positions) -> ``(batch, d_output)``.

    ``positions``: "sinusoidal" | "learned" (inputs up to ``max_length`` long; ``max_length`` is read only then) |
    "none"; ``pooling``: "cls" (a learned token in front) | "mean". ``d_model`` must be divisible by ``n_heads``.
    """

    def __init__(
        self,
        d_input: int = 1,
        d_output: int = 10,
        d_model: int = 64,
        n_heads: int = 4,
        n_layers: int = 2,
        d_ff: int = 256,
        dropout: float = 0.1,
        positions: str = "sinusoidal",
        pooling: str = "cls",
        max_length: int = 1024,
    ):
        super().__init__()
        if positions not in POSITIONS:
            raise ValueError(f"unknown positions {positions!r} (model.positions); valid choices: {', '.join(POSITIONS)}")
        if pooling not in POOLINGS:
            raise ValueError(f"unknown pooling {pooling!r} (model.pooling); valid choices: {', '.join(POOLINGS)}")
        if d_model % n_heads:
            raise ValueError(f"d_model={d_model} must be divisible by n_heads={n_heads} (model.d_model, model.n_heads)")
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout={dropout} must lie in [0, 1) (model.dropout)")
        self.d_input, self.d_output, self.d_model = d_input, d_output, d_model
        self.positions, self.pooling, self.max_length = positions, pooling, max_length
        self.encoder = nn.Linear(d_input, d_model)
        if positions == "learned":
            self.position_embedding = nn.Parameter(0.02 * torch.randn(max_length, d_model))
        if pooling == "cls":
            self.cls_token = nn.Parameter(0.02 * torch.randn(d_model))
        self.dropout = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(TransformerBlock(d_model=d_model, n_heads=n_heads, d_ff=d_ff, dropout=dropout)
                                    for _ in range(n_layers))
        self.norm = nn.LayerNorm(d_model)
        self.decoder = nn.Linear(d_model, d_output)

    def position_table(self, length: int) -> Tensor | None:
        """``P (length, d_model)`` added to the encoded inputs, or None for ``positions="none"``."""
        if self.positions == "learned":
            if length > self.max_length:
                raise ValueError(f"{type(self).__name__}: input length {length} exceeds max_length={self.max_length} "
                                 "of the learned positions (model.max_length)")
            return self.position_embedding[:length]
        if self.positions == "sinusoidal":
            weight = self.encoder.weight
            return sinusoidal_positions(length, self.d_model, dtype=weight.dtype, device=weight.device)
        return None

    def _check_mask(self, mask: Tensor, x: Tensor) -> None:
        name = type(self).__name__
        if mask.dtype != torch.bool or mask.shape != x.shape[:2]:
            raise ValueError(f"{name} expects mask of shape (batch, length) = {tuple(x.shape[:2])} and dtype bool "
                             f"(True on real positions), got {tuple(mask.shape)} {mask.dtype}")
        if not mask.any(dim=1).all():
            raise ValueError(f"{name}: mask has a sequence with no real position (a row of False)")

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        """``x (batch, length, d_input)``, ``mask (batch, length)`` bool or None -> logits ``(batch, d_output)``."""
        check_input(x, type(self).__name__, f"(batch, length, d_input={self.d_input})", 3, self.d_input)
        if mask is not None:
            self._check_mask(mask, x)
        x = self.encoder(x)
        table = self.position_table(x.shape[1])
        x = x if table is None else x + table
        if self.pooling == "cls":
            x = torch.cat([self.cls_token.expand(x.shape[0], 1, -1), x], dim=1)
            mask = None if mask is None else F.pad(mask, (1, 0), value=True)
        x = self.dropout(x)
        for block in self.blocks:
            x = block(x, mask)
        x = self.norm(x)
        if self.pooling == "cls":
            return self.decoder(x[:, 0])
        if mask is None:
            return self.decoder(x.mean(dim=1))
        weights = mask.unsqueeze(-1).to(x.dtype)
        return self.decoder((x * weights).sum(dim=1) / weights.sum(dim=1))


register_model("transformer", family="ssm", task="classification", capabilities=("sequence",),
               paper="Long Range Arena: A Benchmark for Efficient Transformers (Tay et al., ICLR 2021)",
               example=sequence_example)(TransformerModel)
