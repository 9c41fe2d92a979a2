"""The synthetic motor-imagery generator, the k-fold trial splits and the EEG datamodules (MOABB through its own
``FakeDataset``: nothing is downloaded)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from zoo.data.eeg import datamodules, moabb
from zoo.data.eeg.datamodules import EEGSyntheticDataModule, fold_indices
from zoo.data.eeg.moabb import MOABBDataModule
from zoo.data.eeg.motor_imagery import REGIMES, bandpassed_variance, motor_imagery, resonator

SMALL = {"n_trials": 300, "n_channels": 4, "duration": 2.0}  # 0.2 s a regime; enough trials for the moments


@pytest.fixture(scope="module")
def regimes() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    return {regime: motor_imagery(regime, **SMALL, seed=1) for regime in ("spatial", "temporal")}


def class_separation(features: np.ndarray, y: np.ndarray) -> float:
    """``‖mean₀ − mean₁‖²`` of the two classes' ``features`` ``(N, ...)`` over its expectation when their
    expectations agree (the summed squared standard errors of the difference): about 1 under Monte-Carlo error only,
    growing with the trial count when the expectations differ."""
    a, b = features[y == 0].reshape((y == 0).sum(), -1), features[y == 1].reshape((y == 1).sum(), -1)
    error = np.sum(a.var(0, ddof=1) / len(a) + b.var(0, ddof=1) / len(b))
    return float(np.sum((a.mean(0) - b.mean(0)) ** 2) / error)


def lagged_covariance(x: np.ndarray, lag: int) -> np.ndarray:
    """Per trial ``x_t x_{t−lag}ᵀ / T'``: ``(N, C, C)`` from ``x`` ``(N, C, T)`` (``lag = 0``: the covariance)."""
    x = x.astype(np.float64)
    return np.einsum("nct,ndt->ncd", x[..., lag:], x[..., :x.shape[-1] - lag]) / (x.shape[-1] - lag)


def test_generator_shapes_dtypes_and_determinism():
    x, y = motor_imagery("mixed", n_trials=5, n_classes=3, n_channels=4, sfreq=200.0, duration=0.8, n_sources=5)
    assert x.shape == (15, 4, 160) and x.dtype == np.float32 and y.dtype == np.int64
    assert np.array_equal(y, np.repeat([0, 1, 2], 5)) and np.isfinite(x).all()
    again, _ = motor_imagery("mixed", n_trials=5, n_classes=3, n_channels=4, sfreq=200.0, duration=0.8, n_sources=5)
    other, _ = motor_imagery("mixed", n_trials=5, n_classes=3, n_channels=4, sfreq=200.0, duration=0.8, n_sources=5,
                             seed=1)
    assert np.array_equal(x, again) and not np.allclose(x, other)


def test_unfiltered_ar2_variance_is_the_closed_form():
    """Without a filter (``|H| = 1``) the integral is the AR(2) variance ``(1 − a₂) / ((1 + a₂)((1 − a₂)² − a₁²))``."""
    a1, a2 = resonator(np.array([8.0, 10.0, 25.0]), np.array([6.0, 1.5, 3.0]), sfreq=250.0)
    identity = np.array([[1.0, 0.0, 0.0, 1.0, 0.0, 0.0]])
    closed_form = (1 - a2) / ((1 + a2) * ((1 - a2) ** 2 - a1**2))
    np.testing.assert_allclose(bandpassed_variance(a1, a2, identity), closed_form, rtol=1e-9)


def test_generator_is_band_limited(regimes):
    x, _ = regimes["temporal"]
    frequencies, power = signal.welch(x, fs=250.0, nperseg=125, axis=-1)
    band = (frequencies >= 8) & (frequencies <= 35)
    assert power[..., band].sum() / power.sum() >= 0.9


def test_temporal_regime_has_class_invariant_covariance_but_class_dependent_dynamics(regimes):
    x, y = regimes["temporal"]
    assert class_separation(lagged_covariance(x, 0), y) < 3  # Monte-Carlo error only
    assert class_separation(lagged_covariance(x, 18), y) > 8  # 72 ms: 10 and 11 Hz resonators differ most


def test_spatial_regime_changes_the_covariance(regimes):
    x, y = regimes["spatial"]
    assert class_separation(lagged_covariance(x, 0), y) > 10


def test_unknown_regime_names_the_choices():
    with pytest.raises(ValueError, match="regime='beta'.*mixed.*spatial.*temporal"):
        motor_imagery("beta")
    assert set(REGIMES) == {"spatial", "temporal", "mixed"}


def test_folds_are_disjoint_stratified_and_cover_every_trial():
    y = np.repeat([0, 1, 2], [20, 21, 22])
    tests = []
    for fold in range(5):
        split = fold_indices(y, n_folds=5, fold=fold, val_fraction=0.2, seed=3)
        parts = [set(split[name]) for name in ("train", "val", "test")]
        assert sum(map(len, parts)) == len(set().union(*parts)) == len(y)  # disjoint, together every trial
        for name, share in (("test", 1 / 5), ("val", 0.8 * 0.2)):
            assert np.all(np.abs(np.bincount(y[split[name]], minlength=3) - share * np.bincount(y)) <= 1.5), name
        tests.append(split["test"])
    assert np.array_equal(np.sort(np.concatenate(tests)), np.arange(len(y)))


