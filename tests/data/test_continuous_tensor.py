"""The continuous-indexed synthetic tensors: the generators' closed forms, the splits' shapes, determinism by seed."""

from __future__ import annotations

import math

import pytest
import torch

from zoo.data.tensor import ContinuousTensorDataModule
from zoo.data.tensor.continuous import evaluate, grid

D64 = torch.float64


def test_u1u5_is_the_papers_product():
    coords = torch.tensor([[0.125, 1 / 3], [0.25, 0.5], [0.0, 0.0]], dtype=D64)
    # u₁(1/8) = sin²(π/4) cos(π/4) = √2/4, u₅(1/3) = e^{−2/3} sin(π/2); u₁(1/4) = 0
    expected = torch.tensor([math.sqrt(2) / 4 * math.exp(-2 / 3), 0.0, 0.0], dtype=D64)
    torch.testing.assert_close(evaluate("u1u5", coords), expected, rtol=0, atol=1e-15)


def test_tucker3_is_the_documented_tucker_tensor():
    i = (0.3, 0.6, 0.2)
    u = [(math.sin(2 * math.pi * i[0]), math.cos(math.pi * i[0])),
         (math.exp(-i[1]), math.sin(3 * math.pi * i[1])),
         (math.cos(2 * math.pi * i[2]), 4 * i[2] * (1 - i[2]))]
    W = [[[1.0, 0.5], [-0.5, 0.3]], [[0.2, -0.8], [0.6, 1.0]]]
    expected = sum(W[a][b][c] * u[0][a] * u[1][b] * u[2][c] for a in range(2) for b in range(2) for c in range(2))
    torch.testing.assert_close(evaluate("tucker3", torch.tensor([i], dtype=D64)), torch.tensor([expected], dtype=D64),
                               rtol=0, atol=1e-14)


@pytest.mark.parametrize("tensor,modes", [("u1u5", 2), ("tucker3", 3)])
def test_splits_shapes_and_determinism(tensor, modes):
    def splits(seed):
        data = ContinuousTensorDataModule(tensor=tensor, n_train=40, n_val=7, n_test=5, noise=0.1, seed=seed)
        data.setup()
        return data

    data = splits(0)
    train = next(iter(data.train_dataloader()))
    assert set(train) == {"coords", "y"}
    assert train["coords"].shape == (40, modes) and train["y"].shape == (40,) and train["y"].dtype == D64
    assert ((train["coords"] >= 0) & (train["coords"] <= 1)).all()
    coords, y = next(iter(data.val_dataloader()))
    assert coords.shape == (7, modes) and y.shape == (7,)
    coords, f = next(iter(data.test_dataloader()))
    assert coords.shape == (5**modes, modes) and f.shape == (5**modes,)
    torch.testing.assert_close(coords, grid(modes, 5))
    torch.testing.assert_close(f, evaluate(tensor, coords))        # the test split is noiseless
    assert len(data.train_dataloader()) == len(data.val_dataloader()) == len(data.test_dataloader()) == 1
    again, other = splits(0), splits(1)
    assert torch.equal(again.splits["train"][0]["y"], data.splits["train"][0]["y"])
    assert not torch.equal(other.splits["train"][0]["coords"], data.splits["train"][0]["coords"])
    residual = train["y"] - evaluate(tensor, train["coords"])
    assert 0.03 < residual.std() < 0.2                              # noise of std 0.1


def test_grid_is_cell_centres_last_mode_fastest():
    torch.testing.assert_close(grid(2, 2), torch.tensor([[0.25, 0.25], [0.25, 0.75], [0.75, 0.25], [0.75, 0.75]],
                                                        dtype=D64))


def test_bad_arguments_name_the_fix():
    with pytest.raises(ValueError, match=r"tensor='cube': expected one of \('u1u5', 'tucker3'\)"):
        ContinuousTensorDataModule(tensor="cube")
    with pytest.raises(ValueError, match="n_train, n_val and n_test"):
        ContinuousTensorDataModule(n_train=0)
    with pytest.raises(ValueError, match=r"coords must be \(N, 3\) for tensor='tucker3'"):
        evaluate("tucker3", torch.zeros(4, 2, dtype=D64))
