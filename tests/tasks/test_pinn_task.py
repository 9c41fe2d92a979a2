"""The pinn task on the quantum-well data: a short run moves E toward π², the metrics of the exact state (either
sign) are zero, the collocation stream is stratified, fresh each pass and reproducible, and bad input is named."""

from __future__ import annotations

import math

import lightning as L
import pytest
import torch

from zoo.data import QuantumWellDataModule
from zoo.pinn.reference import finite_well_energies
from zoo.tasks import PINNTask

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:FutureWarning",
                                        "ignore:.*does not have many workers:UserWarning",
                                        "ignore:.*IterableDataset.*has `__len__` defined:UserWarning",
                                        "ignore:.*smaller than the logging interval:UserWarning")


def trainer(tmp_path, epochs: int = 1) -> L.Trainer:
    return L.Trainer(max_epochs=epochs, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                     enable_model_summary=False, default_root_dir=tmp_path)


def test_a_short_run_moves_the_energy_toward_pi2(tmp_path):
    torch.manual_seed(0)
    data = QuantumWellDataModule(well="box", domain=[0.0, 1.0], n_collocation=128, steps_per_epoch=60, n_reference=200)
    task = PINNTask(model={"name": "pinn_eigen", "domain": [0.0, 1.0], "width": 16, "energy": 1.0,
                           "energy_lr": 0.05}, optimizer={"name": "Adam", "lr": 1e-2})
    trainer(tmp_path, epochs=2).fit(task, datamodule=data)
    assert abs(task.model.energy.item() - math.pi**2) < abs(1.0 - math.pi**2) - 2


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_the_exact_state_scores_zero_whatever_its_sign(tmp_path, sign):
    data = QuantumWellDataModule(well="box", domain=[0.0, 1.0], n_reference=2000)
    task = PINNTask(model={"name": "pinn_eigen", "domain": [0.0, 1.0], "trial": "sin", "energy": math.pi**2},
                    optimizer={"name": "Adam", "lr": 1e-3})
    for layer in (task.model.net[-1].weight, task.model.net[-1].bias):   # N ≡ ±√2: ψ = ±√2 sin(πx)
        torch.nn.init.zeros_(layer)
    with torch.no_grad():
        task.model.net[-1].bias += sign * math.sqrt(2)
    metrics = trainer(tmp_path).test(task, datamodule=data, verbose=False)[0]
    assert metrics["test/energy_rel_error"] < 1e-15 and metrics["test/psi_l2_error"] < 1e-12
    assert metrics["test/energy"] == pytest.approx(math.pi**2) and metrics["test/norm"] == pytest.approx(1, rel=1e-9)


def test_the_references_are_the_closed_forms():
    box = QuantumWellDataModule(well="box", domain=[0.0, 2.0], state=2, n_reference=500).reference()
    assert box["energy"].item() == pytest.approx(math.pi**2)        # (2π/2)²
    assert torch.allclose(box["psi"], torch.sin(math.pi * box["x"][:, 0]), atol=1e-12)
    finite = QuantumWellDataModule(well="finite", v0=10.0, half_width=1.0, domain=[-6.0, 6.0]).reference()
    assert finite["energy"].item() == pytest.approx(finite_well_energies(10.0, 1.0)[0], rel=2e-5)
    assert (finite["psi"] >= 0).all() and finite["potential"][[0, -1]].tolist() == [10.0, 10.0]


def test_the_collocation_stream_is_stratified_fresh_each_pass_and_seeded():
    def passes(seed: int):
        data = QuantumWellDataModule(well="barrier", v0=20.0, half_width=0.1, domain=[-1.0, 1.0], n_collocation=50,
                                     steps_per_epoch=2, seed=seed)
        data.setup()
        return [torch.cat([batch["x"] for batch in data.splits["train"]]) for _ in range(2)]

    first, second = passes(0)
    cells = torch.floor((first[:50, 0] + 1) / 2 * 50)
    assert cells.tolist() == list(range(50))                                          # one point per cell
    assert not torch.equal(first, second) and not torch.equal(first[:50], first[50:])  # fresh every step and pass
    assert all(torch.equal(a, b) for a, b in zip(passes(0), (first, second)))          # the seed fixes them
    batch = next(iter(QuantumWellDataModule(well="barrier", v0=20.0, half_width=0.1, domain=[-1.0, 1.0],
                                            n_collocation=50).train_dataloader()))
    assert torch.equal(batch["potential"], torch.where(batch["x"][:, 0].abs() < 0.1, 20.0, 0.0).double())


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="data.v0=inf: the potential must be finite on the domain"):
        QuantumWellDataModule(v0=math.inf)
    with pytest.raises(ValueError, match=r"data.domain=\[0.5, 3.0\] does not contain the finite \|x\| < 1.0"):
        QuantumWellDataModule(domain=[0.5, 3.0])
    with pytest.raises(ValueError, match="data.n_collocation=0 must be a positive integer"):
        QuantumWellDataModule(n_collocation=0)
    with pytest.raises(ValueError, match="data.well='harmonic': expected one of"):
        QuantumWellDataModule(well="harmonic")
    with pytest.raises(ValueError, match="model 'pinn' has no loss\\(batch\\) and eigenvalue"):
        PINNTask(model={"name": "pinn"}, optimizer={"name": "Adam", "lr": 1e-3})