def test_synthetic_datamodule_batches_and_cache(tmp_path, monkeypatch):
    settings = {"n_trials": 10, "n_channels": 4, "duration": 0.5, "data_dir": str(tmp_path), "batch_size": 4}
    datamodule = EEGSyntheticDataModule(regime="spatial", **settings)
    datamodule.prepare_data()
    assert datamodule.cache_path.is_file()
    x, y = next(iter(datamodule.train_dataloader()))
    assert x.shape == (4, 4, 125) and str(x.dtype) == "torch.float32" and str(y.dtype) == "torch.int64"
    assert {name: len(split) for name, split in datamodule.splits.items()} == {"train": 13, "val": 3, "test": 4}
    monkeypatch.setattr(datamodules, "motor_imagery", lambda *args, **kwargs: pytest.fail("regenerated"))
    cached = EEGSyntheticDataModule(regime="spatial", **settings, fold=1)
    assert np.array_equal(cached.trials()[0], datamodule.trials()[0])
    cached.setup()
    assert set(cached.split_indices()["test"].tolist()).isdisjoint(datamodule.split_indices()["test"].tolist())


@pytest.mark.parametrize(("key", "value", "match"), [
    ("fold", 5, "data.fold=5"), ("n_folds", 1, "data.n_folds=1"), ("val_fraction", 1.0, "data.val_fraction"),
    ("regime", "beta", "data.regime='beta'"), ("n_trials", 0, "data.n_trials=0"), ("n_channels", 0, "data.n_channels"),
    ("n_channels", 65, "data.n_channels=65"), ("num_classes", 1, "data.num_classes=1"), ("sfreq", 60.0, "data.sfreq"),
])
def test_bad_synthetic_keys_name_the_key(key, value, match):
    with pytest.raises(ValueError, match=match):
        EEGSyntheticDataModule(**{key: value})


def test_too_few_trials_for_the_folds_names_the_key(tmp_path):
    datamodule = EEGSyntheticDataModule(n_trials=3, n_channels=2, duration=0.5, data_dir=str(tmp_path))
    with pytest.raises(ValueError, match="data.n_folds=5.*only 3 trials"):
        datamodule.setup()


FAKE = {"n_subjects": 1, "n_sessions": 1, "n_runs": 1, "duration": 40, "n_events": 30, "seed": 0,
        "event_list": ["fake1", "fake2"], "channels": ["C3", "Cz", "C4"]}


def fake_moabb(root, **settings) -> MOABBDataModule:
    return MOABBDataModule(**{"dataset": "FakeDataset", "events": ["fake1", "fake2"], "n_channels": 3,
                              "root": str(root), "dataset_kwargs": FAKE, "tmax": 2.0, **settings})


def test_moabb_fake_dataset_extracts_splits_and_caches(tmp_path, monkeypatch):
    pytest.importorskip("moabb")
    datamodule = fake_moabb(tmp_path, download=True, batch_size=5)
    datamodule.prepare_data()
    x, y = datamodule.trials()
    assert x.shape == (30, 3, 257) and x.dtype == np.float32  # 2 s at 128 Hz, both ends included
    assert np.array_equal(y, np.tile([0, 1], 15))  # FakeDataset alternates its events; labels in events' order
    batch_x, batch_y = next(iter(datamodule.train_dataloader()))
    assert batch_x.shape == (5, 3, 257) and set(batch_y.tolist()) <= {0, 1}
    assert sum(len(split) for split in datamodule.splits.values()) == 30
    monkeypatch.setattr(moabb, "moabb_dataset", lambda *args: pytest.fail("MOABB called despite the cache"))
    cached = fake_moabb(tmp_path, download=False)
    assert np.array_equal(cached.trials()[0], x)
    with pytest.raises(ValueError, match="data.n_channels=22.*3 channels"):
        fake_moabb(tmp_path, n_channels=22).trials()


def test_moabb_without_cache_or_download_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(moabb, "moabb_dataset", lambda *args: pytest.fail("MOABB called without download"))
    with pytest.raises(FileNotFoundError, match="no cached MOABB trials at .*data.download=true"):
        MOABBDataModule(root=str(tmp_path)).setup()


def test_moabb_bad_keys_name_the_key():
    with pytest.raises(ValueError, match="data.num_classes=3"):
        MOABBDataModule(num_classes=3)
    with pytest.raises(ValueError, match="data.events"):
        MOABBDataModule(events=["left_hand", "left_hand"])
    pytest.importorskip("moabb")
    with pytest.raises(ValueError, match="data.dataset='NoSuchSet'"):
        moabb.moabb_dataset("NoSuchSet", {})
