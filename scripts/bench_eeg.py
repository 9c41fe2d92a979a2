"""The ACM tangent-space features in torch (``acm_ts``) against the paper's pipeline in MOABB + pyRiemann, for
``scripts/benchmark.py --comparisons eeg``.

One measurement fits the reference point and maps every trial: for ``zoo``, ``model.fit_reference(x)`` then
``model.features(x)`` (delay embedding, OAS, Riemannian mean, tangent space, float64 torch); for ``pyriemann``, MOABB's
``AugmentedDataset`` → ``Covariances("oas")`` → ``TangentSpace(metric="riemann").fit_transform`` (numpy). The data are
the synthetic motor-imagery size (``EEG_SIZE``: 400 trials of 16 channels × 500 samples); orders 1, 4, 6 at lag 6
(augmented covariances of 16, 64 and 96 rows). Interleaved rounds, medians; ``ratio`` = pyriemann / zoo.
"""

from __future__ import annotations

import numpy as np
import torch

from bench_timing import interleaved_medians

EEG_SIZE = {"trials": 400, "channels": 16, "samples": 500, "lag": 6, "orders": (1, 4, 6)}


def time_acm(order: int, device: str, repeats: int) -> dict:
    """Median ms of the zoo and the pyRiemann feature pipelines at ``order``."""
    from moabb.pipelines.features import AugmentedDataset
    from pyriemann.estimation import Covariances
    from pyriemann.tangentspace import TangentSpace
    from sklearn.pipeline import make_pipeline

    import zoo

    rng = np.random.default_rng(0)
    x = rng.standard_normal((EEG_SIZE["trials"], EEG_SIZE["channels"], EEG_SIZE["samples"])).astype(np.float32)
    x = np.einsum("ij,njt->nit", rng.standard_normal((EEG_SIZE["channels"],) * 2), x).astype(np.float32)
    lag = EEG_SIZE["lag"] if order > 1 else 1
    model = zoo.create_model("acm_ts", n_channels=EEG_SIZE["channels"], order=order, lag=lag).to(device)
    trials = torch.from_numpy(x).to(device)
    reference = make_pipeline(AugmentedDataset(order=order, lag=lag), Covariances("oas"), TangentSpace())
    labels = np.arange(len(x)) % 2  # AugmentedDataset.fit requires y; nothing here uses it

    def ours():
        with torch.no_grad():
            return model.fit_reference(trials).features(trials)

    medians = interleaved_medians({"zoo_ms": ours, "pyriemann_ms": lambda: reference.fit_transform(x, labels)}, repeats,
                                  device)
    return {**medians, "ratio": medians["pyriemann_ms"] / medians["zoo_ms"], "ms": float("nan"),
            "peak_mib": float("nan")}


def print_report(results: dict) -> dict:
    print(f"ACM features of {EEG_SIZE['trials']} trials ({EEG_SIZE['channels']} channels x {EEG_SIZE['samples']} "
          f"samples, lag {EEG_SIZE['lag']}), reference fit + tangent space, ms")
    print(f"{'order':>6}{'zoo':>10}{'pyriemann':>12}{'ratio':>9}")
    for order, result in results.items():
        print(f"{order:>6}{result['zoo_ms']:>10.1f}{result['pyriemann_ms']:>12.1f}{result['ratio']:>8.2f}x")
    return results
