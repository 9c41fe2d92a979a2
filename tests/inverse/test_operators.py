"""zoo.inverse.operators against closed forms in float64: adjointness, dense matrices built from the definitions
(DFT, correlation), the Radon transform of a Gaussian and a disc, scikit-image's ``radon``, filtered
back-projection, dtype/device following, and the shape errors."""

import math

import pytest
import torch

from zoo.inverse import BlurDownsample, Identity, Inpaint, MRIMask, ParallelBeamCT, coil_maps, gaussian_kernel

f64 = torch.float64


def random_mask(*shape, seed=0):
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed)) > 0.4


OPERATORS = {
    "mri": lambda: MRIMask.cartesian(12, acceleration=3),
    "mri_multicoil": lambda: MRIMask.cartesian((10, 12), coils=coil_maps(3, (10, 12)), channels=2),
    "ct": lambda: ParallelBeamCT(11, 5),
    "inpaint_shared": lambda: Inpaint(random_mask(7, 9), channels=2),
    "inpaint_per_channel": lambda: Inpaint(random_mask(3, 7, 9)),
    "blur": lambda: BlurDownsample(gaussian_kernel(5, 1.2), 1, size=9),
    "blur_down": lambda: BlurDownsample(torch.rand(3, 5, dtype=f64), 3, size=(10, 11), channels=2),
    "identity": lambda: Identity((2, 5, 4)),
}


def image_grid(N):
    """Pixel coordinates (x, y) (N, N) of ParallelBeamCT's geometry: x = j − (N−1)/2 rightwards, y = (N−1)/2 − i up."""
    c = (N - 1) / 2
    j = torch.arange(N, dtype=f64)
    return (j[None, :] - c).expand(N, N), (c - j[:, None]).expand(N, N)


def detector_offsets(op):
    D = op.out_shape[-1]
    return torch.arange(D, dtype=f64) - (D - 1) / 2


