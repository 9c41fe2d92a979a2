"""PTD (research notes ssm.md §1.3) checked by independent float64 computations: numpy's eig, eigvals, cond, norm.

Each size is solved once per module, in a fresh cache folder, so the timing covers a real solve.
"""

import time

import numpy as np
import pytest

from zoo.ssm.hippo import legs
from zoo.ssm.ptd import SOLVER_VERSION, ptd_init, ptd_perturbation

SIZES = (32, 64)
KAPPA_MAX = 8.0  # the authors' released perturbations: 8.31 (n = 32, 3.8%), 9.17 (n = 64, 3.4%, unstable)
E_REL_MAX = 0.05
MAX_REAL = -0.5  # guaranteed by construction: (A + E) + (A + E)^T <= -I
SECONDS_MAX = 60.0


@pytest.fixture(scope="module")
def cache_root(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        root = tmp_path_factory.mktemp("ptd_cache")
        patch.setenv("ZOO_CACHE_DIR", str(root))
        yield root


@pytest.fixture(scope="module")
def solved(cache_root):
    """``{n: (result, wall seconds)}``, each solved from scratch (the cache folder starts empty)."""
    out = {}
    for n in SIZES:
        start = time.perf_counter()
        result = ptd_perturbation(n)
        out[n] = result, time.perf_counter() - start
    return out


@pytest.mark.parametrize("n", SIZES)
def test_targets_recomputed_independently(solved, n):
    result, seconds = solved[n]
    A, _ = legs(n)
    kappa = np.linalg.cond(result["V"])
    E_rel = np.linalg.norm(result["E"], 2) / np.linalg.norm(A, 2)
    eigenvalues = np.linalg.eigvals(A + result["E"])
    assert kappa <= KAPPA_MAX
    assert E_rel <= E_REL_MAX
    assert eigenvalues.real.max() <= MAX_REAL + 1e-9
    assert seconds < SECONDS_MAX
    np.testing.assert_allclose([result["kappa"], result["E_rel"]], [kappa, E_rel], rtol=1e-10)
    # the eigenvalues have condition numbers <= kappa, so they match numpy's to ~kappa * eps * ||A||
    np.testing.assert_allclose(np.sort_complex(result["Lambda"]), np.sort_complex(eigenvalues), rtol=0,
                               atol=1e-9 * np.linalg.norm(A, 2))
    assert result["max_real"] == result["Lambda"].real.max()


@pytest.mark.parametrize("n", SIZES)
def test_diagonalisation_reconstructs_A_plus_E(solved, n):
    result, _ = solved[n]
    A, _ = legs(n)
    E, Lambda, V, V_inv = result["E"], result["Lambda"], result["V"], result["V_inv"]
    assert E.shape == V.shape == V_inv.shape == (n, n) and Lambda.shape == (n,)
    assert E.dtype == np.float64 and Lambda.dtype == V.dtype == V_inv.dtype == np.complex128
    np.testing.assert_allclose(np.linalg.norm(V, axis=0), 1, atol=1e-12)
    np.testing.assert_allclose(V_inv @ V, np.eye(n), atol=1e-12)
    residual = np.linalg.norm(V @ np.diag(Lambda) @ V_inv - (A + E), 2) / np.linalg.norm(A, 2)
    assert residual <= 1e-8


@pytest.mark.parametrize("n", SIZES)
def test_perturbed_system_stays_contractive(solved, n):
    """The stability constraint itself: the symmetric part of A + E is <= -I/2, like LegS's own."""
    result, _ = solved[n]
    A, _ = legs(n)
    F = A + result["E"]
    assert np.linalg.eigvalsh((F + F.T) / 2).max() <= -0.5 + 1e-12 * np.linalg.norm(A, 2)
    np.testing.assert_allclose(np.linalg.eigvalsh((A + A.T) / 2).max(), -0.5, atol=1e-12)


@pytest.mark.parametrize("n", SIZES)
def test_eigenvalue_order_and_conjugate_symmetry(solved, n):
    Lambda = solved[n][0]["Lambda"]
    order = np.lexsort((Lambda.real, Lambda.imag))
    np.testing.assert_array_equal(order, np.arange(n))
    np.testing.assert_allclose(np.sort_complex(Lambda), np.sort_complex(Lambda.conj()), rtol=0, atol=1e-9)


def test_random_perturbation_of_the_same_size_is_far_worse(solved):
    """The notes' baseline: a Gaussian E of the same 2-norm leaves V ill-conditioned and A + E unstable."""
    result, _ = solved[32]
    A, _ = legs(32)
    G = np.random.default_rng(0).standard_normal((32, 32))
    E = G * np.linalg.norm(result["E"], 2) / np.linalg.norm(G, 2)
    eigenvalues, V = np.linalg.eig(A + E)
    assert np.linalg.cond(V / np.linalg.norm(V, axis=0)) > 5 * result["kappa"]
    assert eigenvalues.real.max() > 0


def test_cache_round_trip(solved, cache_root):
    path = cache_root / "ptd" / f"v{SOLVER_VERSION}_n32_gamma150.0_seed0.pt"
    assert path.is_file()
    start = time.perf_counter()
    again = ptd_perturbation(32)
    assert time.perf_counter() - start < 1.0
    for key, value in solved[32][0].items():
        np.testing.assert_array_equal(again[key], value)


def test_seeded_and_deterministic(cache_root):
    first, second = ptd_perturbation(16, cache=False), ptd_perturbation(16, cache=False)
    for key in ("E", "Lambda", "V", "V_inv"):
        np.testing.assert_array_equal(first[key], second[key])
    assert not np.array_equal(first["E"], ptd_perturbation(16, seed=1, cache=False)["E"])
    assert not list((cache_root / "ptd").glob("*_n16_*"))  # cache=False writes nothing


def test_gamma_trades_perturbation_size_for_conditioning():
    loose, tight = ptd_perturbation(16, gamma=80.0, cache=False), ptd_perturbation(16, gamma=300.0, cache=False)
    assert loose["E_rel"] > tight["E_rel"] and loose["kappa"] < tight["kappa"]


def test_ptd_init_is_the_diagonalised_legs_input(solved):
    result, _ = solved[32]
    Lambda, B_tilde = ptd_init(32)
    _, B = legs(32)
    assert Lambda.dtype == B_tilde.dtype == np.complex128 and B_tilde.shape == (32,)
    np.testing.assert_array_equal(Lambda, result["Lambda"])
    np.testing.assert_allclose(result["V"] @ B_tilde, B, rtol=0, atol=1e-12 * np.linalg.norm(B))


def test_size_one_needs_no_perturbation():
    result = ptd_perturbation(1, cache=False)
    assert result["kappa"] == 1.0 and result["Lambda"].dtype == np.complex128 and result["Lambda"].real[0] <= -1 + 1e-6


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n": 0}, "n must be a positive integer"),
        ({"n": -4}, "n must be a positive integer"),
        ({"n": 8.0}, "n must be a positive integer"),
        ({"n": True}, "n must be a positive integer"),
        ({"n": 8, "gamma": 0.0}, "gamma must be a finite number > 0"),
        ({"n": 8, "gamma": -1.0}, "gamma must be a finite number > 0"),
        ({"n": 8, "gamma": float("nan")}, "gamma must be a finite number > 0"),
        ({"n": 8, "gamma": float("inf")}, "gamma must be a finite number > 0"),
        ({"n": 8, "seed": 0.5}, "seed must be an integer"),
        ({"n": 8, "max_iter": 0}, "max_iter must be a positive integer"),
        ({"n": 8, "init_scale": -0.1}, "init_scale must be a finite number > 0"),
        ({"n": 8, "lr": 0.1}, r"unknown solver options \['lr'\]"),
    ],
)
def test_bad_inputs(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ptd_perturbation(cache=False, **kwargs)
    with pytest.raises(ValueError, match=match):
        ptd_init(cache=False, **kwargs)
