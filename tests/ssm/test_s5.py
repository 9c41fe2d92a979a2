"""S5 and S5-PTD against independent computations (research notes ssm.md §1.3, §1.4), in float64 unless stated.

Modules are built under a float64 default dtype, so that their initial Λ is the closed form to the last bit.
"""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.linalg import block_diag

from zoo.registry import create_model, model_info
from zoo.ssm.hippo import legs, legs_normal
from zoo.ssm.ptd import ptd_perturbation
from zoo.ssm.s5 import S5SSM, S5Layer, S5Model, parallel_scan


pytestmark = pytest.mark.usefixtures("float64_default")


def sequential_scan(a, b, reverse=False):
    """x_k = a_k x_{k-1} + b_k (or x_{k+1} with reverse) along dim 1, by a Python loop."""
    a, b = np.broadcast_arrays(a, b)
    order = range(a.shape[1])[::-1] if reverse else range(a.shape[1])
    prod, x = np.ones_like(a[:, 0]), np.zeros_like(b[:, 0])
    prods, xs = np.zeros_like(a), np.zeros_like(b)
    for k in order:
        prod, x = a[:, k] * prod, a[:, k] * x + b[:, k]
        prods[:, k], xs[:, k] = prod, x
    return prods, xs


def numpy_params(ssm):
    """(Λ, Δ, B̃, C̃, D) of an S5SSM as numpy arrays."""
    Lambda = ssm.Lambda_re.detach().numpy() + 1j * ssm.Lambda_im.detach().numpy()
    B = torch.view_as_complex(ssm.B).detach().numpy()
    C = torch.view_as_complex(ssm.C).detach().numpy()
    return Lambda, np.exp(ssm.log_Delta.detach().numpy()), B, C, ssm.D.detach().numpy()


def discretize(Lambda, Delta, B, disc):
    """Closed-form (Λ̄, B̄) of the notes, written independently of zoo."""
    if disc == "zoh":
        Lambda_bar = np.exp(Lambda * Delta)
        return Lambda_bar, np.diag(1 / Lambda) @ np.diag(Lambda_bar - 1) @ B
    return (1 + Delta * Lambda / 2) / (1 - Delta * Lambda / 2), np.diag(Delta / (1 - Delta * Lambda / 2)) @ B


def set_Delta(ssm, low=0.01, high=0.5):
    with torch.no_grad():
        ssm.log_Delta.copy_(torch.linspace(math.log(low), math.log(high), len(ssm.log_Delta)))


