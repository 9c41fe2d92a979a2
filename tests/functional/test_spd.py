"""Covariance estimators against scikit-learn / numpy and the SPD geometry against closed forms and pyRiemann, in
float64."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.covariance import empirical_covariance, ledoit_wolf, oas

from zoo.functional.spd import covariance, distance, expm, invsqrtm, logm, riemannian_mean, tangent_space, upper

D64 = torch.float64


def trials(n: int = 5, channels: int = 6, samples: int = 40, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    mixing = rng.standard_normal((channels, channels))
    return mixing @ rng.standard_normal((n, channels, samples)) + rng.standard_normal((n, channels, 1))


@pytest.mark.parametrize("estimator", ["scm", "cov", "oas", "lwf"])
def test_covariance_estimators_match_sklearn_and_numpy(estimator):
    X = trials()
    reference = {"scm": lambda x: empirical_covariance(x.T), "cov": np.cov, "oas": lambda x: oas(x.T)[0],
                 "lwf": lambda x: ledoit_wolf(x.T)[0]}[estimator]
    expected = np.stack([reference(x) for x in X])
    np.testing.assert_allclose(covariance(torch.tensor(X), estimator).numpy(), expected, rtol=1e-12, atol=1e-12)


def test_shrinkage_makes_a_rank_deficient_covariance_positive_definite():
    X = torch.tensor(trials(n=2, channels=12, samples=8))  # n > T: the plain estimate is singular
    assert torch.linalg.eigvalsh(covariance(X, "scm")).min() < 1e-10
    assert torch.linalg.eigvalsh(covariance(X, "oas")).min() > 1e-3
    assert torch.linalg.eigvalsh(covariance(X, "lwf")).min() > 1e-3


def test_bad_estimator_and_short_signals_are_errors():
    with pytest.raises(ValueError, match="estimator"):
        covariance(torch.zeros(1, 2, 10, dtype=D64), "mcd")
    with pytest.raises(ValueError, match="at least 2 samples"):
        covariance(torch.zeros(1, 2, 1, dtype=D64))


def test_matrix_functions_are_inverse_to_each_other_and_match_a_diagonal_closed_form():
    C = covariance(torch.tensor(trials()), "oas")
    torch.testing.assert_close(expm(logm(C)), C, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(invsqrtm(C) @ C @ invsqrtm(C), torch.eye(6, dtype=D64).expand_as(C), rtol=0, atol=1e-10)
    diagonal = torch.diag(torch.tensor([0.5, 2.0, 3.0], dtype=D64))
    torch.testing.assert_close(logm(diagonal), torch.diag(torch.log(torch.tensor([0.5, 2.0, 3.0], dtype=D64))))


def test_upper_weights_the_off_diagonal_by_sqrt2_so_norms_are_kept():
    S = torch.tensor([[1.0, 2.0, 3.0], [2.0, 4.0, 5.0], [3.0, 5.0, 6.0]], dtype=D64)
    r2 = 2.0 ** 0.5
    torch.testing.assert_close(upper(S), torch.tensor([1.0, 2 * r2, 3 * r2, 4.0, 5 * r2, 6.0], dtype=D64))
    torch.testing.assert_close(upper(S).norm(), torch.linalg.matrix_norm(S))


def test_tangent_vector_of_the_reference_is_zero_and_its_norm_is_the_distance():
    C = covariance(torch.tensor(trials()), "oas")
    reference = riemannian_mean(C)
    W = invsqrtm(reference)
    assert tangent_space(reference, W).abs().max() < 1e-12
    torch.testing.assert_close(tangent_space(C, W).norm(dim=-1), distance(reference.expand_as(C), C), rtol=0,
                               atol=1e-10)


def test_distance_is_affine_invariant_and_closed_form_for_commuting_matrices():
    A = torch.diag(torch.tensor([1.0, 2.0], dtype=D64))
    B = torch.diag(torch.tensor([4.0, 0.5], dtype=D64))
    torch.testing.assert_close(distance(A, B), torch.tensor(np.hypot(np.log(4.0), np.log(0.25)), dtype=D64))
    G = torch.tensor([[2.0, 1.0], [0.3, 1.5]], dtype=D64)
    torch.testing.assert_close(distance(G @ A @ G.T, G @ B @ G.T), distance(A, B), rtol=1e-12, atol=1e-12)


def test_riemannian_mean_matches_pyriemann_and_is_the_geometric_mean_of_two():
    from pyriemann.geometry.mean import mean_riemann

    C = covariance(torch.tensor(trials(n=12, channels=5, samples=30)), "oas")
    expected = mean_riemann(C.numpy(), tol=1e-12, maxiter=200)
    np.testing.assert_allclose(riemannian_mean(C, tol=1e-12, max_iter=200).numpy(), expected, rtol=0, atol=1e-10)
    A, B = C[0], C[1]  # two points: the midpoint of the geodesic, A^½ (A^-½ B A^-½)^½ A^½
    half = invsqrtm(invsqrtm(A) @ B @ invsqrtm(A))
    midpoint = torch.linalg.inv(invsqrtm(A)) @ torch.linalg.inv(half) @ torch.linalg.inv(invsqrtm(A))
    torch.testing.assert_close(riemannian_mean(C[:2], tol=1e-12, max_iter=200), midpoint, rtol=1e-9, atol=1e-10)


def test_tangent_space_matches_pyriemann():
    from pyriemann.geometry.tangentspace import tangent_space as pyriemann_ts

    C = covariance(torch.tensor(trials()), "oas")
    reference = riemannian_mean(C)
    np.testing.assert_allclose(tangent_space(C, invsqrtm(reference)).numpy(),
                               pyriemann_ts(C.numpy(), reference.numpy()), rtol=0, atol=1e-12)
