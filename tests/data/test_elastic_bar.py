"""The elastic-bar solver and its submodel: O(h²) convergence to d'Alembert for constant stiffness, the submodel
driven by the exact interface traces reproduces the full solution on [a, b], the datamodule's batches and cache, and
bad input is named."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from zoo.data.pde.elastic_bar import ElasticBarDataModule
from zoo.data.pde.solvers.elastic_bar import leapfrog, lognormal_stiffness, sample_impacts, solve_bar, solve_submodel

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:FutureWarning")


def dalembert_error(n_cells: int, courant: float = 0.5, t_final: float = 0.2, c: float = 1.3) -> float:
    """Max error at t_final of a Gaussian pulse released at rest, against (f(x − ct) + f(x + ct)) / 2."""
    x = np.linspace(0.0, 1.0, n_cells + 1)
    pulse = lambda s: np.exp(-((s - 0.5) / 0.05) ** 2)  # noqa: E731
    h = 1.0 / n_cells
    n_steps = math.ceil(t_final * c / (courant * h))
    u = leapfrog(np.full((1, n_cells), c**2), h, t_final / n_steps, n_steps, u0=pulse(x)[None])
    return float(np.abs(u[0] - 0.5 * (pulse(x - c * t_final) + pulse(x + c * t_final))).max())


def test_the_bar_converges_at_second_order_to_dalembert():
    errors = [dalembert_error(n) for n in (100, 200, 400)]
    orders = [math.log2(coarse / fine) for coarse, fine in zip(errors, errors[1:])]
    assert all(1.9 < order < 2.1 for order in orders), (errors, orders)
    assert errors[-1] < 1e-3


def test_the_submodel_driven_by_the_exact_traces_reproduces_the_full_solution():
    rng = np.random.default_rng(0)
    stiffness = lognormal_stiffness(6, 100, (60, 80), seed=rng)
    impacts = sample_impacts(6, rng, time=(0.1, 0.5))
    full = solve_bar(stiffness, impacts, (0.6, 0.8), t_final=1.2, n_steps=400, n_records=401)
    sub = solve_submodel(full["traces"], 1.2, (0.6, 0.8), n_cells=20, n_steps=400, history=True)
    assert np.abs(full["interior"]).max() > 1e-3                       # the wave crosses the zone of interest
    assert np.abs(sub["u"] - full["interior"]).max() < 1e-10 * np.abs(full["interior"]).max()
    assert np.allclose(sub["qoi"], full["qoi"], rtol=1e-10, atol=0)
    strain = np.abs(np.diff(full["interior"], axis=1)).max(axis=(1, 2)) / 0.01   # the QoI from the history
    assert np.allclose(full["qoi"], strain, rtol=1e-12)


def test_the_stiffness_is_lognormal_outside_the_zone_and_E0_inside():
    E = lognormal_stiffness(200, 100, (60, 80), E0=2.0, seed=1)
    assert (E[:, 60:80] == 2.0).all() and (E > 0).all()
    log_e = np.log(E[:, :60] / 2.0)
    assert abs(log_e.mean()) < 0.05 and 0.1 < log_e.std() < 0.6


def test_bad_input_is_named():
    E = np.ones((2, 100))
    impacts = sample_impacts(2, 0)
    with pytest.raises(ValueError, match="CFL violated.*raise n_steps to at least"):
        solve_bar(E * 100, impacts, (0.6, 0.8), n_steps=127, n_records=128)
    with pytest.raises(ValueError, match=r"b=1.2 must be a node .* strictly inside the bar \(0, 1.0\)"):
        solve_bar(E, impacts, (0.6, 1.2))
    with pytest.raises(ValueError, match="a=0.605 must be a node"):
        solve_bar(E, impacts, (0.605, 0.8))
    with pytest.raises(ValueError, match="impact's support .* must lie in"):
        solve_bar(E, impacts, (0.3, 0.8))
    with pytest.raises(ValueError, match="n_steps=1000 must be a multiple of n_records - 1 = 127"):
        solve_bar(E, impacts, (0.6, 0.8), n_steps=1000)
    with pytest.raises(ValueError, match=r"traces must be \(n, 2, T\)"):
        solve_submodel(np.zeros((3, 128)), 2.0, (0.6, 0.8), 40, 1016)
    with pytest.raises(ValueError, match="data.regime='random'"):
        ElasticBarDataModule(regime="random")
    with pytest.raises(ValueError, match=r"data.zone=\[0.4, 0.8\] must be \[a, b\] with 0.55 < a < b"):
        ElasticBarDataModule(zone=[0.4, 0.8])


def test_the_datamodule_normalises_and_caches(tmp_path):
    kwargs = dict(data_dir=str(tmp_path), n_train=40, n_val=8, n_test=8, n_cells=100, n_steps=508, n_records=128,
                  batch_size=8, conditional=True)
    data = ElasticBarDataModule(**kwargs)
    data.setup()
    x, cond = next(iter(data.train_dataloader()))
    assert x.shape == (8, 2, 128) and cond.shape == (8, 4) and x.dtype == torch.float32
    train = data.raw("train")
    assert data.x_scale == pytest.approx(float(train["traces"].pow(2).mean().sqrt()))
    assert torch.allclose(data.splits["train"].tensors[0].pow(2).mean(), torch.tensor(1.0))
    assert torch.allclose(data.splits["train"].tensors[1].mean(0), torch.zeros(4), atol=1e-5)
    assert (x[:, :, 0] == 0).all()                                               # at rest at t = 0
    again = ElasticBarDataModule(**kwargs)
    assert data.cache_path.is_file() and torch.equal(again.raw("test")["qoi"], data.raw("test")["qoi"])
    fixed = ElasticBarDataModule(**{**kwargs, "regime": "fixed"}).raw("train")["impacts"]
    assert (fixed[:, 3] == 0.5).all() and train["impacts"][:, 3].std() > 0.1


def test_the_submodel_starts_in_the_static_state_of_its_initial_boundary_values():
    traces = np.zeros((1, 2, 128))
    traces[0, 0], traces[0, 1] = 0.01, 0.03                    # constant ends: the linear static state forever
    out = solve_submodel(traces, 2.0, (0.6, 0.8), n_cells=40, n_steps=1016, history=True)
    assert np.allclose(out["u"][0], np.linspace(0.01, 0.03, 41)[:, None], atol=1e-15)
    assert out["qoi"][0] == pytest.approx(0.02 / 0.2, rel=1e-12)
