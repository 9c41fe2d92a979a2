"""The DDPM ε-model against closed forms in float64: the schedule, DDIM's subsequence, the ε-MSE with an oracle
denoiser, DDIM's output variance for Gaussian data (exact ε), and a prior that overfits one batch."""

import math

import pytest
import torch

import zoo
from zoo.data.images.phantoms import ellipse_phantoms
from zoo.generative import DDPMUNet, VPSchedule


def tiny(**kwargs) -> DDPMUNet:
    torch.manual_seed(0)
    return DDPMUNet(**{"base_channels": 8, "channel_mults": (1, 2), "image_size": 8, **kwargs})


class GaussianOracle(DDPMUNet):
    """The exact ε-predictor for data ``x_0 ~ N(0, s² I)``: ``E[ε | x_t] = √(1−ᾱ) x_t / (ᾱ s² + 1 − ᾱ)``."""

    s = 0.3

    def forward(self, x_t, alpha_bar):
        ab = alpha_bar[:, None, None, None]
        return (1 - ab).sqrt() * x_t / (ab * self.s ** 2 + 1 - ab)


def ddim_std(levels: list[float], s: float, eta: float) -> float:
    """The std of DDIM's output for x_0 ~ N(0, s²) with the exact ε: every step is linear in x_t plus independent
    noise, ``x_s = k x_t + σ z``, so the variance follows ``v_s = k² v_t + σ²`` from ``v_T = 1``."""
    variance = 1.0
    for ab, ab_next in zip(levels[:-1], levels[1:]):
        mean = math.sqrt(ab) * s ** 2 / (ab * s ** 2 + 1 - ab)           # x̂₀ = mean · x_t
        eps = (1 - math.sqrt(ab) * mean) / math.sqrt(1 - ab)              # ε̂ = eps · x_t
        sigma2 = eta ** 2 * (1 - ab_next) / (1 - ab) * (1 - ab / ab_next)
        k = math.sqrt(ab_next) * mean + math.sqrt(1 - ab_next - sigma2) * eps
        variance = k ** 2 * variance + sigma2
    ab = levels[-1]
    return math.sqrt(variance) * math.sqrt(ab) * s ** 2 / (ab * s ** 2 + 1 - ab)


def test_schedule_is_the_product_of_linear_betas():
    schedule = VPSchedule()
    betas = [1e-4 + (0.02 - 1e-4) * i / 999 for i in range(1000)]
    alpha_bars = torch.tensor([math.prod(1 - b for b in betas[:t]) for t in range(1, 1001)], dtype=torch.float64)
    assert schedule.alpha_bars.dtype == torch.float64 and schedule.alpha_bars.shape == (1000,)
    torch.testing.assert_close(schedule.betas, torch.tensor(betas, dtype=torch.float64), rtol=1e-12, atol=1e-15)
    torch.testing.assert_close(schedule.alpha_bars, alpha_bars, rtol=1e-12, atol=1e-15)
    assert (schedule.alpha_bars.diff() < 0).all()


