"""XPINN: one PINN per subdomain, stitched at the interfaces by a chosen subset of candidate interface conditions.

Extended PINNs (Jagtap & Karniadakis, 2020) split the domain into subdomains Ω_q, each with its own network
``u_q``; the loss is every subdomain's equation residual and boundary misfit plus interface terms that tie the
networks together. Which terms is a choice, and METALIC (Li, Penwarden et al., ICML 2023) learns it per PDE
parameter (:mod:`zoo.pinn.metalic`). With ``R_q = 𝒩[u_q] − f`` the equation's residual and, on an interface Γ_ab
of unit normal ``n``, the means over its points of (METALIC's candidates; its reference code, in this order)::

    solution             (u_a − u_b)²                              solution continuity
    average              (u_a − ū)² + (u_b − ū)²,  ū = (u_a + u_b)/2   XPINN's average (½ "solution" for two)
    residual             R_a² + R_b²                               each network's equation on Γ
    residual_continuity  (R_a − R_b)²                              XPINN's residual continuity
    flux                 (∂_n u_a − ∂_n u_b)²                      cPINN's normal-flux continuity
    normal_second        (∂_nn u_a − ∂_nn u_b)²                    second normal derivative continuity
    residual_gradient    |∇R_a|² + |∇R_b|²                         gPINN's residual gradient on Γ
    tangential           |P(∇u_a − ∇u_b)|²,  P = I − n nᵀ          tangential derivative continuity (d ≥ 2)
    tangential_second    (tr P H_a P − tr P H_b P)²,  H = ∇²u      tangential second derivative continuity (d ≥ 2)

and with a binary mask ``c`` over the model's ``conditions``::

    L = Σ_q mean R_q² + λ_b Σ_q mean (u_q − g)² + λ_I Σ_Γ Σ_k c_k T_k

(λ_b = 20 and λ_I = 5 as in METALIC's code). With one subdomain and no interface it is a PINN's loss.

A ``problem`` is a dict (:mod:`zoo.pinn.parametric` builds METALIC's)::

    residual      callable(x (M, d), u (M,), gradient (M, d), hessian (M, d, d) or None) -> R (M,)
    needs_hessian whether ``residual`` reads the Hessian
    collocation   [x_q (M_q, d)] one per subdomain
    boundary      [(x_q (N_q, d), g_q (N_q,))] one per subdomain (N_q may be 0)
    interfaces    [(a, b, x (M_ab, d), n (d,))]
    solution      callable(x (T, d)) -> u (T,), the exact solution;  test: (x (T, d), subdomain (T,))
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import Tensor, nn

from zoo.functional import pde
from zoo.pinn.pinn import PINN
from zoo.registry import register_model

#: the candidate interface conditions, in METALIC's order (the last two need d >= 2)
CONDITIONS = ("solution", "average", "residual", "residual_continuity", "flux", "normal_second",
              "residual_gradient", "tangential", "tangential_second")
_SECOND_ORDER = {"normal_second", "tangential_second"}
_TANGENTIAL = {"tangential", "tangential_second"}


@register_model("xpinn", family="pinn", paper="Extended PINNs (Jagtap & Karniadakis, CiCP 2020); interface "
                "conditions learned by METALIC (Li, Penwarden et al., ICML 2023)", task="pinn",
                example=lambda model: ((torch.rand(6, model.dims, dtype=torch.float64),
                                        torch.arange(6) % len(model.nets)), (6,)))
class XPINN(nn.Module):
    """``forward(x (B, d), subdomain (B,) long) -> u (B,)``: each point through its subdomain's network;
    ``loss(problem, mask) -> {"loss", "residual", "boundary", <condition>: T_k ...}`` (module doc).

    Args:
        dims: d. subdomains: how many networks. width, depth: each tanh MLP's hidden width and hidden layers.
        conditions: the candidate interface conditions a mask ranges over (default: those of :data:`CONDITIONS`
            that exist in d dimensions). boundary_weight: λ_b. interface_weight: λ_I.
    """

    def __init__(self, dims: int = 1, subdomains: int = 2, width: int = 20, depth: int = 2,
                 conditions: Sequence[str] | None = None, boundary_weight: float = 20.0,
                 interface_weight: float = 5.0):
        super().__init__()
        if subdomains < 1:
            raise ValueError(f"subdomains={subdomains} must be >= 1")
        available = CONDITIONS if dims >= 2 else tuple(c for c in CONDITIONS if c not in _TANGENTIAL)
        conditions = tuple(available if conditions is None else conditions)
        unknown = [c for c in conditions if c not in available]
        if unknown or not conditions or len(set(conditions)) < len(conditions):
            raise ValueError(f"conditions={list(conditions)}: give distinct names among {list(available)} "
                             f"(those that exist for dims={dims})")
        self.nets = nn.ModuleList(PINN(dims=dims, width=width, depth=depth) for _ in range(subdomains))
        self.dims, self.conditions = dims, conditions
        self.boundary_weight, self.interface_weight = boundary_weight, interface_weight

    def forward(self, x: Tensor, subdomain: Tensor) -> Tensor:
        if x.dim() != 2 or x.shape[1] != self.dims:
            raise ValueError(f"x must be (B, {self.dims}) points of the domain, got {tuple(x.shape)}")
        if subdomain.shape != x.shape[:1] or subdomain.dtype != torch.long:
            raise ValueError(f"subdomain must be ({len(x)},) long indices, got {tuple(subdomain.shape)} "
                             f"{subdomain.dtype}")
        if len(subdomain) and not 0 <= int(subdomain.min()) <= int(subdomain.max()) < len(self.nets):
            raise ValueError(f"subdomain indices must lie in [0, {len(self.nets)}): set model.subdomains")
        u = x.new_zeros(len(x))
        for q, net in enumerate(self.nets):
            chosen = subdomain == q
            u = u.index_put((chosen,), net(x[chosen]))
        return u

    def mask(self, mask: Tensor | Sequence[float]) -> Tensor:
        """The mask as ``(K,)`` float64 weights, K = ``len(self.conditions)``; another length is an error."""
        weights = torch.as_tensor(mask, dtype=torch.float64).reshape(-1)
        if len(weights) != len(self.conditions):
            raise ValueError(f"the mask has {len(weights)} entries but the model has {len(self.conditions)} "
                             f"conditions {list(self.conditions)}: give one 0/1 per condition")
        return weights

    def _fields(self, q: int, x: Tensor, problem: dict, hessian: bool, residual_gradient: bool) -> dict[str, Tensor]:
        """``u, gradient (M, d), hessian (M, d, d), R`` and, if asked, ``∇R (M, d)`` of network q at x."""
        x = x.detach().requires_grad_(True)
        u = self.nets[q](x)
        gradient = torch.autograd.grad(u.sum(), x, create_graph=True)[0]
        second = None
        if hessian or problem["needs_hessian"]:
            second = pde.hessian(gradient, x)
        fields = {"u": u, "gradient": gradient, "hessian": second}
        fields["R"] = problem["residual"](x, u, gradient, second)
        if residual_gradient:
            fields["grad_R"] = torch.autograd.grad(fields["R"].sum(), x, create_graph=True)[0]
        return fields

    def interface_terms(self, problem: dict, names: Sequence[str] | None = None) -> dict[str, Tensor]:
        """``{condition: T_k}`` summed over the problem's interfaces, for ``names`` (default: the model's)."""
        names = tuple(self.conditions if names is None else names)
        hessian, residual_gradient = bool(_SECOND_ORDER & set(names)), "residual_gradient" in names
        terms = {name: torch.zeros((), dtype=torch.float64) for name in names}
        for a, b, x, normal in problem["interfaces"]:
            fa, fb = (self._fields(q, x, problem, hessian, residual_gradient) for q in (a, b))
            projector = torch.eye(self.dims, dtype=x.dtype) - torch.outer(normal, normal)
            for name in names:
                terms[name] = terms[name] + _term(name, fa, fb, normal, projector).mean()
        return terms

    def loss(self, problem: dict, mask: Tensor | Sequence[float]) -> dict[str, Tensor]:
        """The loss (module doc) with interface conditions ``mask (K,)``; also each unweighted part, detached."""
        weights = self.mask(mask)
        if len(problem["collocation"]) != len(self.nets):
            raise ValueError(f"the problem has {len(problem['collocation'])} subdomains but the model has "
                             f"{len(self.nets)}: set model.subdomains")
        residual = sum(self._fields(q, x, problem, False, False)["R"].square().mean()
                       for q, x in enumerate(problem["collocation"]))
        boundary = sum((self.nets[q](x) - g).square().mean()
                       for q, (x, g) in enumerate(problem["boundary"]) if len(x))
        active = [name for name, w in zip(self.conditions, weights.tolist()) if w]
        terms = self.interface_terms(problem, active)
        interface = sum((w * terms[name] for name, w in zip(self.conditions, weights) if name in terms),
                        torch.zeros((), dtype=torch.float64))
        total = residual + self.boundary_weight * boundary + self.interface_weight * interface
        return {"loss": total, "residual": residual.detach(), "boundary": torch.as_tensor(boundary).detach(),
                **{name: term.detach() for name, term in terms.items()}}

    def relative_error(self, problem: dict) -> float:
        """``‖u − u*‖₂ / ‖u*‖₂`` on the problem's test points (inf when the network diverged)."""
        x, subdomain = problem["test"]
        with torch.no_grad():
            exact = problem["solution"](x)
            error = float((self(x, subdomain) - exact).norm() / exact.norm())
        return error if math.isfinite(error) else math.inf


