"""EEG: the augmented covariance matrix (ACM) classifier on the Riemannian tangent space (Carrara & Papadopoulo),
as a torch module (``acm_ts``, ``cov_ts``) and as a scikit-learn estimator with its baselines; the delay embedding
and the dynamical-systems heuristics for its order and lag."""

from zoo.eeg.acm import ACMTangentSpace
from zoo.eeg.classifier import ACMClassifier, baseline
from zoo.eeg.embedding import delay_embed, false_neighbours_order, mutual_information_lag

__all__ = ["ACMClassifier", "ACMTangentSpace", "baseline", "delay_embed", "false_neighbours_order",
           "mutual_information_lag"]
