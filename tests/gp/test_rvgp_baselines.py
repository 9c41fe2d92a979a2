"""RVGP's baselines: their kernels against dense closed forms, noise-free means interpolate, the marginal-likelihood
fit descends, the user's noise is kept, clear errors; float64."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from zoo.data.manifold.vector_fields import sphere_points
from zoo.gp.rvgp_baselines import AmbientGP, EigenmapGP

POINTS = sphere_points(200)
ROTATION = torch.from_numpy(np.cross([0.0, 0.0, 1.0], POINTS))


def test_the_eigenmap_kernel_is_the_dense_graph_matern_kernel_per_component():
    gp = EigenmapGP(n_eigenpairs=30, kappa=2.0).set_manifold(POINTS)
    distance = np.linalg.norm(POINTS[:, None] - POINTS[None], axis=2)
    near = np.argsort(distance, axis=1)[:, 1:11]                      # 10 nearest, symmetrised
    W = np.zeros((200, 200))
    W[np.repeat(np.arange(200), 10), near.ravel()] = 1
    W = np.maximum(W, W.T)
    values, vectors = np.linalg.eigh(np.diag(W.sum(1)) - W)
    values, vectors = np.clip(values[:30], 0, None), vectors[:, :30]
    S = (3 / 4 + values) ** -1.5                                      # (2ν/κ² + λ)^{−ν}, ν = 3/2, κ = 2
    k = vectors * S @ vectors.T
    k /= np.mean(np.diag(k))                                          # mean k(i, i) = σ_f = 1
    nodes = torch.arange(200)
    with torch.no_grad():
        K = gp.covariance(nodes, nodes).numpy()
    np.testing.assert_allclose(K, np.kron(k, np.eye(3)), atol=1e-10)


def test_the_ambient_kernel_is_the_squared_exponential_per_component():
    gp = AmbientGP(lengthscale=0.7, variance=2.0).set_manifold(POINTS[:20])
    with torch.no_grad():
        K = gp.covariance(torch.arange(20), torch.arange(20)).numpy()
    d2 = np.sum((POINTS[:20, None] - POINTS[None, :20]) ** 2, axis=2)
    np.testing.assert_allclose(K, np.kron(2.0 * np.exp(-d2 / (2 * 0.49)), np.eye(3)), atol=1e-14)


@pytest.mark.parametrize("gp", [EigenmapGP(n_eigenpairs=60, noise=1e-9, learn_noise=False),
                                AmbientGP(noise=1e-9, learn_noise=False)], ids=["eigenmap", "ambient"])
def test_noise_free_means_interpolate(gp):
    train = torch.arange(0, 200, 10)                                  # 20 nodes < 60 eigenpairs
    vectors = torch.randn(20, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    gp.fit(points=POINTS, train_idx=train, vectors=vectors, steps=0)
    torch.testing.assert_close(gp(train), vectors, rtol=0, atol=1e-5)
    assert gp.predict(train, return_var=True)[1].max() < 1e-6


@pytest.mark.parametrize("gp", [EigenmapGP(n_eigenpairs=30), AmbientGP()], ids=["eigenmap", "ambient"])
def test_the_likelihood_fit_descends(gp):
    history = gp.fit(points=POINTS, train_idx=torch.arange(0, 200, 4), vectors=ROTATION[::4], steps=20)
    assert history[-1] < history[0]


def test_the_users_noise_is_kept_when_it_is_not_learned():
    gp = AmbientGP(noise=0.3, learn_noise=False)
    gp.fit(points=POINTS, train_idx=torch.arange(10), vectors=ROTATION[:10], steps=5)
    assert gp.log_noise.exp().item() == pytest.approx(0.3)


def test_bad_input_is_a_clear_error():
    with pytest.raises(ValueError, match="n_neighbors=10 needs 1 <= n_neighbors < the 8 points"):
        EigenmapGP(n_eigenpairs=3).set_manifold(POINTS[:8])
    with pytest.raises(ValueError, match="n_eigenpairs=300 must be below the 200 points"):
        EigenmapGP(n_eigenpairs=300).set_manifold(POINTS)
    with pytest.raises(ValueError, match="lengthscale must be positive"):
        AmbientGP(lengthscale=0.0)
    with pytest.raises(ValueError, match=r"train_idx must index the 200 nodes"):
        AmbientGP().fit(points=POINTS, train_idx=torch.tensor([0, 200]), vectors=ROTATION[:2])


@pytest.mark.parametrize("gp", [EigenmapGP(n_eigenpairs=30, noise=0.01), AmbientGP(noise=0.01)],
                         ids=["eigenmap", "ambient"])
def test_the_per_component_likelihood_and_posterior_match_dense_algebra(gp):
    """``K = k ⊗ I_D`` factored per component against the dense ``(n_train D)²`` Gaussian, in float64."""
    from scipy.stats import multivariate_normal

    train, test = torch.arange(0, 200, 5), torch.arange(1, 200, 5)
    gp.fit(points=POINTS, train_idx=train, vectors=ROTATION[train], steps=0)
    with torch.no_grad():
        K = gp.covariance(train, train).numpy()
        K += (0.01 + 1e-10 * np.diag(K).mean()) * np.eye(120)          # σ_n² and the factor's relative jitter
        cross, prior = gp.covariance(test, train).numpy(), gp.covariance(test, test).numpy()
        nll = gp.negative_log_likelihood().item()
    y = ROTATION[train].numpy().ravel()
    assert nll == pytest.approx(-multivariate_normal(np.zeros(120), K).logpdf(y) / 120, rel=1e-9)
    mean, variance = gp.predict(test, return_var=True)
    np.testing.assert_allclose(mean.numpy().ravel(), cross @ np.linalg.solve(K, y), atol=1e-8)
    np.testing.assert_allclose(variance.numpy().ravel(), np.diag(prior - cross @ np.linalg.solve(K, cross.T)),
                               atol=1e-8)
