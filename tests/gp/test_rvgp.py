"""RVGP: the kernel is PSD and tangent, a near noise-free GP interpolates, a parallel field on the flat torus is
recovered from a tenth of the nodes, the user's noise is kept, the likelihood fit descends, a fitted model
round-trips through save_pretrained, forward is differentiable, clear errors; float64."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import zoo
from zoo.data.manifold.vector_fields import sphere_points as fibonacci_sphere
from zoo.functional.connection import tangent_frames
from zoo.gp import RVGP


def flat_torus(n: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """Points of ``(cos u, sin u, cos v, sin v)`` on an n × n grid and the parallel field ∂/∂u there."""
    u, v = np.meshgrid(2 * np.pi * np.arange(n) / n, 2 * np.pi * np.arange(n) / n, indexing="ij")
    u, v = u.ravel(), v.ravel()
    points = np.stack([np.cos(u), np.sin(u), np.cos(v), np.sin(v)], axis=1)
    return points, np.stack([-np.sin(u), np.cos(u), 0 * u, 0 * u], axis=1)


@pytest.fixture(scope="module")
def sphere():
    points = fibonacci_sphere(300)
    return points, RVGP(n_eigenpairs=40).set_manifold(points)


def test_the_kernel_is_symmetric_psd_and_tangent(sphere):
    points, gp = sphere
    nodes = torch.arange(len(points))
    with torch.no_grad():
        K = gp.covariance(nodes, nodes)
    torch.testing.assert_close(K, K.T, rtol=0, atol=1e-12)
    assert torch.linalg.eigvalsh(K)[0] > -1e-10
    normal = torch.from_numpy(points)                       # the sphere's normal at x is x
    assert (torch.einsum("na,nak->nk", normal, gp.encoding).abs().max() / gp.encoding.abs().max()) < 0.1
    trace = torch.diagonal(K).reshape(len(points), -1).sum(1)
    torch.testing.assert_close(trace.mean(), torch.tensor(1.0, dtype=torch.float64))   # mean tr K_ii = σ_f


def test_a_near_noise_free_gp_interpolates_tangent_vectors(sphere):
    points, _ = sphere
    gp = RVGP(n_eigenpairs=40, noise=1e-9, learn_noise=False).set_manifold(points)
    frames = tangent_frames(points, 10, 2)
    train = torch.arange(0, 300, 20)                          # 15 nodes, 30 tangent coordinates < 40 eigenpairs
    weights = np.random.default_rng(0).normal(size=(len(train), 2))
    vectors = torch.from_numpy(np.einsum("nab,nb->na", frames[train.numpy()], weights))
    gp.fit(train_idx=train, vectors=vectors, steps=0)
    torch.testing.assert_close(gp(train), vectors, rtol=0, atol=1e-5)
    _, variance = gp.predict(train, return_var=True)
    assert variance.max() < 1e-6


def test_a_parallel_field_on_the_flat_torus_is_recovered_from_a_tenth_of_the_nodes():
    points, field = flat_torus()
    gp = RVGP(n_eigenpairs=30, n_neighbors=8).set_manifold(points)
    train = torch.from_numpy(np.random.default_rng(1).choice(len(points), size=40, replace=False))
    history = gp.fit(train_idx=train, vectors=torch.from_numpy(field[train.numpy()]))
    assert history[-1] < history[0]
    test = torch.from_numpy(np.setdiff1d(np.arange(len(points)), train.numpy()))
    truth = torch.from_numpy(field[test.numpy()])
    assert (gp(test) - truth).norm() / truth.norm() < 1e-3     # it lies in the kernel's zero-eigenvalue modes


def test_the_users_noise_is_kept_when_it_is_not_learned(sphere):
    points, _ = sphere
    gp = RVGP(n_eigenpairs=20, noise=0.3, learn_noise=False).set_manifold(points)
    gp.fit(train_idx=torch.arange(10), vectors=torch.zeros(10, 3), steps=5)
    assert gp.log_noise.exp().item() == pytest.approx(0.3)


def test_bad_input_is_a_clear_error(sphere):
    points, gp = sphere
    with pytest.raises(RuntimeError, match="call fit"):
        RVGP(n_eigenpairs=5).set_manifold(points).predict(torch.arange(3))
    with pytest.raises(ValueError, match=r"vectors must be \(len\(train_idx\), D\) = \(3, 3\)"):
        gp.fit(train_idx=torch.arange(3), vectors=torch.zeros(3, 2))
    with pytest.raises(ValueError, match="train_idx repeats a node"):
        gp.fit(train_idx=torch.tensor([1, 1, 2]), vectors=torch.zeros(3, 3))
    with pytest.raises(ValueError, match="n_eigenpairs=700 must be below n d = 600"):
        RVGP(n_eigenpairs=700).set_manifold(points)
    with pytest.raises(ValueError, match="kernel='rbf'"):
        RVGP(kernel="rbf")
    with pytest.raises(ValueError, match="n_neighbors=10 needs 1 <= n_neighbors < the 8 points: pass fewer"):
        RVGP(n_eigenpairs=5).fit(points=points[:8], train_idx=torch.arange(3), vectors=torch.zeros(3, 3))
    with pytest.raises(RuntimeError, match=r"or pass fit\(points=...\)"):
        RVGP().fit(train_idx=torch.arange(3), vectors=torch.zeros(3, 3))


def rotation_fit(points: np.ndarray, **kwargs) -> RVGP:
    """``zoo.create_model("rvgp")`` fitted (``steps=0``) on ``e_z × x`` at every fifth node."""
    model = zoo.create_model("rvgp", n_eigenpairs=20, **kwargs)
    train = torch.arange(0, len(points), 5)
    field = np.cross([0.0, 0.0, 1.0], points)
    model.fit(points=torch.from_numpy(points), train_idx=train, vectors=torch.from_numpy(field[train.numpy()]), steps=0)
    return model


def test_a_fitted_model_round_trips_through_save_pretrained(sphere, tmp_path):
    points, _ = sphere
    model = rotation_fit(points, kappa=3.0)
    zoo.save_pretrained(model, tmp_path / "rvgp")
    loaded = zoo.load_model(tmp_path / "rvgp", name="rvgp")
    assert loaded.is_fitted and loaded.train_idx.dtype == torch.long
    nodes = torch.arange(len(points))
    torch.testing.assert_close(loaded.predict(nodes), model.predict(nodes), rtol=0, atol=0)


def test_forward_is_differentiable_in_the_hyper_parameters(sphere):
    points, _ = sphere
    model = rotation_fit(points)
    model(torch.arange(1, 300, 7)).square().mean().backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs() > 0, name
    assert not model.predict(torch.arange(3)).requires_grad
