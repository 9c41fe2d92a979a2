"""DDS and DPS (zoo.inverse.dds) and the DDIM pieces (zoo.inverse.diffusion) against closed forms in float64: the
oracle fixed point, CG's Krylov minimiser from x̂₀, DDIM's σ form, DPS's gradient by finite differences."""

import math

import pytest
import torch
from torch import nn

from epsilon_models import ConvEpsilon, KnownX0

from zoo.functional import VPSchedule
from zoo.inverse.dds import dds, dps, measurement_gradient
from zoo.inverse.diffusion import check_epsilon_model, ddim_mixing, ddim_step, tweedie
from zoo.inverse.operators import MRIMask

SHAPE = (1, 4, 4)


class MatrixOperator:
    """A dense real ``A`` (m, n) acting on flattened ``SHAPE`` images: the smallest operator with the contract."""

    def __init__(self, matrix: torch.Tensor):
        self.matrix, self.in_shape, self.out_shape = matrix, SHAPE, (matrix.shape[0],)

    def A(self, x):
        return x.reshape(len(x), -1) @ self.matrix.T

    def AH(self, y):
        return (y @ self.matrix).reshape(len(y), *SHAPE)

    def normal(self, x):
        return self.AH(self.A(x))


class NoBackward(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, grad):
        raise RuntimeError("backward through the network")


class ForbidBackward(ConvEpsilon):
    def forward(self, x_t, alpha_bar):
        return NoBackward.apply(super().forward(x_t, alpha_bar))


def problem(m=10, batch=2, seed=0):
    """(op, x_true (batch, *SHAPE), y = A x_true) with a random A of rank m < n = 16."""
    g = torch.Generator().manual_seed(seed)
    op = MatrixOperator(torch.randn(m, 16, generator=g, dtype=torch.float64))
    x_true = torch.randn(batch, *SHAPE, generator=g, dtype=torch.float64)
    return op, x_true, op.A(x_true)


