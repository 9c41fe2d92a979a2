"""SpecFormer: the spectrum encoder of MolSpectra (ICLR 2025) that conditions DiffSpectra (Wang et al., 2025).

A PatchTST-style encoder over one or more spectra (IR is the default; Raman and UV-Vis optional):

* each spectrum ``s`` (B, L_s), already log10(x + 1)-normalised, is cut into patches of ``P_s`` points with stride
  ``S_s`` (IR / Raman: 3501 points, 50 / 25 -> 139 patches; UV-Vis: 701 points, 20 / 10 -> 69 patches), each
  patch embedded by its own linear map ``W_P^s`` plus learnable positions ``W_pos^s``; the tokens of all spectra
  are concatenated (B, T, d_model);
* a transformer encoder with BatchNorm and residual attention (each layer's pre-softmax scores add the previous
  layer's);
* a flatten head ``LayerNorm(W_o · flatten(tokens))`` to the condition vector (B, d_out).

**Masked-patch reconstruction** (the MolSpectra pre-training objective, mask ratio 0.1 per spectrum): masked
patches are zeroed before the embedding, and the encoder's token ``h_k`` reconstructs its patch as
``x̂_k = W_P h_k`` (the transposed patch embedding, a tied decoder: PatchTST uses an untied linear head); the loss
is the mean squared error over masked patches. MolSpectra's second objective (InfoNCE against a 3-D encoder) is
not built here.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from zoo.registry import register_model

PAPER = ("DiffSpectra: Molecular Structure Elucidation from Spectra using Diffusion Models (Wang et al., 2025); "
         "SpecFormer from MolSpectra (Wang et al., ICLR 2025)")
#: spectrum name -> (points, patch length, stride, batch key)
SPECTRA = {"ir": (3501, 50, 25, "spectrum"), "raman": (3501, 50, 25, "spectrum_raman"),
           "uv": (701, 20, 10, "spectrum_uv")}


class PatchEmbedding(nn.Module):
    """One spectrum type: (B, L) -> patches (B, n_patches, patch_len) -> tokens ``W_P x + W_pos`` (B, n_patches, d)."""

    def __init__(self, name: str, d_model: int):
        super().__init__()
        self.name = name
        self.length, self.patch_len, self.stride, self.key = SPECTRA[name]
        self.n_patches = (self.length - self.patch_len) // self.stride + 1
        self.W_P = nn.Linear(self.patch_len, d_model)
        self.W_pos = nn.Parameter(torch.empty(self.n_patches, d_model).uniform_(-0.02, 0.02))

    def patches(self, spectrum: Tensor) -> Tensor:
        if spectrum.dim() != 2 or spectrum.shape[1] != self.length:
            raise ValueError(f"the {self.name} spectrum must be (batch, {self.length}) points, got "
                             f"{tuple(spectrum.shape)}")
        return spectrum.unfold(-1, self.patch_len, self.stride)

    def forward(self, patches: Tensor) -> Tensor:
        return self.W_P(patches) + self.W_pos

    def reconstruct(self, tokens: Tensor) -> Tensor:
        """Tied decoder ``x̂ = W_P h``: tokens (B, n_patches, d) -> patches (B, n_patches, patch_len)."""
        return tokens @ self.W_P.weight


class BatchNormTokens(nn.Module):
    """BatchNorm over the channels of (B, T, d) tokens (statistics over batch and tokens)."""

    def __init__(self, d_model: int):
        super().__init__()
        self.norm = nn.BatchNorm1d(d_model)

    def forward(self, x: Tensor) -> Tensor:
        return self.norm(x.mT).mT


class ResidualAttentionLayer(nn.Module):
    """Multi-head self-attention with pre-softmax scores ``QKᵀ/√d_h + scores_prev``, add & BatchNorm, FFN, add &
    BatchNorm: tokens (B, T, d), scores (B, H, T, T) -> (tokens, scores)."""

    def __init__(self, d_model: int, n_heads: int, d_ff: int, dropout: float):
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model ({d_model}) must be divisible by n_heads ({n_heads})")
        self.n_heads = n_heads
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)
        self.ffn = nn.Sequential(nn.Linear(d_model, d_ff), nn.GELU(), nn.Dropout(dropout), nn.Linear(d_ff, d_model))
        self.norm_attn, self.norm_ffn = BatchNormTokens(d_model), BatchNormTokens(d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, prev: Tensor | None) -> tuple[Tensor, Tensor]:
        B, T, d = x.shape
        q, k, v = self.qkv(x).view(B, T, 3, self.n_heads, d // self.n_heads).permute(2, 0, 3, 1, 4)
        scores = q @ k.mT * (d // self.n_heads) ** -0.5
        scores = scores if prev is None else scores + prev
        attended = (self.dropout(scores.softmax(-1)) @ v).transpose(1, 2).reshape(B, T, d)
        x = self.norm_attn(x + self.dropout(self.out(attended)))
        return self.norm_ffn(x + self.dropout(self.ffn(x))), scores


class SpecFormer(nn.Module):
    """Spectra -> condition vector (B, d_out); ``loss(batch)`` is the masked-patch reconstruction objective.

    Args:
        spectra: which spectra to read, a subset of ``("ir", "raman", "uv")`` (batch keys in :data:`SPECTRA`;
            default IR only, the paper all three).
        d_model, n_heads, n_layers, d_ff, dropout: the encoder (paper: 128, 16, 3, 256).
        d_out: the condition width (paper: 256).
        mask_ratio: the fraction of each spectrum's patches masked by :meth:`loss` (paper: 0.1).
    """

    def __init__(self, spectra: list[str] | tuple[str, ...] = ("ir",), d_model: int = 32, n_heads: int = 4,
                 n_layers: int = 2, d_ff: int = 64, d_out: int = 64, dropout: float = 0.0, mask_ratio: float = 0.1):
        super().__init__()
        unknown = [name for name in spectra if name not in SPECTRA]
        if not spectra or unknown or len(set(spectra)) != len(spectra):
            raise ValueError(f"spectra must be distinct names from {tuple(SPECTRA)}, got {list(spectra)}")
        if not 0 < mask_ratio < 1:
            raise ValueError(f"mask_ratio must be in (0, 1), got {mask_ratio}")
        self.spectra, self.mask_ratio, self.d_out = tuple(spectra), mask_ratio, d_out
        self.embed = nn.ModuleDict({name: PatchEmbedding(name, d_model) for name in self.spectra})
        self.layers = nn.ModuleList(ResidualAttentionLayer(d_model, n_heads, d_ff, dropout) for _ in range(n_layers))
        n_tokens = sum(embed.n_patches for embed in self.embed.values())
        self.head = nn.Linear(n_tokens * d_model, d_out)
        self.norm = nn.LayerNorm(d_out)

    def read(self, spectra: Tensor | dict) -> dict[str, Tensor]:
        """Patches (B, n_patches, patch_len) per spectrum from a tensor (one spectrum type) or a batch dict."""
        if isinstance(spectra, Tensor):
            if len(self.spectra) != 1:
                raise ValueError(f"this SpecFormer reads {self.spectra}: pass a dict with keys "
                                 f"{[SPECTRA[name][3] for name in self.spectra]}")
            spectra = {SPECTRA[self.spectra[0]][3]: spectra}
        missing = [embed.key for embed in self.embed.values() if embed.key not in spectra]
        if missing:
            raise KeyError(f"SpecFormer({list(self.spectra)}) needs the batch keys {missing}")
        dtype = self.head.weight.dtype
        return {name: embed.patches(spectra[embed.key].to(dtype)) for name, embed in self.embed.items()}

    def encode(self, patches: dict[str, Tensor]) -> Tensor:
        """Patches per spectrum -> encoder tokens (B, T, d_model), spectra concatenated in ``self.spectra`` order."""
        x, scores = torch.cat([self.embed[name](patches[name]) for name in self.spectra], 1), None
        for layer in self.layers:
            x, scores = layer(x, scores)
        return x

    def forward(self, spectra: Tensor | dict) -> Tensor:
        """A spectrum (B, L) or a batch dict of spectra -> the condition vector (B, d_out)."""
        return self.norm(self.head(self.encode(self.read(spectra)).flatten(1)))

    def random_masks(self, patches: dict[str, Tensor]) -> dict[str, Tensor]:
        """Each patch masked with probability ``mask_ratio``, at least one per spectrum: (B, n_patches) bool each."""
        masks = {}
        for name, value in patches.items():
            score = torch.rand(value.shape[:2], device=value.device)
            masks[name] = (score < self.mask_ratio) | (score == score.max(1, keepdim=True).values)
        return masks

    def loss(self, batch: Tensor | dict, masks: dict[str, Tensor] | None = None) -> dict[str, Tensor]:
        """``{"loss"}``: the mean over masked patches of the squared reconstruction error (averaged over a patch's
        points); ``masks`` (B, n_patches) bool per spectrum name, random (:meth:`random_masks`) unless given."""
        patches = self.read(batch)
        masks = self.random_masks(patches) if masks is None else masks
        tokens = self.encode({name: value * ~masks[name].unsqueeze(-1) for name, value in patches.items()})
        errors, start = [], 0
        for name in self.spectra:
            embed = self.embed[name]
            recon = embed.reconstruct(tokens[:, start:start + embed.n_patches])
            errors.append((recon - patches[name]).square().mean(-1)[masks[name]])
            start += embed.n_patches
        return {"loss": torch.cat(errors).mean()}


def random_spectra(model: SpecFormer, batch: int) -> Tensor | dict[str, Tensor]:
    """Random log-normalised-like spectra for ``model``: a (batch, L) tensor for one spectrum type, else a dict."""
    spectra = {SPECTRA[name][3]: torch.rand(batch, SPECTRA[name][0]) for name in model.spectra}
    return next(iter(spectra.values())) if len(spectra) == 1 else spectra


register_model("specformer", family="molecules", task="generative", paper=PAPER, capabilities=("pretraining",),
               example=lambda model: (random_spectra(model, 2), (2, model.d_out)))(SpecFormer)
