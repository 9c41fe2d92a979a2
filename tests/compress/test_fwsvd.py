"""FWSVD and SVD in float64 against closed forms: the SVD of the weighted matrix, the Eckart–Young tail, the
per-sample Fisher by a loop over samples with batch size 1; the save / load round trip of a compressed zoo model."""

import copy
import json
import math
import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import zoo
from zoo.checkpoint import CheckpointError
from zoo.compress import (FactorizedLinear, fisher_information, fwsvd, linear_layers, parameter_counts,
                          reconstruction_error, svd)

TOL = 1e-10


def mlp(seed: int = 0) -> nn.Sequential:
    """``(batch, 6) -> (batch, 3)`` in float64, with a LayerNorm and a dropout that only eval mode silences."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 9), nn.LayerNorm(9), nn.Tanh(), nn.Dropout(0.5), nn.Linear(9, 3)).double()


def fisher_for(model: nn.Module, seed: int = 1) -> dict[str, torch.Tensor]:
    """A positive, far from uniform Fisher for every Linear of ``model``."""
    generator = torch.Generator().manual_seed(seed)
    return {name: torch.randn(layer.weight.shape, generator=generator, dtype=torch.float64).mul(1.5).exp()
            for name, layer in linear_layers(model).items()}


def diagonals(I_W: torch.Tensor, reduce: str) -> tuple[torch.Tensor, torch.Tensor]:
    """``Î_out``, ``Î_in`` of the paper, unscaled: ``√(Σ_j I_{o,j})`` and ``√(Σ_o I_{o,j})`` on the weighted sides."""
    out, inp = I_W.sum(1).sqrt(), I_W.sum(0).sqrt()
    return (out if reduce in ("out", "both") else torch.ones_like(out),
            inp if reduce in ("in", "both") else torch.ones_like(inp))


def factors(layer: FactorizedLinear) -> tuple[torch.Tensor, torch.Tensor]:
    return layer.A.weight.detach(), layer.B.weight.detach()


def test_uniform_fisher_gives_exactly_the_factors_of_the_svd():
    model, r = mlp(), 3
    W = model[0].weight.detach().clone()
    U, S, Vh = torch.linalg.svd(W, full_matrices=False)
    A_svd, B_svd = U[:, :r] * S[:r].sqrt(), S[:r, None].sqrt() * Vh[:r]
    uniform = {name: torch.full_like(layer.weight, 3.7) for name, layer in linear_layers(model).items()}
    for compressed in (fwsvd(copy.deepcopy(model), uniform, rank=r), svd(copy.deepcopy(model), rank=r)):
        A, B = factors(compressed[0])
        signs = torch.sign((A * A_svd).sum(0))  # singular vectors are defined up to sign
        torch.testing.assert_close(A * signs, A_svd, atol=TOL, rtol=0)
        torch.testing.assert_close(signs[:, None] * B, B_svd, atol=TOL, rtol=0)


@pytest.mark.parametrize("reduce", ["in", "out", "both"])
def test_full_rank_reproduces_W(reduce):
    model = mlp()
    originals = {name: layer.weight.detach().clone() for name, layer in linear_layers(model).items()}
    fwsvd(model, fisher_for(model), rank=3, reduce=reduce, targets=["4"])  # Linear(9, 3): min(in, out) = 3
    A, B = factors(model[4])
    torch.testing.assert_close(A @ B, originals["4"], atol=TOL, rtol=0)


@pytest.mark.parametrize("reduce", ["in", "out", "both"])
def test_weighted_error_is_the_eckart_young_tail_and_beats_plain_svd(reduce):
    model, r = mlp(), 3
    fisher = fisher_for(model)
    W = model[0].weight.detach().clone()
    I_out, I_in = diagonals(fisher["0"], reduce)
    weighted = I_out[:, None] * W * I_in
    U, S, Vh = torch.linalg.svd(weighted, full_matrices=False)
    A, B = factors(fwsvd(copy.deepcopy(model), fisher, rank=r, reduce=reduce)[0])
    A_svd, B_svd = factors(svd(copy.deepcopy(model), rank=r)[0])

    def error(A: torch.Tensor, B: torch.Tensor) -> float:
        return torch.linalg.matrix_norm(I_out[:, None] * (W - A @ B) * I_in).item()

    assert error(A, B) == pytest.approx(S[r:].square().sum().sqrt().item(), abs=TOL)
    assert error(A, B) < error(A_svd, B_svd)
    closed_form = (U[:, :r] * S[:r]) @ Vh[:r] / I_out[:, None] / I_in  # Î_out⁻¹ [Î_out W Î_in]_r Î_in⁻¹
    torch.testing.assert_close(A @ B, closed_form, atol=TOL, rtol=0)


def test_factorized_linear_output_merge_and_parameter_count():
    torch.manual_seed(0)
    A, B, b = torch.randn(5, 2, dtype=torch.float64), torch.randn(2, 7, dtype=torch.float64), torch.randn(5).double()
    layer = FactorizedLinear.from_factors(A=A, B=B, bias=b)
    x = torch.randn(4, 3, 7, dtype=torch.float64)
    torch.testing.assert_close(layer(x), x @ (A @ B).T + b, atol=TOL, rtol=0)
    merged = layer.merge()
    assert type(merged) is nn.Linear and merged.weight.shape == (5, 7)
    torch.testing.assert_close(merged(x), layer(x), atol=TOL, rtol=0)
    assert sum(p.numel() for p in layer.parameters()) == 2 * (7 + 5) + 5
    no_bias = FactorizedLinear(in_features=7, out_features=5, rank=2, bias=False)
    assert sum(p.numel() for p in no_bias.parameters()) == 2 * (7 + 5) and no_bias.merge().bias is None

    model = mlp()
    original = copy.deepcopy(model)
    svd(model, rank=3, targets=["4"])  # full rank: merge() gives the original Linear back
    torch.testing.assert_close(model[4].merge().weight, original[4].weight, atol=TOL, rtol=0)
    assert torch.equal(model[4].merge().bias, original[4].bias)


def test_ratio_keeps_that_fraction_of_each_layers_parameters():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(40, 24), nn.Linear(24, 2), nn.Linear(2, 30)).double()
    original = copy.deepcopy(model)
    svd(model, ratio=0.5)
    # floor(ratio · in·out / (in + out)), at least 1: floor(7.5), floor(0.92) -> 1, floor(0.94) -> 1
    assert [model[i].rank for i in range(3)] == [math.floor(0.5 * 40 * 24 / 64), 1, 1]
    counts = parameter_counts(model)
    assert counts == {"total": counts["linear"], "linear": 7 * 64 + 24 + 1 * 26 + 2 + 1 * 32 + 30}
    assert parameter_counts(original)["linear"] == 40 * 24 + 24 + 24 * 2 + 2 + 2 * 30 + 30
    expected = sum(torch.linalg.matrix_norm(original[i].weight - model[i].A.weight @ model[i].B.weight).item()
                   for i in range(3))
    assert reconstruction_error(original, model) == pytest.approx(expected, rel=1e-12)


def loop_fisher(model: nn.Module, batches, loss_fn) -> dict[str, torch.Tensor]:
    """``(1/|D|) Σ_d (∂ℓ(d)/∂W)²`` by plain autograd, one sample (a batch of one) at a time, in eval mode."""
    model.eval()
    weights = {name: layer.weight for name, layer in linear_layers(model).items()}
    total, count = {name: torch.zeros_like(W) for name, W in weights.items()}, 0
    for x, y in batches:
        for n in range(len(x)):
            model.zero_grad()
            loss_fn(model(x[n:n + 1]), y[n:n + 1]).backward()
            for name, W in weights.items():
                total[name] += W.grad.square()
            count += 1
    return {name: value / count for name, value in total.items()}


def batches(seed: int = 2):
    generator = torch.Generator().manual_seed(seed)
    return [(torch.randn(n, 6, generator=generator, dtype=torch.float64), torch.randint(3, (n,), generator=generator))
            for n in (5, 3)]


@pytest.mark.parametrize("per_sample", ["vmap", "loop"])
def test_per_sample_fisher_equals_a_loop_over_samples(per_sample):
    model = mlp().train()
    model[1].eval()
    fisher = fisher_information(model, batches(), F.cross_entropy, per_sample=per_sample)
    assert model.training and not model[1].training and model[3].training  # every module's mode restored
    expected = loop_fisher(copy.deepcopy(model), batches(), F.cross_entropy)
    assert fisher.keys() == expected.keys() == {"0", "4"}
    for name in fisher:
        torch.testing.assert_close(fisher[name], expected[name], atol=TOL, rtol=0)
    assert fisher_information(model, batches(), F.cross_entropy, max_batches=1, targets="4").keys() == {"4"}


class Square(torch.autograd.Function):
    """An autograd.Function without ``setup_context``, which torch.func cannot transform."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return 2 * x * grad