def _term(name: str, fa: dict, fb: dict, normal: Tensor, projector: Tensor) -> Tensor:
    """One condition's integrand ``(M,)`` on an interface from both networks' fields."""
    if name == "solution":
        return (fa["u"] - fb["u"]).square()
    if name == "average":
        mean = (fa["u"] + fb["u"]) / 2
        return (fa["u"] - mean).square() + (fb["u"] - mean).square()
    if name == "residual":
        return fa["R"].square() + fb["R"].square()
    if name == "residual_continuity":
        return (fa["R"] - fb["R"]).square()
    if name == "flux":
        return ((fa["gradient"] - fb["gradient"]) @ normal).square()
    if name == "normal_second":
        return torch.einsum("i,mij,j->m", normal, fa["hessian"] - fb["hessian"], normal).square()
    if name == "residual_gradient":
        return fa["grad_R"].square().sum(-1) + fb["grad_R"].square().sum(-1)
    if name == "tangential":
        return ((fa["gradient"] - fb["gradient"]) @ projector).square().sum(-1)
    return torch.einsum("ij,mjk,ki->m", projector, fa["hessian"] - fb["hessian"], projector).square()


def fit_xpinn(model: XPINN, problem: dict, adam_mask: Tensor | Sequence[float],
              lbfgs_mask: Tensor | Sequence[float] | None = None, adam_steps: int = 500, lbfgs_steps: int = 200,
              lr: float = 1e-2) -> dict[str, float]:
    """Train ``model`` on ``problem``: Adam for ``adam_steps`` with the conditions ``adam_mask``, then L-BFGS
    (strong Wolfe) for ``lbfgs_steps`` iterations with ``lbfgs_mask`` (default: the same; METALIC's sequential
    bandit picks the two apart). Returns the relative errors after each phase, ``{"adam", "final"}``; a diverged
    run's is inf."""
    adam_mask = model.mask(adam_mask)
    lbfgs_mask = adam_mask if lbfgs_mask is None else model.mask(lbfgs_mask)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(adam_steps):
        optimiser.zero_grad()
        model.loss(problem, adam_mask)["loss"].backward()
        optimiser.step()
    errors = {"adam": model.relative_error(problem)}
    if lbfgs_steps and math.isfinite(errors["adam"]):
        lbfgs = torch.optim.LBFGS(model.parameters(), lr=1.0, max_iter=lbfgs_steps, history_size=50,
                                  tolerance_grad=1e-9, tolerance_change=1e-12, line_search_fn="strong_wolfe")

        def closure() -> Tensor:
            lbfgs.zero_grad()
            loss = model.loss(problem, lbfgs_mask)["loss"]
            loss.backward()
            return loss

        lbfgs.step(closure)
    errors["final"] = model.relative_error(problem)
    return errors
