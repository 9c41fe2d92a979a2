import dataclasses
import json
import math
import re

import pytest
import safetensors.torch
import torch
from torch import nn

import zoo
from zoo.adapters import (FLoRAConfig, LoRAConfig, LowRankDelta, TuckerDelta, adapter_layers, count_parameters,
                          disable_adapters, inject_adapters, load_adapters, merge, merge_and_unload, save_adapters,
                          unmerge)
from zoo.adapters.layers import SUPPORTED
from zoo.operators.spectral import FactorizedTensor
from zoo.registry import model_info


class Net(nn.Module):
    """Linear, plain / grouped / depthwise convolutions in 1-D, 2-D and 3-D, and a head."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv1d(4, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1, groups=2)
        self.depthwise = nn.Conv2d(8, 8, 5, padding=2, groups=8, bias=False)
        self.conv3 = nn.Conv3d(8, 6, 2)
        self.linear = nn.Linear(6, 5)
        self.head = nn.Linear(5, 3)

    def forward(self, x):  # (batch, 4, 6)
        h = self.conv1(x)[:, :, None, :].expand(-1, -1, 6, -1)  # (batch, 8, 6, 6)
        h = self.depthwise(torch.tanh(self.conv2(h)))[:, :, None].expand(-1, -1, 3, -1, -1)
        h = self.conv3(h).mean((2, 3, 4))
        return self.head(torch.tanh(self.linear(h)))


def randomise(model):
    """Move every adapter away from its zero-update initialisation."""
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for layer in adapter_layers(model).values():
            for param in layer.adapter.parameters():
                param.copy_(torch.randn(param.shape, generator=generator, dtype=param.dtype) * 0.3)


CONFIGS = [FLoRAConfig(rank=2), FLoRAConfig(rank=2, init="lora", scale=4.0), LoRAConfig(rank=2, alpha=4)]


@pytest.fixture
def net():
    torch.manual_seed(0)
    return Net().double().eval()


@pytest.mark.parametrize("config", CONFIGS, ids=["flora", "flora-lora-init", "lora"])
def test_zero_update_at_init_merge_unmerge(net, config):
    x = torch.randn(3, 4, 6, dtype=torch.float64)
    base = net(x)
    weights = {key: value.clone() for key, value in net.state_dict().items()}
    inject_adapters(net, config)
    assert set(adapter_layers(net)) == {"conv1", "conv2", "depthwise", "conv3", "linear", "head"}
    assert torch.equal(net(x), base)  # ΔW = 0: the injected model is the base model
    randomise(net)
    adapted = net(x)
    assert not torch.allclose(adapted, base)
    merge(net)
    assert torch.allclose(net(x), adapted, atol=1e-6, rtol=0)
    unmerge(net)
    for key, value in weights.items():  # the original weights, bit for bit
        assert torch.equal(net.state_dict()[key.replace(".weight", ".base_layer.weight").replace(
            ".bias", ".base_layer.bias")], value), key
    with disable_adapters(net):
        assert torch.equal(net(x), base)
    assert torch.equal(net(x), adapted)


def test_tucker_update_matches_the_mode_products_and_counts_parameters():
    dims, ranks = (6, 4, 3, 2), [3, 2, 2, 1]
    delta = TuckerDelta(dims, ranks, scale=2.5).double()
    randomise_module(delta)
    G, (A1, A2, A3, A4) = delta.core, list(delta.factors)
    expected = 2.5 * torch.einsum("abcd,ia,jb,kc,ld->ijkl", G, A1, A2, A3, A4)
    assert torch.allclose(delta(), expected, atol=1e-12)
    assert sum(p.numel() for p in delta.parameters()) == math.prod(ranks) + sum(d * r for d, r in zip(dims, ranks))


def randomise_module(module):
    with torch.no_grad():
        for param in module.parameters():
            param.copy_(torch.randn_like(param))


@pytest.mark.parametrize("dims,ranks,is_complex,out_mode", [
    ((5, 7), [3, 4], False, 0),                 # Linear (out, in)
    ((6, 4, 3), [3, 2, 2], False, 0),           # Conv1d (out, in, k)
    ((8, 3, 3, 3), [4, 2, 3, 2], False, 0),     # Conv2d, groups 2: (out, in / groups, kh, kw)
    ((4, 3, 2, 3, 1), [2, 3, 2, 2, 1], False, 0),  # Conv3d
    ((6, 5, 7, 4), [3, 2, 4, 2], True, 1),      # a complex spectral weight (in, out, *kept_modes)
], ids=["linear", "conv1d", "grouped-conv2d", "conv3d", "spectral"])
def test_tucker_update_built_output_factor_last_is_the_stored_order_reconstruction(dims, ranks, is_complex, out_mode):
    """ΔW = (G ×_{n≠out} A_n) ×_out s A_out, small modes first, equals FactorizedTensor's reconstruction."""
    delta = TuckerDelta(dims, ranks, scale=1.5, is_complex=is_complex, out_mode=out_mode).double()
    randomise_module(delta)
    value = torch.view_as_complex if is_complex else (lambda tensor: tensor)
    tucker = FactorizedTensor("tucker", dims, delta.ranks, value(delta.core), [value(f) for f in delta.factors])
    A, B = delta.low_rank()
    assert A.shape == tuple(r if n == out_mode else d for n, (d, r) in enumerate(zip(dims, delta.ranks)))
    torch.testing.assert_close(delta(), 1.5 * tucker.reconstruct(), rtol=1e-6, atol=1e-6)


