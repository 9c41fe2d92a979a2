"""The spectra evaluator with an oracle model: top-k, validity, stability and the retrieval baseline beside them, on
the fake shards of tests/data/spectra/test_spectra.py."""

import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

pytest.importorskip("rdkit")
from rdkit import Chem  # noqa: E402

from zoo.data import SpectraDataModule  # noqa: E402
from zoo.evaluation import SpectraEvaluator  # noqa: E402

sys.path.insert(0, str(Path(__file__).parents[1] / "data" / "spectra"))
from test_spectra import shard_dir  # noqa: E402, F401  (the fixture: 12 hand-made molecules in 3 shards)


class OracleModel(torch.nn.Module):
    """Returns the true molecule as the first of every k samples of a spectrum and ``None`` for the others."""

    def __init__(self, test: list[dict], k: int):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.lookup = {int(item["spectrum"].argmax()): item["smiles"] for item in test}
        self.k, self.calls = k, []

    def sample(self, spectrum, n_atoms=None, n_steps=None):
        self.calls.append((spectrum.shape, None if n_atoms is None else n_atoms.tolist(), n_steps))
        out = []
        for row, one in enumerate(spectrum):
            mol = Chem.AddHs(Chem.MolFromSmiles(self.lookup[int(one.argmax())])) if row % self.k == 0 else None
            out.append((mol, torch.zeros(1, 3)))
        return out


def test_sample_metrics_with_an_oracle(shard_dir):  # noqa: F811
    data = SpectraDataModule(data_dir=str(shard_dir), n_train=6, n_val=2, n_test=4, batch_size=3)
    model = OracleModel(data.split("test"), k=2)
    metrics = SpectraEvaluator(n_spectra=3, k=2, sample_steps=7)(model, data)
    assert [call[0] for call in model.calls] == [(6, 3501)]  # 3 spectra × k = 2 in one batch
    assert model.calls[0][1] == [n for item in data.split("test")[:3] for n in [len(item["atom_types"])] * 2]
    assert model.calls[0][2] == 7
    assert metrics["top1"] == metrics["top2"] == 1.0 and metrics["validity"] == metrics["connected"] == 0.5
    assert metrics["atom_stability"] == 1.0 and metrics["molecule_stability"] == 0.5 and metrics["tanimoto"] == 1.0
    assert metrics["true_atom_count"] == 1.0
    # the retrieval baseline on the same spectra comes along (its values: tests/test_molecule_metrics.py)
    assert set(metrics) >= {"nn_top1", "nn_top2", "nn_tanimoto"}
    predicted = SpectraDataModule(data_dir=str(shard_dir), n_train=6, n_val=2, n_test=4)
    model = OracleModel(predicted.split("test"), k=2)
    assert SpectraEvaluator(n_spectra=3, k=2, atom_count="predicted")(model, predicted)["true_atom_count"] == 0.0
    assert model.calls[0][1] is None


def test_sample_metrics_is_tiny_under_fast_dev_run(shard_dir):  # noqa: F811
    data = SpectraDataModule(data_dir=str(shard_dir), n_train=6, n_val=2, n_test=4)
    data.trainer = SimpleNamespace(fast_dev_run=True)
    model = OracleModel(data.split("test"), k=2)
    metrics = SpectraEvaluator(n_spectra=4, k=10, sample_steps=100)(model, data)
    assert model.calls[0][0] == (4, 3501) and model.calls[0][2] == 5  # 2 spectra × 2 samples, 5 steps
    assert metrics["top1"] == metrics["top2"] == 1.0


def test_bad_settings_are_clear_errors():
    with pytest.raises(ValueError, match="atom_count"):
        SpectraEvaluator(atom_count="guess")
