"""LSM (operators.md §1 "LSM") against explicit float64 computations of the paper's formulas.

Small models only (width <= 16 on 32² grids), so the whole file runs in seconds on a shared CPU.
"""

import math

import pytest
import torch

from zoo.operators.lsm import LSM, NeuralSpectralBlock
from zoo.registry import create_model, model_info


def small(**kwargs) -> LSM:
    torch.manual_seed(0)
    return LSM(**{"width": 8, "num_basis": 4, "num_tokens": 3, "head_width": 16, **kwargs}).double()


def block(channels=8, n_heads=2, num_basis=5, num_tokens=3, patch=(2, 2)) -> NeuralSpectralBlock:
    torch.manual_seed(0)
    nsb = NeuralSpectralBlock(channels, num_basis, num_tokens, patch, n_heads).double()
    with torch.no_grad():  # O(1) weights, so the softmax and the basis are far from trivial
        for param in nsb.parameters():
            param.copy_(torch.randn_like(param))
    return nsb


@pytest.mark.parametrize("kwargs,spatial", [
    ({}, (32, 32)),
    ({"padding": [4, 2]}, (28, 30)),
    ({"patch_size": [2, 1], "norm": "group"}, (32, 16)),
    ({"n_dim": 1, "patch_size": 1, "in_channels": 3, "out_channels": 2}, (16,)),
    ({"n_dim": 3, "patch_size": 1, "norm": "group"}, (16, 16, 16)),
])
def test_output_shape(kwargs, spatial):
    model = small(**kwargs)
    x = torch.randn(2, model.in_channels, *spatial, dtype=torch.float64)
    y = model(x)
    assert y.shape == (2, model.out_channels, *spatial)
    assert y.dtype == torch.float64 and torch.isfinite(y).all()


def test_registered_not_resolution_invariant_and_example_fits():
    info = model_info("lsm")
    assert "resolution_invariant" not in info.capabilities
    model = create_model("lsm", width=8, patch_size=3, padding=[11, 0])
    x, shape = info.example(model)
    assert x.shape[2:] == (37, 48) and model(x).shape == shape   # 37 + 11 = 48 = 16·3


def test_indivisible_grid_is_a_clear_error():
    model = small(padding=[4, 2])
    with pytest.raises(ValueError) as err:
        model(torch.randn(1, 1, 30, 30, dtype=torch.float64))
    message = str(err.value)
    for part in ("(34, 32)", "(30, 30)", "16·patch_size = [32, 32]", "use padding=[2, 2]"):
        assert part in message, message
    model = small(padding=[2, 2])   # the suggested padding works
    assert model(torch.randn(1, 1, 30, 30, dtype=torch.float64)).shape == (1, 1, 30, 30)


@pytest.mark.parametrize("kwargs,match", [
    ({"width": 12}, "do not split into 8 heads"),
    ({"norm": "layer"}, "norm must be one of"),
    ({"patch_size": [2, 2, 2]}, "one per spatial axis"),
    ({"padding": -1}, "padding must be an int >= 0"),
])
def test_bad_arguments_are_clear_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LSM(**{"width": 8, **kwargs})


def test_patchify_cuts_explicit_patches_and_unpatchify_inverts():
    nsb = block(patch=(2, 4))
    x = torch.randn(2, 8, 4, 8, dtype=torch.float64)
    u = nsb.patchify(x)
    assert u.shape == (2 * 2 * 2, 8, 8)
    for b in range(2):
        for i in range(2):
            for j in range(2):
                patch = x[b, :, 2 * i:2 * i + 2, 4 * j:4 * j + 4].reshape(8, 8).T    # (pixels, C)
                assert torch.equal(u[(b * 2 + i) * 2 + j], patch)
    assert torch.equal(nsb.unpatchify(u, (4, 8)), x)


def test_latent_spectral_transition_matches_formula():
    nsb = block(channels=4, n_heads=2, num_basis=5)
    z = 3 * torch.randn(2, 3, 4, dtype=torch.float64)
    W, K = nsb.W.detach(), nsb.num_basis
    expected = torch.empty_like(z)
    for b, t, c in torch.cartesian_prod(torch.arange(2), torch.arange(3), torch.arange(4)).tolist():
        value = z[b, t, c].item()
        expected[b, t, c] = value + sum(W[c, k].item() * math.sin(math.pi * k * value / K)
                                        + W[c, K + k].item() * math.cos(math.pi * k * value / K) for k in range(K))
    torch.testing.assert_close(nsb.transition(z), expected, rtol=1e-12, atol=1e-12)


