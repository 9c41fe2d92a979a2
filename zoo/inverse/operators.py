"""Linear forward operators ``y = A x`` of imaging inverse problems, with their adjoints ``Aᴴ``.

Every operator maps a batch of real images ``x`` (B, *in_shape) to measurements ``y`` (B, *out_shape) and back:

    MRIMask          y_k = M ⊙ F(S_k x)            F the orthonormal 2-D DFT (unshifted: DC at index 0), M a
                                                   Cartesian k-space mask, S_k coil sensitivities (multi-coil)
    ParallelBeamCT   y = R x                       R an explicit sparse matrix of line integrals (the Radon transform)
    Inpaint          y = m ⊙ x                     m a 0/1 pixel mask
    BlurDownsample   y = (k ⋆ x)↓f                 zero-padded "same" blur, then every f-th pixel
    Identity         y = x

Images are real, so ``Aᴴ`` is the adjoint for the real inner product: ``Re⟨A x, y⟩ = ⟨x, Aᴴ y⟩`` (for the complex
``A`` of MRI, ``Aᴴ`` keeps the real part). Operators follow the input's device and dtype: a float32 image gives
complex64 k-space, float64 gives complex128; their own tensors are kept in float64 and cast once per device/dtype.
"""

from __future__ import annotations

import math
import warnings

import torch
import torch.nn.functional as F
from torch import Tensor


