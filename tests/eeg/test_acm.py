"""acm_ts / cov_ts against the sample covariance and the scikit-learn pipeline (pyRiemann), their bad-input errors,
checkpoints and adapters; ACMClassifier's order / lag selection."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import zoo
from zoo.adapters import LoRAConfig, inject_adapters
from zoo.eeg import ACMClassifier, baseline
from zoo.functional.spd import tangent_space

D64 = torch.float64


def trials(n: int = 24, channels: int = 4, samples: int = 120, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    mixing = torch.randn(channels, channels, generator=generator)
    return mixing @ torch.randn(n, channels, samples, generator=generator)


def labels(n: int = 24) -> np.ndarray:
    return np.arange(n) % 2


def test_order_one_gives_the_sample_covariance():
    x = trials()
    model = zoo.create_model("acm_ts", n_channels=4, order=1, lag=3, estimator="scm")
    centred = x.double().numpy() - x.double().numpy().mean(-1, keepdims=True)
    expected = centred @ centred.transpose(0, 2, 1) / x.shape[-1]
    np.testing.assert_allclose(model.covariances(x).numpy(), expected, rtol=1e-12, atol=1e-12)
    cov = zoo.create_model("cov_ts", n_channels=4, estimator="scm")
    assert (cov.order, cov.lag) == (1, 1)
    torch.testing.assert_close(cov.covariances(x), model.covariances(x))


@pytest.mark.parametrize("order, lag, estimator", [(1, 1, "oas"), (3, 2, "oas"), (2, 5, "lwf")])
def test_the_module_and_the_sklearn_estimator_give_the_same_features(order, lag, estimator):
    x = trials()
    model = zoo.create_model("acm_ts", n_channels=4, order=order, lag=lag, estimator=estimator).fit_reference(x)
    classifier = ACMClassifier(order=order, lag=lag, estimator=estimator).fit(x.numpy(), labels())
    np.testing.assert_allclose(model.features(x).numpy(), classifier.transform(x.numpy()), rtol=0, atol=1e-8)


def test_the_reference_is_the_riemannian_mean_and_its_tangent_vector_is_zero():
    from pyriemann.geometry.mean import mean_riemann

    x = trials()
    model = zoo.create_model("acm_ts", n_channels=4, order=2, lag=1).fit_reference(x)
    expected = mean_riemann(model.covariances(x).numpy())  # the same iteration and stopping rule (tol 1e-8)
    np.testing.assert_allclose(model.C_ref.numpy(), expected, rtol=0, atol=1e-12)
    whitened = model.C_ref_invsqrt @ model.C_ref @ model.C_ref_invsqrt
    torch.testing.assert_close(whitened, torch.eye(8, dtype=D64), rtol=0, atol=1e-12)
    assert tangent_space(model.C_ref, model.C_ref_invsqrt).abs().max() < 1e-12


def test_bad_input_is_named():
    model = zoo.create_model("acm_ts", n_channels=4, order=6, lag=2)
    with pytest.raises(RuntimeError, match="fit_reference"):
        model(trials())
    with pytest.raises(ValueError, match=r"shorter than \(order - 1\) \* lag \+ 1 = 11"):
        model.fit_reference(trials(samples=10))
    model.fit_reference(trials())
    with pytest.raises(ValueError, match="n_channels=4"):
        model(trials(channels=5))
    bad = trials()
    bad[3, 1, 7] = float("nan")
    with pytest.raises(ValueError, match=r"trials \[3\] contain NaN"):
        model(bad)
    classifier = ACMClassifier(order=2, lag=1).fit(trials().numpy(), labels())
    with pytest.raises(ValueError, match="fitted on 4"):
        classifier.predict(trials(channels=5).numpy())
    with pytest.raises(ValueError, match=r"trials \[3\] contain NaN"):
        classifier.predict(bad.numpy())
    with pytest.raises(ValueError, match="model.estimator"):
        zoo.create_model("acm_ts", estimator="mcd")


def test_a_saved_model_keeps_its_reference(tmp_path):
    x = trials()
    model = zoo.create_model("acm_ts", n_channels=4, order=2, lag=3).fit_reference(x)
    zoo.save_pretrained(model, tmp_path / "acm")
    loaded = zoo.load_model(tmp_path / "acm")
    assert loaded.reference_fitted
    torch.testing.assert_close(loaded(x), model(x), rtol=0, atol=0)


def test_lora_on_the_head_trains_only_the_adapter():
    x, y = trials(), torch.as_tensor(labels())
    model = zoo.create_model("acm_ts", n_channels=4, order=2, lag=2).fit_reference(x)
    inject_adapters(model, LoRAConfig(rank=2))
    trainable = {name for name, parameter in model.named_parameters() if parameter.requires_grad}
    assert trainable == {"head.adapter.A", "head.adapter.B"}
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=0.05)
    before = torch.nn.functional.cross_entropy(model(x), y).item()
    for _ in range(30):
        loss = torch.nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < before


def test_the_grid_scores_are_those_of_a_grid_search_over_the_whole_pipeline():
    """Covariances computed once per grid point give GridSearchCV's inner-CV scores exactly (they are per trial)."""
    from sklearn.model_selection import GridSearchCV, StratifiedKFold

    from zoo.eeg.classifier import _pipeline

    x, y = trials(n=30).numpy(), labels(30)
    grid = ACMClassifier(orders=(1, 2, 3), lags=(1, 3), cv=3, random_state=4).fit(x, y)
    assert set(grid.cv_scores_) == {(1, 1), (2, 1), (2, 3), (3, 1), (3, 3)}  # order 1 once
    search = GridSearchCV(_pipeline(1, 1, "oas", "svm", 1.0, "rbf"), {"embed__order": [2, 3], "embed__lag": [1, 3]},
                          cv=StratifiedKFold(3, shuffle=True, random_state=4)).fit(x, y)
    for params, score in zip(search.cv_results_["params"], search.cv_results_["mean_test_score"]):
        assert grid.cv_scores_[params["embed__order"], params["embed__lag"]] == pytest.approx(score, abs=1e-12)
    assert grid.cv_scores_[grid.order_, grid.lag_] == max(grid.cv_scores_.values())


