"""Gaunt tensor product of two spherical-harmonic expansions, by 2-D FFT or on a spherical grid.

"Enabling Efficient Equivariant Operations in the Fourier Basis via Gaunt Tensor Products" (Luo, Chen,
Krishnapriyan, ICLR 2024). For coefficients ``x = (x_l^m)`` and ``y`` in e3nn's real spherical-harmonic basis
(:mod:`zoo.equivariant.sh_fourier`), the Gaunt product is the expansion of the pointwise product::

    (x ⊗_G y)_{l3}^{m3} = Σ G^{l3 m3}_{l1 m1, l2 m2} x_{l1}^{m1} y_{l2}^{m2},
    G^{l3 m3}_{l1 m1, l2 m2} = ∫_{S²} Y_{l1}^{m1} Y_{l2}^{m2} Y_{l3}^{m3} dΩ,

which is zero unless l1 + l2 + l3 is even (so ``1 ⊗ 1 → 1``, the cross product, is absent; a Gaunt product is
a Clebsch–Gordan product with path weights fixed up to one scalar per (l1, l2, l3)). ``method="fft"`` computes
it in O(L³) per channel: sh2f turns x and y into 2-D Fourier coefficients ``F_x, F_y`` in (θ, φ), the product is
the 2-D convolution ``F_x * F_y`` by FFT, and f2sh projects back onto degrees ≤ ``lmax_out``. The functions are
real, so only ``v ≥ 0`` is kept (``F_{−u,−v} = F̄_{uv}``) and the convolution runs as ``irfft2`` of both to a
(2(l1+l2)+1)² torus grid, a pointwise product and one ``rfft2`` (the zero-padded FFT convolution with real
transforms; the grid is large enough that the cyclic convolution does not wrap).
``method="grid"`` evaluates both functions on a Gauss–Legendre × uniform-φ grid that integrates the triple
products exactly, multiplies and projects (also O(L³), real arithmetic; the variant of Xie et al., 2025).

**Weights.** As in the paper, path weights are recovered by learnable per-degree scalings before and after the
product, ``x_l ← w1_l x_l``, ``y_l ← w2_l y_l``, ``out_l ← w_out_l out_l``: shape ``(L+1,)``, or ``(channels,
L+1)`` when ``channels`` is given (one scale per channel and degree), initialised to 1. With ``weights=False``
the layer is the exact Gaunt product.
"""

from __future__ import annotations

import torch
from torch import nn

from zoo.equivariant.sh_fourier import check_lmax, f2sh_tables, flat_index, grid_tables, sh2f_tables


