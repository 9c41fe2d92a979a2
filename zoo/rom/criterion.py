"""An a-priori efficiency criterion for a ROM-net's dictionary of local bases (after Daniel et al., "Physics-informed
cluster analysis and a priori efficiency criterion for the construction of local reduced-order bases").

**Not the paper's formula.** The paper's criterion weighs the projection-error decrease that ``K`` local bases
promise against what the classifier that picks them (the ROM-net) can deliver, so that ``K`` can be calibrated before
any reduced model or classifier is trained; its exact expression could not be read here (only the abstract was
reachable). This module implements the expected-error form of that trade-off, stated in our own symbols.

With ``E[i, l]`` the projection error of held-out snapshot ``i`` on local basis ``l``
(:func:`zoo.rom.projection_error`), ``y_i`` its cluster and ``e_i`` its error on the global POD basis of the same number
of modes, a classifier whose confusion matrix is ``P`` (``P[k, l]``: probability of choosing basis ``l`` for a snapshot
of cluster ``k``) gives the expected error

    ē(P) = (1/n) Σ_i Σ_l P[y_i, l] E[i, l].

For accuracy ``a`` with errors spread evenly over the other ``K − 1`` bases, ``ē(a) = a ē_own + (1 − a) ē_wrong``,
``ē_own = mean_i E[i, y_i]`` (the oracle) and ``ē_wrong = mean_i mean_{l ≠ y_i} E[i, l]``. The dictionary is efficient
when ``ē(a) < ē_glob = mean_i e_i``: the predicted gain ``ē_glob / ē(a)`` exceeds 1, i.e. the classifier's accuracy
exceeds the break-even accuracy

    a* = (ē_wrong − ē_glob) / (ē_wrong − ē_own)

(0 when even a wrong local basis beats the global one; ``inf`` when not even the right one does). More clusters lower
``ē_own`` but raise ``a*`` and split the training snapshots into smaller classes: the trade-off that calibrates ``K``.
"""

from __future__ import annotations

import math

import numpy as np


def uniform_confusion(k: int, accuracy: float) -> np.ndarray:
    """``P (k, k)``: ``accuracy`` on the diagonal, the rest of each row spread evenly over the other ``k − 1``
    classes."""
    if not 0 <= accuracy <= 1:
        raise ValueError(f"accuracy={accuracy!r}: expected a probability in [0, 1]")
    if k == 1:
        return np.ones((1, 1))
    return np.full((k, k), (1 - accuracy) / (k - 1)) + np.eye(k) * (accuracy - (1 - accuracy) / (k - 1))


def expected_error(errors, labels, confusion) -> float:
    """``ē(P) = (1/n) Σ_i Σ_l P[y_i, l] E[i, l]`` for ``errors E (n, K)``, ``labels y (n,)``, ``confusion P (K, K)``
    (rows sum to 1)."""
    E, y, P = _checked(errors, labels)[0], np.asarray(labels), np.asarray(confusion, dtype=np.float64)
    if P.shape != (E.shape[1],) * 2 or np.any(P < 0) or not np.allclose(P.sum(1), 1):
        raise ValueError(f"confusion: expected a ({E.shape[1]}, {E.shape[1]}) matrix of probabilities whose rows sum "
                         f"to 1; got shape {P.shape}")
    return float((P[y] * E).sum(1).mean())


def efficiency_criterion(errors, labels, global_errors, *, accuracy: float) -> dict[str, float]:
    """The criterion of the module doc for errors ``E (n, K)`` on the local bases, clusters ``y (n,)``, errors
    ``e (n,)`` on the global basis and a classifier ``accuracy``. Returns ``own`` (ē_own), ``wrong`` (ē_wrong),
    ``global`` (ē_glob), ``expected`` (ē(a)), ``gain`` (ē_glob / ē(a)) and ``break_even_accuracy`` (a*)."""
    E, y = _checked(errors, labels)
    e = np.asarray(global_errors, dtype=np.float64)
    if e.shape != (len(E),):
        raise ValueError(f"global_errors: expected one per snapshot, shape ({len(E)},); got {e.shape}")
    K = E.shape[1]
    own = float(E[np.arange(len(E)), y].mean())
    wrong = float(((E.sum(1) - E[np.arange(len(E)), y]) / (K - 1)).mean()) if K > 1 else own
    glob = float(e.mean())
    expected = expected_error(E, y, uniform_confusion(K, accuracy))
    if own >= glob:
        break_even = math.inf
    elif wrong <= glob:
        break_even = 0.0
    else:
        break_even = (wrong - glob) / (wrong - own)
    return {"own": own, "wrong": wrong, "global": glob, "expected": expected, "gain": glob / expected,
            "break_even_accuracy": break_even}


def _checked(errors, labels) -> tuple[np.ndarray, np.ndarray]:
    E, y = np.asarray(errors, dtype=np.float64), np.asarray(labels)
    if E.ndim != 2 or y.shape != (len(E),) or not np.issubdtype(y.dtype, np.integer) or y.min() < 0 \
            or y.max() >= E.shape[1]:
        raise ValueError(f"errors (n, K) and integer labels (n,) in 0..K-1 expected; got shapes {E.shape} and "
                         f"{y.shape}")
    return E, y
