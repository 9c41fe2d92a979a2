"""The pde_solve task: Adam then L-BFGS on the model's own objective, the final iterate tested, clear errors."""

from __future__ import annotations

import lightning as L
import pytest
import torch

from zoo.data import ManufacturedPDEDataModule
from zoo.tasks import PDESolveTask

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:FutureWarning",
                                        "ignore:.*does not have many workers:UserWarning",
                                        "ignore:.*smaller than the logging interval:UserWarning")


def test_adam_then_lbfgs_and_the_final_iterate_is_tested(tmp_path):
    data = ManufacturedPDEDataModule(problem="allen_cahn_sin", grid=[202], n_val=50, n_test=300, steps_per_epoch=4)
    task = PDESolveTask(model={"name": "pinn", "width": 8, "depth": 1}, optimizer={"name": "Adam", "lr": 1e-2},
                        lbfgs_steps=3)
    trainer = L.Trainer(max_epochs=2, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, default_root_dir=tmp_path)
    trainer.fit(task, datamodule=data)
    adam, lbfgs = task.optimizers()
    assert adam.optimizer.state[next(task.model.parameters())]["step"] == 5
    assert lbfgs.optimizer.state[lbfgs.optimizer.param_groups[0]["params"][0]]["n_iter"] == 3
    metrics = trainer.test(task, datamodule=data, verbose=False)[0]
    x, u = data.splits["test"][0]
    with torch.no_grad():
        expected = (task.model(x) - u).norm() / u.norm()
    assert metrics["test/rel_l2"] == pytest.approx(expected.item(), rel=1e-6)
    assert metrics["test/max_error"] == pytest.approx((task.model(x) - u).abs().max().item(), rel=1e-6)


def test_a_model_without_its_own_objective_is_refused():
    with pytest.raises(ValueError, match="model 's4d' has no loss\\(problem\\): the pde_solve task trains solvers"):
        PDESolveTask(model={"name": "s4d"}, optimizer={"name": "Adam", "lr": 1e-3})
    with pytest.raises(ValueError, match="lbfgs_steps=-1 must be >= 0"):
        PDESolveTask(model={"name": "pinn"}, optimizer={"name": "Adam", "lr": 1e-3}, lbfgs_steps=-1)
