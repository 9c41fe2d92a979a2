"""The potential task: forces are −∇E (an exact pair potential scores 0), it trains a MACE, and it evaluates with
gradients under Lightning's inference mode, on every test split."""

from __future__ import annotations

import lightning as L
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader
from torch_geometric.data import Batch, Data

import zoo
from zoo.registry import _REGISTRY
from zoo.tasks import PotentialTask

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:FutureWarning",
                                        "ignore:.*does not have many workers:UserWarning")
K, R0 = 2.0, 1.0


def pair_energy(pos: torch.Tensor) -> torch.Tensor:
    """``Σ_{i<j} ½ K (|r_ij| − R0)²`` of one molecule ``(n, 3)``."""
    i, j = torch.triu_indices(len(pos), len(pos), 1)
    return (0.5 * K * ((pos[i] - pos[j]).norm(dim=-1) - R0).square()).sum()


def pair_forces(pos: torch.Tensor) -> torch.Tensor:
    """``F_i = −Σ_j K (|r_ij| − R0) (r_i − r_j) / |r_ij|``, in closed form."""
    diff = pos[:, None] - pos[None]
    distance = diff.norm(dim=-1).fill_diagonal_(1.0)
    scale = K * (distance - R0) / distance
    return -(scale.fill_diagonal_(0.0)[..., None] * diff).sum(1)


class PairPotential(nn.Module):
    def __init__(self):
        super().__init__()
        self.unused = nn.Parameter(torch.zeros(()))      # an optimizer needs a parameter

    def forward(self, batch) -> torch.Tensor:
        return torch.stack([pair_energy(batch.pos[batch.batch == b]) for b in range(int(batch.batch.max()) + 1)])


def molecules(n: int, seed: int) -> list[Data]:
    generator = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        pos = torch.randn(3, 3, generator=generator)
        out.append(Data(pos=pos, z=torch.tensor([8, 1, 1]), energy=pair_energy(pos)[None], forces=pair_forces(pos)))
    return out


class PairData(L.LightningDataModule):
    test_names = ("test", "test_hot")

    def loader(self, n: int, seed: int) -> DataLoader:
        return DataLoader(molecules(n, seed), batch_size=8, collate_fn=Batch.from_data_list)

    def train_dataloader(self):
        return self.loader(64, 0)

    def val_dataloader(self):
        return self.loader(16, 1)

    def test_dataloader(self):
        return [self.loader(16, 2), self.loader(16, 3)]


def trainer(tmp_path, **kwargs) -> L.Trainer:
    return L.Trainer(default_root_dir=tmp_path, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                     enable_model_summary=False, **kwargs)


def test_an_exact_potential_scores_zero_on_every_test_split(monkeypatch, tmp_path):
    monkeypatch.setattr("zoo.registry._REGISTRY", dict(_REGISTRY))
    zoo.register_model("pair_potential", family="test", paper="-", task="potential")(PairPotential)
    task = PotentialTask({"name": "pair_potential"}, {"name": "Adam", "lr": 0.0})
    results = trainer(tmp_path).test(task, datamodule=PairData())      # inference_mode=True, Lightning's default
    for name, result in zip(("test", "test_hot"), results):
        assert result[f"{name}/forces_mae"] < 1e-3 and result[f"{name}/energy_mae"] < 1e-3
        assert result[f"{name}/loss"] < 1e-10


def test_the_task_trains_a_mace_on_energies_and_forces(tmp_path):
    torch.manual_seed(0)
    model = {"name": "gaunt_mace", "channels": 8, "lmax": 2, "radial_hidden": 16, "cutoff": 4.0,
             "avg_neighbors": 2.0}
    task = PotentialTask(model, {"name": "Adam", "lr": 0.01})
    data = PairData()
    before = trainer(tmp_path).validate(task, datamodule=data)[0]["val/forces_mae"]
    trainer(tmp_path, max_epochs=15).fit(task, datamodule=data)
    after = trainer(tmp_path).validate(task, datamodule=data)[0]["val/forces_mae"]
    assert after < 0.5 * before


def test_batches_without_forces_and_bad_weights_are_clear_errors():
    task = PotentialTask({"name": "cg_mace", "channels": 4, "lmax": 1}, {"name": "Adam", "lr": 0.01})
    batch = Batch.from_data_list([Data(pos=torch.randn(3, 3), z=torch.tensor([8, 1, 1]), energy=torch.zeros(1))])
    with pytest.raises(ValueError, match="has no 'forces'"):
        task.shared_step(batch, "train")
    with pytest.raises(ValueError, match="not both zero"):
        PotentialTask({"name": "cg_mace"}, {"name": "Adam", "lr": 0.01}, energy_weight=0.0, forces_weight=0.0)