def test_subsequence_is_ddims_uniform_skip_noisiest_first():
    schedule = VPSchedule()
    ddim = torch.arange(0, 1000, 1000 // 50)  # DDIM's 0-based range(0, T, T // steps)
    assert schedule.steps(50).tolist() == (ddim + 1).flip(0).tolist()
    levels = schedule.subsequence(50)
    assert levels.dtype == torch.float64 and levels.shape == (50,)
    assert (levels.diff() > 0).all()
    assert levels[-1].item() == pytest.approx(1 - 1e-4, abs=1e-15)  # ᾱ_1 = 1 − β_1
    assert levels[0] == schedule.alpha_bars[980]  # t = 981
    assert torch.equal(schedule.subsequence(1000), schedule.alpha_bars.flip(0))
    odd = schedule.steps(7)  # not a divisor of T: still 7 distinct, evenly spaced steps from t = 1
    assert odd.tolist() == [1 + i * 1000 // 7 for i in range(7)][::-1]


@pytest.mark.parametrize("kwargs, message", [
    ({"timesteps": 0}, "timesteps must be a positive integer"),
    ({"beta_start": 0.03}, "0 < beta_start <= beta_end < 1"),
    ({"beta_end": 1.0}, "0 < beta_start <= beta_end < 1"),
])
def test_bad_schedules_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        VPSchedule(**kwargs)


@pytest.mark.parametrize("steps", [0, 1001, 2.5])
def test_bad_subsequence_lengths_are_refused(steps):
    with pytest.raises(ValueError, match=r"steps must be an integer in \[1, T=1000\]"):
        VPSchedule().subsequence(steps)


def test_registered_model_shape_and_noise_level_dependence():
    model = zoo.create_model("ddpm_unet")
    assert 0.5e6 < sum(p.numel() for p in model.parameters()) < 1.5e6
    assert isinstance(model.schedule, VPSchedule)
    x = torch.randn(2, 1, 32, 32)
    with torch.no_grad():
        eps = model(x, torch.tensor([0.3, 0.7]))
        other = model(x, torch.tensor([0.3, 0.999]))  # ᾱ off the training grid is fine (continuous λ)
    assert eps.shape == x.shape
    torch.testing.assert_close(eps[0], other[0])  # the images of a batch do not mix
    assert (eps[1] - other[1]).abs().max() > 1e-3


def test_a_noise_level_of_one_is_accepted():
    with torch.no_grad():
        assert torch.isfinite(tiny()(torch.randn(1, 1, 8, 8), torch.ones(1))).all()


@pytest.mark.parametrize("x_shape, alpha_bar, message", [
    ((2, 3, 8, 8), [0.5, 0.5], r"x_t must have shape \(batch, 1, H, W\) \(in_channels=1\), got \(2, 3, 8, 8\)"),
    ((2, 1, 7, 8), [0.5, 0.5], r"H and W must be divisible by 2\^\(levels - 1\) = 2, got \(7, 8\)"),
    ((2, 1, 8, 8), [0.5], r"alpha_bar must have shape \(batch,\) = \(2,\)"),
    ((2, 1, 8, 8), [0.0, 0.5], r"alpha_bar must lie in \(0, 1\]"),
    ((2, 1, 8, 8), [0.5, 1.5], r"alpha_bar must lie in \(0, 1\]"),
])
def test_bad_inputs_name_the_argument(x_shape, alpha_bar, message):
    with pytest.raises(ValueError, match=message):
        tiny()(torch.randn(x_shape), torch.tensor(alpha_bar))


@pytest.mark.parametrize("kwargs, message", [
    ({"image_size": 30, "channel_mults": (1, 2, 2)}, r"image_size=30 must be divisible by 2\^\(levels - 1\) = 4"),
    ({"channel_mults": ()}, "channel_mults must be a non-empty list of positive integers"),
    ({"dropout": 1.0}, r"dropout must be in \[0, 1\)"),
])
def test_bad_constructor_arguments_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        tiny(**kwargs)


def test_loss_is_the_eps_mse_of_the_forward_process():
    """With x_0 = c (a constant image) the exact ε is ``(x_t − √ᾱ c) / √(1 − ᾱ)``: an oracle with it has loss 0, one
    predicting 0 has loss E ε² = 1; every ᾱ the loss uses is one of the schedule's."""
    model, c, seen = tiny(), 0.4, []

    def oracle(x_t, alpha_bar):
        seen.append(alpha_bar)
        ab = alpha_bar[:, None, None, None]
        return (x_t - ab.sqrt() * c) / (1 - ab).sqrt()

    batch = {"x": torch.full((256, 1, 8, 8), c)}
    model.forward = oracle
    assert model.loss(batch)["loss"].item() < 1e-6
    model.forward = lambda x_t, alpha_bar: torch.zeros_like(x_t)
    assert model.loss(batch)["loss"].item() == pytest.approx(1, abs=0.03)  # 16384 values: std of the mean ≈ 0.011
    levels = model.schedule.alpha_bars.float()
    assert all(torch.isin(ab, levels).all() for ab in seen)


def test_a_prior_overfits_one_batch():
    """A few hundred Adam steps on 8 phantoms cut the ε-MSE (on fixed t and noise) to well below its start."""
    model = tiny(base_channels=16, image_size=16)
    x = ellipse_phantoms(8, 16, seed=0) * 2 - 1
    g = torch.Generator().manual_seed(1)
    t = torch.randint(1, 1001, (64,), generator=g)
    ab = model.schedule.alpha_bars[t - 1].float()
    eps = torch.randn(64, 1, 16, 16, generator=g)
    x_t = ab.sqrt()[:, None, None, None] * x.repeat(8, 1, 1, 1) + (1 - ab).sqrt()[:, None, None, None] * eps

    def mse() -> float:
        with torch.no_grad():
            return (model(x_t, ab) - eps).square().mean().item()

    before, optimizer = mse(), torch.optim.Adam(model.parameters(), lr=2e-3)
    for _ in range(200):
        loss = model.loss({"x": x})["loss"]
        assert torch.isfinite(loss)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert mse() < 0.25 * before


@pytest.mark.parametrize("eta", [0.0, 1.0])
def test_ddim_output_variance_for_gaussian_data(eta):
    """For x_0 ~ N(0, s²) and the exact ε, DDIM's output is Gaussian with the std of :func:`ddim_std`."""
    torch.manual_seed(0)
    model = GaussianOracle(base_channels=8, channel_mults=(1, 2), image_size=8).double()
    samples = model.sample(64, steps=20, eta=eta, generator=torch.Generator().manual_seed(0))
    expected = ddim_std(model.schedule.subsequence(20).tolist(), GaussianOracle.s, eta)
    assert samples.std().item() == pytest.approx(expected, rel=0.04)  # 4096 values: relative error of the std ≈ 1 %
    assert samples.mean().abs().item() < 0.02


def test_sample_shape_range_and_determinism():
    model = tiny(in_channels=3)
    first = model.sample(2, steps=5, eta=0.5, generator=torch.Generator().manual_seed(3))
    again = model.sample(2, steps=5, eta=0.5, generator=torch.Generator().manual_seed(3))
    other = model.sample(2, steps=5, eta=0.5, generator=torch.Generator().manual_seed(4))
    assert first.shape == (2, 3, 8, 8)
    assert first.min() >= -1 and first.max() <= 1
    assert torch.equal(first, again) and not torch.equal(first, other)


@pytest.mark.parametrize("kwargs, message", [({"n": 0}, "n must be a positive integer"),
                                             ({"n": 1, "eta": 1.5}, r"eta must be in \[0, 1\]")])
def test_bad_sample_arguments_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        tiny().sample(**kwargs)