class LinearOperator:
    """A linear map ``A``: (B, *in_shape) -> (B, *out_shape), with its adjoint ``Aᴴ``: (B, *out_shape) -> (B, *in_shape).

    Subclasses set the per-sample shapes through ``__init__`` and implement ``_A`` and ``_AH`` on shape-checked
    tensors; ``A``, ``AH`` and ``normal`` (``AᴴA``) are the public calls."""

    def __init__(self, in_shape: tuple[int, ...], out_shape: tuple[int, ...]):
        self.in_shape = tuple(in_shape)
        self.out_shape = tuple(out_shape)
        if min(self.in_shape + self.out_shape, default=1) < 1:
            raise ValueError(f"{type(self).__name__}: every dimension must be >= 1, got in_shape {self.in_shape} "
                             f"and out_shape {self.out_shape}")
        self._cast: dict = {}

    def A(self, x: Tensor) -> Tensor:
        return self._A(self.check_image(x))

    def AH(self, y: Tensor) -> Tensor:
        return self._AH(self.check_measurement(y))

    def normal(self, x: Tensor) -> Tensor:
        """``AᴴA x`` (B, *in_shape)."""
        return self.AH(self.A(x))

    def check_image(self, x: Tensor) -> Tensor:
        """x itself if it has shape (B, *in_shape), else a ValueError that names both shapes."""
        return self._fit(x, self.in_shape, "image", "in_shape")

    def check_measurement(self, y: Tensor) -> Tensor:
        """y itself if it has shape (B, *out_shape), else a ValueError that names both shapes."""
        return self._fit(y, self.out_shape, "measurement", "out_shape")

    def _A(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def _AH(self, y: Tensor) -> Tensor:
        raise NotImplementedError

    def _fit(self, t: Tensor, shape: tuple[int, ...], what: str, role: str) -> Tensor:
        if tuple(t.shape[1:]) != shape:
            raise ValueError(f"{what} of shape {tuple(t.shape)} does not fit {type(self).__name__}'s {role} {shape}: "
                             f"expected (B, {', '.join(map(str, shape))})")
        return t

    def _on(self, name: str, like: Tensor, dtype: torch.dtype) -> Tensor:
        """The attribute tensor ``name`` on ``like``'s device in ``dtype`` (cast once, then cached)."""
        key = (name, like.device, dtype)
        if key not in self._cast:
            self._cast[key] = getattr(self, name).to(device=like.device, dtype=dtype)
        return self._cast[key]


def _binary_mask(mask, name: str, dims: tuple[int, ...]) -> Tensor:
    """``mask`` as a float64 tensor of 0/1 values with ``dim()`` in ``dims``, or a ValueError naming ``name``."""
    mask = torch.as_tensor(mask).detach().to("cpu", torch.float64)
    if mask.dim() not in dims:
        expected = " or ".join("(" + ", ".join("CHW"[3 - d:]) + ")" for d in dims)
        raise ValueError(f"{name} must have shape {expected}, got {tuple(mask.shape)}")
    if not ((mask == 0) | (mask == 1)).all():
        raise ValueError(f"{name} must hold 0/1 values (bool or float)")
    return mask


def _size(size) -> tuple[int, int]:
    H, W = (size, size) if isinstance(size, int) else tuple(size)
    if H < 1 or W < 1:
        raise ValueError(f"size must be a positive int or (H, W), got {size}")
    return H, W


class MRIMask(LinearOperator):
    """Cartesian MRI: ``y = M ⊙ F x`` (single-coil) or ``y_k = M ⊙ F(S_k x)``, k = 1 … K (multi-coil), and
    ``Aᴴ y = Re Σ_k S̄_k F⁻¹(M ⊙ y_k)``. F is ``torch.fft.fft2(norm="ortho")`` (unitary, DC at index (0, 0)); with
    a single coil ``Aᴴ y`` is the zero-filled reconstruction.

    Args:
        mask: (H, W) 0/1 k-space mask (bool or float), e.g. from ``MRIMask.cartesian``.
        coils: (K, H, W) complex sensitivities ``S_k`` (``coil_maps``) or None for a single coil.
        channels: C, the image channels (each is measured with the same mask and coils).

    Shapes: x (B, C, H, W) real -> y (B, C, H, W) complex, or (B, C, K, H, W) with coils.
    """

    def __init__(self, mask: Tensor, coils: Tensor | None = None, *, channels: int = 1):
        self.mask = _binary_mask(mask, "mask", (2,))
        H, W = self.mask.shape
        self.coils = None
        if coils is not None:
            coils = torch.as_tensor(coils).detach().to("cpu", torch.complex128)
            if coils.dim() != 3 or tuple(coils.shape[1:]) != (H, W):
                raise ValueError(f"coils must have shape (K, {H}, {W}) to match the mask, got {tuple(coils.shape)}")
            self.coils = coils
        coil_dims = () if coils is None else (len(coils),)
        super().__init__((channels, H, W), (channels, *coil_dims, H, W))

    @classmethod
    def cartesian(cls, size: int | tuple[int, int], *, acceleration: float = 4, center_fraction: float = 0.08,
                  seed: int = 0, coils: Tensor | None = None, channels: int = 1) -> MRIMask:
        """The standard Cartesian ×R mask: ``round(W / R)`` fully sampled phase-encode lines (columns), the
        ``round(center_fraction · W)`` lowest frequencies among them, the rest drawn at random (``seed``)."""
        H, W = _size(size)
        n_lines, n_center = round(W / acceleration), round(W * center_fraction)
        if not 1 <= n_center <= n_lines <= W:
            raise ValueError(f"acceleration={acceleration} and center_fraction={center_fraction} give {n_lines} lines "
                             f"with {n_center} central ones for width {W}: need 1 <= central <= lines <= width")
        by_frequency = torch.argsort(torch.fft.fftfreq(W).abs(), stable=True)
        center, rest = by_frequency[:n_center], by_frequency[n_center:]
        drawn = rest[torch.randperm(len(rest), generator=torch.Generator().manual_seed(seed))[:n_lines - n_center]]
        mask = torch.zeros(H, W, dtype=torch.float64)
        mask[:, torch.cat([center, drawn])] = 1
        return cls(mask, coils, channels=channels)

    def _A(self, x: Tensor) -> Tensor:
        x = x.to(x.dtype.to_complex())
        if self.coils is not None:
            x = x.unsqueeze(2) * self._on("coils", x, x.dtype)
        return self._on("mask", x, x.dtype.to_real()) * torch.fft.fft2(x, norm="ortho")

    def _AH(self, y: Tensor) -> Tensor:
        x = torch.fft.ifft2(self._on("mask", y, y.dtype.to_real()) * y, norm="ortho")
        if self.coils is not None:
            x = (self._on("coils", x, x.dtype).conj() * x).sum(2)
        return x.real


def coil_maps(n_coils: int, size: int | tuple[int, int]) -> Tensor:
    """K smooth synthetic coil sensitivities (K, H, W) complex128, normalised so that ``Σ_k |S_k|² = 1`` everywhere.

    Coil k sits outside the field of view at angle ``2πk/K`` (radius 1.5 in image coordinates [-1, 1]²); its
    magnitude is a Gaussian bump of width 1 around it and its phase a linear ramp of π/2 across the image."""
    H, W = _size(size)
    y, x = torch.meshgrid(torch.linspace(-1, 1, H, dtype=torch.float64),
                          torch.linspace(-1, 1, W, dtype=torch.float64), indexing="ij")
    phi = 2 * math.pi * torch.arange(n_coils, dtype=torch.float64)[:, None, None] / n_coils
    along = x * phi.cos() + y * phi.sin()
    magnitude = torch.exp(-((x - 1.5 * phi.cos()) ** 2 + (y - 1.5 * phi.sin()) ** 2) / 2)
    S = torch.polar(magnitude, math.pi / 4 * along)
    return S / S.abs().square().sum(0).sqrt()


class ParallelBeamCT(LinearOperator):
    """Parallel-beam CT: ``y = R x`` with R an explicit sparse matrix (V·D, N²) (torch CSR, built in float64), so
    ``Aᴴ = Rᵀ`` exactly.

    Geometry: pixel (i, j) of the N × N image sits at ``(x, y) = (j − (N−1)/2, (N−1)/2 − i)`` (unit pixels, y up)
    and the image is the bilinear interpolant of its pixels (zero outside). View v has angle ``θ_v = π v / V`` and
    detector k offset ``s_k = k − (D−1)/2`` (unit spacing; ``D = ⌈√2 N⌉`` spans the image diagonal):

        y[v, k] = ∫ f(s_k n + t d) dt,   n = (cos θ, sin θ),  d = (−sin θ, cos θ),

    by the midpoint rule with step ≤ 0.5 pixel (bilinear weights × step length). For odd N and D this is
    scikit-image's ``radon(image, theta=degrees(θ), circle=False)[:, v]`` up to interpolation error.

    Shapes: x (B, C, N, N) -> y (B, C, V, D).
    """

    def __init__(self, size: int, n_views: int, n_detectors: int | None = None, *, channels: int = 1):
        n_detectors = math.ceil(math.sqrt(2) * size) if n_detectors is None else n_detectors
        if size < 2 or n_views < 1 or n_detectors < 1:
            raise ValueError(f"need size >= 2, n_views >= 1 and n_detectors >= 1, got size={size}, n_views={n_views}, "
                             f"n_detectors={n_detectors}")
        super().__init__((channels, size, size), (channels, n_views, n_detectors))
        self.angles = torch.arange(n_views, dtype=torch.float64) * math.pi / n_views
        rows, cols, weights = _line_integrals(size, self.angles, n_detectors)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
            self.matrix = _csr(rows, cols, weights, (n_views * n_detectors, size * size))
            self.matrix_T = _csr(cols, rows, weights, (size * size, n_views * n_detectors))

    def _A(self, x: Tensor) -> Tensor:
        return self._apply("matrix", x, self.out_shape)

    def _AH(self, y: Tensor) -> Tensor:
        return self._apply("matrix_T", y, self.in_shape)

    def _apply(self, name: str, t: Tensor, shape: tuple[int, ...]) -> Tensor:
        """The sparse matrix ``name`` on each of the B·C flattened channels of ``t``, reshaped to (B, *shape)."""
        flat = t.reshape(t.shape[0] * shape[0], -1).T.contiguous()
        return (self._on(name, t, t.dtype) @ flat).T.reshape(t.shape[0], *shape)

    def fbp(self, y: Tensor, window: str = "ram-lak") -> Tensor:
        """Filtered back-projection ``x = (π / V) Rᵀ (h ∗ y)`` (B, C, N, N) of a sinogram y (B, C, V, D): h is the
        discrete Ram-Lak ramp (``h_0 = 1/4``, ``h_n = −1/(π n)²`` for odd n, 0 for even n), applied along the
        detector axis with zero padding, optionally times a Hann window (``window="hann"``)."""
        if window not in ("ram-lak", "hann"):
            raise ValueError(f"window must be 'ram-lak' or 'hann', got {window!r}")
        y = self.check_measurement(y)
        D = self.out_shape[-1]
        P = 2 ** math.ceil(math.log2(2 * D))
        n = torch.fft.fftfreq(P, 1 / P, dtype=y.dtype, device=y.device)
        h = torch.where(n == 0, 0.25, torch.where(n.remainder(2) == 1, -1 / (math.pi * n) ** 2, 0.0))
        ramp = torch.fft.fft(h).real
        if window == "hann":
            ramp = ramp * 0.5 * (1 + torch.cos(2 * math.pi * torch.fft.fftfreq(P, dtype=y.dtype, device=y.device)))
        filtered = torch.fft.ifft(torch.fft.fft(y, n=P, dim=-1) * ramp, dim=-1).real[..., :D]
        return math.pi / len(self.angles) * self.AH(filtered)


def _line_integrals(N: int, angles: Tensor, D: int) -> tuple[Tensor, Tensor, Tensor]:
    """Row (ray v·D + k), column (pixel i·N + j) and weight of every bilinear sample of every ray (duplicates are
    summed later); see ``ParallelBeamCT``. Built one view at a time to keep memory at O(D · samples)."""
    c = (N - 1) / 2
    half = math.sqrt(2) * (c + 1)  # a ray leaves the interpolant's support within this distance of the centre
    n_t = math.ceil(2 * half / 0.5)
    dt = 2 * half / n_t
    s = torch.arange(D, dtype=torch.float64) - (D - 1) / 2
    t = -half + (torch.arange(n_t, dtype=torch.float64) + 0.5) * dt
    rows, cols, weights = [], [], []
    for v, theta in enumerate(angles.tolist()):
        px = s[:, None] * math.cos(theta) - t[None, :] * math.sin(theta)  # (D, n_t)
        py = s[:, None] * math.sin(theta) + t[None, :] * math.cos(theta)
        col, row = px + c, c - py  # fractional pixel indices
        j0, i0 = col.floor(), row.floor()
        fj, fi = col - j0, row - i0
        ray = v * D + torch.arange(D)[:, None].expand(D, n_t)
        for di, dj, w in ((0, 0, (1 - fi) * (1 - fj)), (0, 1, (1 - fi) * fj), (1, 0, fi * (1 - fj)), (1, 1, fi * fj)):
            i, j = i0 + di, j0 + dj
            inside = (i >= 0) & (i < N) & (j >= 0) & (j < N) & (w > 0)
            rows.append(ray[inside])
            cols.append((i[inside] * N + j[inside]).long())
            weights.append(w[inside] * dt)
    return torch.cat(rows), torch.cat(cols), torch.cat(weights)


def _csr(rows: Tensor, cols: Tensor, values: Tensor, shape: tuple[int, int]) -> Tensor:
    """A float64 sparse CSR matrix with the duplicates of (rows, cols) summed."""
    coo = torch.sparse_coo_tensor(torch.stack([rows, cols]), values, shape, check_invariants=True)
    return coo.coalesce().to_sparse_csr()


class Inpaint(LinearOperator):
    """Inpainting: ``y = m ⊙ x``, ``Aᴴ = A`` (a diagonal 0/1 matrix).

    Args:
        mask: (H, W) shared by all channels, or (C, H, W); 1 = observed.
        channels: C for an (H, W) mask (default 1); must equal the mask's C for a (C, H, W) mask.

    Shapes: x, y (B, C, H, W).
    """

    def __init__(self, mask: Tensor, *, channels: int | None = None):
        self.mask = _binary_mask(mask, "mask", (2, 3))
        C = self.mask.shape[0] if self.mask.dim() == 3 else 1
        if channels is not None and self.mask.dim() == 3 and channels != C:
            raise ValueError(f"channels={channels} does not match the mask's {C} channels (shape "
                             f"{tuple(self.mask.shape)})")
        shape = (channels or C, *self.mask.shape[-2:])
        super().__init__(shape, shape)

    def _A(self, x: Tensor) -> Tensor:
        return self._on("mask", x, x.dtype) * x

    def _AH(self, y: Tensor) -> Tensor:
        return self._A(y)


def gaussian_kernel(size: int = 9, sigma: float = math.sqrt(16 / (8 * math.log(2)))) -> Tensor:
    """A normalised (Σ = 1) isotropic Gaussian blur kernel (size, size) float64; the default is HIR-Diff's 9 × 9
    blur of full width at half maximum 4 pixels (σ = √(16 / (8 ln 2)) ≈ 1.70)."""
    if size < 1 or size % 2 == 0 or sigma <= 0:
        raise ValueError(f"need an odd size >= 1 and sigma > 0, got size={size}, sigma={sigma}")
    r = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-r ** 2 / (2 * sigma ** 2))
    return torch.outer(g, g) / g.sum() ** 2