class Squaring(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = mlp()

    def forward(self, x):
        return self.net(Square.apply(x))


def test_auto_falls_back_to_the_loop_where_torch_func_fails():
    model = Squaring()
    with pytest.raises(RuntimeError, match="setup_context"):
        fisher_information(model, batches(), F.cross_entropy, per_sample="vmap")
    with pytest.warns(UserWarning, match="one sample at a time"):
        fisher = fisher_information(model, batches(), F.cross_entropy)
    expected = loop_fisher(model, batches(), F.cross_entropy)
    for name in ("net.0", "net.4"):
        torch.testing.assert_close(fisher[name], expected[name], atol=TOL, rtol=0)


def test_other_layers_and_non_targets_are_untouched():
    model = mlp()
    before = copy.deepcopy(model.state_dict())
    norm, head = model[1], model[4]
    fwsvd(model, fisher_for(model), rank=2, targets="0")
    assert isinstance(model[0], FactorizedLinear) and model[1] is norm and model[4] is head
    for key, value in model.state_dict().items():
        if not key.startswith("0."):
            assert torch.equal(value, before[key]), key
    assert model[0].training  # the factorised layer keeps the mode of the one it replaced


def test_transformer_layer_keeps_attention_and_runs_its_fast_path():
    """``nn.MultiheadAttention``'s ``out_proj`` (read as a weight by its parent) is no target; the eval fast path
    of ``nn.TransformerEncoderLayer`` reads ``linear1.weight``, which a FactorizedLinear gives as ``A B``."""
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(d_model=8, nhead=2, dim_feedforward=16, dropout=0.0, batch_first=True).eval()
    assert list(linear_layers(layer)) == ["linear1", "linear2"]
    x = torch.randn(2, 5, 8)
    with torch.no_grad():
        expected = layer(x)
        svd(layer, rank=8)  # full rank
        torch.testing.assert_close(layer(x), expected, atol=1e-5, rtol=1e-5)


class Task(nn.Module):
    """A zoo model held as ``model``, as a training task holds it."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x)


def test_a_compressed_zoo_model_round_trips_through_save_pretrained(tmp_path):
    torch.manual_seed(0)
    model = zoo.create_model("s4d", d_model=16, n_layers=2, d_state=8)
    x, y = torch.randn(6, 20, 1), torch.randint(10, (6,))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # s4d's Vandermonde kernel takes torch.func: no fallback to a sample loop
        fisher = fisher_information(Task(model), [(x, y)], F.cross_entropy)
    fwsvd(Task(model), fisher, ratio=0.5, targets=r"model\.(layers\.\d+\.output_linear|decoder)")
    ranks = {"layers.0.output_linear": 5, "layers.1.output_linear": 5, "decoder": 3}
    folder = zoo.save_pretrained(model, tmp_path / "compressed")
    assert json.loads((folder / "config.json").read_text())["compression"] == {"method": "fwsvd", "ranks": ranks}
    loaded = zoo.load_model(folder)
    assert {name: layer.rank for name, layer in loaded.named_modules() if isinstance(layer, FactorizedLinear)} == ranks
    assert type(loaded.encoder) is nn.Linear
    assert torch.equal(loaded(x), model.eval()(x))
    again = zoo.load_model(zoo.save_pretrained(loaded, tmp_path / "again"))  # the record survives a second trip
    assert torch.equal(again(x), model(x))


@pytest.mark.parametrize("record", [{"method": "fwsvd", "ranks": {"layers.0.norm": 2}},
                                    {"method": "fwsvd", "ranks": {"decoder": 99}},
                                    {"method": "fwsvd", "ranks": {"decoder": "3"}}, ["decoder"]])
def test_a_tampered_compression_record_is_refused(tmp_path, record):
    model = svd(zoo.create_model("s4d", d_model=16, n_layers=2, d_state=8), rank=2, targets=["decoder"])
    folder = zoo.save_pretrained(model, tmp_path)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "compression": record}))
    with pytest.raises(CheckpointError, match="'compression' entry"):
        zoo.load_model(folder)


def test_bad_inputs_name_the_argument_and_leave_the_model_alone():
    model = mlp()
    fisher, before = fisher_for(model), copy.deepcopy(model.state_dict())
    no_linear = nn.Sequential(nn.Conv1d(2, 2, 3))
    for call in (lambda: svd(no_linear, rank=1), lambda: fwsvd(no_linear, {}, rank=1),
                 lambda: fisher_information(no_linear, batches(), F.cross_entropy)):
        with pytest.raises(ValueError, match="no nn.Linear layer"):
            call()
    cases = {
        "matches no nn.Linear": dict(rank=1, targets="head"),
        "not nn.Linear layers": dict(rank=1, targets=["1"]),
        r"min\(in, out\) = 3 < 4": dict(rank=4),
        "exactly one of rank": dict(rank=1, ratio=0.5),
        "exactly one of rank=": dict(),
        "rank must be a positive int": dict(rank=0),
        r"ratio must lie in \(0, 1\]": dict(ratio=1.5),
        "reduce must be one of": dict(rank=1, reduce="rows"),
    }
    for message, kwargs in cases.items():
        with pytest.raises(ValueError, match=message):
            fwsvd(model, fisher, **kwargs)
    with pytest.raises(ValueError, match=r"ratio must lie in \(0, 1\]"):
        svd(model, ratio=0.0)
    with pytest.raises(ValueError, match="fisher has no entry for \\['4'\\]"):
        fwsvd(model, {"0": fisher["0"]}, rank=1)
    with pytest.raises(ValueError, match="non-zero tensor shaped like"):
        fwsvd(model, {**fisher, "4": torch.zeros(3, 9, dtype=torch.float64)}, rank=1)
    assert all(type(model[i]) is nn.Linear for i in (0, 4))
    assert all(torch.equal(value, before[key]) for key, value in model.state_dict().items())
    for per_sample in ("vmap", "loop"):
        with pytest.raises(ValueError, match="loss_fn must return a scalar"):
            fisher_information(model, batches(), lambda out, y: F.cross_entropy(out, y, reduction="none"),
                               per_sample=per_sample)
    with pytest.raises(ValueError, match="data yielded no batch"):
        fisher_information(model, [], F.cross_entropy)
    with pytest.raises(ValueError, match=r"data must yield \(input, target\)"):
        fisher_information(model, [torch.zeros(2, 6)], F.cross_entropy)
