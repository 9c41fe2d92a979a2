"""The LRA Transformer baseline against closed forms (sinusoidal table, attention, permutation symmetry), in float64
unless stated; padding masks, bad input, adapters, a short training run and the experiment configs."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from omegaconf import OmegaConf

from zoo.adapters import LoRAConfig, adapter_layers, inject_adapters
from zoo.registry import create_model
from zoo.ssm.transformer import POOLINGS, POSITIONS, SelfAttention, TransformerModel, sinusoidal_positions

pytestmark = pytest.mark.usefixtures("float64_default")


def small(**kwargs) -> TransformerModel:
    """A small model in eval mode (no dropout), float64 under the fixture."""
    torch.manual_seed(0)
    options = {"d_input": 5, "d_output": 7, "d_model": 12, "n_heads": 3, "n_layers": 2, "d_ff": 24, "max_length": 32}
    return TransformerModel(**{**options, **kwargs}).eval()


# ------------------------------------------------------------------------------------------------------- shapes
@pytest.mark.parametrize("positions", POSITIONS)
@pytest.mark.parametrize("pooling", POOLINGS)
def test_output_shapes(positions, pooling):
    model = small(positions=positions, pooling=pooling)
    x = torch.randn(3, 17, 5)
    assert model(x).shape == (3, 7)
    assert model(x, torch.arange(17) < torch.tensor([[17], [9], [1]])).shape == (3, 7)
    assert create_model("transformer", positions=positions, pooling=pooling)(torch.randn(2, 64, 1)).shape == (2, 10)


# ------------------------------------------------------------------------------------------------ closed forms
@pytest.mark.parametrize("d_model", [12, 7])
def test_sinusoidal_positions_are_the_closed_form_table(d_model):
    """P[p, 2i] = sin(p / 10000^(2i/d)), P[p, 2i+1] = cos(p / 10000^(2i/d)), written out entry by entry."""
    expected = np.array([[(math.sin if j % 2 == 0 else math.cos)(p / 10000 ** ((j - j % 2) / d_model))
                          for j in range(d_model)] for p in range(50)])
    np.testing.assert_allclose(sinusoidal_positions(50, d_model).numpy(), expected, rtol=1e-13, atol=1e-13)
    assert sinusoidal_positions(3, d_model, dtype=torch.float32).dtype == torch.float32
    np.testing.assert_allclose(small(d_model=d_model, n_heads=1).position_table(50).numpy(), expected, atol=1e-13)


def test_attention_is_softmax_of_scaled_scores_per_head_with_masked_keys():
    torch.manual_seed(0)
    attention = SelfAttention(d_model=6, n_heads=2).eval()
    z = torch.randn(2, 5, 6)
    mask = torch.tensor([[True] * 5, [True, True, True, False, False]])
    q, k, v = (layer(z).detach().numpy() for layer in (attention.query, attention.key, attention.value))
    heads = np.zeros((2, 5, 6))
    for b in range(2):
        keep = mask[b].numpy()
        for h in range(2):
            cols = slice(3 * h, 3 * h + 3)
            scores = q[b, :, cols] @ k[b][keep][:, cols].T / math.sqrt(3)
            weights = np.exp(scores - scores.max(1, keepdims=True))
            heads[b, :, cols] = weights / weights.sum(1, keepdims=True) @ v[b][keep][:, cols]
    expected = heads @ attention.output.weight.detach().numpy().T + attention.output.bias.detach().numpy()
    np.testing.assert_allclose(attention(z, mask).detach().numpy(), expected, atol=1e-12)


@pytest.mark.parametrize("pooling", POOLINGS)
def test_without_positions_blocks_are_permutation_equivariant_and_pooling_invariant(pooling):
    """Attention and the position-wise maps commute with a permutation π of the positions: block(x[π]) = block(x)[π],
    so the mean and the CLS token (which attends to all positions alike) are invariant. Positions break it."""
    model, x, perm = small(positions="none", pooling=pooling), torch.randn(2, 11, 5), torch.randperm(11)
    h = model.encoder(x)
    torch.testing.assert_close(model.blocks[0](h[:, perm]), model.blocks[0](h)[:, perm], rtol=0, atol=1e-12)
    torch.testing.assert_close(model(x[:, perm]), model(x), rtol=0, atol=1e-12)
    positioned = small(positions="sinusoidal", pooling=pooling)
    assert not torch.allclose(positioned(x[:, perm]), positioned(x), atol=1e-6)


# ------------------------------------------------------------------------------------------------------ masks
@pytest.mark.parametrize("positions", POSITIONS)
@pytest.mark.parametrize("pooling", POOLINGS)
def test_masked_padding_changes_nothing(positions, pooling):
    """A sequence padded at the end with arbitrary values and masked gives the output of the bare sequence: padded keys
    get no attention and mean pooling averages over the real positions only."""
    model, x = small(positions=positions, pooling=pooling), torch.randn(2, 9, 5)
    padded = torch.cat([x, 100 * torch.randn(2, 4, 5)], dim=1)
    mask = torch.arange(13) < 9
    torch.testing.assert_close(model(padded, mask.expand(2, 13)), model(x), rtol=0, atol=1e-12)
    assert not torch.allclose(model(padded), model(x), atol=1e-6)  # unmasked, the padding is read


@pytest.mark.parametrize("mask, message", [
    (torch.ones(2, 8, dtype=torch.bool), r"mask of shape \(batch, length\) = \(2, 9\) and dtype bool"),
    (torch.ones(2, 9), r"dtype bool .*got \(2, 9\) torch.float"),
    (torch.arange(9) < torch.tensor([[3], [0]]), "a sequence with no real position"),
])
def test_a_bad_mask_is_a_clear_error(mask, message):
    with pytest.raises(ValueError, match=message):
        small()(torch.randn(2, 9, 5), mask)


@pytest.mark.parametrize("kwargs, message", [
    ({"d_model": 10, "n_heads": 4}, r"d_model=10 must be divisible by n_heads=4 \(model.d_model, model.n_heads\)"),
    ({"positions": "rope"}, r"unknown positions 'rope' \(model.positions\); valid choices: learned, sinusoidal, none"),
    ({"pooling": "last"}, r"unknown pooling 'last' \(model.pooling\); valid choices: mean, cls"),
    ({"dropout": 1.0}, r"dropout=1.0 must lie in \[0, 1\) \(model.dropout\)"),
])
def test_bad_arguments_name_the_key(kwargs, message):
    with pytest.raises(ValueError, match=message):
        create_model("transformer", **kwargs)


def test_bad_input_is_a_clear_error():
    model = small(positions="learned", max_length=8)
    with pytest.raises(ValueError, match=r"input length 9 exceeds max_length=8 .*\(model.max_length\)"):
        model(torch.randn(2, 9, 5))
    with pytest.raises(ValueError, match=r"expects input of shape \(batch, length, d_input=5\), got \(2, 9\)"):
        model(torch.randn(2, 9))
    assert small(max_length=8)(torch.randn(1, 40, 5)).shape == (1, 7)  # sinusoidal positions: any length


# ------------------------------------------------------------------------------------------- adapters, training
def test_lora_on_the_query_and_value_projections():
    model = small()
    base = model(x := torch.randn(2, 6, 5))
    inject_adapters(model, LoRAConfig(rank=2, target_modules=["query", "value"]))
    assert sorted(adapter_layers(model)) == [f"blocks.{i}.attention.{name}" for i in (0, 1) for name in ("query", "value")]
    torch.testing.assert_close(model(x), base, rtol=0, atol=0)  # zero update at init


@pytest.mark.parametrize("pooling", POOLINGS)
def test_a_few_steps_fit_a_tiny_task(pooling):
    """Which of two marker vectors appears somewhere in a noise sequence: 40 Adam steps cut the loss by half."""
    torch.manual_seed(0)
    labels = torch.randint(0, 2, (32,))
    x = 0.3 * torch.randn(32, 10, 4)
    x[torch.arange(32), torch.randint(0, 10, (32,)), labels] += 3.0
    model = small(d_input=4, d_output=2, pooling=pooling, dropout=0.1).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(40):
        loss = F.cross_entropy(model(x), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


# ------------------------------------------------------------------------------------------------- experiments
@pytest.mark.parametrize("experiment, baseline", [("transformer_listops", "s4d_listops"),
                                                  ("transformer_seq_digits", "s4d_seq_digits")])
def test_experiments_compose_instantiate_and_share_the_s4d_runs_settings(make_cfg, experiment, baseline):
    """Same data, trainer, scheduler and optimiser as the s4d experiment it is compared with (ListOps: but for the
    lr); the model reads the data's sizes."""
    small_data = ["data.n_train=8", "data.n_val=4", "data.n_test=4"] if "listops" in experiment else []
    cfg, reference = make_cfg(f"experiment={experiment}", *small_data), make_cfg(f"experiment={baseline}", *small_data)
    assert (cfg.name, cfg.model.name) == (experiment, "transformer")
    for group in ("data", "trainer"):
        assert OmegaConf.to_container(cfg[group], resolve=True) == OmegaConf.to_container(reference[group], resolve=True)
    assert cfg.task.scheduler == reference.task.scheduler
    assert cfg.task.optimizer == {**reference.task.optimizer, "lr": 0.001 if "listops" in experiment else 0.01}
    assert cfg.model.dropout == reference.model.dropout
    data = instantiate(cfg.data)
    data.setup()
    x, y = next(iter(data.train_dataloader()))
    task = instantiate(cfg.task, _convert_="all")
    assert task.model(x.to(torch.get_default_dtype())).shape == (len(y), cfg.task.num_classes)
    if "listops" in experiment:
        assert task.model.max_length == cfg.data.max_length == x.shape[1]