# --------------------------------------------------------------------------------------------------------- scan
@pytest.mark.parametrize("L", [1, 2, 3, 7, 64, 100, 257])
@pytest.mark.parametrize("reverse", [False, True])
def test_parallel_scan_equals_sequential_loop(L, reverse):
    rng = np.random.default_rng(L)
    a = 0.9 * (rng.standard_normal((1, L, 4)) + 1j * rng.standard_normal((1, L, 4)))  # broadcast over the batch
    b = rng.standard_normal((3, L, 4)) + 1j * rng.standard_normal((3, L, 4))
    prod, x = parallel_scan(torch.from_numpy(a), torch.from_numpy(b), dim=1, reverse=reverse)
    expected_prod, expected_x = sequential_scan(a, b, reverse)
    assert prod.shape == (1, L, 4) and x.shape == (3, L, 4)
    np.testing.assert_allclose(prod.numpy(), expected_prod[:1], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(x.numpy(), expected_x, rtol=1e-12, atol=1e-12)


def test_parallel_scan_real_other_dim_and_gradients():
    g = torch.Generator().manual_seed(0)
    a, b = torch.rand(5, 11, generator=g), torch.randn(5, 11, generator=g)
    x = parallel_scan(a.T, b.T, dim=0)[1].T  # the time axis first
    np.testing.assert_allclose(x.numpy(), sequential_scan(a.numpy(), b.numpy())[1], rtol=1e-13, atol=1e-13)
    a = torch.complex(torch.rand(1, 7, 1, generator=g), torch.rand(1, 7, 1, generator=g)).requires_grad_()
    b = torch.randn(2, 7, 1, dtype=torch.complex128, generator=g).requires_grad_()
    assert torch.autograd.gradcheck(lambda a, b: parallel_scan(a, b), (a, b))


def test_parallel_scan_depth_is_logarithmic():
    """No Python loop over time steps: the autograd graph of a length-1024 scan has O(log L) nodes."""
    a = torch.full((1, 1024, 1), 0.5, requires_grad=True)
    x = parallel_scan(a, torch.ones(1, 1024, 1))[1]
    seen, stack = set(), [x.grad_fn]
    while stack:
        node = stack.pop()
        if node is not None and node not in seen:
            seen.add(node)
            stack.extend(next_fn for next_fn, _ in node.next_functions)
    assert len(seen) < 20 * math.log2(1024)
    np.testing.assert_allclose(x[0, :, 0].detach().numpy(), 2 - 0.5 ** np.arange(1024), rtol=1e-14)


def test_parallel_scan_bad_inputs():
    with pytest.raises(ValueError, match=r"as many dimensions.*got a \(4,\) and b \(2, 4\)"):
        parallel_scan(torch.ones(4), torch.ones(2, 4), dim=-1)
    with pytest.raises(ValueError, match=r"along dim=1"):
        parallel_scan(torch.ones(1, 5, 2), torch.ones(3, 4, 2))
    with pytest.raises(ValueError, match="do not broadcast"):
        parallel_scan(torch.ones(2, 5, 2), torch.ones(3, 5, 2))


# ------------------------------------------------------------------------------------------------ initialisation
def test_s5_legs_init_block_structure_and_B():
    P, J, H = 32, 4, 50
    ssm = S5SSM(H, P, blocks=J)
    Lambda_n, V_n = legs_normal(P // J)
    Lambda, _, B, C, _ = numpy_params(ssm)
    np.testing.assert_allclose(Lambda, np.tile(Lambda_n, J), rtol=1e-14, atol=1e-14)  # Re λ = -1/2, Im λ < 0
    assert B.shape == (P // 2, H) and C.shape == (H, P // 2) and ssm.log_Delta.shape == (P // 2,)
    # B̃ = V* B for a real B (P, H), V = blockdiag(V_n): V and its conjugate span R^P, so B = 2 Re(V B̃), which
    # must be the lecun-normal draw (truncated at 2σ); a B̃ from another V would not be
    B_real = 2 * np.real(block_diag(*[V_n] * J) @ B)
    sigma = 1 / math.sqrt(P) / 0.8796256610342398
    assert np.abs(B_real).max() <= 2 * sigma * (1 + 1e-12) and abs(B_real.std() * math.sqrt(P) - 1) < 0.1
    full = S5SSM(H, P, blocks=J, conj_sym=False)
    Lambda_full = numpy_params(full)[0]
    np.testing.assert_allclose(Lambda_full, np.tile(np.concatenate([Lambda_n, Lambda_n.conj()]), J), atol=1e-14)
    V_full = block_diag(*[np.concatenate([V_n, V_n.conj()], axis=1)] * J)
    assert np.abs(np.imag(V_full @ numpy_params(full)[2])).max() < 1e-13  # B̃ = V⁻¹ B with B real


def test_lecun_normal_scale_and_truncation():
    """B and C: every real entry a normal truncated at ±2σ with standard deviation 1/√P."""
    P = 64
    ssm = S5SSM(200, P, blocks=1, conj_sym=False)
    V_n = legs_normal(P)[1]
    V = np.concatenate([V_n, V_n.conj()], axis=1)  # unitary
    B = np.real(V @ numpy_params(ssm)[2])
    C = numpy_params(ssm)[3] @ V.conj().T
    sigma = 1 / math.sqrt(P) / 0.8796256610342398
    for x in [B, C.real, C.imag]:
        assert abs(x.std() * math.sqrt(P) - 1) < 0.03 and np.abs(x).max() <= 2 * sigma * (1 + 1e-12)


def test_dt_range_and_optimizer_hook():
    ssm = S5SSM(4, 512, blocks=8, dt_min=1e-3, dt_max=1e-1, lr=2e-3)
    dt = ssm.log_Delta.exp()
    assert dt.shape == (256,) and dt.min() >= 1e-3 * (1 - 1e-9) and dt.max() <= 1e-1 * (1 + 1e-9)
    assert dt.max() / dt.min() > 30
    for name in ["Lambda_re", "Lambda_im", "B", "log_Delta"]:
        assert getattr(ssm, name)._optim == {"lr": 2e-3, "weight_decay": 0.0}
    assert not hasattr(ssm.C, "_optim") and not hasattr(ssm.D, "_optim")
    frozen = S5SSM(4, 8, blocks=2, lr=0.0)
    assert {name for name, _ in frozen.named_parameters()} == {"C", "D"}
    assert {name for name, _ in frozen.named_buffers()} == {"Lambda_re", "Lambda_im", "B", "log_Delta"}


def test_clip_eigs_keeps_re_lambda_negative():
    clipped, free = S5SSM(2, 8, blocks=2, clip_eigs=True), S5SSM(2, 8, blocks=2)
    np.testing.assert_array_equal(clipped.Lambda.real.detach().numpy(), -0.5)
    with torch.no_grad():
        for ssm in (clipped, free):
            ssm.Lambda_re.fill_(0.3)
    np.testing.assert_array_equal(clipped.Lambda.real.detach().numpy(), -1e-4)
    np.testing.assert_array_equal(free.Lambda.real.detach().numpy(), 0.3)


# ------------------------------------------------------------------------------------------------------ the SSM
@pytest.mark.parametrize("disc", ["zoh", "bilinear"])
def test_discretize_matches_closed_form(disc):
    ssm = S5SSM(3, 16, blocks=2, disc=disc)
    set_Delta(ssm)
    Lambda_bar, B_bar = (t.detach().numpy() for t in ssm.discretize())
    expected = discretize(*numpy_params(ssm)[:3], disc)
    np.testing.assert_allclose(Lambda_bar, expected[0], rtol=1e-13)
    np.testing.assert_allclose(B_bar, expected[1], rtol=1e-13)
    if disc == "zoh":
        Lambda, Delta, _, _, _ = numpy_params(ssm)
        np.testing.assert_allclose(Lambda_bar, np.exp(Lambda * Delta), rtol=1e-15)


@pytest.mark.parametrize(
    "disc, conj_sym, bidirectional",
    [("zoh", True, False), ("bilinear", True, False), ("zoh", False, False), ("bilinear", False, True)],
)
def test_ssm_equals_unrolled_recurrence(disc, conj_sym, bidirectional):
    torch.manual_seed(0)
    batch, L, H = 2, 77, 3
    ssm = S5SSM(H, 16, blocks=2, disc=disc, conj_sym=conj_sym, bidirectional=bidirectional)
    set_Delta(ssm)
    u = torch.randn(batch, L, H)
    Lambda, Delta, B, C, D = numpy_params(ssm)
    Lambda_bar, B_bar = discretize(Lambda, Delta, B, disc)
    P = len(Lambda)
    y = np.zeros((batch, L, H))
    for direction, Ck in zip([1, -1], [C[:, :P], C[:, P:]] if bidirectional else [C]):
        x = np.zeros((batch, P), dtype=complex)
        for k in range(L)[::direction]:
            x = Lambda_bar * x + u[:, k].numpy() @ B_bar.T
            y[:, k] += (2 if conj_sym else 1) * np.real(x @ Ck.T)
    y += D * u.numpy()
    torch.testing.assert_close(ssm(u), torch.from_numpy(y), rtol=0, atol=1e-12)


# ------------------------------------------------------------------------------------------------------- layer
@pytest.mark.parametrize("activation", ["half_glu1", "full_glu", "gelu"])
def test_layer_is_ssm_gelu_and_glu(activation):
    torch.manual_seed(0)
    layer = S5Layer(4, 8, blocks=2, activation=activation, dropout=0.5).eval()
    u = torch.randn(2, 20, 4)
    z = F.gelu(layer.ssm(u))
    if activation == "half_glu1":
        W, b = layer.output_linear.weight, layer.output_linear.bias
        expected = z * torch.sigmoid(z @ W.T + b)
        assert W.shape == (4, 4)
    elif activation == "full_glu":
        expected = F.glu(layer.output_linear(z), dim=-1)
        assert layer.output_linear.weight.shape == (8, 4)
    else:
        expected = z
        assert not hasattr(layer, "output_linear")
    torch.testing.assert_close(layer(u), expected, rtol=0, atol=1e-14)


def run_steps(module, u):
    module.setup_step()
    state, ys = module.default_state(u.shape[0]), []
    for t in range(u.shape[1]):
        y, state = module.step(u[:, t], state)
        ys.append(y)
    return torch.stack(ys, dim=1), state


@pytest.mark.parametrize(
    "disc, conj_sym, dtype, atol",
    [
        ("zoh", True, torch.float64, 1e-11),
        ("bilinear", True, torch.float64, 1e-11),
        ("zoh", False, torch.float64, 1e-11),
        ("bilinear", False, torch.float32, 1e-5),
    ],
)
def test_layer_step_equals_scan(disc, conj_sym, dtype, atol):
    torch.manual_seed(0)
    layer = S5Layer(8, 16, blocks=2, disc=disc, conj_sym=conj_sym, dropout=0.3).to(dtype).eval()
    set_Delta(layer.ssm)
    u = torch.randn(3, 50, 8, dtype=dtype)
    ys, state = run_steps(layer, u)
    P = 8 if conj_sym else 16
    assert state.shape == (3, P) and state.is_complex()
    assert layer.default_state(3).abs().max() == 0
    torch.testing.assert_close(ys, layer(u), rtol=0, atol=atol)


def test_causality_and_bidirectional():
    torch.manual_seed(0)
    u = torch.randn(1, 64, 4)
    v = u.clone()
    v[:, 40] += 1.0
    for bidirectional in [False, True]:
        layer = S5Layer(4, 8, blocks=2, bidirectional=bidirectional).eval()
        set_Delta(layer.ssm, 0.05, 0.1)
        change = (layer(v) - layer(u)).abs().amax(dim=(0, 2))
        assert change[40:].min() > 1e-6
        if bidirectional:
            assert layer.ssm.C.shape == (4, 8, 2) and change[:40].min() > 1e-6
            with pytest.raises(RuntimeError, match="bidirectional S5 layer.*no recurrent"):
                layer.setup_step()
            with pytest.raises(RuntimeError, match="bidirectional"):
                layer.step(torch.randn(2, 4), layer.default_state(2))
        else:
            assert change[:40].max() < 1e-13


# ------------------------------------------------------------------------------------------------------- model
@pytest.mark.parametrize("pooling, prenorm", [("none", False), ("last", True)])
def test_model_step_equals_scan(pooling, prenorm):
    torch.manual_seed(0)
    model = S5Model(d_input=2, d_output=3, d_model=8, n_layers=2, d_state=16, blocks=2, pooling=pooling,
                    prenorm=prenorm).eval()
    x = torch.randn(2, 30, 2)
    ys = run_steps(model, x)[0]
    if pooling == "none":
        torch.testing.assert_close(ys, model(x), rtol=0, atol=1e-11)
    else:
        for t in [0, 17, 29]:
            torch.testing.assert_close(ys[:, t], model(x[:, : t + 1]), rtol=0, atol=1e-11)


def test_model_shapes_and_mean_pooling_has_no_step_mode():
    model = S5Model(d_input=3, d_output=5, d_model=8, n_layers=2, d_state=8, blocks=2)
    assert model(torch.randn(2, 30, 3)).shape == (2, 5)
    assert S5Model(d_input=3, d_output=5, d_model=8, n_layers=1, d_state=8, pooling="none")(
        torch.randn(2, 30, 3)).shape == (2, 30, 5)
    with pytest.raises(RuntimeError, match="S5Model with pooling='mean' has no step mode"):
        model.setup_step()


def test_registry_builds_s5_with_small_defaults():
    info = model_info("s5")
    assert info.family == "ssm" and {"step", "sequence"} <= info.capabilities and "Simplified" in info.paper
    model = create_model("s5", d_model=16, n_layers=1)
    assert isinstance(model, S5Model) and model.zoo_config == {"name": "s5", "d_model": 16, "n_layers": 1}
    assert model(torch.randn(2, 12, 1)).shape == (2, 10)
    assert sum(p.numel() for p in create_model("s5").parameters()) < 100_000


# ------------------------------------------------------------------------------------------------------ S5-PTD
def test_s5_ptd_init_uses_the_true_inverse_and_is_stable():
    n, J, H = 8, 2, 3
    block = ptd_perturbation(n)
    V, V_inv, Lambda_n = block["V"], block["V_inv"], block["Lambda"]
    np.testing.assert_allclose(V @ V_inv, np.eye(n), atol=1e-10)
    np.testing.assert_allclose(V @ np.diag(Lambda_n) @ V_inv, legs(n)[0] + block["E"], atol=1e-9)
    assert np.abs(V.conj().T @ V - np.eye(n)).max() > 1e-3  # not unitary: V* would not be V⁻¹
    ssm = S5SSM(H, n * J, blocks=J, init="ptd", conj_sym=False)
    Lambda, _, B, C, _ = numpy_params(ssm)
    np.testing.assert_allclose(Lambda, np.tile(Lambda_n, J), rtol=1e-14)
    assert (Lambda.real < 0).all()
    V_block = block_diag(*[V] * J)
    # B̃ = V⁻¹ B with a real B: V B̃ is real, block by block
    assert np.abs(np.imag(V_block @ B)).max() < 1e-10
    assert C.shape == (H, n * J)


def test_s5_ptd_registry_and_forced_settings():
    model = create_model("s5_ptd", d_model=8, n_layers=1, d_state=16, blocks=2, pooling="none").eval()
    layer = model.layers[0]
    assert layer.ssm.init == "ptd" and not layer.ssm.conj_sym and layer.ssm.B.shape[0] == 16
    assert model_info("s5_ptd").family == "ssm"
    with pytest.raises(ValueError, match="S5-PTD .*no conjugate symmetry; set conj_sym=False"):
        S5SSM(4, 16, blocks=2, init="ptd", conj_sym=True)
    x = torch.randn(2, 20, 1)
    torch.testing.assert_close(run_steps(model, x)[0], model(x), rtol=0, atol=1e-10)


# ---------------------------------------------------------------------------------------------------- bad input
def test_bad_input_shapes_and_dtypes():
    model = S5Model(d_model=8, n_layers=1, d_state=8, blocks=2)
    with pytest.raises(ValueError, match=r"S5Model expects input of shape \(batch, length, d_input=1\), got \(4, 10\)"):
        model(torch.randn(4, 10))
    with pytest.raises(TypeError, match="floating-point input, got torch.int64"):
        model(torch.ones(4, 10, 1, dtype=torch.long))
    layer = S5Layer(8, 8, blocks=2)
    expected = r"S5Layer expects input of shape \(batch, length, d_model=8\), got \(2, 5, 7\)"
    with pytest.raises(ValueError, match=expected):
        layer(torch.randn(2, 5, 7))
    with pytest.raises(RuntimeError, match=r"call setup_step\(\) before step\(\)"):
        layer.step(torch.randn(2, 8), layer.default_state(2))
    layer.setup_step()
    with pytest.raises(ValueError, match=r"S5Layer.step expects input of shape \(batch, d_model=8\)"):
        layer.step(torch.randn(2, 5, 8), layer.default_state(2))
    with pytest.raises(ValueError, match=r"S5Layer.step expects state of shape \(2, 4\), got \(3, 4\)"):
        layer.step(torch.randn(2, 8), layer.default_state(3))
    with pytest.raises(ValueError, match=r"S5Model.step expects a state list of 1 tensors, got 0"):
        S5Model(d_model=8, n_layers=1, d_state=8, pooling="last").step(torch.randn(2, 1), [])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"init": "lin"}, "unknown S5 init 'lin'; valid choices: legs, ptd"),
        ({"disc": "euler"}, "unknown discretisation 'euler'; valid choices: zoh, bilinear"),
        ({"d_state": 10, "blocks": 4}, "d_state a positive multiple of blocks, got d_model=4, d_state=10, blocks=4"),
        ({"d_state": 12, "blocks": 4}, r"conj_sym needs an even block size d_state/blocks, got 12/4"),
        ({"dt_min": 0.1, "dt_max": 0.01}, "dt_min <= dt_max"),
        ({"lr": -1.0}, "lr must be >= 0"),
    ],
)
def test_bad_constructor_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        S5SSM(4, **{"d_state": 8, "blocks": 2, **kwargs})


def test_bad_activation_and_pooling():
    with pytest.raises(ValueError, match="unknown S5 activation 'relu'; valid choices: half_glu1, full_glu, gelu"):
        S5Layer(4, 8, activation="relu")
    with pytest.raises(ValueError, match="unknown pooling 'max'; valid choices: mean, last, none"):
        S5Model(pooling="max")
