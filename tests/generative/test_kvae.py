"""KVAE: Koopman least squares, linear-prediction and eigenvalue losses against closed forms, the loss wiring,
sampling, irregular (masked) data, and the eigenvalue constraint trained on pendulum data."""

import math

import pytest
import torch

import zoo
from zoo.data.sequence.timeseries import TimeSeriesDataModule
from zoo.generative.kvae import eigenvalue_loss, gaussian_kl, koopman_fit, prediction_loss


def linear_latents(A: torch.Tensor, B: int = 6, T: int = 12, seed: int = 0) -> torch.Tensor:
    """``z_{t+1} = z_t A`` from random ``z_1``: (B, T, k) float64."""
    z = [torch.randn(B, A.shape[0], dtype=torch.float64, generator=torch.Generator().manual_seed(seed))]
    for _ in range(T - 1):
        z.append(z[-1] @ A)
    return torch.stack(z, 1)


def rotation(r: float, theta: float) -> torch.Tensor:
    """``r R(θ)``: eigenvalues ``r e^{±iθ}``."""
    return r * torch.tensor([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]],
                            dtype=torch.float64)


def matrix_with_moduli(seed: int = 0) -> torch.Tensor:
    """``P diag(1.2 R(0.3), 0.9 R(1.1), 0.5) P⁻¹``: |λ| = 1.2, 1.2, 0.9, 0.9, 0.5."""
    D = torch.block_diag(rotation(1.2, 0.3), rotation(0.9, 1.1), torch.tensor([[0.5]], dtype=torch.float64))
    P = torch.eye(5, dtype=torch.float64) + 0.3 * torch.randn(5, 5, dtype=torch.float64,
                                                             generator=torch.Generator().manual_seed(seed))
    return P @ D @ torch.linalg.inv(P)


@pytest.mark.parametrize("solver", ["qr", "pinv"])
def test_koopman_least_squares_recovers_a_known_matrix(solver):
    A = 0.95 * torch.linalg.qr(torch.randn(4, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1)))[0]
    A_fit = koopman_fit(linear_latents(A), solver)
    assert torch.allclose(A_fit, A, atol=1e-10)
    noisy = linear_latents(A) + 1e-3 * torch.randn(6, 12, 4, dtype=torch.float64)
    k = noisy.shape[-1]  # with noise: the normal equations' solution (Xᵀ X)⁻¹ Xᵀ Y
    X, Y = noisy[:, :-1].reshape(-1, k), noisy[:, 1:].reshape(-1, k)
    assert torch.allclose(koopman_fit(noisy, solver), torch.linalg.solve(X.T @ X, X.T @ Y), atol=1e-9)


def test_unknown_solver_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown Koopman solver 'svd'"):
        koopman_fit(torch.randn(2, 5, 3), "svd")


def test_prediction_loss_is_zero_on_linear_latents_and_matches_its_formula():
    A = 0.9 * torch.linalg.qr(torch.randn(3, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(2)))[0]
    z = linear_latents(A, T=8)
    assert prediction_loss(z, A, steps=3) < 1e-28
    A_wrong = 0.5 * torch.eye(3, dtype=torch.float64)
    expected = sum(((z[:, :-j] * 0.5 ** j - z[:, j:]) ** 2).mean() / (z[:, :-j] * 0.5 ** j).norm() for j in (1, 2))
    assert torch.allclose(prediction_loss(z, A_wrong, steps=2), expected, rtol=1e-12)


def test_eigenvalue_loss_matches_its_formula():
    A = matrix_with_moduli()
    assert torch.allclose(eigenvalue_loss(A, "unit", 2), torch.tensor(2 * 0.2 ** 2, dtype=torch.float64))
    assert torch.allclose(eigenvalue_loss(A, "unit", 4), torch.tensor(2 * 0.2 ** 2 + 2 * 0.1 ** 2,
                                                                      dtype=torch.float64))
    assert torch.allclose(eigenvalue_loss(A, "stable"), torch.tensor(2 * 0.2 ** 2, dtype=torch.float64))
    assert eigenvalue_loss(A / 1.2, "stable") < 1e-20


def test_eigenvalue_constraint_is_wired_into_the_loss_with_a_gradient():
    torch.manual_seed(0)
    x = torch.rand(8, 24, 5)
    assert "eig" not in zoo.create_model("kvae").loss(x)
    model = zoo.create_model("kvae", w_eig=2.0)
    terms = model.loss(x)
    assert terms["eig"] > 0
    rest = model.w_rec * terms["rec"] + model.w_kl * terms["kl"] + model.w_pred * terms["pred"]
    assert torch.allclose(terms["loss"] - rest, 2.0 * terms["eig"])
    grads = torch.autograd.grad(terms["eig"], list(model.prior.parameters()), allow_unused=True)
    assert any(g is not None and g.abs().sum() > 0 for g in grads)
    assert torch.allclose(eigenvalue_loss(model.koopman_matrix(), "unit", 2), terms["eig"].detach())