@pytest.mark.parametrize("name", OPERATORS)
def test_adjoint(name):
    """Re⟨A x, y⟩ = ⟨x, Aᴴ y⟩ for random real x and random (complex for MRI) y."""
    op = OPERATORS[name]()
    g = torch.Generator().manual_seed(1)
    x = torch.randn(3, *op.in_shape, generator=g, dtype=f64)
    Ax = op.A(x)
    y = torch.randn(Ax.shape, generator=g, dtype=Ax.dtype)
    lhs = (Ax.conj() * y).real.flatten(1).sum(1)
    rhs = (x * op.AH(y)).flatten(1).sum(1)
    assert Ax.shape == (3, *op.out_shape) and op.AH(y).shape == (3, *op.in_shape)
    torch.testing.assert_close(lhs, rhs, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("name", OPERATORS)
def test_autograd_through_A_gives_the_adjoint(name):
    """∇_x Re⟨A x, y⟩ = Aᴴ y by autograd (DPS and HIR-Diff differentiate through A)."""
    op = OPERATORS[name]()
    x = torch.randn(2, *op.in_shape, dtype=f64, requires_grad=True)
    Ax = op.A(x)
    y = torch.randn(Ax.shape, generator=torch.Generator().manual_seed(3), dtype=Ax.dtype)
    (gradient,) = torch.autograd.grad((Ax.conj() * y).real.sum(), x)
    torch.testing.assert_close(gradient, op.AH(y), rtol=1e-12, atol=1e-12)


def columns(op):
    """The matrix of A (m, n), column by column: A applied to the n unit images."""
    n = math.prod(op.in_shape)
    return op.A(torch.eye(n, dtype=f64).reshape(n, *op.in_shape)).reshape(n, -1).T


def dft(n):
    k = torch.arange(n, dtype=f64)
    return torch.exp(-2j * math.pi * torch.outer(k, k) / n) / math.sqrt(n)


def mri_dense(op):
    """diag(vec M) (F_H ⊗ F_W) diag(vec S_k), stacked over coils k."""
    H, W = op.mask.shape
    MF = op.mask.reshape(-1, 1) * torch.kron(dft(H), dft(W))
    coils = torch.ones(1, H, W, dtype=torch.complex128) if op.coils is None else op.coils
    return torch.cat([MF * S.reshape(1, -1) for S in coils])


def blur_dense(op):
    """out[i, j] = Σ_ab k[a, b] x[f i + a − kh//2, f j + b − kw//2] (zeros outside), one channel."""
    (kh, kw), (_, H, W), (_, h, w), f = op.kernel.shape, op.in_shape, op.out_shape, op.factor
    M = torch.zeros(h * w, H * W, dtype=f64)
    for i in range(h):
        for j in range(w):
            for a in range(kh):
                for b in range(kw):
                    r, c = f * i + a - kh // 2, f * j + b - kw // 2
                    if 0 <= r < H and 0 <= c < W:
                        M[i * w + j, r * W + c] += op.kernel[a, b]
    return M


DENSE = {
    "mri": (lambda: MRIMask.cartesian(8, acceleration=2, center_fraction=0.25), mri_dense),
    "mri_multicoil": (lambda: MRIMask.cartesian((6, 8), coils=coil_maps(3, (6, 8)), acceleration=2), mri_dense),
    "inpaint": (lambda: Inpaint(random_mask(1, 5, 6)), lambda op: torch.diag(op.mask.reshape(-1))),
    "blur": (lambda: BlurDownsample(torch.rand(3, 5, dtype=f64), 1, size=(6, 7)), blur_dense),
    "blur_down2": (lambda: BlurDownsample(gaussian_kernel(3, 0.8), 2, size=(7, 8)), blur_dense),
    "blur_down3": (lambda: BlurDownsample(torch.rand(5, 3, dtype=f64), 3, size=(9, 7)), blur_dense),
    "identity": (lambda: Identity((1, 4, 5)), lambda op: torch.eye(20, dtype=f64)),
}


@pytest.mark.parametrize("name", DENSE)
def test_dense_matrix(name):
    """A equals the matrix written from the operator's definition, and Aᴴ y = Re(Mᴴ y)."""
    make, dense = DENSE[name]
    op = make()
    M = dense(op)
    torch.testing.assert_close(columns(op).to(M.dtype), M, rtol=0, atol=1e-12)
    y = torch.randn(1, *op.out_shape, generator=torch.Generator().manual_seed(2), dtype=op.A(
        torch.zeros(1, *op.in_shape, dtype=f64)).dtype)
    torch.testing.assert_close(op.AH(y).reshape(-1), (M.conj().T @ y.reshape(-1).to(M.dtype)).real, rtol=0, atol=1e-12)


def test_cartesian_mask():
    """Whole columns (phase-encode lines), round(W/R) of them, the lowest |frequencies| among them, seeded."""
    op = MRIMask.cartesian((20, 50), acceleration=4, center_fraction=0.08, seed=3)
    mask = op.mask
    assert (mask == mask[:1]).all()
    lines = mask[0].nonzero().reshape(-1).tolist()
    assert len(lines) == round(50 / 4)
    assert {0, 1, 49, 2} <= set(lines)  # round(0.08 · 50) = 4 central lines: frequencies 0, ±1, +2
    assert torch.equal(MRIMask.cartesian((20, 50), seed=3).mask, mask)
    assert not torch.equal(MRIMask.cartesian((20, 50), seed=4).mask, mask)


def test_coil_maps_and_full_sampling():
    """Σ_k |S_k|² = 1, so with a fully sampled mask AᴴA = I for one coil and for K coils."""
    S = coil_maps(4, (9, 10))
    torch.testing.assert_close(S.abs().square().sum(0), torch.ones(9, 10, dtype=f64))
    assert S.abs().std(0).min() > 0.01  # the coils see the image differently
    x = torch.randn(2, 1, 9, 10, dtype=f64)
    for coils in (None, S):
        torch.testing.assert_close(MRIMask(torch.ones(9, 10), coils).normal(x), x, rtol=0, atol=1e-12)


def test_ct_gaussian_closed_form():
    """R of f = exp(−|p − c|²/2s²) is √(2π) s exp(−(s_k − c·n_θ)²/2s²) for every angle (pins the geometry)."""
    op = ParallelBeamCT(33, 12)
    x, y = image_grid(33)
    s, (cx, cy) = 3.0, (4.0, -6.0)
    f = torch.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * s ** 2))
    shift = cx * op.angles.cos()[:, None] + cy * op.angles.sin()[:, None]
    exact = math.sqrt(2 * math.pi) * s * torch.exp(-(detector_offsets(op)[None, :] - shift) ** 2 / (2 * s ** 2))
    p = op.A(f[None, None])[0, 0]
    assert torch.linalg.vector_norm(p - exact) / torch.linalg.vector_norm(exact) < 0.01