class BlurDownsample(LinearOperator):
    """Blur then decimate: ``y = (k ⋆ x)↓f``, the cross-correlation of each channel with ``k`` (as ``F.conv2d``;
    the same as convolution for a symmetric kernel) with zero padding to the same size, keeping pixels
    (f·i, f·j). Computed as one strided ``conv2d``; ``Aᴴ`` is the matching ``conv_transpose2d``.

    Args:
        kernel: (kh, kw) with odd sides (e.g. ``gaussian_kernel()``).
        factor: f >= 1 (1 = deblurring only).
        size: the image's N or (H, W).
        channels: C, blurred alike.

    Shapes: x (B, C, H, W) -> y (B, C, ⌈H/f⌉, ⌈W/f⌉).
    """

    def __init__(self, kernel: Tensor, factor: int, *, size: int | tuple[int, int], channels: int = 1):
        self.kernel = torch.as_tensor(kernel).detach().to("cpu", torch.float64)
        if self.kernel.dim() != 2 or self.kernel.shape[0] % 2 == 0 or self.kernel.shape[1] % 2 == 0:
            raise ValueError(f"kernel must be a 2-D (kh, kw) tensor with odd sides, got shape {tuple(self.kernel.shape)}")
        if int(factor) != factor or factor < 1:
            raise ValueError(f"factor must be an integer >= 1, got {factor}")
        self.factor = int(factor)
        H, W = _size(size)
        super().__init__((channels, H, W), (channels, -(-H // self.factor), -(-W // self.factor)))

    def _A(self, x: Tensor) -> Tensor:
        B, C, H, W = x.shape
        kh, kw = self.kernel.shape
        y = F.conv2d(x.reshape(B * C, 1, H, W), self._on("kernel", x, x.dtype)[None, None], stride=self.factor,
                     padding=(kh // 2, kw // 2))
        return y.reshape(B, *self.out_shape)

    def _AH(self, y: Tensor) -> Tensor:
        B, C, h, w = y.shape
        (kh, kw), (_, H, W), f = self.kernel.shape, self.in_shape, self.factor
        x = F.conv_transpose2d(y.reshape(B * C, 1, h, w), self._on("kernel", y, y.dtype)[None, None], stride=f,
                               padding=(kh // 2, kw // 2), output_padding=(H - 1 - (h - 1) * f, W - 1 - (w - 1) * f))
        return x.reshape(B, *self.in_shape)


class Identity(LinearOperator):
    """``y = x`` on (B, *shape): denoising."""

    def __init__(self, shape: tuple[int, ...]):
        super().__init__(shape, shape)

    def _A(self, x: Tensor) -> Tensor:
        return x

    def _AH(self, y: Tensor) -> Tensor:
        return y
