"""The augmented covariance matrix (ACM) classifier on the Riemannian tangent space, as a torch module.

Carrara & Papadopoulo, "Classification of BCI-EEG based on augmented covariance matrix": a band-passed epoch
``X (C, T)`` is delay-embedded with order ``p`` and lag ``τ`` (:func:`zoo.eeg.delay_embed`), ``X̃ (pC, T')``; its
shrinkage covariance ``Σ̃`` (OAS by default: the plain estimator is rank deficient when ``pC`` nears ``T'``) is the
block matrix of lagged auto- and cross-covariances of a VAR(p) model's Yule–Walker equations. Trials are compared
in the tangent space at the Riemannian mean ``C_ref`` of the training ACMs::

    s = upper(log(C_ref^{−1/2} Σ̃ C_ref^{−1/2}))  ∈ R^{pC(pC+1)/2},        logits = W s + b

(``upper``: :func:`zoo.functional.spd.upper`, so ``‖s‖`` is the affine-invariant distance of ``Σ̃`` to ``C_ref``).
The paper classifies ``s`` with an SVM (:class:`zoo.eeg.ACMClassifier`, the scikit-learn form); here a linear head
trains by gradient descent, so the model trains through the classification task, fine-tunes and takes adapters
like every other model. ``cov_ts`` is ``order = 1``: the covariance + tangent space baseline.

``C_ref`` is data, not a parameter: :meth:`ACMTangentSpace.fit_reference` sets it (and ``C_ref^{−1/2}``) from
training trials, and the classification task calls it when a fit starts on a model whose reference is unset. The
geometry runs in float64 whatever the head's dtype.
"""

from __future__ import annotations

import torch
from torch import nn

from zoo.eeg.embedding import check_trials, delay_embed
from zoo.functional.spd import ESTIMATORS, covariance, invsqrtm, riemannian_mean, tangent_space
from zoo.registry import register_model

PAPER = "Classification of BCI-EEG based on augmented covariance matrix (Carrara & Papadopoulo)"


def _example(model: "ACMTangentSpace"):
    trials = torch.randn(6, model.n_channels, 64)
    model.fit_reference(trials)
    return trials[:2], (2, model.n_classes)


@register_model("acm_ts", family="eeg", paper=PAPER, task="classification", example=_example)
class ACMTangentSpace(nn.Module):
    """``forward(x (B, C, T)) -> logits (B, n_classes)``; ``features(x) -> s (B, pC(pC+1)/2)`` float64.

    Args:
        n_channels: C. n_classes: of the head. order, lag: p and τ (samples) of the delay embedding.
        estimator: the covariance estimator, ``"oas"``, ``"lwf"``, ``"scm"`` or ``"cov"``
            (:mod:`zoo.functional.spd`). moabb_trim: drop the last τ samples of the embedding as MOABB's
            ``AugmentedDataset`` does (:mod:`zoo.eeg.embedding`).
    Buffers ``C_ref`` and ``C_ref_invsqrt`` ``(pC, pC)`` float64: zero until :meth:`fit_reference`.
    """

    def __init__(self, n_channels: int = 16, n_classes: int = 2, order: int = 4, lag: int = 2,
                 estimator: str = "oas", moabb_trim: bool = False):
        super().__init__()
        if estimator not in ESTIMATORS:
            raise ValueError(f"model.estimator={estimator!r}: expected one of {ESTIMATORS}")
        for key, value in (("n_channels", n_channels), ("n_classes", n_classes), ("order", order), ("lag", lag)):
            if value < 1:
                raise ValueError(f"model.{key}={value} must be a positive integer")
        self.n_channels, self.n_classes, self.order, self.lag = n_channels, n_classes, order, lag
        self.estimator, self.moabb_trim = estimator, moabb_trim
        size = order * n_channels
        self.register_buffer("C_ref", torch.zeros(size, size, dtype=torch.float64))
        self.register_buffer("C_ref_invsqrt", torch.zeros(size, size, dtype=torch.float64))
        self.head = nn.Linear(size * (size + 1) // 2, n_classes)

    @property
    def reference_fitted(self) -> bool:
        return bool(self.C_ref.diagonal().gt(0).all())

    def covariances(self, x: torch.Tensor) -> torch.Tensor:
        """Trials ``x (B, C, T)`` -> augmented covariances ``Σ̃ (B, pC, pC)`` float64."""
        check_trials(x, self.order, self.lag)
        if x.shape[1] != self.n_channels:
            raise ValueError(f"trials of {x.shape[1]} channels given to a model built for n_channels="
                             f"{self.n_channels}: build it with model.n_channels={x.shape[1]}, or pick the channels it "
                             f"was fitted on")
        bad = torch.isnan(x).flatten(1).any(1)
        if bad.any():
            raise ValueError(f"trials {bad.nonzero().flatten()[:10].tolist()} contain NaN samples: drop or "
                             f"interpolate them before classifying")
        return covariance(delay_embed(x.double(), self.order, self.lag, moabb=self.moabb_trim), self.estimator)

    @torch.no_grad()
    def fit_reference(self, x: torch.Tensor, chunk: int = 256) -> "ACMTangentSpace":
        """Set ``C_ref`` to the Riemannian mean of the ACMs of training trials ``x (N, C, T)``."""
        covariances = torch.cat([self.covariances(part) for part in x.to(self.C_ref.device).split(chunk)])
        mean = riemannian_mean(covariances)
        self.C_ref.copy_(mean)
        self.C_ref_invsqrt.copy_(invsqrtm(mean))
        return self

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Tangent vectors ``s (B, pC(pC+1)/2)`` float64 of trials ``x (B, C, T)`` at ``C_ref``."""
        if not self.reference_fitted:
            raise RuntimeError("the tangent space's reference point C_ref is not set: call model.fit_reference("
                               "train_x) first (the classification task does it when a fit starts)")
        return tangent_space(self.covariances(x), self.C_ref_invsqrt)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).to(self.head.weight.dtype))


@register_model("cov_ts", family="eeg", paper=PAPER + ": its covariance baseline", task="classification",
                example=_example)
def cov_ts(n_channels: int = 16, n_classes: int = 2, estimator: str = "oas") -> ACMTangentSpace:
    """The spatial covariance on the tangent space (``acm_ts`` with ``order=1``): the baseline the ACM extends."""
    return ACMTangentSpace(n_channels=n_channels, n_classes=n_classes, order=1, lag=1, estimator=estimator)


__all__ = ["ACMTangentSpace", "cov_ts"]