def test_ct_disc_closed_form():
    """R of a centred disc of radius r is 2√(r² − s²) (up to the pixelated edge), and every view keeps the mass πr²."""
    op = ParallelBeamCT(33, 8)
    x, y = image_grid(33)
    sub = (torch.arange(8, dtype=f64) + 0.5) / 8 - 0.5  # 8 × 8 supersampling of each pixel
    r = 10.0
    disc = (((x[..., None, None] + sub[:, None]) ** 2 + (y[..., None, None] + sub) ** 2) < r ** 2).to(f64).mean((-2, -1))
    p = op.A(disc[None, None])[0, 0]
    s = detector_offsets(op)
    core = s.abs() < r - 2
    assert (p[:, core] - 2 * (r ** 2 - s[core] ** 2).sqrt()).abs().max() < 0.01 * 2 * r
    torch.testing.assert_close(p.sum(1), torch.full((8,), math.pi * r ** 2, dtype=f64), rtol=0.01, atol=0)


def test_ct_matches_skimage_radon():
    """Same convention as ``skimage.transform.radon(image, theta=degrees(θ), circle=False)`` (image rows down,
    θ anticlockwise from the x axis, detector centre at bin (D−1)/2 for odd N and D): 1 % in L2 on a phantom."""
    radon = pytest.importorskip("skimage.transform").radon
    N = 33
    op = ParallelBeamCT(N, 10)
    x, y = image_grid(N)
    f = torch.exp(-((x - 5) ** 2 + (y + 3) ** 2) / 18) + 0.5 * torch.exp(-((x + 6) ** 2 / 8 + (y - 7) ** 2 / 30))
    reference = torch.from_numpy(radon(f.numpy(), theta=torch.rad2deg(op.angles).numpy(), circle=False)).T
    p = op.A(f[None, None])[0, 0]
    assert p.shape == reference.shape
    assert torch.linalg.vector_norm(p - reference) / torch.linalg.vector_norm(reference) < 0.01


@pytest.fixture(scope="module")
def full_view_ct():
    return ParallelBeamCT(32, 180)


@pytest.mark.parametrize("window, tolerance", [("ram-lak", 0.06), ("hann", 0.1)])
def test_fbp_reconstructs_smooth_phantom(full_view_ct, window, tolerance):
    """FBP of a 180-view sinogram returns a smooth phantom (a disc with a cos² edge plus a bump) with the right
    amplitude: relative L2 error below the tolerance and the disc's plateau at 1 ± 2 %."""
    op, N = full_view_ct, 32
    x, y = image_grid(N)
    r = (x ** 2 + y ** 2).sqrt()
    disc = torch.where(r < 8, 1.0, torch.where(r < 11, torch.cos((r - 8) / 3 * math.pi / 2) ** 2, 0.0))
    f = disc + 0.5 * torch.exp(-((x - 4) ** 2 + (y + 3) ** 2) / 8)
    rec = op.fbp(op.A(f[None, None]), window=window)[0, 0]
    assert torch.linalg.vector_norm(rec - f) / torch.linalg.vector_norm(f) < tolerance
    plateau = (r < 5) & ((x - 4) ** 2 + (y + 3) ** 2 > 40)
    assert (rec[plateau] - f[plateau]).abs().max() < 0.02


