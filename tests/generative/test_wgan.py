"""WGAN-GP: the gradient penalty of a linear critic is (‖w‖ − 1)² exactly, shapes, conditioning, no BatchNorm in the
critic; the PCA baseline reproduces the training moments; the sample metrics against scipy and POT."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist
from scipy.stats import energy_distance as scipy_energy_distance
from scipy.stats import wasserstein_distance

import zoo
from zoo.generative import PCAGenerator, PCAMixtureGenerator, gradient_penalty
from zoo.metrics.samples import energy_distance, sliced_wasserstein, wasserstein_1d

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:FutureWarning")


@pytest.mark.parametrize("scale", [0.3, 1.0, 2.5])
def test_the_penalty_of_a_linear_critic_is_exact(scale):
    torch.manual_seed(0)
    w = torch.randn(2, 16, dtype=torch.float64)
    w = scale * w / w.norm()
    real, fake = torch.randn(5, 2, 16, dtype=torch.float64), torch.randn(5, 2, 16, dtype=torch.float64)
    penalty = gradient_penalty(lambda x, cond: (x * w).sum((1, 2)), real, fake)
    assert penalty.item() == pytest.approx((scale - 1) ** 2, abs=1e-14)


def test_the_penalty_keeps_its_graph_and_the_losses_are_the_papers():
    model = zoo.create_model("wgan_gp", channels=2, length=32, latent_dim=4, width=8, n_blocks=2).double()
    real = torch.randn(6, 2, 32, dtype=torch.float64)
    fake = model(model.latent(6)).detach()
    penalty = model.gradient_penalty(real, fake)
    penalty.backward()                                      # create_graph=True: the penalty trains the critic
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.discriminator.parameters())
    terms = model.critic_loss(real, fake, lambda_gp=0.0)
    expected = model.critic(fake).mean() - model.critic(real).mean()
    assert terms["loss"].item() == pytest.approx(expected.item(), rel=1e-12)
    assert model.generator_loss(fake).item() == pytest.approx(-model.critic(fake).mean().item(), rel=1e-12)


def test_shapes_sampling_conditioning_and_no_batchnorm():
    model = zoo.create_model("wgan_gp", channels=2, length=64, latent_dim=8, cond_dim=3, width=8)
    cond = torch.randn(5, 3)
    assert model(torch.randn(5, 8), cond).shape == (5, 2, 64)
    assert model.critic(torch.randn(5, 2, 64), cond).shape == (5,)
    assert model.sample(5, cond).shape == (5, 2, 64) and not model.sample(5, cond).requires_grad
    torch.manual_seed(0)
    z = model.latent(1).repeat(2, 1)
    assert not torch.allclose(model(z, torch.tensor([[0.0, 0, 0], [3.0, 0, 0]]))[0], model(z, cond[:2])[1])
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules())
    assert any(isinstance(m, torch.nn.LayerNorm) for m in model.discriminator.modules())
    plain = zoo.create_model("wgan_gp", length=64, critic_norm="none")
    assert not any(isinstance(m, torch.nn.LayerNorm) for m in plain.modules())
    assert plain.sample(3).shape == (3, 2, 64)
    with pytest.raises(ValueError, match=r"cond_dim=3: pass cond \(B, 3\)"):
        model(torch.randn(5, 8))
    with pytest.raises(ValueError, match="unconditional"):
        plain(torch.randn(2, 16), torch.randn(2, 3))
    with pytest.raises(ValueError, match="length=100 must be a multiple of 2\\^n_blocks = 8"):
        zoo.create_model("wgan_gp", length=100)
    with pytest.raises(ValueError, match="critic_norm='batch'"):
        zoo.create_model("wgan_gp", critic_norm="batch")


def test_the_pca_generator_reproduces_the_training_moments():
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.standard_normal((50, 2, 6)) @ np.diag(np.arange(1.0, 7.0)) + 3.0)
    pca = PCAGenerator(n_components=12).fit(x)
    flat = x.reshape(50, -1).numpy()
    assert np.abs(pca.mean.numpy() - flat.mean(0)).max() < 1e-10
    assert np.abs(pca.covariance().numpy() - np.cov(flat, rowvar=False)).max() < 1e-10
    assert pca.sample(7).shape == (7, 2, 6)
    truncated = PCAGenerator(n_components=2).fit(x)
    top = np.linalg.eigvalsh(np.cov(flat, rowvar=False))[::-1][:2]
    assert np.allclose(truncated.variances.numpy(), top, rtol=1e-10)
    gmm = PCAMixtureGenerator(n_components=3, n_mixture=2).fit(x)
    assert gmm.sample(9).shape == (9, 2, 6)
    with pytest.raises(ValueError, match="n_components=20 needs at least"):
        PCAGenerator(20).fit(x[:10])
    with pytest.raises(RuntimeError, match="call fit"):
        PCAGenerator(2).sample(3)


def test_the_sample_metrics_match_scipy_and_pot():
    ot = pytest.importorskip("ot")
    rng = np.random.default_rng(1)
    u, v = rng.standard_normal(40), rng.standard_normal(25) * 2 + 0.5
    tu, tv = torch.from_numpy(u), torch.from_numpy(v)
    assert wasserstein_1d(tu, tv).item() == pytest.approx(wasserstein_distance(u, v), rel=1e-12)
    assert energy_distance(tu[:, None], tv[:, None]).item() == pytest.approx(scipy_energy_distance(u, v), rel=1e-12)
    x, y = rng.standard_normal((30, 5)), rng.standard_normal((20, 5)) + 0.3
    expected = np.sqrt(2 * cdist(x, y).mean() - cdist(x, x).mean() - cdist(y, y).mean())
    assert energy_distance(torch.from_numpy(x), torch.from_numpy(y)).item() == pytest.approx(expected, rel=1e-10)
    theta = rng.standard_normal((5, 16))
    theta /= np.linalg.norm(theta, axis=0)
    for p in (1, 2):
        ours = sliced_wasserstein(torch.from_numpy(x), torch.from_numpy(y), p=p, projections=torch.from_numpy(theta))
        peer = ot.sliced_wasserstein_distance(x, y, p=p, projections=theta)
        assert ours.item() == pytest.approx(float(peer), rel=1e-10)
    assert energy_distance(torch.from_numpy(x), torch.from_numpy(x)).item() < 1e-6
