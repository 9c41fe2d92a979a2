"""An operator run keeps its training split's input and output statistics and uses them on any data it is given.

One small FNO-on-Darcy run (coefficient 12 / 3) is trained once; its checkpoint must hold the statistics of the
raw training fields (computed here in float64 from the cache), ``eval.py`` on a set with another contrast (24 / 6)
must normalise with them (checked against a hand computation from the bare model), and a checkpoint written
before the input statistics were stored must still evaluate, with a warning.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir

import zoo
from zoo.checkpoint import CheckpointError
from zoo.cli import CONFIG_DIR, evaluate, train
from zoo.normaliser import load_operator, operator_statistics

DATA = ["data.n_train=16", "data.n_val=8", "data.n_test=8", "data.batch_size=8", "data.resolution=9",
        "data.test_resolutions=[9,17]"]
SHIFTED = ["data.a_pos=24", "data.a_neg=6"]  # the same GRFs thresholded to twice the coefficients


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("operator")

    def config(name: str, *overrides: str, output: str = "run"):
        with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
            return compose(name, overrides=[f"paths.output_dir={folder / output}", f"paths.data_dir={folder / 'data'}",
                                            *overrides])

    fitted = train(config("train", "experiment=fno_darcy", "trainer.max_epochs=3", "model.width=8", "model.modes=4",
                          "logger=none", "callbacks=default", *DATA))
    return {"folder": folder, "config": config, "best": fitted["best_checkpoint"], "metrics": fitted["metrics"]}


def raw(folder: Path, contrast: str, split: str, resolution: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``x`` and ``y`` of a cached Darcy split (solved on the 17² grid), subsampled to ``resolution`` by hand."""
    size = {"train": 16, "test": 8}[split]
    (path,) = (folder / "data" / "darcy").glob(f"*-a{contrast}-*-{split}{size}.pt")
    data = torch.load(path, weights_only=True)
    step = (17 - 1) // (resolution - 1)
    return data["x"][..., ::step, ::step], data["y"][..., ::step, ::step]


def rel_l2(prediction: torch.Tensor, target: torch.Tensor) -> float:
    """Mean over samples of ‖ŷ − y‖₂ / ‖y‖₂, in float64."""
    error = (prediction.double() - target.double()).flatten(1).norm(dim=1) / target.double().flatten(1).norm(dim=1)
    return error.mean().item()


def test_the_checkpoint_holds_the_training_splits_input_and_output_statistics(run):
    state = torch.load(run["best"], weights_only=True)["state_dict"]
    x, y = raw(run["folder"], "12-3", "train", 9)
    for name, field in (("x", x), ("y", y)):
        field = field.double()
        torch.testing.assert_close(state[f"{name}_mean"].double(), field.mean((0, 2, 3)), rtol=1e-6, atol=0)
        torch.testing.assert_close(state[f"{name}_std"].double(), field.std((0, 2, 3)), rtol=1e-6, atol=0)
    assert 5 < state["x_mean"].item() < 10 and state["x_std"].item() > 3  # the coefficient, 3 or 12: raw, not 0 / 1
    assert operator_statistics(run["best"]).keys() == {"x_mean", "x_std", "y_mean", "y_std"}


def test_eval_on_a_shifted_set_normalises_with_the_training_statistics(run):
    evaluated = evaluate(run["config"]("eval", f"ckpt_path={run['best']}", "data=darcy", *DATA, *SHIFTED,
                                       output="shifted"))["metrics"]
    model, stats = zoo.load_model(run["best"]), operator_statistics(run["best"])
    operator = load_operator(run["best"])
    shifted_x_mean, shifted_x_std = 2 * stats["x_mean"], 2 * stats["x_std"]  # twice the coefficients, same GRFs
    for resolution, name in ((9, "test/rel_l2"), (17, "test_17/rel_l2")):
        x, y = raw(run["folder"], "24-6", "test", resolution)
        with torch.no_grad():
            by_hand = model((x - stats["x_mean"]) / stats["x_std"]) * stats["y_std"] + stats["y_mean"]
            renormalised = model((x - shifted_x_mean) / shifted_x_std) * stats["y_std"] + stats["y_mean"]
            torch.testing.assert_close(operator(x), by_hand)  # load_operator: raw fields in, physical out
        assert evaluated[name] == pytest.approx(rel_l2(by_hand, y), rel=1e-4)
        assert rel_l2(renormalised, y) != pytest.approx(evaluated[name], rel=1e-3)  # what the set's own stats give


def test_a_checkpoint_without_input_statistics_evaluates_with_a_warning(run):
    checkpoint = torch.load(run["best"], weights_only=True)
    del checkpoint["state_dict"]["x_mean"], checkpoint["state_dict"]["x_std"]
    old = run["folder"] / "old.ckpt"
    torch.save(checkpoint, old)
    current = evaluate(run["config"]("eval", f"ckpt_path={run['best']}", output="current"))["metrics"]
    with pytest.warns(UserWarning, match="written before checkpoints stored their input statistics"):
        legacy = evaluate(run["config"]("eval", f"ckpt_path={old}", output="old"))["metrics"]
    for name in ("test/rel_l2", "test_17/rel_l2"):  # its own data: the datamodule's statistics are the stored ones
        assert legacy[name] == pytest.approx(current[name], rel=1e-6)
    with pytest.raises(CheckpointError, match="no x_mean / x_std"):
        load_operator(old)