class GauntTensorProduct(nn.Module):
    """``forward(x1 (..., (lmax1+1)²), x2 (..., (lmax2+1)²)) -> (..., (lmax_out+1)²)``; with ``channels=C``
    the inputs are ``(..., C, (l+1)²)`` and the output ``(..., C, (lmax_out+1)²)``. Leading axes broadcast.

    ``method``: ``"fft"`` (sh2f, 2-D convolution by FFT, f2sh) or ``"grid"`` (Gauss–Legendre × uniform φ).
    Conversion tables are float64 and cast to the input's dtype; they are not saved in the state dict.
    """

    def __init__(self, lmax1: int, lmax2: int, lmax_out: int, channels: int | None = None, weights: bool = True,
                 method: str = "fft"):
        super().__init__()
        for name, lmax in (("lmax1", lmax1), ("lmax2", lmax2), ("lmax_out", lmax_out)):
            check_lmax(name, lmax)
        if channels is not None and (not isinstance(channels, int) or channels < 1):
            raise ValueError(f"channels={channels!r}: expected a positive int, or None for no channel axis")
        if method not in ("fft", "grid"):
            raise ValueError(f"method={method!r}: expected 'fft' or 'grid'")
        self.lmax1, self.lmax2, self.lmax_out, self.channels, self.method = lmax1, lmax2, lmax_out, channels, method
        for key, L in (("1", lmax1), ("2", lmax2), ("_out", lmax_out)):
            m_idx, l_idx = flat_index(L)
            self.register_buffer(f"m_idx{key}", m_idx, persistent=False)
            self.register_buffer(f"l_idx{key}", l_idx, persistent=False)
            if weights:
                shape = (L + 1,) if channels is None else (channels, L + 1)
                setattr(self, f"w{key}", nn.Parameter(torch.ones(shape)))
            else:
                setattr(self, f"w{key}", None)
        if method == "fft":
            self._fft_tables()
        else:
            self._grid_tables()

    def _fft_tables(self) -> None:
        """Buffers ``a_i, b_i`` (sh2f for each input) and ``P, Q`` (f2sh), complex stored as (re, im) pairs."""
        (a1, b1), (a2, b2) = sh2f_tables(self.lmax1), sh2f_tables(self.lmax2)
        P, Q = f2sh_tables(self.lmax_out, self.lmax1 + self.lmax2)
        for name, t in {"a1": a1, "b1": b1, "a2": a2, "b2": b2, "P": P, "Q": Q}.items():
            self.register_buffer(name, torch.view_as_real(t).clone(), persistent=False)

    def _grid_tables(self) -> None:
        """Buffers ``Theta_i (2L+1, L+1, n_θ)``, ``Phi_i (2L+1, n_φ)``, ``quad_w (n_θ,)`` on a grid exact for the
        triple products: degree ≤ lmax1 + lmax2 + lmax_out in cos θ and in φ."""
        D = self.lmax1 + self.lmax2 + self.lmax_out
        n_theta, n_phi = D // 2 + 1, D + 1
        for key, L in (("1", self.lmax1), ("2", self.lmax2), ("_out", self.lmax_out)):
            Theta, Phi, w = grid_tables(L, n_theta, n_phi)
            self.register_buffer(f"Theta{key}", Theta.clone(), persistent=False)
            self.register_buffer(f"Phi{key}", Phi.clone(), persistent=False)
        self.register_buffer("quad_w", w.clone(), persistent=False)

    def _check(self, name: str, x: torch.Tensor, lmax: int) -> None:
        if x.shape[-1:] != ((lmax + 1) ** 2,):
            raise ValueError(f"{name}: last dimension {tuple(x.shape[-1:])} is not (lmax+1)² = {(lmax + 1) ** 2} "
                             f"for lmax={lmax}; pass coefficients of degrees 0..{lmax} in e3nn's order")
        if self.channels is not None and (x.dim() < 2 or x.shape[-2] != self.channels):
            raise ValueError(f"{name}: channel axis (second to last) of shape {tuple(x.shape)} must be "
                             f"channels={self.channels}")

    def _scale(self, x: torch.Tensor, w: torch.Tensor | None, l_idx: torch.Tensor) -> torch.Tensor:
        """``x_l ← w_l x_l`` for every coefficient of degree l."""
        return x if w is None else x * w[..., l_idx].to(x.dtype)

    def _to_ml(self, x: torch.Tensor, m_idx: torch.Tensor, l_idx: torch.Tensor, L: int) -> torch.Tensor:
        """``(..., (L+1)²) -> (..., 2L+1, L+1)`` at ``[m+L, l]``, zero where ``l < |m|``."""
        out = x.new_zeros(x.shape[:-1] + (2 * L + 1, L + 1))
        out[..., m_idx, l_idx] = x
        return out

    def _complex(self, name: str, dtype: torch.dtype) -> torch.Tensor:
        """The complex table stored as (re, im) pairs in buffer ``name``, at the precision of ``dtype``."""
        return torch.view_as_complex(getattr(self, name).to(dtype).contiguous())

    def _sh2f(self, x: torch.Tensor, key: str, L: int) -> torch.Tensor:
        """``(..., (L+1)²) -> F (..., 2L+1, L+1)`` complex, ``F[u+L, v]`` for ``v ≥ 0`` (``F_{−u,−v} = F̄_{uv}``)."""
        a, b = (self._complex(f"{t}{key}", x.dtype) for t in ("a", "b"))
        X = self._to_ml(x, getattr(self, f"m_idx{key}"), getattr(self, f"l_idx{key}"), L).to(a.dtype)
        return torch.einsum("...mu,mv->...uv", torch.einsum("...ml,mlu->...mu", X, a), b[:, L:])

    def _values(self, F: torch.Tensor, L: int, N: int) -> torch.Tensor:
        """``f(θ_j, φ_k) = Σ_uv F_uv e^{i(uθ_j + vφ_k)}`` on the N × N torus grid, real ``(..., N, N)``."""
        F = torch.roll(nn.functional.pad(F, (0, N // 2 - L, 0, N - 2 * L - 1)), -L, dims=-2)   # u at row u mod N
        return torch.fft.irfft2(F, s=(N, N), norm="forward")

    def _product_fft(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        """``F_xy = F_x * F_y`` as a product of torus-grid values (the zero-padded FFT convolution), then f2sh."""
        L1, L2, Lo = self.lmax1, self.lmax2, self.lmax_out
        U, V = L1 + L2, min(Lo, L1 + L2)
        N = 2 * U + 1                                                # F_xy has |u|, |v| ≤ U: no aliasing
        f = self._values(self._sh2f(x1, "1", L1), L1, N) * self._values(self._sh2f(x2, "2", L2), L2, N)
        F = torch.roll(torch.fft.rfft2(f, norm="forward"), U, dims=-2)[..., :V + 1]    # F[u+U, v], 0 ≤ v ≤ V
        P, Q = self._complex("P", x1.dtype), self._complex("Q", x1.dtype)[:, Lo:Lo + V + 1]
        Q = Q * torch.cat([Q.new_ones(1), Q.new_full((V,), 2)])     # the v < 0 half is the conjugate of v > 0
        H = torch.einsum("...uv,mv->...mu", F, Q)
        out = torch.einsum("...mu,mlu->...ml", H, P).real
        return out[..., self.m_idx_out, self.l_idx_out]

    def _product_grid(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        def evaluate(x, key, L):                                     # (..., (L+1)²) -> (..., n_θ, n_φ)
            X = self._to_ml(x, getattr(self, f"m_idx{key}"), getattr(self, f"l_idx{key}"), L)
            Theta, Phi = getattr(self, f"Theta{key}").to(x.dtype), getattr(self, f"Phi{key}").to(x.dtype)
            return torch.einsum("...mj,mk->...jk", torch.einsum("...ml,mlj->...mj", X, Theta), Phi)

        f = evaluate(x1, "1", self.lmax1) * evaluate(x2, "2", self.lmax2) * self.quad_w.to(x1.dtype)[:, None]
        Theta, Phi = self.Theta_out.to(f.dtype), self.Phi_out.to(f.dtype)
        out = torch.einsum("...mj,mlj->...ml", torch.einsum("...jk,mk->...mj", f, Phi), Theta)
        return out[..., self.m_idx_out, self.l_idx_out]

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        self._check("x1", x1, self.lmax1)
        self._check("x2", x2, self.lmax2)
        try:
            torch.broadcast_shapes(x1.shape[:-1], x2.shape[:-1])
        except RuntimeError:
            raise ValueError(f"x1 {tuple(x1.shape)} and x2 {tuple(x2.shape)}: the axes before the last must "
                             "broadcast (same batch and channel counts)") from None
        x1 = self._scale(x1, self.w1, self.l_idx1)
        x2 = self._scale(x2, self.w2, self.l_idx2)
        out = self._product_fft(x1, x2) if self.method == "fft" else self._product_grid(x1, x2)
        return self._scale(out, self.w_out, self.l_idx_out)

    def extra_repr(self) -> str:
        return (f"lmax1={self.lmax1}, lmax2={self.lmax2}, lmax_out={self.lmax_out}, channels={self.channels}, "
                f"weights={self.w1 is not None}, method={self.method!r}")


def gaunt_coefficients(l1: int, l2: int, l3: int) -> torch.Tensor:
    """``G (2l1+1, 2l2+1, 2l3+1)`` float64, ``G[m1+l1, m2+l2, m3+l3] = ∫ Y_{l1}^{m1} Y_{l2}^{m2} Y_{l3}^{m3} dΩ``
    in e3nn's basis, computed by the FFT Gaunt product of basis vectors."""
    tp = GauntTensorProduct(l1, l2, l3, weights=False).double()
    e1 = torch.eye((l1 + 1) ** 2, dtype=torch.float64)[l1**2:, None, :]
    e2 = torch.eye((l2 + 1) ** 2, dtype=torch.float64)[None, l2**2:, :]
    return tp(e1.expand(-1, 2 * l2 + 1, -1), e2.expand(2 * l1 + 1, -1, -1))[..., l3**2:]