LAYERS = {
    "linear": lambda: nn.Linear(7, 5),
    "conv1d": lambda: nn.Conv1d(4, 6, 3, stride=2, padding=2, dilation=2),
    "conv1d-groups-circular": lambda: nn.Conv1d(6, 4, 3, padding=1, groups=2, padding_mode="circular"),
    "conv2d-groups-stride-dilation": lambda: nn.Conv2d(6, 8, 3, stride=2, padding=(1, 2), dilation=2, groups=2),
    "depthwise-conv2d": lambda: nn.Conv2d(4, 4, 3, padding=1, groups=4, bias=False),
    "conv3d": lambda: nn.Conv3d(4, 6, (2, 3, 1), stride=(1, 2, 1), groups=2),
}
INPUTS = {"linear": (3, 7), "conv1d": (3, 4, 11), "conv1d-groups-circular": (6, 9),  # unbatched
          "conv2d-groups-stride-dilation": (2, 6, 9, 8), "depthwise-conv2d": (2, 4, 6, 5),
          "conv3d": (2, 4, 4, 7, 3)}


def outputs_and_gradients(model, layer, x):
    """The output and the gradients of a fixed projection of it w.r.t. the input and the adapter's parameters."""
    y = model(x)
    projection = torch.randn(torch.view_as_real(y).shape if y.is_complex() else y.shape,
                             generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    loss = ((torch.view_as_real(y) if y.is_complex() else y) * projection).sum()
    return [y, *torch.autograd.grad(loss, [x, *layer.adapter.parameters()])]


@pytest.mark.parametrize("config", [FLoRAConfig(rank=2), LoRAConfig(rank=3, alpha=6)], ids=["flora", "lora"])
@pytest.mark.parametrize("name", list(LAYERS))
def test_two_path_and_merged_forms_give_the_same_outputs_and_gradients(name, config):
    torch.manual_seed(0)
    model = inject_adapters(nn.Sequential(LAYERS[name]()).double(), config)
    randomise(model)
    layer = adapter_layers(model)["0"]
    x = torch.randn(INPUTS[name], dtype=torch.float64, requires_grad=True)
    results = {}
    for form in ("two-path", "merged", "auto"):
        layer.form = form
        results[form] = outputs_and_gradients(model, layer, x)
    for form in ("merged", "auto"):
        for two_path, other in zip(results["two-path"], results[form]):
            torch.testing.assert_close(other, two_path, rtol=1e-6, atol=1e-6)
    layer.form = "fused"
    with pytest.raises(ValueError, match="unknown form 'fused'"):
        model(x)


@pytest.mark.parametrize("groups", [1, 2])
def test_two_path_keeps_the_base_layers_memory_layout_and_is_exact_at_init(groups):
    """A channels-last input: the two-path output has the base layer's strides, equals it bit for bit while ΔW = 0,
    and matches the merged form once the adapter is trained."""
    torch.manual_seed(0)
    model = inject_adapters(nn.Sequential(nn.Conv2d(4, 6, 3, padding=1, groups=groups)).double(), FLoRAConfig(rank=2))
    layer = adapter_layers(model)["0"]
    layer.form = "two-path"
    x = torch.randn(2, 4, 5, 7, dtype=torch.float64).contiguous(memory_format=torch.channels_last)
    base = layer.base_layer(x)
    y = model(x)
    assert y.stride() == base.stride() and torch.equal(y, base)
    randomise(model)
    layer.form = "merged"
    merged = model(x)
    layer.form = "two-path"
    torch.testing.assert_close(model(x), merged, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("config", [FLoRAConfig(rank=2), LoRAConfig(rank=3)], ids=["flora", "lora"])
def test_spectral_two_path_is_the_dense_contraction_with_w_plus_delta(config):
    """The spectral adapter's thin path against ``Σ_i x̂[b, i, k] (W + ΔW)[i, o, k]``, outputs and gradients."""
    torch.manual_seed(0)
    model = inject_adapters(zoo.create_model("fno", modes=[4, 3], width=6, n_layers=1).double(),
                            dataclasses.replace(config, target_modules=r".*\.weight"))
    randomise(model)
    layer = next(iter(adapter_layers(model).values()))
    x = torch.randn(2, 6, 7, 3, dtype=torch.complex128, requires_grad=True)
    two_path = outputs_and_gradients(layer.contract, layer, x)
    merged = outputs_and_gradients(lambda x: torch.einsum("bi...,io...->bo...", x, layer.reconstruct()), layer, x)
    for a, b in zip(two_path, merged):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("layer,ranks", [(nn.Linear(7, 5), [3, 4]), (nn.Conv2d(6, 8, 3), [4, 5, 2, 3]),
                                         (nn.Conv2d(8, 8, 3, groups=8), [4, 1, 2, 2]),
                                         (nn.Conv3d(6, 4, (2, 3, 1), groups=2), [2, 3, 2, 2, 1])],
                         ids=["linear", "conv2d", "depthwise", "grouped-conv3d"])
def test_trainable_count_is_core_plus_factors(layer, ranks):
    model = nn.Sequential(layer)
    inject_adapters(model, FLoRAConfig(rank=ranks))
    dims = tuple(layer.weight.shape)  # (out, in / groups, *kernel)
    trainable, total = count_parameters(model)
    assert trainable == math.prod(ranks) + sum(d * r for d, r in zip(dims, ranks))
    assert total == trainable + sum(p.numel() for p in layer.parameters())


def test_linear_flora_is_lora_with_a_core():
    """N = 2: ΔW = s A_out G A_inᵀ, i.e. LoRA with B = A_out G, A = A_inᵀ (and α / r = s)."""
    flora = TuckerDelta((5, 7), [3, 3], scale=1.5).double()
    randomise_module(flora)
    lora = LowRankDelta((5, 7), rank=3, alpha=4.5).double()
    with torch.no_grad():
        lora.B.copy_(flora.factors[0] @ flora.core)
        lora.A.copy_(flora.factors[1].T)
    assert torch.allclose(flora(), 1.5 * flora.factors[0] @ flora.core @ flora.factors[1].T, atol=1e-12)
    assert torch.allclose(flora(), lora(), atol=1e-12)


def test_only_adapters_train_and_base_gets_no_gradient(net):
    inject_adapters(net, FLoRAConfig(rank=2, modules_to_save=["head"]))
    net(torch.randn(2, 4, 6, dtype=torch.float64)).square().sum().backward()
    for name, param in net.named_parameters():
        if ".adapter." in name:
            assert param.requires_grad
        elif name.startswith("head."):
            assert param.requires_grad and param.grad is not None  # modules_to_save train in full
        else:
            assert not param.requires_grad and param.grad is None, name
    cores = [layer.adapter.core.grad for layer in adapter_layers(net).values()]
    assert all(grad is not None and grad.abs().sum() > 0 for grad in cores)  # G = 0: the core moves first


def test_targets_excludes_and_bad_input(net):
    inject_adapters(net, FLoRAConfig(rank=2, target_modules=r"conv\d", exclude_modules=["conv3"]))
    assert set(adapter_layers(net)) == {"conv1", "conv2"}
    with pytest.raises(ValueError, match="has adapters already"):
        inject_adapters(net, LoRAConfig(rank=2))
    with pytest.raises(ValueError, match="no layer of Net matches.*adaptable layers"):
        inject_adapters(Net(), FLoRAConfig(target_modules=["decoder"]))
    with pytest.raises(ValueError, match=r"no adapter supports: 1 \(Tanh\)"):
        inject_adapters(nn.Sequential(nn.Linear(2, 2), nn.Tanh()), FLoRAConfig(target_modules=["0", "1"]))
    with pytest.raises(ValueError, match="4 modes .* give one rank per mode"):
        inject_adapters(Net(), FLoRAConfig(rank=[2, 2], target_modules=["conv2"]))
    with pytest.raises(ValueError, match="positive int"):
        FLoRAConfig(rank=0)
    with pytest.raises(ValueError, match="unknown init"):
        FLoRAConfig(init="orthogonal")
    with pytest.raises(ValueError, match="modules_to_save"):
        inject_adapters(Net(), LoRAConfig(modules_to_save=["classifier"]))


def test_rank_pattern_overrides_per_layer(net):
    inject_adapters(net, FLoRAConfig(rank=2, rank_pattern={"conv2": [4, 3, 1, 1]}))
    assert adapter_layers(net)["conv2"].adapter.ranks == (4, 3, 1, 1)
    assert adapter_layers(net)["conv1"].adapter.ranks == (2, 2, 2)
    other = inject_adapters(Net(), FLoRAConfig(rank=[3, 1, 2, 2, 1], exclude_modules=["depthwise"]))
    ranks = {name: layer.adapter.ranks for name, layer in adapter_layers(other).items()}
    assert ranks == {"conv1": (3, 1, 2), "conv2": (3, 1, 2, 2), "conv3": (3, 1, 2, 2, 1), "linear": (3, 1),
                     "head": (3, 1)}  # weights with fewer modes use the leading ranks


def test_save_load_round_trip_writes_adapters_only(net, tmp_path):
    x = torch.randn(3, 4, 6, dtype=torch.float64)
    base_state = {key: value.clone() for key, value in net.state_dict().items()}
    inject_adapters(net, FLoRAConfig(rank=2, rank_pattern={"conv2": [3, 2, 1, 2]}, modules_to_save=["head"]))
    randomise(net)
    with torch.no_grad():
        net.head.weight.add_(1.0)  # a trained head: saved in full
    adapted = net(x)
    folder = save_adapters(net, tmp_path / "adapters")
    saved = safetensors.torch.load_file(str(folder / "adapter_model.safetensors"))
    assert saved and all(".adapter." in key or key.startswith("head.") for key in saved)
    assert not any(".base_layer." in key for key in saved)
    config = json.loads((folder / "adapter_config.json").read_text())
    assert config["method"] == "flora" and config["modules_to_save"] == ["head"]
    fresh = Net().double().eval()
    fresh.load_state_dict(base_state)
    load_adapters(fresh, folder)
    assert torch.equal(fresh(x), adapted)
    with pytest.raises(ValueError, match="do not fit"):
        load_adapters(nn.Sequential(nn.Linear(3, 3)), folder)
    with pytest.raises(FileNotFoundError, match="adapter_config.json"):
        load_adapters(Net(), tmp_path)


@pytest.mark.parametrize("text, problem", [
    ("{'method': 'lora'", "Expecting property name enclosed in double quotes"),  # not JSON
    ("[1, 2]", "it holds a JSON list, not an object"),
    ('{"method": "dora"}', "unknown adapter method 'dora'"),
    ('{"method": "lora", "rank": "8"}', "LoRAConfig: rank='8' is a str, expected int | list[int] (finetune.rank)"),
    ('{"method": "lora", "dropout": "high"}', "dropout='high' is a str, expected float"),
    ('{"method": "lora", "base_model": "s4d"}', "base_model must be null or {'name': <registered model>, ...}"),
    ('{"method": "lora", "_target_": "os.system", "rank": 2}', "LoRAConfig has no option(s) ['_target_']"),
])
def test_a_bad_adapter_config_names_the_file_and_the_fix(net, tmp_path, monkeypatch, text, problem):
    folder = save_adapters(inject_adapters(Net(), LoRAConfig(rank=2)), tmp_path / "adapters")
    (folder / "adapter_config.json").write_text(text)
    monkeypatch.setattr("hydra.utils.instantiate", lambda *args, **kwargs: pytest.fail("a config was instantiated"))
    with pytest.raises(ValueError) as caught:
        load_adapters(net, folder)
    message = str(caught.value)
    assert message.startswith(f"{folder / 'adapter_config.json'} is not an adapter config (") and problem in message
    assert message.endswith("expected a folder written by zoo.adapters.save_adapters (or train.py with "
                            "finetune=flora|lora)")
    assert not adapter_layers(net)  # the model is left as it was


def test_adapter_weights_that_are_not_safetensors_name_the_file(net, tmp_path):
    folder = save_adapters(inject_adapters(Net(), LoRAConfig(rank=2)), tmp_path / "adapters")
    weights = folder / "adapter_model.safetensors"
    weights.write_text('{"weights": "a JSON file under the safetensors name"}')
    with pytest.raises(ValueError, match=f"^{re.escape(str(weights))} is not a safetensors file .*: expected a "
                                         r"folder written by zoo\.adapters\.save_adapters"):
        load_adapters(net, folder)
    assert not adapter_layers(net)
    weights.unlink()
    with pytest.raises(FileNotFoundError, match="holds no adapter_model.safetensors"):
        load_adapters(net, folder)


def test_merge_and_unload_gives_a_plain_model(net):
    x = torch.randn(3, 4, 6, dtype=torch.float64)
    inject_adapters(net, LoRAConfig(rank=3))
    randomise(net)
    adapted = net(x)
    plain = merge_and_unload(net)
    assert not adapter_layers(plain) and isinstance(plain.conv2, nn.Conv2d)
    assert set(plain.state_dict()) == set(Net().state_dict())
    assert torch.allclose(plain(x), adapted, atol=1e-10)


def test_spectral_weights_of_fno_and_tfno():
    torch.manual_seed(0)
    x = torch.randn(2, 1, 16, 16, dtype=torch.float64)
    for name, mergeable in (("fno", True), ("tfno", False)):
        model = zoo.create_model(name, modes=[4, 4], width=8, n_layers=2).double().eval()
        base = model(x)
        inject_adapters(model, FLoRAConfig(rank=2, target_modules=r".*\.weight"))
        spectral = adapter_layers(model)
        assert spectral and all(type(layer).__name__ == "SpectralAdapter" for layer in spectral.values())
        assert torch.equal(model(x), base)
        randomise(model)
        adapted = model(x)
        assert not torch.allclose(adapted, base)
        layer = next(iter(spectral.values()))
        assert torch.allclose(layer.reconstruct(), layer.base_layer.reconstruct() + layer.delta_weight())
        if mergeable:
            merge(model)
            assert torch.allclose(model(x), adapted, atol=1e-10)
            unmerge(model)
        else:
            with pytest.raises(TypeError, match="no dense weight.*keep this adapter unmerged"):
                merge(model)


@pytest.mark.parametrize("name", zoo.list_models())
def test_every_registered_model_takes_flora(name):
    """finetune=flora on every model's Linear / Conv (and spectral) layers: zero update at init, the adapters
    change the output once trained, merging keeps it (factorised spectral weights cannot merge and say so),
    unmerging restores the weights exactly. A model without such layers gets a clear refusal."""
    torch.manual_seed(0)
    model = zoo.create_model(name).eval()
    inputs, _ = model_info(name).example(model)

    def run():  # some models sample in forward: the same noise for every call
        torch.manual_seed(1)
        return model(*inputs) if isinstance(inputs, tuple) else model(inputs)

    with torch.no_grad():
        base = run()
        weights = {key: value.clone() for key, value in model.named_parameters()}
        if not any(type(module) in SUPPORTED for module in model.modules()):
            with pytest.raises(ValueError, match="no layer of .* matches"):
                inject_adapters(model, FLoRAConfig(rank=2))
            return
        inject_adapters(model, FLoRAConfig(rank=2))
        assert torch.equal(run(), base)
        randomise(model)
        adapted = run()
        assert not torch.allclose(adapted, base, atol=1e-5), f"{name}: the adapters do not reach the output"
        for layer in adapter_layers(model).values():
            if isinstance(getattr(layer.base_layer, "weight", None), nn.Parameter):
                layer.merge()
            else:
                with pytest.raises(TypeError, match="no dense weight"):
                    layer.merge()
        scale = adapted.abs().max().clamp(min=1)
        assert torch.allclose(run(), adapted, atol=1e-4 * float(scale), rtol=1e-4)
        unmerge(model)
    plain = {key.replace(".base_layer.", "."): value for key, value in model.named_parameters()
             if ".adapter." not in key}
    assert plain.keys() == weights.keys() and all(torch.equal(plain[key], weights[key]) for key in weights)
    trainable, total = count_parameters(model)
    assert 0 < trainable < total
