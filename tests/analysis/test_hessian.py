"""zoo.analysis.hessian against closed forms in float64 (Sagun et al.'s H, its Gauss–Newton part G, SLQ)."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from zoo.analysis import (gauss_newton_matrix, gauss_newton_spectrum, gnvp, hessian_matrix, hessian_spectrum, hvp,
                          interpolate_loss, outlier_count)

N, d = 40, 4


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """These products are on tensors of a few hundred entries: OpenMP threads only add overhead (tens of times
    slower on a loaded machine), so the module runs on one thread and restores the setting afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def squared_error(output, target):
    """ℓ = ½‖f − y‖², batch mean."""
    return 0.5 * ((output - target) ** 2).sum(-1).mean()


def augmented(X):
    """[X, 1] (N, d+1): the inputs of nn.Linear's (weight, bias) in named_parameters order."""
    return torch.cat([X, torch.ones(len(X), 1, dtype=X.dtype)], 1)


def linear_weights(model: nn.Linear):
    """w̃ = [weight, bias] (d+1,) in float64."""
    return torch.cat([model.weight.detach().double().reshape(-1), model.bias.detach().double()])


def mlp(seed=0, d_in=d, h=6, classes=3, act=nn.Tanh):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(d_in, h), act(), nn.Linear(h, h), act(), nn.Linear(h, classes))


def flat_params(model):
    return torch.cat([p.detach().double().reshape(-1) for p in model.parameters()])


def call_flat(model, w, X):
    """f(w, X) for a flat float64 w, by torch.func (the reference's own path, independent of zoo.analysis)."""
    shapes = {name: p.shape for name, p in model.named_parameters()}
    chunks = torch.split(w, [math.prod(s) for s in shapes.values()])
    return torch.func.functional_call(model, {n: c.view(s) for (n, s), c in zip(shapes.items(), chunks)}, (X,))


def reference_hessian(model, loss_fn, X, y):
    """H by torch.autograd.functional.hessian (double backward), in float64."""
    return torch.autograd.functional.hessian(lambda w: loss_fn(call_flat(model, w, X), y), flat_params(model))


@pytest.fixture
def regression():
    g = torch.Generator().manual_seed(0)
    return torch.randn(N, d, generator=g, dtype=torch.float64), torch.randn(N, 1, generator=g, dtype=torch.float64)


@pytest.fixture
def classification():
    g = torch.Generator().manual_seed(1)
    return torch.randn(N, d, generator=g, dtype=torch.float64), torch.randint(0, 3, (N,), generator=g)


def test_least_squares_hessian_closed_form(regression):
    X, y = regression
    model = nn.Linear(d, 1)
    Xa = augmented(X)
    assert torch.allclose(hessian_matrix(model, squared_error, [(X, y)]), Xa.T @ Xa / N, rtol=0, atol=1e-10)
    expected = torch.linalg.eigvalsh(Xa.T @ Xa / N).flip(0)
    assert torch.allclose(hessian_spectrum(model, squared_error, [(X, y)]), expected, rtol=0, atol=1e-10)


def test_logistic_regression_hessian_closed_form(regression):
    X, _ = regression
    y = (X[:, :1] + 0.5 * X[:, 1:2] > 0).double()
    torch.manual_seed(2)
    model = nn.Linear(d, 1)
    Xa = augmented(X)
    p = torch.sigmoid(Xa @ linear_weights(model))
    expected = Xa.T @ torch.diag(p * (1 - p)) @ Xa / N
    H = hessian_matrix(model, F.binary_cross_entropy_with_logits, [(X, y)])
    assert torch.allclose(H, expected, rtol=0, atol=1e-10)