def test_sample_shape_and_range():
    model = zoo.create_model("kvae", input_dim=3, seq_len=10).eval()
    samples = model.sample(7)
    assert samples.shape == (7, 10, 3)
    assert ((samples > 0) & (samples < 1)).all()
    assert model.sample(2, T=15).shape == (2, 15, 3)


def test_bad_input_is_a_clear_error():
    model = zoo.create_model("kvae")
    with pytest.raises(ValueError, match=r"x of shape \(batch, T, input_dim=5\)"):
        model.loss(torch.rand(4, 24, 3))
    with pytest.raises(ValueError, match="unknown encoder 'lstm'"):
        zoo.create_model("kvae", encoder="lstm")


def test_kl_is_the_sequential_elbo_term_or_the_references_rollout():
    """``kl_prior="posterior"``: Σ_t KL(q(z_t|x) ‖ p(z_t | z_{<t})) with the prior GRU reading the posterior sample
    (its first step reads zeros); ``"rollout"``: the reference's KL against an independent prior rollout."""
    torch.manual_seed(0)
    model = zoo.create_model("kvae", input_dim=3, seq_len=6, hidden_dim=8, n_layers=1).double().eval()
    x = torch.rand(5, 6, 3, dtype=torch.float64)
    mu_q, logvar_q = model.posterior(x)
    prior = model.prior

    def one_step_prior(z):                                   # by hand: h_t = GRUCell(z_{t-1}, h_{t-1}), z_0 = 0
        h, previous, moments = torch.zeros(5, 8, dtype=torch.float64), torch.zeros(5, 16, dtype=torch.float64), []
        for t in range(6):
            h = prior.cell(previous, h)
            moments.append(prior.heads(h))
            previous = z[:, t]
        return torch.stack([m for m, _ in moments], 1), torch.stack([v for _, v in moments], 1)

    torch.manual_seed(1)
    kl = model.loss(x)["kl"]
    torch.manual_seed(1)
    z = mu_q + (0.5 * logvar_q).exp() * torch.randn_like(mu_q)    # the loss's posterior sample
    expected = gaussian_kl(mu_q, logvar_q, *one_step_prior(z)).sum() / 5
    torch.testing.assert_close(kl, expected, rtol=1e-12, atol=1e-12)

    model.kl_prior = "rollout"
    torch.manual_seed(1)
    kl = model.loss(x)["kl"]
    torch.manual_seed(1)
    torch.randn_like(mu_q)                                         # the posterior sample comes first
    mu_p, logvar_p, _ = prior(5, 6)
    torch.testing.assert_close(kl, gaussian_kl(mu_q, logvar_q, mu_p, logvar_p).sum() / 5, rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="unknown kl_prior 'free'"):
        zoo.create_model("kvae", kl_prior="free")


@pytest.mark.parametrize("encoder", ["gru", "ncde"])
def test_irregular_loss_reads_observed_entries_only(encoder):
    torch.manual_seed(0)
    model = zoo.create_model("kvae", input_dim=3, seq_len=10, encoder=encoder, hidden_dim=8, n_layers=1)
    x = torch.rand(4, 10, 3)
    mask = torch.ones(4, 10)
    mask[:, [1, 4, 5, 8]] = 0
    changed = torch.where(mask[..., None] > 0, x, torch.full_like(x, float("nan")))  # any value, even NaN
    bumped = x.clone()
    bumped[:, 0] += 0.3  # an observed step

    def terms(values):
        torch.manual_seed(1)
        return model.loss({"x": values, "mask": mask})

    reference = terms(x)
    for key in ("rec", "kl", "loss"):
        assert torch.equal(terms(changed)[key], reference[key])
    assert not torch.allclose(terms(bumped)["rec"], reference["rec"])


def test_eigenvalue_constraint_puts_chosen_eigenvalues_on_the_unit_circle_on_pendulum(tmp_path):
    """Must-show: trained with L_eig ("unit", the 2 largest |λ| of a 4 x 4 A), the fitted A's chosen
    eigenvalues end within 0.05 of the unit circle (about 25 s on one core)."""
    torch.manual_seed(0)
    data = TimeSeriesDataModule("pendulum", data_dir=str(tmp_path), n_features=2, n_train=256, n_val=8, n_test=8,
                                batch_size=64)
    data.setup()
    model = zoo.create_model("kvae", input_dim=2, seq_len=24, z_dim=4, hidden_dim=16, n_layers=1, w_eig=1000.0,
                             eig_constraint="unit", n_eig=2)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(50):  # 4 batches an epoch: 200 steps
        for batch in data.train_dataloader():
            terms = model.loss(batch)
            optimizer.zero_grad()
            terms["loss"].backward()
            optimizer.step()
    assert terms["rec"] < 1.0  # it learnt the data too (an untrained decoder's rec is about 4)
    moduli = torch.linalg.eigvals(model.koopman_matrix()).abs().sort(descending=True).values
    assert (moduli[:2] - 1).abs().max() < 0.05, moduli