def explicit_attention(q, k, v):
    """out_i = Σ_j exp(q_i·k_j) v_j / Σ_j exp(q_i·k_j), no scaling, one head: q (Nq, d), k, v (Nk, d)."""
    out = torch.zeros(q.shape[0], v.shape[1], dtype=torch.float64)
    for i in range(q.shape[0]):
        weights = [math.exp(sum(q[i, m].item() * k[j, m].item() for m in range(q.shape[1])))
                   for j in range(k.shape[0])]
        for j, w in enumerate(weights):
            out[i] += w / sum(weights) * v[j]
    return out


def test_encoder_and_decoder_cross_attention_match_softmax_formula():
    nsb = block(channels=8, n_heads=2, num_tokens=3)
    x_patch = torch.randn(3, 4, 8, dtype=torch.float64)         # (patches, P = 4 pixels, C = 8)
    d = 4
    kv = x_patch @ nsb.to_kv.weight.detach().T + nsb.to_kv.bias.detach()
    q = x_patch @ nsb.to_q.weight.detach().T + nsb.to_q.bias.detach()
    latent = nsb.latent.detach()
    z = nsb.encode(x_patch)
    tokens = torch.randn(3, 3, 8, dtype=torch.float64)          # z′ fed to the decoder
    out = nsb.decode(x_patch, tokens)
    for b in range(3):
        for h in range(2):
            heads = slice(h * d, (h + 1) * d)
            K, V = kv[b, :, heads], kv[b, :, 8 + h * d:8 + (h + 1) * d]
            torch.testing.assert_close(z[b, :, heads], explicit_attention(latent[h], K, V) + latent[h])
            Z = tokens[b, :, heads]
            expected = explicit_attention(q[b, :, heads], Z, Z) + x_patch[b, :, heads]
            torch.testing.assert_close(out[b, :, heads], expected)


def test_block_latent_init_and_dead_sin0_column():
    nsb = NeuralSpectralBlock(16, 4, 3, (2, 2))
    assert nsb.latent.shape == (8, 3, 2) and nsb.W.shape == (16, 8)
    for param in (nsb.latent, nsb.W):   # (1/C)·U(0, 1)
        assert 0 <= param.min() and param.max() <= 1 / 16
    x = torch.randn(2, 16, 4, 4)
    nsb(x).square().sum().backward()
    assert (nsb.W.grad[:, 0] == 0).all()          # sin(π·0·z/K) = 0
    assert (nsb.W.grad[:, 1:] != 0).all()


@pytest.mark.parametrize("norm,train", [("group", True), ("group", False), ("batch", False)])
def test_output_independent_of_batch_companions(norm, train):
    model = small(norm=norm).train(train)
    x0 = torch.randn(1, 1, 32, 32, dtype=torch.float64)
    with torch.no_grad():
        a = model(torch.cat([x0, torch.randn(3, 1, 32, 32, dtype=torch.float64)]))[0]
        b = model(torch.cat([x0, 5 + torch.randn(2, 1, 32, 32, dtype=torch.float64)]))[0]
        alone = model(x0)[0]
    torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(a, alone, rtol=1e-10, atol=1e-12)


def test_batchnorm_in_training_depends_on_the_batch():
    """The control for the test above: the check does see batch dependence where it exists."""
    model = small(norm="batch").train()
    x0 = torch.randn(1, 1, 32, 32, dtype=torch.float64)
    with torch.no_grad():
        a = model(torch.cat([x0, torch.randn(3, 1, 32, 32, dtype=torch.float64)]))[0]
        b = model(torch.cat([x0, 5 + torch.randn(2, 1, 32, 32, dtype=torch.float64)]))[0]
    assert (a - b).abs().max() > 1e-3


@pytest.mark.parametrize("norm", ["batch", "group"])
def test_gradients_reach_every_parameter(norm):
    model = small(norm=norm, padding=[4, 2])
    model(torch.randn(2, 1, 28, 30, dtype=torch.float64)).square().mean().backward()
    for name, param in model.named_parameters():
        assert param.grad is not None and torch.isfinite(param.grad).all(), name
        assert param.grad.abs().sum() > 0, name


def test_no_device_hard_coding_meta():
    with torch.device("meta"):
        model = LSM(width=8, num_basis=4, num_tokens=2, head_width=8)
        y = model(torch.randn(2, 1, 32, 32))
    assert y.device.type == "meta" and y.shape == (2, 1, 32, 32)