def test_a_fixed_lag_searches_orders_only_and_the_heuristics_set_both():
    x, y = trials(n=30).numpy(), labels(30)
    fixed_lag = ACMClassifier(lag=2, orders=(1, 3), cv=3).fit(x, y)
    assert fixed_lag.lag_ in (1, 2) and set(fixed_lag.cv_scores_) == {(1, 1), (3, 2)}
    heuristic = ACMClassifier(selection="heuristic", max_lag=10, max_order=4).fit(x, y)
    assert 1 <= heuristic.lag_ <= 10 and 1 <= heuristic.order_ <= 4 and not hasattr(heuristic, "cv_scores_")
    with pytest.raises(ValueError, match="selection"):
        ACMClassifier(selection="bayes").fit(x, y)


def test_scikit_learn_sees_a_classifier_and_stratifies_its_folds():
    """With the mixin after BaseEstimator, scikit-learn >= 1.6 took ACMClassifier for a plain estimator: cv=5 then split
    class-sorted trials into unstratified blocks and scored near 0."""
    from sklearn.base import is_classifier
    from sklearn.model_selection import cross_val_score

    assert is_classifier(ACMClassifier()) and is_classifier(baseline("cov_ts_svm"))
    x, y = trials(n=40).numpy(), np.repeat([0, 1], 20)  # sorted labels
    x[y == 1] *= torch.linspace(1.0, 3.0, 4)[:, None].numpy()  # class 1: louder last channels
    assert cross_val_score(ACMClassifier(order=1, lag=1), x, y, cv=4).min() >= 0.75


@pytest.mark.parametrize("name", ["cov_ts_svm", "csp_lda", "mdm"])
def test_baselines_fit_and_predict(name):
    x, y = trials(n=30).numpy(), labels(30)
    assert baseline(name).fit(x, y).predict(x).shape == (30,)
    with pytest.raises(ValueError, match="unknown baseline"):
        baseline("eegnet")