def test_hvp_equals_dense_product(regression, classification):
    X, y = regression
    Xa = augmented(X)
    v = torch.randn(d + 1, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    assert torch.allclose(hvp(nn.Linear(d, 1), squared_error, [(X, y)], v), Xa.T @ Xa @ v / N, rtol=0, atol=1e-10)
    X, y = classification
    model = mlp()
    H = reference_hessian(model, F.cross_entropy, X, y)
    v = torch.randn(len(H), generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    assert torch.allclose(hvp(model, F.cross_entropy, [(X, y)], v), H @ v, rtol=0, atol=1e-10)


class Attention(nn.Module):
    """One self-attention layer: ``(batch, length, 4) -> (batch, 3)``, through ``scaled_dot_product_attention`` or,
    ``explicit``, through ``softmax(q kᵀ / √d) v`` written out."""

    def __init__(self, explicit: bool = False):
        super().__init__()
        self.qkv, self.head, self.explicit = nn.Linear(4, 12), nn.Linear(4, 3), explicit

    def forward(self, x):
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        if self.explicit:
            return self.head((torch.softmax(q @ k.transpose(1, 2) / 2, dim=-1) @ v).mean(1))
        return self.head(F.scaled_dot_product_attention(q, k, v).mean(1))


def test_hvp_through_scaled_dot_product_attention():
    """Attention's fused CPU kernel has no forward-mode derivative; the HVP still equals the Hessian of the same
    attention written out."""
    torch.manual_seed(0)
    model, x, y = Attention().double(), torch.randn(5, 6, 4, dtype=torch.float64), torch.randint(3, (5,))
    explicit = Attention(explicit=True).double()
    explicit.load_state_dict(model.state_dict())
    H = reference_hessian(explicit, F.cross_entropy, x, y)
    v = torch.randn(len(H), generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    torch.testing.assert_close(hvp(model, F.cross_entropy, [(x, y)], v), H @ v, rtol=1e-10, atol=1e-10)


def test_lanczos_top5_matches_eigvalsh(classification):
    X, y = classification
    model = mlp(h=8)
    expected = torch.linalg.eigvalsh(reference_hessian(model, F.cross_entropy, X, y)).flip(0)[:5]
    top = hessian_spectrum(model, F.cross_entropy, [(X, y)], method="lanczos", k=5)
    assert top.shape == (5,) and torch.allclose(top, expected, rtol=1e-6, atol=0)
    bottom = hessian_spectrum(model, F.cross_entropy, [(X, y)], method="lanczos", k=3, which="SA")
    expected = torch.linalg.eigvalsh(reference_hessian(model, F.cross_entropy, X, y))[:3].flip(0)
    assert torch.allclose(bottom, expected, rtol=1e-6, atol=1e-12)


class RandomFeatures(nn.Module):
    """f(x) = W cos(Ω x) + b with a fixed Ω: linear in its parameters (W, b), so R = 0 and G = H."""

    def __init__(self, classes=3, features=7):
        super().__init__()
        self.register_buffer("Omega", torch.randn(features, d))
        self.head = nn.Linear(features, classes)

    def forward(self, x):
        return self.head(torch.cos(x @ self.Omega.T))


def test_model_linear_in_parameters_has_G_equal_H(classification):
    X, y = classification
    torch.manual_seed(5)
    model = RandomFeatures()
    H = hessian_matrix(model, F.cross_entropy, [(X, y)])
    assert torch.allclose(gauss_newton_matrix(model, F.cross_entropy, [(X, y)]), H, rtol=0, atol=1e-10)
    assert H.abs().max() > 1e-3  # not trivially zero


def test_cross_entropy_gauss_newton_closed_form(classification):
    """G = (1/N) Σ_i J_iᵀ (diag p_i − p_i p_iᵀ) J_i with J from torch.autograd.functional.jacobian; PSD."""
    X, y = classification
    model = mlp()
    w = flat_params(model)
    J = torch.autograd.functional.jacobian(lambda w: call_flat(model, w, X), w)  # (N, C, M)
    p = torch.softmax(call_flat(model, w, X), -1)
    H_f = torch.diag_embed(p) - p[:, :, None] * p[:, None, :]  # (N, C, C)
    expected = torch.einsum("ncm,ncd,ndk->mk", J, H_f, J) / N
    G = gauss_newton_matrix(model, F.cross_entropy, [(X, y)])
    assert torch.allclose(G, expected, rtol=0, atol=1e-10)
    eigs = gauss_newton_spectrum(model, F.cross_entropy, [(X, y)])
    assert eigs[-1] >= -1e-12 * eigs[0]
    v = torch.randn(len(w), generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    assert torch.allclose(gnvp(model, F.cross_entropy, [(X, y)], v), expected @ v, rtol=0, atol=1e-10)
    # at a non-minimum H = G + R with R ≠ 0 for the MLP
    assert (hessian_matrix(model, F.cross_entropy, [(X, y)]) - G).abs().max() > 1e-4


def trapezoid_moments(density):
    mass = torch.trapezoid(density.density, density.grid)
    return mass, torch.trapezoid(density.grid * density.density, density.grid)


def test_slq_density_mass_and_mean_on_diagonal_hessian():
    """X = √N Q diag(s), Qᵀ Q = I: H = XᵀX/N = diag(s²), for which every Rademacher probe gives zᵀHz = tr H."""
    M = 12
    Q, _ = torch.linalg.qr(torch.randn(N, M, generator=torch.Generator().manual_seed(7), dtype=torch.float64))
    s2 = torch.linspace(0.1, 5.0, M, dtype=torch.float64) ** 2
    X = math.sqrt(N) * Q * s2.sqrt()
    y = torch.randn(N, 1, dtype=torch.float64)
    density = hessian_spectrum(nn.Linear(M, 1, bias=False), squared_error, [(X, y)], method="slq", n_probe=4, m=6)
    mass, mean = trapezoid_moments(density)
    assert abs(mass - 1) < 1e-6 and abs(mean - s2.mean()) < 1e-6 * s2.mean()
    assert density.grid.shape == density.density.shape == (1000,) and density.nodes.shape == (4, 6)


def test_slq_mean_is_an_unbiased_trace_estimate(classification):
    """Non-diagonal H: the mean is within 3 standard errors of tr H / M (Hutchinson); full Lanczos (m = M) gives
    the exact eigenvalues as its nodes."""
    X, y = classification
    model = mlp(h=5)
    H = reference_hessian(model, F.cross_entropy, X, y)
    M = len(H)
    density = hessian_spectrum(model, F.cross_entropy, [(X, y)], method="slq", n_probe=20, m=4, seed=1)
    per_probe = (density.nodes * density.weights).sum(1)  # vᵀ H v for each unit probe
    mass, mean = trapezoid_moments(density)
    assert abs(mass - 1) < 1e-6 and abs(mean - per_probe.mean()) < 1e-6 * per_probe.abs().mean()
    assert abs(mean - torch.trace(H) / M) < 3 * per_probe.std() / math.sqrt(20)
    full = hessian_spectrum(model, F.cross_entropy, [(X, y)], method="slq", n_probe=1, m=M)
    nodes = full.nodes[0, full.weights[0] > 1e-20]
    exact = torch.linalg.eigvalsh(H)
    assert torch.all((nodes[:, None] - exact[None, :]).abs().min(1).values < 1e-8)


def test_unequal_batches_give_the_full_data_hessian(classification):
    X, y = classification
    model = mlp()
    one = hessian_matrix(model, F.cross_entropy, [(X, y)])
    parts = [(X[:7], y[:7]), (X[7:30], y[7:30]), (X[30:], y[30:])]
    assert torch.allclose(hessian_matrix(model, F.cross_entropy, parts), one, rtol=0, atol=1e-12)
    assert torch.allclose(gauss_newton_matrix(model, F.cross_entropy, parts),
                          gauss_newton_matrix(model, F.cross_entropy, [(X, y)]), rtol=0, atol=1e-12)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, y), batch_size=16)  # 16, 16, 8
    assert torch.allclose(hessian_matrix(model, F.cross_entropy, loader), one, rtol=0, atol=1e-12)


def test_model_mode_and_parameters_unchanged(classification):
    X, y = classification
    torch.manual_seed(8)
    model = nn.Sequential(nn.Linear(d, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Dropout(0.5), nn.Linear(6, 3))
    model.train()
    model[1].eval()  # a submodule deliberately in eval mode keeps it
    before = {name: t.clone() for name, t in model.state_dict().items()}
    first = hessian_spectrum(model, F.cross_entropy, [(X.float(), y)])
    second = hessian_spectrum(model, F.cross_entropy, [(X.float(), y)])
    assert torch.equal(first, second)  # eval mode inside: no dropout noise, no BatchNorm update
    assert first.dtype == torch.float64
    assert [m.training for m in model.modules()] == [True, True, False, True, True, True]
    for name, t in model.state_dict().items():
        assert t.dtype == before[name].dtype and torch.equal(t, before[name]), name


def test_params_subset_is_a_block_of_the_full_hessian(regression, classification):
    X, y = regression
    model = nn.Linear(d, 1)
    assert torch.allclose(hessian_matrix(model, squared_error, [(X, y)], params=["weight"]), X.T @ X / N, atol=1e-10)
    assert torch.allclose(hessian_matrix(model, squared_error, [(X, y)], params="^bias$"), torch.ones(1, 1).double())
    X, y = classification
    model = mlp()
    full = reference_hessian(model, F.cross_entropy, X, y)
    sizes = [p.numel() for p in model.parameters()]  # 0.weight, 0.bias, 2.weight, 2.bias, 4.weight, 4.bias
    block = slice(sum(sizes[:2]), sum(sizes[:4]))
    sub = hessian_matrix(model, F.cross_entropy, [(X, y)], params=r"^2\.")
    assert torch.allclose(sub, full[block, block], rtol=0, atol=1e-10)
    expected = torch.linalg.eigvalsh(full[block, block]).flip(0)
    assert torch.allclose(hessian_spectrum(model, F.cross_entropy, [(X, y)], params=["2.weight", "2.bias"]),
                          expected, rtol=0, atol=1e-10)


def test_interpolate_loss_endpoints_and_midpoint(classification):
    X, y = classification
    a, b = mlp(seed=0), mlp(seed=1)
    losses = interpolate_loss(a, b, F.cross_entropy, [(X[:25], y[:25]), (X[25:], y[25:])], [0.0, 0.5, 1.0])
    mid = mlp(seed=2).double()
    with torch.no_grad():
        for p, pa, pb in zip(mid.parameters(), a.parameters(), b.parameters()):
            p.copy_((pa.double() + pb.double()) / 2)
    expected = [F.cross_entropy(m.double()(X), y) for m in (mlp(seed=0), mid, mlp(seed=1))]
    assert losses.shape == (3,) and torch.allclose(losses, torch.stack(expected), rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="same parameter"):
        interpolate_loss(a, mlp(h=7), F.cross_entropy, [(X, y)], [0.0])


def test_outlier_count_rule():
    bulk = torch.linspace(-1e-4, 1e-4, 200)
    eigs = torch.cat([torch.tensor([50.0, 31.0, 20.0, 12.0, 0.4, 0.3, 0.2]), bulk])
    assert outlier_count(eigs) == 4  # the largest log drop: 12 → 0.4
    assert outlier_count(torch.cat([torch.tensor([10.0, 9.0]), bulk])) == 2  # the drop to the floor 1e-3 λ_max
    assert outlier_count(-eigs.abs()) == 0


def test_bad_inputs(classification):
    X, y = classification
    model = mlp()
    with pytest.raises(ValueError, match="scalar"):
        hessian_spectrum(model, lambda out, t: F.cross_entropy(out, t, reduction="none"), [(X, y)])
    with pytest.raises(ValueError, match="no batch"):
        hvp(model, F.cross_entropy, [], torch.zeros(3))
    with pytest.raises(ValueError, match="selects no parameter.*0.weight"):
        hessian_spectrum(model, F.cross_entropy, [(X, y)], params="decoder")
    with pytest.raises(ValueError, match="unknown parameter names"):
        hessian_spectrum(model, F.cross_entropy, [(X, y)], params=["0.weight", "head.bias"])
    with pytest.raises(ValueError, match="method='power' is unknown"):
        hessian_spectrum(model, F.cross_entropy, [(X, y)], method="power")
    M = sum(p.numel() for p in model.parameters())
    with pytest.raises(ValueError, match=f"k={M} must satisfy.*method='exact'"):
        hessian_spectrum(model, F.cross_entropy, [(X, y)], method="lanczos", k=M)
    with pytest.raises(TypeError, match=r"unknown keyword option\(s\) \['probes'\]"):
        hessian_spectrum(model, F.cross_entropy, [(X, y)], method="slq", probes=3)
    with pytest.raises(ValueError, match=rf"shape \(M,\) = \({M},\)"):
        hvp(model, F.cross_entropy, [(X, y)], torch.zeros(M + 1))
    with pytest.raises(TypeError, match=r"\(input, target\) pairs"):
        hvp(model, F.cross_entropy, [X], torch.zeros(M))
    assert model.training  # restored after every error
