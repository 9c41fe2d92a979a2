"""GP-HM: a Gaussian-process solver for high-frequency and multi-scale PDEs.

"Solving High Frequency and Multi-Scale PDEs with Gaussian Processes" (Fang, Cooley, Long, Li, Kirby, Zhe, ICLR 2024).
The solution gets a GP prior with a product kernel ``k(x, x') = Π_j k_j(x_j, x'_j)`` whose factors are spectral
mixtures (:func:`zoo.gp.kernels.spectral_mixture`: Student-t spectrum → Matérn-5/2 × cos, "stm"; Gaussian → SE × cos,
"gm"), so that the kernel's spectrum can put its mass on the solution's frequencies. The unknowns are the values
``U (n_1, ..., n_d)`` on a collocation grid and the kernel parameters ``(w_q, μ_q, a_q)`` per axis; on the grid the
covariance is ``K = K_1 ⊗ ... ⊗ K_d`` and derivatives come from kernel derivatives,
``U_{x_j x_j} = K_j^{xx} K_j⁻¹ U`` along axis j (no autograd through the solve). The log joint

    log N(vec U | 0, ⊗K_j) + λ_b [ (N_b/2) log τ − (τ/2) ‖U_∂ − g‖² ] + (N_c/2) log v − (v/2) ‖𝒟[U] − f‖²

(``log N`` from per-axis Cholesky factors: ``Σ_j (N/n_j) log det K_j`` and ``vec(U)ᵀ (⊗K_j⁻¹) vec U``) is maximised
over everything, the precisions as ``log τ``, ``log v`` (both start at 0) and the weights as ``log w`` (a Jeffreys
prior, which prunes frequencies), as the reference does. (Maximising ``τ`` and ``v`` in closed form instead makes the
objective unbounded as the two boundary values are fitted exactly, and L-BFGS follows that: measured, not used.) The
prediction is the GP conditional mean ``u(x) = k(x, grid) K⁻¹ vec U``.

Kernels: ``"stm"``, ``"gm"`` (mixtures of ``components`` terms, frequencies initialised on
``linspace(0, 1, Q) · freq_scale`` cycles per unit) and the single-kernel baselines ``"matern"`` (Matérn-5/2) and
``"se"`` (one component at frequency 0, not learned).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from zoo.functional.pde import operator
from zoo.gp.kernels import spectral_mixture
from zoo.registry import register_model

#: kernel terms (point × grid node × component) evaluated at once by forward
CHUNK = 2**22
KERNELS = {"stm": "matern52", "gm": "se", "matern": "matern52", "se": "se"}
MIXTURES = ("stm", "gm")


def _along(matrix: Tensor, values: Tensor, axis: int) -> Tensor:
    """``matrix (n, n)`` applied along ``axis`` of ``values (..., n, ...)``."""
    return torch.movedim(torch.tensordot(matrix, values, dims=([1], [axis])), 0, axis)


def _solve_along(chol: Tensor, values: Tensor, axis: int) -> Tensor:
    """``K⁻¹`` (Cholesky factor ``chol``) applied along ``axis`` of ``values``."""
    moved = torch.movedim(values, axis, 0)
    solved = torch.cholesky_solve(moved.reshape(moved.shape[0], -1), chol).reshape(moved.shape)
    return torch.movedim(solved, 0, axis)


def _example(model: "GPHM") -> tuple[Tensor, tuple[int]]:
    """Random grid values (a fresh solver's ``U`` is 0) and five points of the domain."""
    with torch.no_grad():
        model.U.normal_()
    return model.lower + torch.rand(5, len(model.grid), dtype=torch.float64) * (model.upper - model.lower), (5,)


@register_model("gp_hm", family="gp", paper="Solving High Frequency and Multi-Scale PDEs with Gaussian Processes "
                "(Fang et al., ICLR 2024)", task="pde_solve", example=_example)
class GPHM(nn.Module):
    """``forward(x (B, d)) -> u (B,)``, the conditional mean; ``loss(problem) -> {"loss", ...}``, the negative log
    joint per collocation point (module doc). ``log_tau`` and ``log_v`` enter the objective only
    (:attr:`objective_parameters`), not the prediction.

    Args:
        grid: points per axis of the uniform collocation grid on ``[lower, upper]^d`` (its length is d).
        kernel: ``"stm"``, ``"gm"``, ``"matern"`` or ``"se"``. components: Q (mixtures). freq_scale: the highest
        initial frequency (cycles per unit). boundary_weight: λ_b. jitter: added to each ``K_j``'s diagonal.
    """

    #: parameters of the log joint that the conditional mean does not use
    objective_parameters = ("log_tau", "log_v")

    def __init__(self, grid: list[int] = [400], lower: float = 0.0, upper: float = 2 * math.pi, kernel: str = "stm",
                 components: int = 30, freq_scale: float = 20.0, boundary_weight: float = 200.0, jitter: float = 1e-6):
        super().__init__()
        if kernel not in KERNELS:
            raise ValueError(f"kernel={kernel!r}: expected one of {sorted(KERNELS)}")
        if not grid or min(grid) < 3 or not upper > lower:
            raise ValueError(f"grid={grid} on [{lower}, {upper}]: expected at least 3 points per axis and upper > lower")
        spacing = (upper - lower) / (min(grid) - 1)
        if kernel in MIXTURES and freq_scale > 1 / (2 * spacing):
            needed = math.ceil(2 * freq_scale * (upper - lower)) + 1
            raise ValueError(f"grid={grid} on [{lower:.4g}, {upper:.4g}] resolves frequencies up to 1/(2h) = "
                             f"{1 / (2 * spacing):.3g} cycles per unit, below freq_scale={freq_scale}: the collocation "
                             f"grid is too coarse for the requested frequency; use at least {needed} points per axis")
        self.grid, self.lower, self.upper, self.kernel = list(grid), lower, upper, kernel
        self.boundary_weight, self.jitter = boundary_weight, jitter
        dims, Q = len(grid), components if kernel in MIXTURES else 1
        self.U = nn.Parameter(torch.zeros(*grid, dtype=torch.float64))
        self.log_tau = nn.Parameter(torch.zeros((), dtype=torch.float64))
        self.log_v = nn.Parameter(torch.zeros((), dtype=torch.float64))
        self.log_w = nn.Parameter(torch.full((dims, Q), math.log(1 / Q), dtype=torch.float64))
        self.log_ls = nn.Parameter(torch.zeros(dims, Q, dtype=torch.float64))
        mu = torch.linspace(0, 1, Q, dtype=torch.float64).repeat(dims, 1) * freq_scale
        if kernel in MIXTURES:
            self.mu = nn.Parameter(mu)
        else:
            self.register_buffer("mu", torch.zeros(dims, 1, dtype=torch.float64))

    def axes(self) -> list[Tensor]:
        """The grid's coordinates per axis, ``(n_j,)`` each."""
        return [torch.linspace(self.lower, self.upper, n, dtype=torch.float64, device=self.U.device) for n in self.grid]

    def _kernel(self, axis: int, x1: Tensor, x2: Tensor, derivative: int = 0) -> Tensor:
        return spectral_mixture(x1, x2, weights=self.log_w[axis].exp(), frequencies=self.mu[axis],
                                inverse_lengthscales=self.log_ls[axis].exp(), base=KERNELS[self.kernel],
                                derivative=derivative)

    def factors(self, axis: int) -> tuple[Tensor, Tensor]:
        """``(K_j + jitter I, K_j^{xx})`` on axis j, ``(n_j, n_j)`` each, from the kernel at the grid's lags (a
        uniform grid makes both Toeplitz)."""
        n = self.grid[axis]
        h = (self.upper - self.lower) / (n - 1)
        lags = torch.arange(1 - n, n, dtype=torch.float64, device=self.U.device) * h
        zero = lags.new_zeros(1)
        index = torch.arange(n, device=lags.device)[:, None] - torch.arange(n, device=lags.device)[None, :] + n - 1
        K = self._kernel(axis, lags, zero)[:, 0][index]
        K_xx = self._kernel(axis, lags, zero, derivative=2)[:, 0][index]
        return K + self.jitter * torch.eye(n, dtype=K.dtype, device=K.device), K_xx

    def log_prior_terms(self) -> tuple[Tensor, Tensor, Tensor]:
        """``(log det ⊗K_j, vec(U)ᵀ (⊗K_j)⁻¹ vec U, ΔU)`` with ``ΔU (n_1, ..., n_d)``."""
        N = self.U.numel()
        logdet, alpha, laplacian = self.U.new_zeros(()), self.U, torch.zeros_like(self.U)
        for axis in range(len(self.grid)):
            K, K_xx = self.factors(axis)
            chol = torch.linalg.cholesky(K)
            logdet = logdet + 2 * (N / self.grid[axis]) * torch.log(torch.diagonal(chol)).sum()
            alpha = _solve_along(chol, alpha, axis)
            laplacian = laplacian + _along(K_xx, _solve_along(chol, self.U, axis), axis)
        return logdet, (self.U * alpha).sum(), laplacian

    def check_problem(self, problem: dict) -> None:
        for key in ("axes", "source", "boundary_mask", "boundary_values", "equation"):
            if key not in problem:
                raise ValueError(f"a PDE problem needs {key!r} (use a pde_solve datamodule such as data=pde_1d)")
        axes = problem["axes"]
        if len(axes) != len(self.grid) or any(len(a) != n or not torch.allclose(a.to(self.U), b, atol=1e-12)
                                              for a, b, n in zip(axes, self.axes(), self.grid)):
            raise ValueError(f"the problem's collocation grid ({[len(a) for a in axes]} points on "
                             f"[{float(axes[0][0]):.4g}, {float(axes[0][-1]):.4g}]) is not the model's ({self.grid} on "
                             f"[{self.lower:.4g}, {self.upper:.4g}]): set model.grid, model.lower and model.upper to "
                             "the data's (${zoo_data:grid}, ...)")

    def loss(self, problem: dict) -> dict[str, Tensor]:
        """The negative log joint per collocation point and its parts, for ``problem`` = ``{"axes": d tensors
        (n_j,), "source": f (n_1, ..., n_d), "boundary_mask": bool (n_1, ..., n_d), "boundary_values": g (n_1, ...,
        n_d), "equation": str}``."""
        self.check_problem(problem)
        logdet, quadratic, laplacian = self.log_prior_terms()
        mask = problem["boundary_mask"]
        boundary_gap = (self.U[mask] - problem["boundary_values"][mask]).square().sum()
        equation_gap = (operator(problem["equation"], self.U, laplacian) - problem["source"]).square().sum()
        N_b, N_c = int(mask.sum()), self.U.numel()
        boundary = 0.5 * N_b * self.log_tau - 0.5 * self.log_tau.exp() * boundary_gap
        equation = 0.5 * N_c * self.log_v - 0.5 * self.log_v.exp() * equation_gap
        log_joint = -0.5 * logdet - 0.5 * quadratic + self.boundary_weight * boundary + equation
        return {"loss": -log_joint / N_c, "boundary_mse": boundary_gap.detach() / N_b,
                "residual_mse": equation_gap.detach() / N_c}

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 2 or x.shape[1] != len(self.grid):
            raise ValueError(f"x must be (B, {len(self.grid)}) points of the domain, got {tuple(x.shape)}")
        alpha = self.U
        for axis in range(len(self.grid)):
            alpha = _solve_along(torch.linalg.cholesky(self.factors(axis)[0]), alpha, axis)
        axes, last = self.axes(), len(self.grid) - 1
        mean = torch.tensordot(alpha, self._cross(last, x[:, last], axes[last]), dims=([last], [1]))  # (n_1.., B)
        for axis in reversed(range(last)):       # contract axis j with k_j(x_j, grid_j) (B, n_j), point by point
            mean = torch.einsum("...nb,bn->...b", mean, self._cross(axis, x[:, axis], axes[axis]))
        return mean

    def _cross(self, axis: int, x: Tensor, grid: Tensor) -> Tensor:
        """``k_j(x, grid_j) (B, n_j)``, evaluated once per distinct coordinate (a test grid repeats them) and in
        chunks (the kernel makes ``(chunk, n_j, Q)`` terms)."""
        values, inverse = torch.unique(x, return_inverse=True)
        chunk = max(1, CHUNK // (len(grid) * self.log_w.shape[1]))
        return torch.cat([self._kernel(axis, part, grid) for part in values.split(chunk)])[inverse]
