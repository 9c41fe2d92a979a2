"""Manifold vector fields: tangent to 1e-12, the closed forms match finite differences of their definitions and vanish
at their listed zeros (Poincaré–Hopf sums), the splits have their sizes, the inpainting cap holds one singularity,
seeds reproduce, the loaders give what ``model.fit(**batch)`` and the bayes_fit task expect."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from zoo.data.manifold import ManifoldVectorsDataModule, manifold_points, normals, singularities, vector_field
from zoo.data.manifold.vector_fields import exact_frames, torus_angles, torus_from_angles

SMALL = {"sphere": 400, "torus": 500}
CLOSED = [(manifold, field) for manifold in ("sphere", "torus") for field in ("rotation", "gradient")]


@pytest.mark.parametrize("manifold", ["sphere", "torus"])
@pytest.mark.parametrize("field", ["rotation", "gradient", "diffused_random"])
def test_fields_are_tangent(manifold, field):
    points = manifold_points(manifold, SMALL[manifold])
    n = normals(manifold, points)
    np.testing.assert_allclose(np.linalg.norm(n, axis=1), 1, atol=1e-12)
    vectors = vector_field(manifold, field, points)
    assert np.abs(np.sum(vectors * n, axis=1)).max() < 1e-12
    frames = exact_frames(manifold, points)
    np.testing.assert_allclose(np.einsum("nDa,nDb->nab", frames, frames),
                               np.broadcast_to(np.eye(2), (len(points), 2, 2)), atol=1e-12)
    assert np.abs(np.einsum("nDa,nD->na", frames, n)).max() < 1e-12


def test_torus_points_lie_on_the_torus_and_their_angles_invert():
    points = manifold_points("torus", SMALL["torus"])
    u, v = torus_angles(points)
    np.testing.assert_allclose(torus_from_angles(u, v), points, atol=1e-12)
    np.testing.assert_allclose((np.hypot(points[:, 0], points[:, 1]) - 1) ** 2 + points[:, 2] ** 2, 0.16, atol=1e-12)


def test_the_sphere_fields_match_their_definitions():
    points = manifold_points("sphere", 200)
    np.testing.assert_allclose(vector_field("sphere", "rotation", points), np.cross([0, 0, 1], points), atol=1e-15)
    # ∇_S (xyz) · t is the derivative of xyz along the great circle cos(ε) x + sin(ε) t
    gradient, eps = vector_field("sphere", "gradient", points), 1e-5
    for t in np.moveaxis(exact_frames("sphere", points), 2, 0):
        ahead, behind = (np.cos(eps) * points + s * np.sin(eps) * t for s in (1, -1))
        derivative = (np.prod(ahead, axis=1) - np.prod(behind, axis=1)) / (2 * eps)
        np.testing.assert_allclose(np.sum(gradient * t, axis=1), derivative, atol=1e-9)


def test_the_torus_gradient_matches_finite_differences_in_the_angles():
    points = manifold_points("torus", SMALL["torus"])
    gradient, (u, v), eps = vector_field("torus", "gradient", points), torus_angles(points), 1e-6
    f = lambda u, v: np.cos(u) * np.sin(v)   # noqa: E731
    for du, dv in ((eps, 0), (0, eps)):      # ⟨∇f, ∂_u⟩ = f_u and ⟨∇f, ∂_v⟩ = f_v, both by central differences
        tangent = (torus_from_angles(u + du, v + dv) - torus_from_angles(u - du, v - dv)) / (2 * eps)
        np.testing.assert_allclose(np.sum(gradient * tangent, axis=1), (f(u + du, v + dv) - f(u - du, v - dv)) /
                                   (2 * eps), atol=1e-8)


@pytest.mark.parametrize("manifold, field", CLOSED)
def test_closed_form_fields_vanish_at_their_singularities(manifold, field):
    locations, indices = singularities(manifold, field)
    if len(locations):
        assert np.abs(vector_field(manifold, field, locations)).max() < 1e-15
    euler = {"sphere": 2, "torus": 0}[manifold]
    assert indices.sum() == euler                      # Poincaré–Hopf
    assert len(locations) == {("sphere", "rotation"): 2, ("sphere", "gradient"): 14, ("torus", "rotation"): 0,
                              ("torus", "gradient"): 8}[manifold, field]


def data(**kwargs) -> ManifoldVectorsDataModule:
    module = ManifoldVectorsDataModule(**{"n_points": SMALL[kwargs.get("manifold", "sphere")], **kwargs})
    module.setup()
    return module


@pytest.mark.parametrize("manifold", ["sphere", "torus"])
def test_superres_observes_a_fifth_and_tests_the_rest(manifold):
    module = data(manifold=manifold, field="gradient")
    train, (test, vectors) = module.splits["train"][0], module.splits["test"][0]
    n = len(module.points)
    assert len(train["train_idx"]) == round(0.2 * n) and len(test) == n - round(0.2 * n)
    assert np.union1d(train["train_idx"], test).tolist() == list(range(n))
    torch.testing.assert_close(vectors, torch.from_numpy(module.field)[test])
    torch.testing.assert_close(train["vectors"], torch.from_numpy(module.field)[train["train_idx"]])


@pytest.mark.parametrize("manifold, field", CLOSED[:2] + CLOSED[3:])
def test_the_inpainting_cap_holds_exactly_one_singularity(manifold, field):
    module = data(manifold=manifold, field=field, split="inpaint")
    locations, indices = singularities(manifold, field)
    inside = np.linalg.norm(locations - module.center, axis=1) < module.cap_radius
    assert inside.sum() == 1 and module.center_index == indices[inside][0]
    train, test = module.splits["train"][0]["train_idx"].numpy(), module.splits["test"][0][0].numpy()
    nearest = np.argmin(np.linalg.norm(module.points - locations[inside][0], axis=1))
    assert nearest in test and np.intersect1d(train, test).size == 0
    cap = np.flatnonzero(np.linalg.norm(module.points - module.center, axis=1) < module.cap_radius)
    assert test.tolist() == cap.tolist() and len(train) == round(0.2 * (len(module.points) - len(cap)))


def test_the_random_fields_cap_is_centred_on_one_of_its_zeros():
    module = data(field="diffused_random", split="inpaint")
    assert module.center_index != 0
    nearest = np.argsort(np.linalg.norm(module.points - module.center, axis=1))[:3]
    norms = np.linalg.norm(module.field, axis=1)
    assert norms[nearest].max() < 0.5 * np.sqrt(np.mean(norms**2))   # the field is small around a zero


def test_seeds_reproduce_and_differ():
    first, again, other = (data(field="diffused_random", split="inpaint", seed=s) for s in (0, 0, 1))
    np.testing.assert_array_equal(first.field, again.field)
    torch.testing.assert_close(first.splits["train"][0]["train_idx"], again.splits["train"][0]["train_idx"])
    assert np.abs(first.field - other.field).max() > 0.1
    np.testing.assert_allclose(np.mean(np.sum(first.field**2, axis=1)), 1.0)   # unit RMS norm


def test_the_loaders_give_fit_keywords_and_evaluation_pairs():
    module = data(manifold="torus")
    train = next(iter(module.train_dataloader()))
    assert set(train) == {"points", "train_idx", "vectors"}
    assert train["points"].shape == (len(module.points), 3) and train["points"].dtype == torch.float64
    assert train["train_idx"].dtype == torch.long and train["vectors"].shape == (len(train["train_idx"]), 3)
    idx, vectors = next(iter(module.val_dataloader()))
    assert idx.dtype == torch.long and vectors.shape == (len(idx), 3) and vectors.dtype == torch.float64
    assert len(module.train_dataloader()) == len(module.test_dataloader()) == 1


@pytest.mark.parametrize("kwargs, message", [
    ({"manifold": "cube"}, "manifold='cube': expected one of"), ({"field": "curl"}, "field='curl': expected one of"),
    ({"split": "extrapolate"}, "split='extrapolate': expected one of"), ({"train_fraction": 1.5}, "train_fraction"),
])
def test_bad_settings_are_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ManifoldVectorsDataModule(**kwargs)
