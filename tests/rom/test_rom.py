"""Local reduced-order bases (Daniel et al.): the sine dissimilarity, k-medoids and k-means, POD against numpy's SVD
(Eckart–Young), the efficiency criterion by hand, rom_net's shapes, the snapshot data and a short run of train.py."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import zoo
from zoo.cli import train
from zoo.data.pde.rom_snapshots import BurgersSnapshotsDataModule, DarcySnapshotsDataModule
from zoo.functional.clustering import kmeans, kmedoids, sine_dissimilarity
from zoo.rom import (assign_clusters, cluster_snapshots, efficiency_criterion, expected_error, local_pod, pod,
                     projection_error, uniform_confusion)


def lines(n_per: int = 30, k: int = 3, n: int = 40, noise: float = 1e-3, seed: int = 0):
    """Snapshots on ``k`` random lines: ``α d_j + noise`` with amplitudes ``|α|`` from 0.1 to 10 of both signs."""
    rng = np.random.default_rng(seed)
    directions = np.linalg.qr(rng.normal(size=(n, k)))[0].T
    alpha = rng.choice([-1, 1], size=(k, n_per)) * np.exp(rng.uniform(np.log(0.1), np.log(10), size=(k, n_per)))
    S = (alpha[..., None] * directions[:, None]).reshape(k * n_per, n)
    S += noise * np.abs(alpha).reshape(-1, 1) * rng.normal(size=S.shape)
    return S, np.repeat(np.arange(k), n_per)


# ---- the sine dissimilarity -----------------------------------------------------------------------------------------

def test_sine_dissimilarity_is_the_sine_of_the_angle_blind_to_scale_and_sign():
    rng = np.random.default_rng(0)
    u = rng.normal(size=(1, 20))
    for alpha in (3.0, -0.2, -7.5, 1e-6):
        assert sine_dissimilarity(u, alpha * u)[0, 0] == pytest.approx(0.0, abs=1e-14)
    e = np.eye(5)
    np.testing.assert_allclose(sine_dissimilarity(e), 1 - np.eye(5), atol=1e-15)  # orthogonal vectors: 1
    theta = rng.uniform(0, 2 * np.pi, 50)  # in the plane: δ = |sin(θ_i − θ_j)|
    P = np.stack([np.cos(theta), np.sin(theta)], axis=1)
    np.testing.assert_allclose(sine_dissimilarity(P), np.abs(np.sin(theta[:, None] - theta[None])), atol=1e-14)
    S = rng.normal(size=(30, 8)) * rng.uniform(0.01, 100, size=(30, 1))
    D = sine_dissimilarity(S)
    assert np.array_equal(D, D.T) and np.all(np.diag(D) == 0) and D.min() >= 0 and D.max() <= 1
    cos = (S @ S.T) / np.outer(np.linalg.norm(S, axis=1), np.linalg.norm(S, axis=1))
    np.testing.assert_allclose(D, np.sqrt(np.clip(1 - cos ** 2, 0, 1)), atol=1e-7)
    with pytest.raises(ValueError, match="zero vectors"):
        sine_dissimilarity(np.zeros((2, 3)))


# ---- clustering -----------------------------------------------------------------------------------------------------

def test_kmedoids_recovers_well_separated_clusters_with_members_as_optimal_medoids():
    from sklearn.metrics import adjusted_rand_score

    rng = np.random.default_rng(1)
    centres = np.array([[0, 0], [10, 0], [0, 10], [10, 10]])
    X = np.concatenate([c + rng.normal(size=(25, 2)) for c in centres])
    truth = np.repeat(np.arange(4), 25)
    D = np.sqrt(((X[:, None] - X[None]) ** 2).sum(-1))
    labels, medoids, cost = kmedoids(D, 4, seed=0)
    assert adjusted_rand_score(truth, labels) == 1.0
    for j, m in enumerate(medoids):  # each medoid is a member minimising the summed dissimilarity to its cluster
        members = np.flatnonzero(labels == j)
        assert m in members and D[np.ix_(members, members)].sum(1).min() == D[m, members].sum()
    assert cost == pytest.approx(D[np.arange(100), medoids[labels]].sum())
    with pytest.raises(ValueError, match="symmetric"):
        kmedoids(D + np.eye(100), 4)


def test_kmedoids_reaches_the_brute_force_optimum_on_a_small_set():
    from itertools import combinations

    S = np.random.default_rng(4).normal(size=(12, 5))
    D = sine_dissimilarity(S)
    optimum = min(D[:, list(medoids)].min(1).sum() for medoids in combinations(range(12), 3))
    assert kmedoids(D, 3, seed=0)[2] == pytest.approx(optimum, rel=1e-12)


def test_kmeans_matches_sklearn_inertia_on_blobs():
    from sklearn.cluster import KMeans
    from sklearn.datasets import make_blobs

    X, _ = make_blobs(n_samples=300, centers=5, n_features=3, random_state=0)
    labels, centres, inertia = kmeans(X, 5, seed=0)
    reference = KMeans(5, n_init=10, random_state=0).fit(X)
    assert inertia == pytest.approx(reference.inertia_, rel=1e-9)
    assert inertia == pytest.approx(((X - centres[labels]) ** 2).sum(), rel=1e-12)


def test_sine_kmedoids_finds_lines_that_euclidean_kmeans_splits_by_amplitude():
    from sklearn.metrics import adjusted_rand_score

    S, truth = lines()
    labels, medoids = cluster_snapshots(S, 3, dissimilarity="sine", method="kmedoids")
    assert adjusted_rand_score(truth, labels) == 1.0
    euclid, _ = cluster_snapshots(S, 3, dissimilarity="euclid", method="kmeans")
    assert adjusted_rand_score(truth, euclid) < 0.5
    assert np.array_equal(assign_clusters(-2.0 * S, medoids), labels)  # new snapshots: nearest medoid by the sine
    errors = [projection_error(S, basis) for basis in local_pod(S, labels, n_modes=1)]
    assert max(e[labels == j].max() for j, e in enumerate(errors)) < 1e-2  # one mode per line
    with pytest.raises(ValueError, match="only 'euclid'"):
        cluster_snapshots(S, 3, dissimilarity="sine", method="kmeans")


# ---- POD ------------------------------------------------------------------------------------------------------------

def test_pod_projection_error_is_the_eckart_young_tail():
    rng = np.random.default_rng(2)
    S = rng.normal(size=(25, 60)) @ np.diag(0.7 ** np.arange(60))
    sigma = np.linalg.svd(S, compute_uv=False)
    norms = np.linalg.norm(S, axis=1)
    for m in (1, 3, 10, 24):
        basis, _ = pod(S, n_modes=m)
        assert basis.shape == (60, m)
        np.testing.assert_allclose(basis.T @ basis, np.eye(m), atol=1e-12)
        squared = ((projection_error(S, basis) * norms) ** 2).sum()
        assert squared == pytest.approx((sigma[m:] ** 2).sum(), rel=1e-10, abs=1e-10)
    tail = np.sqrt(np.cumsum((sigma ** 2)[::-1])[::-1] / (sigma ** 2).sum())  # tail[m]: error of m modes
    basis, _ = pod(S, tol=1e-3)
    m = basis.shape[1]
    assert tail[m] <= 1e-3 < tail[m - 1]
    with pytest.raises(ValueError, match="exactly one"):
        pod(S)


def test_local_pod_reproduces_its_cluster_with_as_many_modes_as_snapshots():
    rng = np.random.default_rng(3)
    S, labels = rng.normal(size=(20, 50)), np.repeat([0, 1, 2], [5, 7, 8])
    bases = local_pod(S, labels, n_modes=50)
    assert [b.shape[1] for b in bases] == [5, 7, 8]
    for k, basis in enumerate(bases):
        assert projection_error(S[labels == k], basis).max() < 1e-12
    with pytest.raises(ValueError, match="no snapshot"):
        local_pod(S, np.where(labels == 1, 3, labels), n_modes=2)


# ---- the efficiency criterion ---------------------------------------------------------------------------------------

def test_efficiency_criterion_by_hand():
    E = np.array([[0.1, 0.5], [0.4, 0.2], [0.3, 0.6]])
    y = np.array([0, 1, 0])
    result = efficiency_criterion(E, y, np.full(3, 0.3), accuracy=0.8)
    # own = (0.1 + 0.2 + 0.3) / 3, wrong = (0.5 + 0.4 + 0.6) / 3, ē(0.8) = 0.8 · 0.2 + 0.2 · 0.5
    assert result["own"] == pytest.approx(0.2) and result["wrong"] == pytest.approx(0.5)
    assert result["expected"] == pytest.approx(0.26) and result["gain"] == pytest.approx(0.3 / 0.26)
    assert result["break_even_accuracy"] == pytest.approx(2 / 3)  # (0.5 − 0.3) / (0.5 − 0.2)
    assert efficiency_criterion(E, y, np.full(3, 0.1), accuracy=1.0)["break_even_accuracy"] == math.inf
    assert efficiency_criterion(E, y, np.full(3, 0.9), accuracy=0.5)["break_even_accuracy"] == 0.0
    P = uniform_confusion(3, 0.7)
    np.testing.assert_allclose(P, [[0.7, 0.15, 0.15], [0.15, 0.7, 0.15], [0.15, 0.15, 0.7]])
    confusion = np.array([[0.9, 0.1], [0.3, 0.7]])  # (0.9·0.1 + 0.1·0.5 + 0.3·0.4 + 0.7·0.2 + 0.9·0.3 + 0.1·0.6) / 3
    assert expected_error(E, y, confusion) == pytest.approx(0.73 / 3)


# ---- rom_net, the data and train.py ---------------------------------------------------------------------------------

def test_rom_net_shapes_and_input_errors():
    field = zoo.create_model("rom_net", n_classes=5, in_channels=2)
    assert field(torch.randn(3, 2, 17, 33)).shape == (3, 5)
    vector = zoo.create_model("rom_net", n_classes=3, n_features=4)
    assert vector(torch.randn(7, 4)).shape == (7, 3)
    with pytest.raises(ValueError, match="n_features"):
        vector(torch.randn(7, 1, 8, 8))
    with pytest.raises(ValueError, match="n_classes"):
        zoo.create_model("rom_net", n_classes=0)


def test_snapshot_data_labels_are_sine_clusters_and_darcy_scale_is_collinear(tmp_path):
    dm = BurgersSnapshotsDataModule(data_dir=str(tmp_path), num_classes=3, n_train=24, n_val=6, n_test=6,
                                    resolution=32)
    dm.setup()
    x, y = dm.splits["train"][:]
    assert x.shape == (24, 4) and x.abs().max() <= 1
    labels, medoids = cluster_snapshots(dm.snapshots("train"), 3, seed=0)
    assert np.array_equal(y.numpy(), labels) and np.array_equal(dm.clusters()[1], medoids)
    assert np.array_equal(dm.splits["test"][:][1].numpy(), assign_clusters(dm.snapshots("test"), medoids))
    darcy = DarcySnapshotsDataModule(data_dir=str(tmp_path), resolution=9)
    x, u = darcy.solve(np.array([[5.0, 0.5, 7], [5.0, 2.0, 7]]))  # same field and contrast, scales 0.5 and 2
    assert x.shape == (2, 1, 9, 9) and torch.allclose(x[1] - x[0], torch.full_like(x[0], math.log(4.0)))
    np.testing.assert_allclose(u[0].numpy(), 4 * u[1].numpy(), rtol=1e-10)
    with pytest.raises(ValueError, match="data.num_classes"):
        BurgersSnapshotsDataModule(num_classes=30, n_train=20)


def test_rom_net_trains_through_train_py(make_cfg):
    result = train(make_cfg("experiment=rom_net_burgers", "data.n_train=40", "data.n_val=8", "data.n_test=8",
                            "data.num_classes=2", "trainer.max_epochs=2", "logger=csv"))
    assert 0 <= result["metrics"]["test/acc"] <= 1