@pytest.mark.parametrize("eta", [0.0, 0.85])
@pytest.mark.parametrize("gamma", [None, 1.0])
@pytest.mark.parametrize("steps", [1, 50])
def test_oracle_denoiser_and_noiseless_y_is_a_fixed_point(eta, gamma, steps):
    op, x_true, y = problem()
    model = KnownX0(x_true, VPSchedule())
    x = dds(model, op, y, steps=steps, eta=eta, gamma=gamma, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(x, x_true, rtol=0, atol=1e-10)


def test_oracle_fixed_point_with_complex_mri_measurements():
    op = MRIMask.cartesian(4, acceleration=2, center_fraction=0.25)
    x_true = torch.randn(2, *SHAPE, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    x = dds(KnownX0(x_true, VPSchedule()), op, op.A(x_true), generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(x, x_true, rtol=0, atol=1e-10)


def test_eta_zero_is_deterministic_and_eta_positive_follows_the_generator():
    op, x_true, y = problem()
    model, x_T = ConvEpsilon(), torch.randn(2, *SHAPE, dtype=torch.float64)
    first, second = (dds(model, op, y, steps=20, eta=0.0, x_T=x_T, generator=torch.Generator().manual_seed(s))
                     for s in (1, 2))
    assert torch.equal(first, second)
    noisy = [dds(model, op, y, steps=20, x_T=x_T, generator=torch.Generator().manual_seed(s)) for s in (1, 1, 2)]
    assert torch.equal(noisy[0], noisy[1]) and not torch.allclose(noisy[0], noisy[2])


@pytest.mark.parametrize("gamma", [None, 1.0, 0.3])
@pytest.mark.parametrize("cg_iters", [0, 1, 3])
def test_data_consistency_is_cg_from_x0_hat_the_krylov_minimiser(gamma, cg_iters):
    """One DDS step returns x̂₀' = the minimiser of ½xᵀMx − bᵀx over x̂₀ + span{r₀, M r₀, …, M^{k−1} r₀}, with
    M = I + γAᵀA, b = x̂₀ + γAᵀy (or M = AᵀA, b = Aᵀy): CG's k-th iterate from x̂₀, computed densely."""
    op, x_true, y = problem(batch=1)
    y = y + 0.1 * torch.randn(y.shape, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    model, x_T = ConvEpsilon(), torch.randn(1, *SHAPE, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    out = dds(model, op, y, steps=1, cg_iters=cg_iters, gamma=gamma, x_T=x_T).reshape(-1)

    x0_hat = tweedie(model, x_T, model.schedule.subsequence(1)[0])[0].detach().reshape(-1)
    AtA, Aty = op.matrix.T @ op.matrix, op.matrix.T @ y[0]
    M, b = (AtA, Aty) if gamma is None else (torch.eye(16, dtype=torch.float64) + gamma * AtA, x0_hat + gamma * Aty)
    r0 = b - M @ x0_hat
    if cg_iters == 0:
        expected = x0_hat
    else:
        K = torch.linalg.qr(torch.stack([torch.linalg.matrix_power(M, j) @ r0 for j in range(cg_iters)], 1))[0]
        expected = x0_hat + K @ torch.linalg.solve(K.T @ M @ K, K.T @ r0)
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-10)


def test_dds_does_not_differentiate_through_the_network_and_dps_does():
    op, _, y = problem()
    model = ForbidBackward()
    x = dds(model, op, y, steps=5, generator=torch.Generator().manual_seed(0))
    assert not x.requires_grad and all(p.grad is None for p in model.parameters())
    with pytest.raises(RuntimeError, match="backward through the network"):
        dps(model, op, y, steps=5)


def test_dps_gradient_equals_finite_differences_of_the_residual_norm():
    op, _, y = problem(m=6, batch=1)
    model = ConvEpsilon(seed=1)
    x_t = torch.randn(1, *SHAPE, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    alpha_bar = 0.3

    def residual_norm(x):
        with torch.no_grad():
            return float(torch.linalg.vector_norm(y - op.A(tweedie(model, x, alpha_bar)[0])))

    gradient = measurement_gradient(model, op, y, x_t, alpha_bar)[2]
    h, basis = 1e-6, torch.eye(16, dtype=torch.float64).reshape(16, 1, *SHAPE)
    fd = torch.tensor([(residual_norm(x_t + h * e) - residual_norm(x_t - h * e)) / (2 * h) for e in basis],
                      dtype=torch.float64)
    torch.testing.assert_close(gradient.reshape(-1), fd, rtol=1e-6, atol=1e-8)
    # one step (the last, to ᾱ = 1) is x̂₀ − ζ g at the schedule's cleanest ᾱ
    alpha_bar_1 = float(model.schedule.subsequence(1)[0])
    x0_hat, _, gradient = measurement_gradient(model, op, y, x_t, alpha_bar_1)
    torch.testing.assert_close(dps(model, op, y, steps=1, zeta=0.7, x_T=x_t), x0_hat - 0.7 * gradient)


def test_dps_gradient_is_per_sample():
    """Sample b's gradient does not depend on the other samples (the reference's batch norm would couple them)."""
    op, _, y = problem(batch=3)
    model, x_t = ConvEpsilon(), torch.randn(3, *SHAPE, dtype=torch.float64)
    batched = measurement_gradient(model, op, y, x_t, 0.5)[2]
    single = measurement_gradient(model, op, y[1:2], x_t[1:2], 0.5)[2]
    torch.testing.assert_close(batched[1:2], single)


def test_ddim_mixing_is_ddims_sigma_and_ddpms_posterior_variance():
    """x_s with DDS mixing η = σ_s/√(1−ᾱ_s) equals DDIM's √ᾱ_s x̂₀ + √(1−ᾱ_s−σ_s²) ε̂ + σ_s z (same z), and with
    η_DDIM = 1 over consecutive steps σ_s² is DDPM's β̃_t = (1−ᾱ_{t−1})/(1−ᾱ_t) β_t."""
    a_t, a_s, eta_ddim = 0.3, 0.45, 0.7
    sigma = eta_ddim * math.sqrt((1 - a_s) / (1 - a_t) * (1 - a_t / a_s))
    x0_hat, eps_hat = torch.randn(2, 2, *SHAPE, dtype=torch.float64)
    out = ddim_step(x0_hat, eps_hat, a_s, ddim_mixing(a_t, a_s, eta_ddim), torch.Generator().manual_seed(7))
    z = torch.randn(eps_hat.shape, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    torch.testing.assert_close(out, math.sqrt(a_s) * x0_hat + math.sqrt(1 - a_s - sigma ** 2) * eps_hat + sigma * z)

    alpha_bars = VPSchedule().alpha_bars
    betas = 1 - alpha_bars[1:] / alpha_bars[:-1]
    beta_tilde = (1 - alpha_bars[:-1]) / (1 - alpha_bars[1:]) * betas
    mixing = torch.tensor([ddim_mixing(t, s) for t, s in zip(alpha_bars[1:].tolist(), alpha_bars[:-1].tolist())],
                          dtype=torch.float64)
    torch.testing.assert_close(mixing ** 2 * (1 - alpha_bars[:-1]), beta_tilde, rtol=1e-9, atol=0)
    assert torch.equal(ddim_step(x0_hat, eps_hat, 1.0, 0.5), x0_hat)


def test_uniform_skip_is_ddims_and_the_references_timesteps():
    """T = 1000, 50 steps: the reference's ``range(0, 1000, 20)`` reversed, ᾱ_t = Π_{i≤t}(1 − β_i)."""
    schedule = VPSchedule()
    betas = torch.linspace(1e-4, 0.02, 1000, dtype=torch.float64)
    expected = torch.tensor([math.prod(1 - b for b in betas[: t + 1].tolist()) for t in reversed(range(0, 1000, 20))],
                            dtype=torch.float64)
    torch.testing.assert_close(schedule.subsequence(50), expected, rtol=1e-12, atol=0)


def test_bad_model_measurement_and_start_raise_clear_errors():
    op, _, y = problem()

    class NoSchedule(nn.Module):
        def forward(self, x_t, alpha_bar):
            return x_t

    class OneArgument(nn.Module):
        schedule = VPSchedule()

        def forward(self, x_t):
            return x_t

    class WrongShape(OneArgument):
        def forward(self, x_t, alpha_bar):
            return x_t[:, :, :2]

    for sampler in (dds, dps):
        with pytest.raises(ValueError, match="has no schedule"):
            sampler(NoSchedule(), op, y, steps=2)
        with pytest.raises(ValueError, match=r"cannot be called as model\(x_t, alpha_bar\)"):
            sampler(OneArgument(), op, y, steps=2)
        with pytest.raises(ValueError, match="it returned"):
            sampler(WrongShape(), op, y, steps=2)
        with pytest.raises(ValueError, match=r"measurement y of shape \(2, 11\) does not fit .*out_shape \(10,\)"):
            sampler(ConvEpsilon(), op, torch.zeros(2, 11, dtype=torch.float64), steps=2)
        with pytest.raises(ValueError, match="x_T of shape"):
            sampler(ConvEpsilon(), op, y, steps=2, x_T=torch.zeros(2, 16, dtype=torch.float64))
    with pytest.raises(ValueError, match="non-callable"):
        check_epsilon_model(object())
    with pytest.raises(ValueError, match="fraction of fresh noise"):
        dds(ConvEpsilon(), op, y, steps=2, eta=1.5)
