"""Koopman VAE (KoVAE): "Generative Modeling of Regular and Irregular Time Series Data via Koopman VAEs"
(Naiman, Erichson, Ren, Mahoney, Azencot; ICLR 2024).

A sequence ``x`` of shape ``(B, T, d)`` with values in ``[0, 1]`` (min-max scaled) is encoded into latents
``z_{1:T}`` (``k = z_dim`` each), generated from a GRU prior whose rollout is fitted by one linear map ``A``:

- posterior ``q(z_t | x) = N(μ_t, σ_t²)``: a bi-GRU (or, for irregularly sampled data, the neural CDE of
  :mod:`zoo.generative.ncde` on a cubic spline of the observed points, then a 1-layer bi-GRU), BatchNorm,
  and linear heads for ``μ_t`` and ``log σ_t²``;
- prior: ``h_t = GRUCell(z̄_{t-1}, h_{t-1})``, ``z̄_t ~ N(μ̄(h_t), σ̄²(h_t))`` from ``z̄_0 = 0, h_0 = 0``;
  for the KL term it reads the posterior sample instead, ``p(z_t | z_{<t})`` with ``z_{<t} ~ q`` (see below);
- Koopman matrix, row-vector convention, pooled over batch and time::

      A = argmin_A ‖Z̄_{1:T-1} A − Z̄_{2:T}‖_F   (QR: R A = Qᵀ Z̄_{2:T}, Z̄_{1:T-1} = Q R; or A = Z̄_{1:T-1}⁺ Z̄_{2:T})

- decoder: a bi-GRU on ``z_{1:T}`` -> linear -> sigmoid gives ``x̂``.

Loss (per sequence; ``m`` marks the observed entries, all ones for regular data)::

    L = w_rec Σ m ⊙ (x − x̂)² / B + w_kl Σ_t KL(q(z_t|x) ‖ p(z_t | z_{<t})) / B + w_pred L_pred + w_eig L_eig
    L_pred = Σ_{j=1}^{pred_steps} MSE(Z̄_{1:T-j} A^j, Z̄_{1+j:T}) / ‖Z̄_{1:T-j} A^j‖_F
    L_eig  = Σ_{i ≤ n_eig} (|λ_i(A)| − 1)²            ("unit": the n_eig largest |λ| pushed onto the unit circle)
           = Σ_i max(|λ_i(A)| − 1, 0)²                ("stable": every |λ| ≤ 1)

``A`` and ``L_pred`` use a free prior rollout ``z̄_{1:T}``, the latents that sampling decodes (``A``
regularises the prior; it is not the sampler).

Deliberate differences from the reference code:

- ``kl_prior="posterior"`` (default): the KL is the sequential ELBO's, ``E_q Σ_t KL(q(z_t|x) ‖ p(z_t|z_{<t}))``,
  the prior GRU reading the posterior samples ``z_{<t}``. The reference compares ``q(z_t|x)`` with the
  moments of an *independent* prior rollout (``kl_prior="rollout"``): that term does not see which sequence
  the prior produced, so it is smallest for a prior whose means ignore their own past and whose per-step
  variance covers every posterior; the rollouts that sampling decodes then drift step by step, with
  too little spread between sequences (on sines: rougher and narrower in frequency than the data).
- the eigenvalue constraint is part of :meth:`KoopmanVAE.loss` when ``w_eig > 0`` (the released training loop
  never calls it); nothing is tied to CUDA.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from zoo.functional import spline_coeffs
from zoo.generative.ncde import CDEEncoder
from zoo.registry import register_model

SOLVERS = ("qr", "pinv")
EIG_CONSTRAINTS = ("unit", "stable")
ENCODERS = ("gru", "ncde")
KL_PRIORS = ("posterior", "rollout")


def koopman_fit(z: Tensor, solver: str = "qr") -> Tensor:
    """Least-squares Koopman matrix ``A`` (k, k) with ``z[:, t+1] ≈ z[:, t] A`` for latents ``z`` (B, T, k)."""
    k = z.shape[-1]
    past, future = z[:, :-1].reshape(-1, k), z[:, 1:].reshape(-1, k)
    if solver == "qr":
        Q, R = torch.linalg.qr(past)
        return torch.linalg.solve_triangular(R, Q.mT @ future, upper=True)
    if solver == "pinv":
        return torch.linalg.pinv(past) @ future
    raise ValueError(f"unknown Koopman solver {solver!r}; choose one of {SOLVERS}")


def prediction_loss(z: Tensor, A: Tensor, steps: int) -> Tensor:
    """``L_pred = Σ_{j=1}^{steps} MSE(z_{1:T-j} A^j, z_{1+j:T}) / ‖z_{1:T-j} A^j‖_F`` for ``z`` (B, T, k)."""
    loss, power = z.new_zeros(()), torch.eye(A.shape[0], dtype=A.dtype, device=A.device)
    for j in range(1, steps + 1):
        power = power @ A
        predicted = z[:, :-j] @ power
        loss = loss + F.mse_loss(predicted, z[:, j:]) / predicted.norm()
    return loss


def eigenvalue_loss(A: Tensor, constraint: str = "unit", n_eig: int = 2) -> Tensor:
    """``Σ_{i ≤ n_eig} (|λ_i| − 1)²`` over the largest ``|λ(A)|`` ("unit"), or ``Σ_i max(|λ_i| − 1, 0)²`` ("stable")."""
    modulus = torch.linalg.eigvals(A).abs()
    if constraint == "unit":
        return (modulus.sort(descending=True).values[:n_eig] - 1).square().sum()
    if constraint == "stable":
        return F.relu(modulus - 1).square().sum()
    raise ValueError(f"unknown eigenvalue constraint {constraint!r}; choose one of {EIG_CONSTRAINTS}")


def gaussian_kl(mu_q: Tensor, logvar_q: Tensor, mu_p: Tensor, logvar_p: Tensor) -> Tensor:
    """Elementwise ``KL(N(μ_q, σ_q²) ‖ N(μ_p, σ_p²))``."""
    return 0.5 * (logvar_p - logvar_q + (logvar_q.exp() + (mu_q - mu_p).square()) / logvar_p.exp() - 1)


class GaussianHeads(nn.Module):
    """Features ``(..., n)`` -> ``(μ, log σ²)``, each ``(..., k)``."""

    def __init__(self, n: int, k: int):
        super().__init__()
        self.mean, self.logvar = nn.Linear(n, k), nn.Linear(n, k)

    def forward(self, h: Tensor) -> tuple[Tensor, Tensor]:
        return self.mean(h), self.logvar(h)


class Posterior(nn.Module):
    """``q(z_t | x)``: encoder features ``(B, T, 2h)`` -> BatchNorm -> ``(μ_t, log σ_t²)``, each ``(B, T, k)``.

    ``encoder="gru"``: a bi-GRU on ``x`` (B, T, d); ``"ncde"``: :class:`~zoo.generative.ncde.CDEEncoder` on the
    spline coefficients of the observed points.
    """

    def __init__(self, input_dim: int, hidden_dim: int, z_dim: int, n_layers: int, encoder: str):
        super().__init__()
        self.encoder = (nn.GRU(input_dim, hidden_dim, n_layers, batch_first=True, bidirectional=True)
                        if encoder == "gru" else CDEEncoder(input_dim, hidden_dim))
        self.norm = nn.BatchNorm1d(2 * hidden_dim)
        self.heads = GaussianHeads(2 * hidden_dim, z_dim)

    def forward(self, inputs: Tensor) -> tuple[Tensor, Tensor]:
        h = self.encoder(inputs)
        h = h[0] if isinstance(h, tuple) else h
        return self.heads(self.norm(h.mT).mT)


class GRUPrior(nn.Module):
    """``h_t = GRUCell(z̄_{t-1}, h_{t-1})``, ``z̄_t ~ N(μ̄(h_t), σ̄²(h_t))`` from zeros.

    ``forward(n, T)`` returns ``(μ̄, log σ̄², z̄)``, each ``(n, T, k)``; ``forward(n, T, z)`` with given latents
    ``z`` (n, T, k) returns the one-step prior ``p(z_t | z_{<t})``: the GRU reads ``z_{t-1}`` instead of ``z̄_{t-1}``.
    """

    def __init__(self, z_dim: int, hidden_dim: int):
        super().__init__()
        self.z_dim, self.hidden_dim = z_dim, hidden_dim
        self.cell = nn.GRUCell(z_dim, hidden_dim)
        self.heads = GaussianHeads(hidden_dim, z_dim)

    def forward(self, n: int, T: int, given: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
        weight = self.cell.weight_hh
        z, h = weight.new_zeros(n, self.z_dim), weight.new_zeros(n, self.hidden_dim)
        means, logvars, samples = [], [], []
        for t in range(T):
            h = self.cell(z, h)
            mean, logvar = self.heads(h)
            z = mean + (0.5 * logvar).exp() * torch.randn_like(mean) if given is None else given[:, t]
            means.append(mean), logvars.append(logvar), samples.append(z)
        return torch.stack(means, 1), torch.stack(logvars, 1), torch.stack(samples, 1)


class Decoder(nn.Module):
    """``z`` (B, T, k) -> bi-GRU -> linear -> sigmoid -> ``x̂`` (B, T, d) in (0, 1)."""

    def __init__(self, z_dim: int, hidden_dim: int, output_dim: int, n_layers: int):
        super().__init__()
        self.gru = nn.GRU(z_dim, hidden_dim, n_layers, batch_first=True, bidirectional=True)
        self.out = nn.Linear(2 * hidden_dim, output_dim)

    def forward(self, z: Tensor) -> Tensor:
        return torch.sigmoid(self.out(self.gru(z)[0]))


class KoopmanVAE(nn.Module):
    """KoVAE for sequences ``(B, T, d)`` in [0, 1] (see the module docstring for the model and loss).

    Batches for :meth:`loss`: a tensor ``x`` (B, T, d), or ``{"x": x}``, plus for irregular data ``"mask"``
    ((B, T) observed time steps, or (B, T, d) entries; unobserved values are ignored) and optionally
    ``"coeffs"`` (precomputed :func:`~zoo.functional.spline_coeffs`, which the model otherwise computes).
    The defaults are the paper's for sines.
    """

    def __init__(self, input_dim: int = 5, seq_len: int = 24, z_dim: int = 16, hidden_dim: int = 20,
                 n_layers: int = 3, encoder: str = "gru", w_rec: float = 1.0, w_kl: float = 0.007,
                 w_pred: float = 0.005, pred_steps: int = 1, koopman_solver: str = "qr", w_eig: float = 0.0,
                 eig_constraint: str = "unit", n_eig: int = 2, kl_prior: str = "posterior"):
        super().__init__()
        for key, value in (("input_dim", input_dim), ("seq_len", seq_len), ("z_dim", z_dim),
                           ("hidden_dim", hidden_dim), ("n_layers", n_layers), ("pred_steps", pred_steps)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"KoopmanVAE: {key} must be a positive int, got {value!r}")
        if pred_steps >= seq_len:
            raise ValueError(f"KoopmanVAE: pred_steps ({pred_steps}) must be below seq_len ({seq_len})")
        for key, value, choices in (("encoder", encoder, ENCODERS), ("koopman_solver", koopman_solver, SOLVERS),
                                    ("eig_constraint", eig_constraint, EIG_CONSTRAINTS),
                                    ("kl_prior", kl_prior, KL_PRIORS)):
            if value not in choices:
                raise ValueError(f"KoopmanVAE: unknown {key} {value!r}; choose one of {choices}")
        if not 1 <= n_eig <= z_dim:
            raise ValueError(f"KoopmanVAE: n_eig must be in [1, z_dim={z_dim}], got {n_eig}")
        self.input_dim, self.seq_len, self.z_dim, self.encoder = input_dim, seq_len, z_dim, encoder
        self.w_rec, self.w_kl, self.w_pred, self.w_eig = w_rec, w_kl, w_pred, w_eig
        self.pred_steps, self.koopman_solver = pred_steps, koopman_solver
        self.eig_constraint, self.n_eig, self.kl_prior = eig_constraint, n_eig, kl_prior
        self.posterior = Posterior(input_dim=input_dim, hidden_dim=hidden_dim, z_dim=z_dim, n_layers=n_layers,
                                   encoder=encoder)
        self.prior = GRUPrior(z_dim, hidden_dim)
        self.decoder = Decoder(z_dim=z_dim, hidden_dim=hidden_dim, output_dim=input_dim, n_layers=n_layers)
        self.register_buffer("A", torch.zeros(z_dim, z_dim))

    def koopman_matrix(self) -> Tensor:
        """The Koopman matrix ``A`` (z_dim, z_dim) fitted by the last call of :meth:`loss` (zeros before)."""
        return self.A.clone()

    def _unpack(self, batch) -> tuple[Tensor, Tensor | None, Tensor | None]:
        if isinstance(batch, Mapping):
            x, mask, coeffs = batch["x"], batch.get("mask"), batch.get("coeffs")
        elif isinstance(batch, Sequence) and not isinstance(batch, Tensor):
            x, mask, coeffs = batch[0], None, None
        else:
            x, mask, coeffs = batch, None, None
        if x.dim() != 3 or x.shape[-1] != self.input_dim or x.shape[1] <= self.pred_steps:
            raise ValueError(f"KoopmanVAE expects x of shape (batch, T, input_dim={self.input_dim}) with "
                             f"T > pred_steps={self.pred_steps}, got {tuple(x.shape)}")
        if mask is not None:
            mask = mask.to(x.dtype)
            mask = mask.unsqueeze(-1) if mask.dim() == 2 else mask
            if mask.shape[:2] != x.shape[:2] or mask.shape[-1] not in (1, x.shape[-1]):
                raise ValueError(f"KoopmanVAE: mask must be (batch, T) or (batch, T, d) like x "
                                 f"{tuple(x.shape)}, got {tuple(batch['mask'].shape)}")
            x = torch.where(mask > 0, x, torch.zeros_like(x))  # unobserved values (may be NaN) never enter
        return x, mask, coeffs

    def loss(self, batch) -> dict[str, Tensor]:
        """``{"loss", "rec", "kl", "pred"[, "eig"]}`` for a batch (see the class docstring); fits ``A`` on the way."""
        x, mask, coeffs = self._unpack(batch)
        B, T, _ = x.shape
        if self.encoder == "ncde":
            inputs = spline_coeffs(x, mask) if coeffs is None else coeffs
        else:
            inputs = x
        mu_q, logvar_q = self.posterior(inputs)
        z = mu_q + (0.5 * logvar_q).exp() * torch.randn_like(mu_q)
        x_hat = self.decoder(z)
        squared = (x - x_hat).square() if mask is None else mask * (x - x_hat).square()
        mu_p, logvar_p, z_prior = self.prior(B, T)
        if self.kl_prior == "posterior":
            mu_p, logvar_p, _ = self.prior(B, T, z)
        A = koopman_fit(z_prior, self.koopman_solver)
        self.A.copy_(A.detach())
        terms = {"rec": squared.sum() / B, "kl": gaussian_kl(mu_q, logvar_q, mu_p, logvar_p).sum() / B,
                 "pred": prediction_loss(z_prior, A, self.pred_steps)}
        loss = self.w_rec * terms["rec"] + self.w_kl * terms["kl"] + self.w_pred * terms["pred"]
        if self.w_eig > 0:
            terms["eig"] = eigenvalue_loss(A, self.eig_constraint, self.n_eig)
            loss = loss + self.w_eig * terms["eig"]
        return {"loss": loss, **terms}

    def forward(self, batch) -> Tensor:
        """The training objective ``L`` (a scalar) of a batch: ``loss(batch)["loss"]``."""
        return self.loss(batch)["loss"]

    @torch.no_grad()
    def sample(self, n: int, T: int | None = None) -> Tensor:
        """``n`` sequences ``(n, T, input_dim)`` (``T = seq_len`` by default) decoded from prior rollouts."""
        if n < 1:
            raise ValueError(f"sample(n) needs n >= 1, got {n}")
        return self.decoder(self.prior(n, T or self.seq_len)[2])


PAPER = ("Generative Modeling of Regular and Irregular Time Series Data via Koopman VAEs "
         "(Naiman et al., ICLR 2024)")


register_model("kvae", family="generative", task="generative", paper=PAPER, capabilities=("sample", "irregular"),
               example=lambda model: (torch.rand(4, model.seq_len, model.input_dim), ()))(KoopmanVAE)
