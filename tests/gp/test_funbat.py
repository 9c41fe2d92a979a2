"""FunBaT against closed forms and dense float64 linear algebra: the GP-regression limit, the Kronecker moment identity,
the messages of the Tucker unfoldings, the Gamma update of τ; then a fit, a round trip and the input errors."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

import zoo
from zoo.gp.funbat import FunBaT, kron_rows

D64 = torch.float64


def matern32(r, lengthscale, variance):
    s = math.sqrt(3.0) * r.abs() / lengthscale
    return variance * (1 + s) * torch.exp(-s)


def freeze_others(model: FunBaT, generator, point_mass=True):
    """Random means at every knot, covariances zero (point masses) or random PSD, and a random core."""
    for k, sde in enumerate(model.sdes):
        n, d = getattr(model, f"mean_{k}").shape
        setattr(model, f"mean_{k}", torch.randn(n, d, generator=generator, dtype=D64))
        B = 0.3 * torch.randn(n, d, d, generator=generator, dtype=D64)
        setattr(model, f"cov_{k}", torch.zeros(n, d, d, dtype=D64) if point_mass else B @ B.mT)
    P = math.prod(model.ranks)
    model.core_mean = torch.randn(P, generator=generator, dtype=D64)
    B = 0.3 * torch.randn(P, P, generator=generator, dtype=D64)
    model.core_cov = torch.zeros(P, P, dtype=D64) if point_mass else B @ B.T


def test_one_mode_rank_one_with_the_core_fixed_is_gp_regression():
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(30, 1, generator=generator, dtype=D64)
    x = torch.cat([x, x[:5]])                               # repeated indexes: their messages are merged
    y = torch.sin(5 * x[:, 0]) + 0.1 * torch.randn(35, generator=generator, dtype=D64)
    noise = 0.05
    model = FunBaT(modes=1, rank=1, nu=1.5, lengthscale=0.2, variance=1.3, standardize=False)
    model.prepare(x, y)
    model.core_mean, model.core_cov = torch.ones(1, dtype=D64), torch.zeros(1, 1, dtype=D64)
    model.noise = torch.tensor([2.0, 2.0 * noise], dtype=D64)     # E[τ] = 1 / noise
    model.update_factor(0)
    K_train = matern32(x - x.T, 0.2, 1.3) + noise * torch.eye(35, dtype=D64)
    x_new = torch.tensor([[-0.2], [0.05], [0.5], [0.77], [1.3]], dtype=D64)   # before, between and after the knots
    mean, var = model.predict(x, return_var=True)
    with pytest.warns(UserWarning, match=r"mode 0 has indexes in \[-0.2, 1.3\], outside the fitted range"):
        mean_new, var_new = model.predict(x_new, return_var=True)
    for points, got_mean, got_var in ((x, mean, var), (x_new, mean_new, var_new)):
        K = matern32(points - x.T, 0.2, 1.3)
        solve = torch.linalg.solve(K_train, K.T)
        torch.testing.assert_close(got_mean, solve.T @ y, rtol=0, atol=1e-6)
        torch.testing.assert_close(got_var, 1.3 - (K * solve.T).sum(1), rtol=0, atol=1e-6)


def test_kronecker_moment_identity_for_independent_factors():
    """E[(u¹⊗u²⊗u³)(u¹⊗u²⊗u³)ᵀ] = ⊗ E[uᵏuᵏᵀ], exactly, for independent discrete uᵏ (all outcomes enumerated)."""
    generator = torch.Generator().manual_seed(1)
    supports = [torch.randn(3, R, generator=generator, dtype=D64) for R in (2, 3, 2)]   # 3 equally likely outcomes
    exact = sum(torch.outer(v, v) for v in (
        torch.kron(torch.kron(a, b), c) for a, b, c in itertools.product(*supports))) / 27
    seconds = [(s[:, :, None] * s[:, None, :]).mean(0)[None] for s in supports]
    torch.testing.assert_close(kron_rows(seconds)[0], exact, rtol=0, atol=1e-12)
    means = [s.mean(0)[None] for s in supports]
    torch.testing.assert_close(kron_rows(means)[0], torch.kron(torch.kron(*means[:2]), means[2])[0], rtol=0,
                               atol=1e-14)


@pytest.mark.parametrize("k", [0, 1, 2])
def test_factor_update_is_gp_regression_on_the_tucker_unfolding(k):
    """Other modes and W point masses: ``u^k`` is observed through ``y_n = b_nᵀ u^k(i_k) + N(0, 1/τ)`` with
    ``b_n[r] = Σ W[..r..] Π_{j≠k} u^j_{r_j}(i_j)``, computed here with the dense core tensor."""
    generator = torch.Generator().manual_seed(2)
    ranks = (2, 3, 2)
    coords = torch.rand(12, 3, generator=generator, dtype=D64)
    y = torch.randn(12, generator=generator, dtype=D64)
    model = FunBaT(modes=3, rank=list(ranks), lengthscale=0.3, variance=0.8, standardize=False)
    model.prepare(coords, y)
    freeze_others(model, generator)
    model.noise = torch.tensor([3.0, 1.5], dtype=D64)                      # E[τ] = 2
    u = [(model.sdes[j].H @ getattr(model, f"mean_{j}")[model._index[j], :, None])[..., 0] for j in range(3)]
    W = model.core_mean.reshape(ranks)
    letters = "abc"
    spec = f"{letters},{','.join(f'n{letters[j]}' for j in range(3) if j != k)}->n{letters[k]}"
    b = torch.einsum(spec, W, *(u[j] for j in range(3) if j != k))               # (N, R_k)
    model.update_factor(k)
    # dense GP: the R_k latent functions at the N coordinates (sorted knots are unique: continuous indexes)
    x = coords[:, k]
    R = ranks[k]
    K = torch.kron(matern32(x[:, None] - x[None], 0.3, 0.8), torch.eye(R, dtype=D64))
    O = torch.block_diag(*b[:, None, :])
    posterior = torch.linalg.solve(O @ K @ O.T + 0.5 * torch.eye(12, dtype=D64), y)
    expected = (K @ O.T @ posterior).reshape(12, R)
    got = model.factor_moments(k, model._index[k])[0]
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-8)


@pytest.mark.parametrize("point_mass", [True, False])
def test_noise_update_is_the_closed_form_gamma_posterior(point_mass):
    generator = torch.Generator().manual_seed(3)
    coords = torch.rand(20, 2, generator=generator, dtype=D64)
    y = torch.randn(20, generator=generator, dtype=D64)
    model = FunBaT(modes=2, rank=[2, 3], a0=1.5, b0=0.7, standardize=False)
    model.prepare(coords, y)
    freeze_others(model, generator, point_mass=point_mass)
    model.update_noise()
    u = [(model.sdes[j].H @ getattr(model, f"mean_{j}")[model._index[j], :, None])[..., 0] for j in range(2)]
    f = torch.einsum("ab,na,nb->n", model.core_mean.reshape(2, 3), *u)
    if point_mass:   # b = b₀ + ½ Σ (y − f)²
        expected = 0.7 + 0.5 * (y - f).square().sum()
    else:            # b = b₀ + ½ Σ E[(y − wᵀz)²], E[(wᵀz)²] = tr(E[wwᵀ] E[zzᵀ]), z = u¹ ⊗ u² (independent)
        Eww = model.core_cov + torch.outer(model.core_mean, model.core_mean)
        second = []
        for n in range(20):
            S = [model.sdes[j].H @ getattr(model, f"cov_{j}")[model._index[j][n]] @ model.sdes[j].H.T +
                 torch.outer(u[j][n], u[j][n]) for j in range(2)]
            second.append((Eww * torch.kron(*S)).sum())
        expected = 0.7 + 0.5 * (y.square() - 2 * y * f + torch.stack(second)).sum()
    torch.testing.assert_close(model.noise, torch.stack([torch.tensor(1.5 + 10, dtype=D64), expected]), rtol=1e-12,
                               atol=0)


def paper_tensor(coords):
    """``u₁(x) u₅(y)`` of the paper's synthetic experiment."""
    x, y = coords[:, 0], coords[:, 1]
    return torch.sin(2 * math.pi * x) ** 2 * torch.cos(2 * math.pi * x) * torch.exp(-2 * y) * torch.sin(1.5 * math.pi * y)


