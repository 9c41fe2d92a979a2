"""Time-series data: the exact pendulum against a tight ODE solve, the sines generator's closed form and
statistics, the CSV reader (a tiny CSV written here, never downloaded), irregular masks and splines."""

import numpy as np
import pytest
import torch
import torchcde
from scipy.integrate import solve_ivp

from zoo.data.sequence.timeseries import TimeSeriesDataModule, pendulum, sines


def test_pendulum_matches_a_tight_ode_solve_and_conserves_energy():
    theta0, omega = np.array([0.5, 1.7, 2.7]), 1.3
    t = np.linspace(0, 16.9, 170)
    theta, velocity = pendulum(theta0[:, None], t, omega)
    for i, start in enumerate(theta0):
        ode = solve_ivp(lambda _, y: [y[1], -omega ** 2 * np.sin(y[0])], (0, t[-1]), [start, 0.0], t_eval=t,
                        method="DOP853", rtol=1e-12, atol=1e-12)
        assert np.abs(ode.y[0] - theta[i]).max() < 1e-8
        assert np.abs(ode.y[1] - velocity[i]).max() < 1e-8
    energy = 0.5 * velocity ** 2 - omega ** 2 * np.cos(theta)
    assert np.abs(energy + omega ** 2 * np.cos(theta0)[:, None]).max() < 1e-10


def test_sines_follow_their_closed_form_and_statistics():
    x = sines(4000, T=24, d=5, rng=np.random.default_rng(0))
    assert x.shape == (4000, 24, 5) and x.min() >= 0 and x.max() <= 1
    phi = np.arcsin(2 * x[:, 0] - 1)  # x_0 = (sin φ + 1) / 2 with φ in [0, 0.1]
    f = np.arcsin(2 * x[:, 1] - 1) - phi
    assert phi.min() >= 0 and phi.max() <= 0.1 and f.min() >= 0 and f.max() <= 0.1
    t = np.arange(24)[None, :, None]
    assert np.abs(x - (np.sin(f[:, None] * t + phi[:, None]) + 1) / 2).max() < 1e-9
    tolerance = 4 * 0.1 / np.sqrt(12 * phi.size)  # U(0, 0.1): mean 0.05, std 0.1 / sqrt(12)
    assert abs(phi.mean() - 0.05) < tolerance and abs(f.mean() - 0.05) < tolerance


def write_csv(folder, rows: int = 30, columns: int = 6) -> np.ndarray:
    data = np.random.default_rng(3).uniform(-5, 50, (rows, columns))
    path = folder / "timeseries" / "stock_data.csv"
    path.parent.mkdir(parents=True)
    header = ",".join(f"c{j}" for j in range(columns))
    np.savetxt(path, data, delimiter=",", header=header, comments="", fmt="%.10f")
    return np.loadtxt(path, delimiter=",", skiprows=1)


def test_csv_reader_reverses_scales_and_windows(tmp_path):
    data = write_csv(tmp_path)
    module = TimeSeriesDataModule("stocks", data_dir=str(tmp_path), n_features=6, n_train=None, n_val=1, n_test=1)
    reversed_rows = data[::-1]
    scaled = (reversed_rows - reversed_rows.min(0)) / (reversed_rows.max(0) - reversed_rows.min(0) + 1e-7)
    expected = np.stack([scaled[i:i + 24] for i in range(30 - 24 + 1)])
    got = module.sequences()
    order = np.argsort(got[:, 0, 0])
    assert np.allclose(got[order], expected[np.argsort(expected[:, 0, 0])], atol=1e-12)
    module.setup()
    assert [len(module.splits[s]) for s in ("train", "val", "test")] == [5, 1, 1]
    assert next(iter(module.train_dataloader()))["x"].shape == (5, 24, 6)


def test_missing_csv_names_the_fetch_script(tmp_path):
    module = TimeSeriesDataModule("stocks", data_dir=str(tmp_path), n_features=6, n_train=None)
    with pytest.raises(FileNotFoundError, match="scripts/fetch_timegan_data.py"):
        module.setup()


def test_bad_arguments_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown time-series dataset 'sine'"):
        TimeSeriesDataModule("sine")
    with pytest.raises(ValueError, match="stocks has 6 features: set n_features=6"):
        TimeSeriesDataModule("stocks", n_features=5)
    with pytest.raises(ValueError, match="too few"):
        TimeSeriesDataModule("sines", data_dir=str(tmp_path), n_train=None, n_val=4, n_test=4, n_series=6).setup()
    with pytest.raises(ValueError, match="n_train must be None or a positive int, got 0"):  # 0 used to mean "all"
        TimeSeriesDataModule("sines", n_train=0)
    with pytest.raises(ValueError, match="n_series must be None or a positive int, got -6"):
        TimeSeriesDataModule("sines", n_series=-6)


def test_irregular_masks_and_splines_through_the_observed_points(tmp_path):
    module = TimeSeriesDataModule("sines", data_dir=str(tmp_path), n_train=20, n_val=4, n_test=4, missing=0.5)
    module.setup()
    assert set(next(iter(module.train_dataloader()))) == {"x", "mask", "coeffs"}
    split = module.splits["train"].tensors  # unshuffled, aligned with module.complete
    x, mask, coeffs = split["x"], split["mask"], split["coeffs"]
    complete = module.complete["train"]
    assert (mask.sum(1) == 12).all()  # round(0.5 * 24) unobserved steps in every sequence
    assert torch.equal(x, complete * mask[..., None])
    spline = torchcde.CubicSpline(coeffs.double())
    values = torch.stack([spline.evaluate(float(s)) for s in range(24)], 1)[..., 1:]  # drop the time channel
    observed = mask > 0
    assert torch.allclose(values[observed].float(), complete[observed], atol=1e-5)
    assert module.cache_path().is_file()
