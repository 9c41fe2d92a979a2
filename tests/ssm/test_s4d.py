"""S4D against closed forms (research notes ssm.md §1.1, §2.1), in float64 unless stated otherwise.

Modules are built under a float64 default dtype, so that their initial Λ is the closed form to the last bit
(building in float32 and calling ``.double()`` would keep float32's rounding of the init).
"""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from zoo.registry import create_model, model_info
from zoo.ssm.hippo import TRANSITIONS, legs, legs_normal, normal
from zoo.ssm.s4d import INITS, S4DKernel, S4DLayer, S4DModel, vandermonde

N = 64
n = np.arange(N // 2)
LIN = -0.5 + 1j * np.pi * n
INV = -0.5 + 1j * (N / np.pi) * (N / (2 * n + 1) - 1)


pytestmark = pytest.mark.usefixtures("float64_default")


def discretize(lam, dt, disc):
    """Closed-form (Ā, B̄/B) of the notes, written independently of zoo."""
    if disc == "zoh":
        return np.exp(dt * lam), (np.exp(dt * lam) - 1) / lam
    return (1 + dt * lam / 2) / (1 - dt * lam / 2), dt / (1 - dt * lam / 2)


def set_kernel(kernel, dt, C=None):
    """Fix Δ (all channels) and C (channels, H, N/2) of a float64 kernel; B stays at its init."""
    with torch.no_grad():
        kernel.log_dt.fill_(math.log(dt))
        if C is not None:
            kernel.C.copy_(torch.view_as_real(torch.as_tensor(C)))


def lambdas(kernel):
    return torch.complex(-torch.exp(kernel.A_real_log), kernel.A_imag).detach().numpy()


# ------------------------------------------------------------------------------------------- initialisation
@pytest.mark.parametrize(
    "init, expected",
    [("lin", LIN), ("inv", INV), ("real", -(n + 1.0) + 0j), ("legs", legs_normal(N)[0])],
)
def test_init_spectra(init, expected):
    kernel = S4DKernel(3, N, init=init)
    np.testing.assert_allclose(lambdas(kernel), np.broadcast_to(expected, (3, N // 2)), rtol=1e-14, atol=1e-14)
    assert kernel.log_dt.shape == (3,) and kernel.B.shape == (3, N // 2, 2) and kernel.C.shape == (1, 3, N // 2, 2)


def test_legs_init_B_is_half_the_projection_and_reference_mode():
    kernel = S4DKernel(2, N, init="legs")
    B = torch.view_as_complex(kernel.B)[0].detach().numpy()
    _, V = legs_normal(N)
    # V (N, N/2) and its conjugate span R^N, so 2 Re(V B̃) must give back B_LegS / 2
    np.testing.assert_allclose(2 * np.real(V @ B), legs(N)[1] / 2, atol=1e-12)
    ref = torch.view_as_complex(S4DKernel(2, N, init="legs", legs_reference=True).B)[0].detach().numpy()
    np.testing.assert_allclose(ref.real, 2 * B.real, atol=1e-12)
    assert np.abs(ref.imag).max() <= 2.0 and np.abs(2 * B.imag).max() > 2.0


def test_registered_inits():
    assert INITS == ("lin", "inv", "real", "legs", "legt", "fout", "ptd")


@pytest.mark.parametrize("init", ["legt", "fout"])
def test_legt_fout_inits_are_the_normal_parts_with_real_part_minus_half(init):
    """Re λ = 0 for both normal parts is replaced by -½; B = V* B_HiPPO, not halved, so 2 Re(V B) = B_HiPPO."""
    kernel = S4DKernel(2, N, init=init)
    Lambda, V = normal(init, N)
    assert np.all(Lambda.real == 0)
    np.testing.assert_allclose(lambdas(kernel), np.broadcast_to(-0.5 + 1j * Lambda.imag, (2, N // 2)), atol=1e-14)
    B = torch.view_as_complex(kernel.B)[0].detach().numpy()
    np.testing.assert_allclose(2 * np.real(V @ B), TRANSITIONS[init](N)[1], atol=1e-12)


def test_fout_init_is_lin_up_to_conjugation():
    kernel = S4DKernel(1, N, init="fout")
    np.testing.assert_allclose(lambdas(kernel)[0], LIN.conj()[::-1], atol=1e-13)
    B = torch.view_as_complex(kernel.B)[0].detach().numpy()
    np.testing.assert_allclose(np.abs(B), np.r_[np.ones(N // 2 - 1), 2**-0.5], atol=1e-15)


def test_ptd_init_uses_all_modes_of_the_perturbed_legs_of_size_half_d_state():
    from zoo.ssm.ptd import ptd_init

    Lambda, B_tilde = (np.asarray(x) for x in ptd_init(N // 2, seed=0))
    kernel = S4DKernel(2, N, init="ptd")
    np.testing.assert_allclose(lambdas(kernel), np.broadcast_to(Lambda, (2, N // 2)), rtol=1e-14, atol=1e-14)
    np.testing.assert_allclose(torch.view_as_complex(kernel.B)[1].detach().numpy(), B_tilde, rtol=0, atol=1e-14)
    assert np.all(Lambda.real < 0)


def test_ptd_init_rejects_an_unstable_solver_result(monkeypatch):
    import zoo.ssm.ptd

    unstable = (np.r_[-1.0 + 2j, 0.1 - 2j], np.ones(2, dtype=complex))
    monkeypatch.setattr(zoo.ssm.ptd, "ptd_init", lambda n, seed=0, **kwargs: unstable)
    with pytest.raises(RuntimeError, match="Re λ >= 0"):
        S4DKernel(1, 4, init="ptd")


def test_dt_range_and_optimizer_hook():
    kernel = S4DKernel(500, 8, dt_min=1e-3, dt_max=1e-1, lr=2e-3)
    dt = kernel.log_dt.exp()
    assert dt.min() >= 1e-3 * (1 - 1e-6) and dt.max() <= 1e-1 * (1 + 1e-6) and dt.max() / dt.min() > 30
    for name in ["log_dt", "A_real_log", "A_imag", "B"]:
        assert getattr(kernel, name)._optim == {"lr": 2e-3, "weight_decay": 0.0}
    assert not hasattr(kernel.C, "_optim")
    frozen = S4DKernel(4, 8, lr=0.0)
    assert {name for name, _ in frozen.named_parameters()} == {"C"}
    assert {name for name, _ in frozen.named_buffers()} == {"log_dt", "A_real_log", "A_imag", "B"}


# ----------------------------------------------------------------------------------------------------- kernel
GOLDEN = [
    ("lin", "zoh", [0.605249, 0.426175, 0.167921, -0.040841]),
    ("lin", "bilinear", [0.593748, 0.434323, 0.194666, -0.017574]),
    ("inv", "zoh", [0.557005, 0.442653, 0.358429, 0.290361]),
]


@pytest.mark.parametrize("init, disc, expected", GOLDEN)
def test_golden_kernel_values(init, disc, expected):
    """Notes table: N=64, B=C=1, Δ=0.01, K_ℓ = 2 Re Σ_n C_n B̄_n Ā_n^ℓ."""
    kernel = S4DKernel(1, N, init=init, disc=disc)
    set_kernel(kernel, 0.01, np.ones((1, 1, N // 2), dtype=complex))
    np.testing.assert_allclose(kernel(4)[0, 0].detach().numpy(), expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize("disc", ["zoh", "bilinear"])
def test_kernel_is_the_closed_form_power_sum(disc):
    rng = np.random.default_rng(0)
    C = rng.standard_normal((2, 1, N // 2)) + 1j * rng.standard_normal((2, 1, N // 2))
    kernel = S4DKernel(1, N, init="inv", disc=disc, channels=2)
    set_kernel(kernel, 0.05, C)
    dA, dB = discretize(INV, 0.05, disc)
    ell = np.arange(300)[:, None]
    expected = 2 * np.real((C[:, 0, None, :] * dB * dA**ell).sum(-1))  # (channels, L)
    np.testing.assert_allclose(kernel(300)[:, 0].detach().numpy(), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("disc", ["zoh", "bilinear"])
def test_dc_gain(disc):
    """Σ_ℓ K_ℓ = -2 Re Σ_n C_n B_n / λ_n for both discretisations (geometric series; the tail is < 1e-13)."""
    rng = np.random.default_rng(1)
    C = rng.standard_normal((1, 1, N // 2)) + 1j * rng.standard_normal((1, 1, N // 2))
    kernel = S4DKernel(1, N, init="lin", disc=disc)
    set_kernel(kernel, 0.1, C)
    assert kernel(20000).sum().item() == pytest.approx(-2 * np.real(C[0, 0] / LIN).sum(), abs=1e-11)
    set_kernel(kernel, 0.1, np.ones((1, 1, N // 2), dtype=complex))
    assert -2 * np.real(1 / LIN).sum() == pytest.approx(4.160737, abs=1e-6)
    assert kernel(20000).sum().item() == pytest.approx(4.160737, abs=1e-6)


def test_discretize_matches_closed_form():
    for disc in ["zoh", "bilinear"]:
        kernel = S4DKernel(1, N, init="inv", disc=disc)
        set_kernel(kernel, 0.05)
        dA, dB = (t[0].detach().numpy() for t in kernel.discretize())
        np.testing.assert_allclose(dA, discretize(INV, 0.05, disc)[0], rtol=1e-13)
        np.testing.assert_allclose(dB, discretize(INV, 0.05, disc)[1], rtol=1e-13)


# ------------------------------------------------------------------------------------------------ Vandermonde
def naive_vandermonde(W, s, L):
    return torch.einsum("chn,hnl->chl", W, torch.exp(s.unsqueeze(-1) * torch.arange(L, dtype=s.real.dtype))).real


def random_ws(channels=2, H=3, M=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    W = torch.randn(channels, H, M, dtype=torch.complex128, generator=g)
    s = torch.complex(-0.3 * torch.rand(H, M, generator=g), torch.randn(H, M, generator=g))
    return W.requires_grad_(), s.requires_grad_()


def test_vandermonde_gradcheck():
    W, s = random_ws()
    assert torch.autograd.gradcheck(lambda W, s: vandermonde(W, s, 11, chunk=4), (W, s))


def test_vandermonde_chunked_equals_unchunked_values_and_grads():
    W, s = random_ws(H=5, M=6, seed=3)
    g = torch.randn(2, 5, 37)
    results = []
    for K in [naive_vandermonde(W, s, 37), vandermonde(W, s, 37, chunk=37), vandermonde(W, s, 37, chunk=5)]:
        results.append((K, *torch.autograd.grad((K * g).sum(), (W, s))))
    for other in results[1:]:
        for a, b in zip(results[0], other):
            torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_vandermonde_second_order_and_torch_func_match_the_naive_kernel():
    """Double backward, forward mode (jvp), forward-over-reverse Hessian-vector products and vmap: what
    ``zoo.analysis`` and ``zoo.compress`` apply to an s4d model, against autograd through the naive kernel."""
    W, s = random_ws(H=3, M=4, seed=5)
    assert torch.autograd.gradgradcheck(lambda W, s: vandermonde(W, s, 13, chunk=4), (W, s))
    W, s = W.detach(), s.detach()
    dW, ds = torch.randn_like(W), torch.randn_like(s)

    def chunked(W, s):
        return vandermonde(W, s, 37, chunk=8)

    def naive(W, s):
        return naive_vandermonde(W, s, 37)

    def gradient(kernel):
        return torch.func.grad(lambda W, s: kernel(W, s).square().sum(), argnums=(0, 1))

    for transform in (lambda kernel: torch.func.jvp(kernel, (W, s), (dW, ds))[1],
                      lambda kernel: torch.func.jvp(gradient(kernel), (W, s), (dW, ds))[1],
                      lambda kernel: torch.func.vmap(kernel, in_dims=(0, None))(torch.stack([W, 2 * W]), s)):
        torch.testing.assert_close(transform(chunked), transform(naive), rtol=1e-10, atol=1e-10)


def test_kernel_chunk_size_does_not_change_the_kernel_or_its_grads():
    torch.manual_seed(0)
    kernels = [S4DKernel(4, 16, init="inv", chunk=c) for c in (1000, 7)]
    kernels[1].load_state_dict(kernels[0].state_dict())
    outputs = []
    for kernel in kernels:
        K = kernel(1000)
        outputs.append((K, *torch.autograd.grad(K.square().sum(), list(kernel.parameters()))))
    for a, b in zip(*outputs):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_kernel_stores_nothing_of_size_H_N_L_for_backward():
    H, N_, L = 8, 16, 4096
    kernel = S4DKernel(H, N_, chunk=512)
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t.numel()) or t, lambda t: t):
        K = kernel(L)
    K.sum().backward()
    assert max(saved) <= H * N_ < H * (N_ // 2) * L
    assert all(p.grad is not None for p in kernel.parameters())


# ------------------------------------------------------------------------------------------------------ layer
@pytest.mark.parametrize("disc", ["zoh", "bilinear"])
def test_layer_convolution_equals_unrolled_recurrence(disc):
    """S4D-Inv, N=64, Δ=0.05, random C, L=300: FFT convolution + D u vs x_k = Ā x_{k-1} + B̄ u_k."""
    torch.manual_seed(0)
    batch, L, H = 2, 300, 3
    layer = S4DLayer(H, N, init="inv", disc=disc).eval()
    set_kernel(layer.kernel, 0.05)
    C = torch.view_as_complex(layer.kernel.C)[0].detach().numpy()  # (H, N/2), random init
    D = layer.D.detach().numpy()
    u = torch.randn(batch, L, H)
    dA, dB = discretize(INV, 0.05, disc)
    x, y = np.zeros((batch, H, N // 2), dtype=complex), np.zeros((batch, L, H))
    for k in range(L):
        x = dA * x + dB * u[:, k, :, None].numpy()
        y[:, k] = 2 * np.real((C * x).sum(-1)) + D * u[:, k].numpy()
    expected = F.glu(layer.output_linear(F.gelu(torch.from_numpy(y))), dim=-1)
    torch.testing.assert_close(layer(u), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("dtype, atol", [(torch.float64, 1e-10), (torch.float32, 1e-5)])
@pytest.mark.parametrize("init, disc", [("lin", "zoh"), ("inv", "bilinear"), ("legs", "zoh"), ("real", "bilinear")])
def test_layer_step_equals_convolution(init, disc, dtype, atol):
    torch.manual_seed(0)
    layer = S4DLayer(8, 16, init=init, disc=disc, dropout=0.3).to(dtype).eval()
    u = torch.randn(3, 100, 8, dtype=dtype)
    layer.setup_step()
    state, ys = layer.default_state(3), []
    assert state.shape == (3, 8, 8) and state.is_complex() and state.abs().max() == 0
    for t in range(u.shape[1]):
        y, state = layer.step(u[:, t], state)
        ys.append(y)
    torch.testing.assert_close(torch.stack(ys, dim=1), layer(u), rtol=0, atol=atol)


def test_causality_by_perturbation():
    torch.manual_seed(0)
    u = torch.randn(1, 64, 4)
    v = u.clone()
    v[:, 40] += 1.0
    for bidirectional in [False, True]:
        layer = S4DLayer(4, 16, bidirectional=bidirectional, dt_min=0.05, dt_max=0.1).eval()
        change = (layer(v) - layer(u)).abs().amax(dim=(0, 2))
        assert change[40:].min() > 1e-6
        if bidirectional:
            assert change[:40].min() > 1e-6  # position t < 40 sees the future input at 40
        else:
            assert change[:40].max() < 1e-13


def test_bidirectional_layer_has_no_step_mode():
    layer = S4DLayer(4, 8, bidirectional=True)
    assert layer.kernel.C.shape == (2, 4, 4, 2)
    with pytest.raises(RuntimeError, match="bidirectional"):
        layer.setup_step()
    with pytest.raises(RuntimeError, match="bidirectional"):
        layer.step(torch.randn(2, 4), layer.default_state(2))


def test_step_before_setup_step_raises():
    layer = S4DLayer(4, 8)
    with pytest.raises(RuntimeError, match="setup_step"):
        layer.step(torch.randn(2, 4), layer.default_state(2))


# ------------------------------------------------------------------------------------------------------ model
@pytest.mark.parametrize("pooling, shape", [("mean", (2, 5)), ("last", (2, 5)), ("none", (2, 30, 5))])
def test_model_output_shapes(pooling, shape):
    model = S4DModel(d_input=3, d_output=5, d_model=8, n_layers=2, d_state=8, pooling=pooling)
    assert model(torch.randn(2, 30, 3)).shape == shape


@pytest.mark.parametrize("prenorm", [False, True])
@pytest.mark.parametrize("pooling", ["none", "last"])
def test_model_step_equals_convolution(pooling, prenorm):
    torch.manual_seed(0)
    model = S4DModel(d_input=2, d_output=3, d_model=8, n_layers=2, d_state=16, pooling=pooling, prenorm=prenorm)
    model.eval()
    x = torch.randn(2, 40, 2)
    model.setup_step()
    state, ys = model.default_state(2), []
    for t in range(x.shape[1]):
        y, state = model.step(x[:, t], state)
        ys.append(y)
    if pooling == "none":
        torch.testing.assert_close(torch.stack(ys, dim=1), model(x), rtol=0, atol=1e-10)
    else:
        for t in [0, 17, 39]:
            torch.testing.assert_close(ys[t], model(x[:, : t + 1]), rtol=0, atol=1e-10)


def test_model_mean_pooling_has_no_step_mode():
    model = S4DModel(d_model=8, n_layers=1, d_state=8)
    with pytest.raises(RuntimeError, match="pooling='mean'"):
        model.setup_step()


def test_registry_builds_the_model_with_small_defaults():
    info = model_info("s4d")
    assert info.family == "ssm" and {"step", "sequence"} <= info.capabilities
    model = create_model("s4d", d_model=16, n_layers=1)
    assert isinstance(model, S4DModel) and model.zoo_config == {"name": "s4d", "d_model": 16, "n_layers": 1}
    assert model(torch.randn(2, 12, 1)).shape == (2, 10)
    assert model.decoder.out_features == 10
    assert isinstance(create_model("s4d"), S4DModel)


# ------------------------------------------------------------------------------------------------ bad inputs
def test_bad_input_shapes_and_dtypes():
    model = S4DModel(d_model=8, n_layers=1, d_state=8)
    expected = r"S4DModel expects input of shape \(batch, length, d_input=1\), got \(4, 10\)"
    with pytest.raises(ValueError, match=expected):
        model(torch.randn(4, 10))
    with pytest.raises(ValueError, match=r"d_input=1\), got \(4, 10, 3\)"):
        model(torch.randn(4, 10, 3))
    with pytest.raises(TypeError, match="floating-point input, got torch.int64"):
        model(torch.ones(4, 10, 1, dtype=torch.long))
    layer = S4DLayer(8, 8)
    expected = r"S4DLayer expects input of shape \(batch, length, d_model=8\), got \(2, 5, 7\)"
    with pytest.raises(ValueError, match=expected):
        layer(torch.randn(2, 5, 7))
    with pytest.raises(ValueError, match=r"got \(2, 0, 8\)"):
        layer(torch.randn(2, 0, 8))
    layer.setup_step()
    with pytest.raises(ValueError, match=r"S4DLayer.step expects input of shape \(batch, d_model=8\)"):
        layer.step(torch.randn(2, 5, 8), layer.default_state(2))
    with pytest.raises(ValueError, match="state of shape"):
        layer.step(torch.randn(2, 8), layer.default_state(3))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"init": "hippo"}, "unknown S4D init 'hippo'; valid choices: lin, inv, real, legs"),
        ({"disc": "euler"}, "unknown discretisation 'euler'; valid choices: zoh, bilinear"),
        ({"d_state": 7}, "d_state must be a positive even number"),
        ({"dt_min": 0.1, "dt_max": 0.01}, "dt_min <= dt_max"),
    ],
)
def test_bad_constructor_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        S4DKernel(4, **{"d_state": 8, **kwargs})


def test_bad_pooling_and_vandermonde_arguments():
    with pytest.raises(ValueError, match="unknown pooling 'max'; valid choices: mean, last, none"):
        S4DModel(pooling="max")
    W, s = random_ws()
    with pytest.raises(ValueError, match="complex W"):
        vandermonde(W.real, s, 4)
    with pytest.raises(ValueError, match="L >= 1"):
        vandermonde(W, s, 0)
