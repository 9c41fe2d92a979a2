"""HIR-Diff (zoo.inverse.hirdiff) and its baselines (zoo.inverse.baselines) against closed forms in float64: the
basis E = V_r (V_r[b])⁻¹, strong RRQR's bound by brute force, the reference's exponential schedule recomputed by its
own recipe, the guidance loss and its gradient from explicit formulas, the oracle fixed point of the sampler."""

import itertools
import sys

import numpy as np
import pytest
import scipy.linalg
import torch
from torch import nn

from epsilon_models import ConvEpsilon, KnownX0

from zoo.functional import VPSchedule
from zoo.inverse.baselines import bm3d_bands, guidance_only, svd_projection
from zoo.inverse.hirdiff import (RRQR_BOUND, GuidanceLoss, edge_weights, exp_alpha_bars, exp_schedule, expand,
                                 hirdiff, linear_schedule, low_rank_projection, naive_estimate, subspace_basis)
from zoo.inverse.operators import BlurDownsample, Identity, Inpaint, ParallelBeamCT, gaussian_kernel
from zoo.metrics.images import psnr

C, H, W = 12, 16, 16


def rank3_hsi(seed=0, B=1, C=C, H=H, W=W):
    """``Σ_j a_j(x) e_j(λ)``: three smooth random abundance maps (summing to one) × three smooth spectra, (B, C, H, W)
    float64 in [0.1, 0.9], of band rank 3 exactly."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, H, dtype=torch.float64), torch.linspace(0, 1, W, dtype=torch.float64),
                            indexing="ij")
    lam = torch.linspace(0, 1, C, dtype=torch.float64)
    images = []
    for _ in range(B):
        f, p = torch.rand(2, 3, 2, generator=g, dtype=torch.float64) * 4
        a = torch.stack([1 + torch.sin(f[j, 0] * xx + p[j, 0]) * torch.cos(f[j, 1] * yy + p[j, 1]) for j in range(3)])
        a = a / a.sum(0)
        c, w = torch.rand(2, 3, generator=g, dtype=torch.float64)
        spectra = torch.stack([0.1 + 0.8 * torch.exp(-(lam - c[j]) ** 2 / (0.1 + w[j])) for j in range(3)])
        images.append(torch.einsum("rc,rhw->chw", spectra, a))
    return torch.stack(images)


def operators(C=C, H=H, W=W):
    mask = (torch.rand(H, W, generator=torch.Generator().manual_seed(1)) > 0.8).double()
    return [Identity((C, H, W)), BlurDownsample(gaussian_kernel(), 4, size=(H, W), channels=C),
            Inpaint(mask, channels=C)]


# ------------------------------------------------------------------------------------------------ the basis E


@pytest.mark.parametrize("band_selection", ["rrqr", "uniform"])
def test_basis_is_identity_on_the_selected_bands(band_selection):
    y = torch.rand(2, C, 6, 7, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    E, bands = subspace_basis(y, rank=3, band_selection=band_selection)
    assert E.shape == (2, C, 3) and bands.shape == (2, 3) and bands.dtype == torch.long
    for e, b in zip(E, bands):
        assert (b.diff() > 0).all()
        torch.testing.assert_close(e[b], torch.eye(3, dtype=torch.float64), atol=1e-10, rtol=0)
    # the column space of E is the top-3 left singular space of the band matrix (numpy's SVD)
    U = np.linalg.svd(y[0].reshape(C, -1).numpy())[0][:, :3]
    np.testing.assert_allclose(U @ (U.T @ E[0].numpy()), E[0].numpy(), atol=1e-10)
    # a single (C, H, W) image is a batch of one
    E1, b1 = subspace_basis(y[0], rank=3, band_selection=band_selection)
    torch.testing.assert_close(E1[0], E[0], atol=1e-12, rtol=0)


def test_uniform_bands_are_the_references():
    _, bands = subspace_basis(torch.rand(10, 4, 4, dtype=torch.float64), rank=3, band_selection="uniform")
    assert bands.tolist() == [[10 * 1 // 4, 10 * 2 // 4, 10 * 3 // 4]] == [[2, 5, 7]]


def test_rank3_image_is_reproduced_exactly_from_its_selected_bands():
    X = rank3_hsi(B=2)
    E, bands = subspace_basis(X)
    Z = X[torch.arange(2)[:, None], bands]
    torch.testing.assert_close(expand(E, Z), X, atol=1e-10, rtol=0)
    torch.testing.assert_close(svd_projection(X), X, atol=1e-10, rtol=0)


def test_low_rank_projection_is_the_truncated_svd():
    x = torch.rand(1, C, 5, 6, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    U, s, Vt = np.linalg.svd(x[0].reshape(C, -1).numpy(), full_matrices=False)
    expected = (U[:, :3] * s[:3]) @ Vt[:3]
    np.testing.assert_allclose(low_rank_projection(x, 3)[0].reshape(C, -1).numpy(), expected, atol=1e-10)


def test_rrqr_bands_are_independent_and_satisfy_the_strong_rrqr_bound():
    y = torch.rand(1, 20, 8, 8, generator=torch.Generator().manual_seed(109), dtype=torch.float64)
    E, bands = subspace_basis(y)
    V = np.linalg.svd(y[0].reshape(20, -1).numpy())[0][:, :3]
    # a case where the pivoted QR alone breaks the bound, so that strong RRQR's swaps are needed
    greedy = scipy.linalg.qr(V.T, mode="r", pivoting=True)[1][:3]
    assert np.abs(V @ np.linalg.inv(V[greedy])).max() > RRQR_BOUND
    b = bands[0].tolist()
    assert np.linalg.cond(V[b]) < 10
    assert E.abs().max() <= RRQR_BOUND + 1e-12
    # by brute force: no single swap of a selected band for another grows |det V_r[b]| by more than the bound
    volume = abs(np.linalg.det(V[b]))
    for i, j in itertools.product(range(3), set(range(20)) - set(b)):
        swapped = b.copy()
        swapped[i] = j
        assert abs(np.linalg.det(V[swapped])) <= RRQR_BOUND * volume * (1 + 1e-12)


def test_rrqr_does_not_pick_two_identical_bands():
    y = rank3_hsi(seed=4)
    y[:, 7] = y[:, 2] = 2 * y[:, 2]  # two identical bands of the largest norm: the first pivot is one of them
    _, bands = subspace_basis(y)
    assert not {2, 7} <= set(bands[0].tolist())
    _, (uniform,) = subspace_basis(y, band_selection="uniform")
    assert uniform.tolist() == [3, 6, 9]


def test_uniform_bands_that_are_dependent_raise():
    y = rank3_hsi(seed=5)
    y[:, 6] = y[:, 3]
    with pytest.raises(ValueError, match="singular"):
        subspace_basis(y, band_selection="uniform")


# --------------------------------------------------------------------------------------------------- schedules


def test_exp_schedule_is_the_references_recipe():
    T, k, floor = 1000, 8.0, 1e-3
    # the reference's make_beta_schedule("exp"): 1 − e^{−k s/T} on s = 0 … T, reversed, min–max normalised
    grid = np.flip(1 - np.exp(-k * np.arange(T + 1) / T))
    grid = (grid - grid.min()) / (grid.max() - grid.min()) * (1 - floor) + floor
    assert grid[0] == 1 and grid[-1] == floor
    alpha_bars = exp_alpha_bars(k, floor, T).numpy()
    np.testing.assert_allclose(alpha_bars, grid[1:], rtol=0, atol=1e-14)
    assert alpha_bars[-1] == pytest.approx(floor, abs=1e-15)
    assert (np.diff(alpha_bars) < 0).all() and alpha_bars.min() >= floor and alpha_bars.max() < 1
    # the reference's 20 steps: indices arange(0, T, T // 20) reversed, ᾱ = alphas_cumprod_prev[i + 1] = grid[i + 1]
    steps = exp_schedule(20, k, floor).numpy()
    np.testing.assert_allclose(steps, grid[np.arange(0, T, T // 20)[::-1] + 1], rtol=0, atol=1e-14)
    assert steps[0] == pytest.approx(0.3251, abs=1e-4)
    assert (np.diff(exp_schedule(T).numpy()) > 0).all() and exp_schedule(T)[0] == pytest.approx(floor, abs=1e-15)


def test_linear_schedule_is_the_models_subsequence():
    schedule = VPSchedule()
    torch.testing.assert_close(linear_schedule(schedule, 20), schedule.alpha_bars[torch.arange(20) * 50].flip(0))


# ------------------------------------------------------------------------------------------ the guidance loss


def test_guidance_loss_matches_its_formula():
    g = torch.Generator().manual_seed(6)
    B, C_, H_, W_ = 2, 3, 4, 5
    mask = (torch.rand(H_, W_, generator=g) > 0.5).double()
    op = Inpaint(mask, channels=C_)
    y = op.A(torch.rand(B, C_, H_, W_, generator=g, dtype=torch.float64))
    x = torch.rand(B, C_, H_, W_, generator=g, dtype=torch.float64)
    eta1, eta2 = 3.0, 5.0
    value = GuidanceLoss(y, op, eta1=eta1, eta2=eta2)(x)
    xn, yn, mn = x.numpy(), y.numpy(), mask.numpy()
    for b in range(B):
        fidelity = sum((yn[b, c, i, j] - mn[i, j] * xn[b, c, i, j]) ** 2
                       for c in range(C_) for i in range(H_) for j in range(W_))
        rows = np.mean([abs(xn[b, c, i + 1, j] - xn[b, c, i, j]) for c in range(C_) for i in range(H_ - 1)
                        for j in range(W_)])
        cols = np.mean([abs(xn[b, c, i, j + 1] - xn[b, c, i, j]) for c in range(C_) for i in range(H_)
                        for j in range(W_ - 1)])
        bands = np.mean([abs(xn[b, c + 1, i, j] - xn[b, c, i, j]) for c in range(C_ - 1) for i in range(H_)
                         for j in range(W_)])
        expected = eta1 * H_ * W_ / 4 * fidelity / (C_ * mn.sum()) + eta2 * H_ * W_ / 128 * (rows + cols + bands)
        assert value[b].item() == pytest.approx(expected, rel=1e-12)


def test_edge_weights_on_a_step_edge():
    x = torch.zeros(1, 4, 6, 8, dtype=torch.float64)
    x[..., 5:] = 1  # a vertical edge between columns 4 and 5, identical in every band
    w_rows, w_cols, w_bands = edge_weights(x)
    # w = max/(g + max/2): 2 where flat, 2/3 on the edge; divided by the largest (2)
    expected = torch.ones(1, 1, 6, 7, dtype=torch.float64)
    expected[..., 4] = 1 / 3
    torch.testing.assert_close(w_cols, expected, atol=1e-15, rtol=0)
    torch.testing.assert_close(w_rows, torch.ones(1, 1, 5, 8, dtype=torch.float64), atol=1e-15, rtol=0)
    torch.testing.assert_close(w_bands, torch.ones(1, 1, 6, 8, dtype=torch.float64), atol=1e-15, rtol=0)


def test_guidance_gradient_and_one_step_decrease_the_residual():
    """Identity op, η₂ = 0: ∇_Z 𝓛(E Z) = 2c Eᵀ(E Z − y), c = η₁ (HW/4) / (C·HW); one step of size 1/L,
    L = 2c‖E‖₂², is that gradient step and lowers ‖y − E Z‖."""
    y = rank3_hsi(seed=7)
    op = Identity((C, H, W))
    E, bands = subspace_basis(y)
    z0 = y[:, bands[0]] + 0.02 * torch.randn(1, 3, H, W, generator=torch.Generator().manual_seed(8),
                                             dtype=torch.float64)
    c = 16.0 * H * W / 4 / (C * H * W)
    Em, Y, Z0 = E[0], y[0].reshape(C, -1), z0[0].reshape(3, -1)
    gradient = 2 * c * Em.T @ (Em @ Z0 - Y)
    z = z0.clone().requires_grad_()
    (autograd,) = torch.autograd.grad(GuidanceLoss(y, op, eta1=16.0, eta2=0.0)(expand(E, z)).sum(), z)
    torch.testing.assert_close(autograd[0].reshape(3, -1), gradient, atol=1e-12, rtol=1e-10)
    out = guidance_only(y, op, steps=1, eta1=16.0, eta2=0.0, tv_weights="uniform", z0=z0)
    step = 1 / (2 * c * torch.linalg.matrix_norm(Em, ord=2) ** 2)
    torch.testing.assert_close(out[0].reshape(C, -1), Em @ (Z0 - step * gradient), atol=1e-6, rtol=0)
    assert (out[0].reshape(C, -1) - Y).norm() < 0.9 * (Em @ Z0 - Y).norm()


def test_guidance_only_denoising_beats_the_noisy_input_and_the_svd_projection():
    X = rank3_hsi(seed=9, H=32, W=32)
    noisy = X + 50 / 255 * torch.randn(X.shape, generator=torch.Generator().manual_seed(10), dtype=torch.float64)
    op = Identity(tuple(X.shape[1:]))
    noisy_psnr, svd_psnr = psnr(noisy, X).item(), psnr(svd_projection(noisy), X).item()
    restored_psnr = psnr(guidance_only(noisy, op, steps=100), X).item()
    assert svd_psnr > noisy_psnr + 5 and restored_psnr > svd_psnr + 0.5


# ------------------------------------------------------------------------------------------------ the sampler


@pytest.mark.parametrize("op_index", [0, 1, 2])
def test_oracle_prior_and_noiseless_measurement_give_the_image_back(op_index):
    """With ε exact for x₀ = 2 X[b] − 1, Tweedie returns x₀ at every step and 𝓛's fidelity gradient vanishes at
    E(x₀ + 1)/2 = X: the output is X (η₂ = 0), whatever the schedule and the initial noise."""
    X = rank3_hsi(seed=11)
    op = operators()[op_index]
    y = op.A(X)
    _, bands = subspace_basis(y)
    model = KnownX0(2 * X[:, bands[0]] - 1)
    for schedule in ("exp", "linear"):
        out = hirdiff(model, y, op, steps=5, schedule=schedule, eta2=0.0, generator=torch.Generator().manual_seed(0))
        torch.testing.assert_close(out, X, atol=1e-10, rtol=0)


class ZeroEpsilon(nn.Module):
    """ε̂ = 0 on a one-step schedule ᾱ = 1/4: Tweedie is ``x̂₀ = x_t / √ᾱ``, so ``∂x̂₀/∂x_t = 2 I``."""

    def __init__(self):
        super().__init__()
        self.schedule = VPSchedule.from_alpha_bars(torch.tensor([0.25]))

    def forward(self, x_t, alpha_bar):
        return torch.zeros_like(x_t)


def test_one_guided_step_through_the_network_is_the_closed_form():
    """One step ᾱ = 1/4 → 1 with η₂ = 0 and ε̂ = 0: ``x̂₀ = 2 Z_T``; with ``X̂ = E (x̂₀ + 1)/2`` and
    ``𝓛 = c ‖y − X̂‖²``, ``Z₀ = x̂₀ − ∂𝓛/∂Z_T = x̂₀ − 2 c Eᵀ(X̂ − y)``: the gradient taken through the network."""
    X = rank3_hsi(seed=17)
    op = Identity((C, H, W))
    y = X + 0.05 * torch.randn(X.shape, generator=torch.Generator().manual_seed(18), dtype=torch.float64)
    E, bands = subspace_basis(y)
    x0_hat = 2 * X[:, bands[0]] - 1 + 0.1 * torch.randn(1, 3, H, W, generator=torch.Generator().manual_seed(19),
                                                        dtype=torch.float64)
    x0_hat = x0_hat.clamp(-0.95, 0.95)
    out = hirdiff(ZeroEpsilon(), y, op, steps=1, schedule="linear", eta1=0.5, eta2=0.0, x_T=0.5 * x0_hat)
    c = 0.5 * H * W / 4 / (C * H * W)
    Em, x0 = E[0], x0_hat[0].reshape(3, -1)
    X_hat = Em @ (x0 + 1) / 2
    z0 = x0 - 2 * c * Em.T @ (X_hat - y[0].reshape(C, -1))
    expected = (Em @ (z0 + 1) / 2).clamp(0, 1)
    torch.testing.assert_close(out[0].reshape(C, -1), expected, atol=1e-12, rtol=0)
    assert (out - y).norm() < (X_hat.reshape(1, C, H, W) - y).norm()


@pytest.mark.parametrize("op_index", [0, 1, 2])
def test_hirdiff_runs_with_a_network_for_every_operator(op_index):
    X = rank3_hsi(seed=12, B=2)
    op = operators()[op_index]
    y = op.A(X) + 0.05 * torch.randn((2, *op.out_shape), generator=torch.Generator().manual_seed(1),
                                     dtype=torch.float64)
    model = ConvEpsilon(channels=3)
    model.train()
    x_T = torch.randn(2, 3, H, W, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    out = hirdiff(model, y, op, steps=4, x_T=x_T)
    assert out.shape == (2, C, H, W) and torch.isfinite(out).all() and out.min() >= 0 and out.max() <= 1
    assert model.training  # eval mode inside, the caller's mode back
    # the batch's losses are summed: each sample is restored as if alone
    alone = hirdiff(model, y[1:], op, steps=4, x_T=x_T[1:])
    torch.testing.assert_close(out[1:], alone, atol=1e-10, rtol=0)
    with torch.no_grad():  # the guidance gradient is taken even when the caller turns gradients off
        torch.testing.assert_close(hirdiff(model, y, op, steps=4, x_T=x_T), out, atol=0, rtol=0)


def test_naive_estimates():
    X = rank3_hsi(seed=13)
    identity, blur, inpaint = operators()
    assert naive_estimate(identity.A(X), identity) is X and naive_estimate(blur.A(X), blur).shape == X.shape
    y = inpaint.A(X)
    filled = naive_estimate(y, inpaint)
    mask = inpaint.mask.bool()
    torch.testing.assert_close(filled[..., mask], X[..., mask])
    band_means = X[..., mask].mean(-1)
    torch.testing.assert_close(filled[..., ~mask], band_means[..., None].expand(-1, -1, int((~mask).sum())))


def test_bm3d_bands_denoises_and_names_the_extra(monkeypatch):
    X = rank3_hsi(seed=14, C=2, H=32, W=32)
    noisy = X + 0.1 * torch.randn(X.shape, generator=torch.Generator().manual_seed(15), dtype=torch.float64)
    assert psnr(bm3d_bands(noisy, 0.1), X).item() > psnr(noisy, X).item() + 3
    monkeypatch.setitem(sys.modules, "bm3d", None)
    with pytest.raises(ImportError, match=r'pip install -e "\.\[inverse\]"'):
        bm3d_bands(noisy, 0.1)


# ------------------------------------------------------------------------------------------------- bad inputs


def test_bad_inputs_raise():
    X = rank3_hsi(seed=16)
    op = Identity((C, H, W))
    model = ConvEpsilon(channels=3)
    with pytest.raises(ValueError, match="out_shape"):
        hirdiff(model, X[:, :5], op)
    with pytest.raises(ValueError, match="out_shape"):
        hirdiff(model, X[0], op)
    with pytest.raises(ValueError, match="rank"):
        subspace_basis(X, rank=C + 1)
    with pytest.raises(ValueError, match="band_selection"):
        hirdiff(model, X, op, band_selection="maxvol")
    with pytest.raises(ValueError, match="schedule"):
        hirdiff(model, X, op, schedule="cosine")
    with pytest.raises(ValueError, match="tv_weights"):
        hirdiff(model, X, op, tv_weights="edges")
    with pytest.raises(ValueError, match="x_T"):
        hirdiff(model, X, op, x_T=torch.zeros(1, 3, H, W + 1, dtype=torch.float64))
    with pytest.raises(ValueError, match="schedule"):
        hirdiff(nn.Conv2d(3, 3, 1), X, op)
    with pytest.raises(ValueError, match=r"pass \['eta1', 'eta2'\]"):
        hirdiff(model, torch.zeros(1, C, 4, 23, dtype=torch.float64), ParallelBeamCT(H, 4, 23, channels=C))
    with pytest.raises(ValueError, match="no image-space estimate"):
        svd_projection(torch.zeros(1, C, 4, 23, dtype=torch.float64), op=ParallelBeamCT(H, 4, 23, channels=C))
    with pytest.raises(ValueError, match="exponential schedule"):
        exp_schedule(20, k=-1.0)
    with pytest.raises(ValueError, match="step_size"):
        guidance_only(X, op, eta1=0.0)
