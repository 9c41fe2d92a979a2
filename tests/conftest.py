"""Shared fixtures: compose the real Hydra configs into a temporary run folder, offline."""

from __future__ import annotations

import os

import pytest
from hydra import compose, initialize_config_dir

from zoo.cli import CONFIG_DIR

os.environ.setdefault("WANDB_MODE", "disabled")


@pytest.fixture
def make_cfg(tmp_path):
    """``make_cfg(*overrides, config="train", folder=None)``: a composed config whose run folder is ``tmp_path`` (or
    ``tmp_path / folder``: two runs never share a folder) and whose data folder is ``tmp_path / "data"``."""

    def make(*overrides: str, config: str = "train", folder: str | None = None):
        output = tmp_path / folder if folder else tmp_path
        with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
            return compose(config, overrides=[f"paths.output_dir={output}", f"paths.data_dir={tmp_path / 'data'}",
                                              *overrides])

    return make