@pytest.mark.parametrize("name", OPERATORS)
def test_float32_follows_input(name):
    """float32 in: float32 (complex64 for MRI) out, equal to the float64 result to single precision."""
    op = OPERATORS[name]()
    x = torch.randn(2, *op.in_shape, dtype=f64)
    y32, y64 = op.A(x.float()), op.A(x)
    assert y32.dtype == (torch.complex64 if y64.is_complex() else torch.float32)
    torch.testing.assert_close(y32.to(y64.dtype), y64, rtol=1e-5, atol=1e-5)
    x32 = op.AH(y32)
    assert x32.dtype == torch.float32
    torch.testing.assert_close(x32.double(), op.AH(y64), rtol=1e-5, atol=1e-5)


@pytest.mark.gpu
@pytest.mark.parametrize("name", OPERATORS)
def test_cuda_follows_input(name):
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    op = OPERATORS[name]()
    x = torch.randn(2, *op.in_shape, dtype=f64)
    y = op.A(x.cuda())
    assert y.device.type == "cuda" and op.AH(y).device.type == "cuda"
    torch.testing.assert_close(op.AH(y).cpu(), op.AH(op.A(x)), rtol=1e-10, atol=1e-10)


def test_measurement_shape_errors_name_both_shapes():
    op = MRIMask.cartesian(8)
    with pytest.raises(ValueError, match=r"measurement of shape \(2, 1, 8, 7\) does not fit MRIMask's out_shape "
                                         r"\(1, 8, 8\): expected \(B, 1, 8, 8\)"):
        op.AH(torch.zeros(2, 1, 8, 7, dtype=torch.complex128))
    with pytest.raises(ValueError, match=r"image of shape \(2, 8, 8\) does not fit MRIMask's in_shape \(1, 8, 8\)"):
        op.A(torch.zeros(2, 8, 8))
    with pytest.raises(ValueError, match=r"does not fit ParallelBeamCT's out_shape \(1, 4, 12\)"):
        ParallelBeamCT(8, 4).fbp(torch.zeros(1, 1, 4, 11))
    with pytest.raises(ValueError, match=r"does not fit Identity's in_shape \(1, 4, 4\)"):
        Identity((1, 4, 4)).A(torch.zeros(3, 1, 4, 5))


@pytest.mark.parametrize("build, message", [
    (lambda: MRIMask(torch.ones(1, 8, 8)), r"mask must have shape \(H, W\), got \(1, 8, 8\)"),
    (lambda: MRIMask(torch.full((8, 8), 0.5)), "mask must hold 0/1 values"),
    (lambda: MRIMask(torch.ones(8, 8), coil_maps(2, (8, 9))), r"coils must have shape \(K, 8, 8\)"),
    (lambda: MRIMask.cartesian(16, acceleration=8, center_fraction=0.3), "central"),
    (lambda: Inpaint(torch.ones(1, 1, 4, 4)), r"mask must have shape \(H, W\) or \(C, H, W\)"),
    (lambda: Inpaint(torch.ones(3, 4, 4), channels=2), "channels=2 does not match the mask's 3 channels"),
    (lambda: BlurDownsample(torch.ones(5), 2, size=8), r"kernel must be a 2-D \(kh, kw\)"),
    (lambda: BlurDownsample(torch.ones(4, 4), 2, size=8), "odd sides"),
    (lambda: BlurDownsample(torch.ones(3, 3), 0, size=8), "factor must be an integer >= 1"),
    (lambda: BlurDownsample(torch.ones(3, 3), 1.5, size=8), "factor must be an integer >= 1"),
    (lambda: ParallelBeamCT(1, 4), "size >= 2"),
    (lambda: ParallelBeamCT(8, 4, channels=0), "every dimension must be >= 1"),
    (lambda: ParallelBeamCT(8, 4).fbp(torch.zeros(1, 1, 4, 12), window="shepp"), "window must be"),
    (lambda: gaussian_kernel(4), "odd size"),
])
def test_bad_arguments(build, message):
    with pytest.raises(ValueError, match=message):
        build()
