"""One ``train.py`` run composed and trained in this process, single-threaded: what the study scripts run per job (in
a pool of spawned workers, each run in its own folder)."""

from __future__ import annotations

import os


def train_single_threaded(overrides: list[str]) -> dict:
    """``train.py <overrides>`` on one thread; returns its summary (``metrics``, ``fit_seconds``, checkpoints)."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch
    from hydra import compose, initialize_config_dir

    from zoo.cli import CONFIG_DIR, train

    torch.set_num_threads(1)
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose("train", overrides=overrides)
    return train(cfg)
