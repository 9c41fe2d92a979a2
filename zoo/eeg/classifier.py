"""The ACM classifier as a scikit-learn estimator (the paper's pipeline, for paper-faithful numbers), and its baselines.

``ACMClassifier`` = delay embedding (:func:`zoo.eeg.delay_embed`) → pyRiemann ``Covariances(estimator)`` →
``TangentSpace(metric="riemann")`` → ``SVC`` (MOABB's ``AUG_TANG_SVM_grid`` pipeline), or → pyRiemann ``MDM`` on the
augmented covariances. ``order`` and ``lag`` are fixed, or chosen on the training data only: by an inner
cross-validated grid search (``selection="cv"``; run the estimator inside an outer cross-validation and the whole
is the nested CV the paper reports — a grid search scored on its own folds is optimistic), or by the dynamical-systems
heuristics (``selection="heuristic"``: mutual information for the lag, false nearest neighbours for the order). The
chosen ``order_`` and ``lag_`` are attributes after ``fit``.

Baselines of the same data (:func:`baseline`): ``cov_ts_svm`` (the order-1 ACM: covariance + tangent space + SVM),
``csp_lda`` (CSP log-variance features + LDA), ``mdm`` (minimum distance to the Riemannian class means).

pyRiemann is the ``eeg`` extra, imported when an estimator is built.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import Pipeline

from zoo.eeg.embedding import check_trials, delay_embed, false_neighbours_order, mutual_information_lag
from zoo.optional import require

SELECTIONS = ("cv", "heuristic")
CLASSIFIERS = ("svm", "mdm")
BASELINES = ("cov_ts_svm", "csp_lda", "mdm")


class DelayEmbedding(TransformerMixin, BaseEstimator):
    """``X (n_trials, C, T)`` -> ``(n_trials, order·C, T')`` float64 (:func:`zoo.eeg.delay_embed`)."""

    def __init__(self, order: int = 1, lag: int = 1, moabb: bool = False):
        self.order, self.lag, self.moabb = order, lag, moabb

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return delay_embed(torch.as_tensor(np.asarray(X, dtype=np.float64)), self.order, self.lag,
                           moabb=self.moabb).numpy()


def _pipeline(order: int, lag: int, estimator: str, classifier: str, C: float, kernel: str) -> Pipeline:
    from sklearn.svm import SVC

    MDM, Covariances = require("pyriemann.classification").MDM, require("pyriemann.estimation").Covariances
    TangentSpace = require("pyriemann.tangentspace").TangentSpace

    steps = [("embed", DelayEmbedding(order, lag)), ("cov", Covariances(estimator=estimator))]
    if classifier == "svm":
        steps += [("ts", TangentSpace(metric="riemann")), ("svc", SVC(C=C, kernel=kernel))]
    else:
        steps.append(("mdm", MDM(metric="riemann")))
    return Pipeline(steps)


class ACMClassifier(ClassifierMixin, BaseEstimator):
    """Augmented covariance + tangent space + SVM (or MDM) on trials ``X (n_trials, C, T)``, labels ``y``.

    Args:
        order, lag: ``p`` and ``τ`` (samples); ``None`` chooses them on the training data by ``selection``.
        estimator: pyRiemann's covariance estimator (``"oas"``; ``"cov"`` is MOABB's, rank deficient for large pC).
        classifier: ``"svm"`` or ``"mdm"``. C, kernel: the SVC's.
        selection: ``"cv"`` (grid ``orders`` × ``lags``, ``cv`` stratified folds, by accuracy; 3 as MOABB's
            within-session evaluation) or ``"heuristic"``.
        max_lag, max_order: the heuristics' search ranges. random_state: of the inner folds.
    Attributes after ``fit``: ``order_``, ``lag_``, ``pipeline_``, ``classes_``, ``n_channels_``, and ``cv_scores_``
    (``{(order, lag): inner-CV accuracy}``) when the grid chose.
    """

    def __init__(self, order: int | None = None, lag: int | None = None, estimator: str = "oas",
                 classifier: str = "svm", C: float = 1.0, kernel: str = "rbf", selection: str = "cv",
                 orders=(1, 2, 3, 4, 5, 6), lags=(1, 2, 3, 4, 5, 6), cv: int = 3, max_lag: int = 20,
                 max_order: int = 10, random_state: int | None = 0):
        self.order, self.lag, self.estimator, self.classifier = order, lag, estimator, classifier
        self.C, self.kernel, self.selection, self.orders, self.lags, self.cv = C, kernel, selection, orders, lags, cv
        self.max_lag, self.max_order, self.random_state = max_lag, max_order, random_state

    def fit(self, X, y):
        X, y = self._check(X, fitting=True), np.asarray(y)
        if self.selection not in SELECTIONS or self.classifier not in CLASSIFIERS:
            raise ValueError(f"selection={self.selection!r} must be one of {SELECTIONS} and classifier="
                             f"{self.classifier!r} one of {CLASSIFIERS}")
        order, lag = self.order, self.lag
        if self.selection == "heuristic":
            lag = mutual_information_lag(X, max_lag=self.max_lag) if lag is None else lag
            order = false_neighbours_order(X, lag, max_order=self.max_order) if order is None else order
        if order is None or lag is None:
            self.cv_scores_ = self._grid_scores(X, y, [order] if order else list(self.orders),
                                                [lag] if lag else list(self.lags))
            order, lag = max(self.cv_scores_, key=self.cv_scores_.get)  # the first of the best, as GridSearchCV
        self.pipeline_ = _pipeline(order, lag, self.estimator, self.classifier, self.C, self.kernel).fit(X, y)
        self.order_, self.lag_, self.classes_ = order, lag, self.pipeline_.classes_
        return self

    def _grid_scores(self, X: np.ndarray, y: np.ndarray, orders: list[int], lags: list[int]) -> dict:
        """``{(order, lag): mean inner-CV accuracy}`` over the feasible grid (order 1 once: its lag is moot). A
        trial's covariance does not depend on the other trials, so each grid point's covariances are computed once
        and the inner folds refit only what is fitted on data (the tangent space's reference and the classifier):
        the scores of a ``GridSearchCV`` over the whole pipeline, at a fifth of the cost."""
        folds = StratifiedKFold(self.cv, shuffle=True, random_state=self.random_state)
        grid = [(p, 1 if p == 1 else t) for p in orders for t in lags if (p - 1) * t + 2 <= X.shape[-1]]
        scores = {}
        for order, lag in dict.fromkeys(grid):
            pipeline = _pipeline(order, lag, self.estimator, self.classifier, self.C, self.kernel)
            covariances = pipeline[:2].transform(X)
            scores[order, lag] = float(cross_val_score(pipeline[2:], covariances, y, cv=folds).mean())
        if not scores:
            raise ValueError(f"no (order, lag) of the grid fits trials of {X.shape[-1]} samples: lower the orders / lags")
        return scores

    def _check(self, X, fitting: bool = False) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        check_trials(X, 1, 1, name="X")
        bad = np.isnan(X).reshape(len(X), -1).any(1)
        if bad.any():
            raise ValueError(f"trials {np.flatnonzero(bad)[:10].tolist()} contain NaN samples: drop or interpolate "
                             f"them before fitting or predicting")
        if fitting:
            self.n_channels_ = X.shape[1]
        elif X.shape[1] != self.n_channels_:
            raise ValueError(f"X has {X.shape[1]} channels but the classifier was fitted on {self.n_channels_}: "
                             f"give it the same channels, in the same order")
        return X

    def transform(self, X) -> np.ndarray:
        """The tangent vectors ``(n_trials, pC(pC+1)/2)`` the SVM sees (``classifier="svm"`` only)."""
        return self.pipeline_[:-1].transform(self._check(X))

    def predict(self, X) -> np.ndarray:
        return self.pipeline_.predict(self._check(X))

    def decision_function(self, X) -> np.ndarray:
        return self.pipeline_.decision_function(self._check(X))


def baseline(name: str, n_filters: int = 6, estimator: str = "oas"):
    """A scikit-learn baseline on trials ``(n_trials, C, T)``: ``cov_ts_svm``, ``csp_lda`` or ``mdm`` (module doc)."""
    if name not in BASELINES:
        raise ValueError(f"unknown baseline {name!r}: expected one of {BASELINES}")
    if name == "cov_ts_svm":
        return ACMClassifier(order=1, lag=1, estimator=estimator)
    if name == "mdm":
        return ACMClassifier(order=1, lag=1, estimator=estimator, classifier="mdm")
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

    Covariances, CSP = require("pyriemann.estimation").Covariances, require("pyriemann.spatialfilters").CSP

    return Pipeline([("cov", Covariances(estimator=estimator)), ("csp", CSP(nfilter=n_filters, log=True)),
                     ("lda", LinearDiscriminantAnalysis())])


__all__ = ["ACMClassifier", "BASELINES", "DelayEmbedding", "baseline"]