def test_fit_beats_the_mean_predictor_on_the_paper_tensor():
    generator = torch.Generator().manual_seed(4)
    coords = torch.rand(400, 2, generator=generator, dtype=D64)
    y = paper_tensor(coords) + 0.05 * torch.randn(400, generator=generator, dtype=D64)
    grid = (torch.arange(30, dtype=D64) + 0.5) / 30
    test = torch.cartesian_prod(grid, grid)
    model = FunBaT(modes=2, rank=1, iterations=10).fit(coords, y)
    rmse = (model(test) - paper_tensor(test)).square().mean().sqrt()
    trivial = (paper_tensor(test) - y.mean()).square().mean().sqrt()
    assert rmse < 0.25 * trivial, (rmse, trivial)
    assert abs(model.scale / model.noise_precision.sqrt() - 0.05) < 0.01   # the noise level is recovered


def test_save_and_load_round_trip(tmp_path):
    generator = torch.Generator().manual_seed(5)
    coords = torch.rand(50, 3, generator=generator, dtype=D64)
    y = coords.sum(1) + 0.1 * torch.randn(50, generator=generator, dtype=D64)
    model = zoo.create_model("funbat", modes=3, rank=[1, 2, 2], nu=0.5, iterations=3)
    model.fit(coords, y)
    zoo.save_pretrained(model, tmp_path / "funbat")
    loaded = zoo.load_model(tmp_path / "funbat", name="funbat")
    probe = coords[:7] * 0.9 + 0.05
    for a, b in zip(model.predict(probe, return_var=True), loaded.predict(probe, return_var=True)):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_bad_inputs_name_the_argument():
    with pytest.raises(ValueError, match=r"nu=2.5: .*one of \(0.5, 1.5\)"):
        FunBaT(nu=2.5)
    with pytest.raises(ValueError, match="rank must be a positive int or 2 of them"):
        FunBaT(rank=[1, 2, 3])
    with pytest.raises(ValueError, match=r"damping=0"):
        FunBaT(damping=0)
    model = FunBaT(iterations=2)
    with pytest.raises(RuntimeError, match="not fitted: call fit"):
        model.predict(torch.zeros(3, 2, dtype=D64))
    with pytest.raises(ValueError, match=r"coords must be a float \(N, K\) = \(N, 2\)"):
        model.fit(torch.rand(10, 3, dtype=D64), torch.rand(10, dtype=D64))
    with pytest.raises(ValueError, match=r"y must be a finite float \(N,\) = \(10,\)"):
        model.fit(torch.rand(10, 2, dtype=D64), torch.rand(9, dtype=D64))
    with pytest.raises(ValueError, match="NaN or infinite"):
        model.fit(torch.full((10, 2), float("nan"), dtype=D64), torch.rand(10, dtype=D64))
    model.fit(torch.rand(10, 2, dtype=D64) * 0.5, torch.rand(10, dtype=D64))
    with pytest.warns(UserWarning, match=r"mode 1 has indexes in \[0.2, 0.9\], outside the fitted range \[0"):
        model.predict(torch.tensor([[0.1, 0.2], [0.2, 0.9]], dtype=D64))
