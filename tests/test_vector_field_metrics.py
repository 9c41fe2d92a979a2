"""Vector-field metrics against closed forms: relative L2 of a scaled field, the angle of a rotated one, the normal
share of a tilted one, the singularities (locations, indices, Poincaré–Hopf sums) of planar and spherical fields."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from zoo.data.manifold import manifold_points, normals, singularities, vector_field
from zoo.data.manifold.vector_fields import exact_frames
from zoo.metrics.vector_fields import (field_relative_l2, field_singularities, mean_angular_error, normal_fraction,
                                       singularity_error)


@pytest.fixture(scope="module")
def sphere():
    points = manifold_points("sphere", 1500)
    return points, exact_frames("sphere", points)


def test_relative_l2_of_a_scaled_field():
    field = torch.randn(50, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    assert field_relative_l2(1.25 * field, field).item() == pytest.approx(0.25, abs=1e-14)


def test_the_angular_error_of_a_field_rotated_in_its_tangent_planes(sphere):
    points, _ = sphere
    field = vector_field("sphere", "rotation", points)
    alpha = 0.3                                    # rotate about the normal x: v cos α + (x × v) sin α
    rotated = np.cos(alpha) * field + np.sin(alpha) * np.cross(points, field)
    target = torch.from_numpy(np.concatenate([field, np.zeros((1, 3))]))    # a zero true vector is left out
    prediction = torch.from_numpy(np.concatenate([rotated, np.ones((1, 3))]))
    assert mean_angular_error(prediction, target).item() == pytest.approx(math.degrees(alpha), abs=1e-9)


def test_the_normal_fraction_of_a_tilted_field(sphere):
    points, frames = sphere
    c = 0.5                                        # unit tangent t plus c n: the normal share is c / √(1 + c²)
    tilted = torch.from_numpy(frames[:, :, 0] + c * normals("sphere", points))
    n = torch.from_numpy(normals("sphere", points))
    assert normal_fraction(tilted, n).item() == pytest.approx(c / math.sqrt(1 + c**2), abs=1e-12)
    assert normal_fraction(tilted, n[..., None]).item() == pytest.approx(c / math.sqrt(1 + c**2), abs=1e-12)


@pytest.mark.parametrize("power, conjugate, index", [(1, False, 1), (1, True, -1), (2, False, 2), (2, True, -2)])
def test_planar_zeros_of_z_to_the_k_have_index_plus_minus_k(power, conjugate, index):
    """``v = z^k`` (or its conjugate) in the plane z = 0 of R³, a jittered grid: one zero at the origin."""
    g = np.linspace(-1, 1, 31) + 0.013
    x, y = (a.ravel() for a in np.meshgrid(g, g, indexing="ij"))
    w = (x + 1j * y) ** power
    w = np.conj(w) if conjugate else w
    points = np.stack([x, y, 0 * x], axis=1)
    vectors = np.stack([w.real, w.imag, 0 * x], axis=1)
    frames = np.broadcast_to(np.eye(3)[:, :2], (len(x), 3, 2))
    interior = (np.abs(x) < 0.8) & (np.abs(y) < 0.8)   # loops at the boundary are not closed around their node
    locations, indices = field_singularities(points[interior], vectors[interior], frames[interior])
    assert indices.tolist() == [index]
    assert singularity_error(locations, indices, np.zeros(3), index) < 0.07   # one grid step


@pytest.mark.parametrize("field, count", [("rotation", 2), ("gradient", 14)])
def test_sphere_singularities_are_found_with_their_indices(sphere, field, count):
    points, frames = sphere
    locations, indices = field_singularities(points, vector_field("sphere", field, points), frames)
    assert len(indices) == count and indices.sum() == 2               # χ(S²)
    for location, index in zip(*singularities("sphere", field)):
        assert singularity_error(locations, indices, location, index) < 0.1


def test_a_missing_singularity_is_an_infinite_error():
    assert singularity_error(np.zeros((1, 3)), np.array([1]), np.zeros(3), -1) == math.inf
    assert singularity_error(np.zeros((0, 3)), np.zeros(0, dtype=int), np.zeros(3), 1) == math.inf


def test_a_field_on_a_curve_is_a_clear_error():
    with pytest.raises(ValueError, match=r"frames must be \(n, D, 2\)"):
        field_singularities(np.zeros((20, 3)), np.zeros((20, 3)), np.zeros((20, 3, 1)))
