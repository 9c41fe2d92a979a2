"""ResDMD against plain EDMD on the paper's gallery: spectral pollution, verified eigenvalues and pseudospectra.

    python scripts/koopman_study.py --out koopman_study.json --figures docs/figures     # ~1-3 min, 1 thread

(1) Nonlinear pendulum ``θ' = p, p' = −sin θ`` (measure preserving; the Koopman operator on L²(cylinder) is
unitary with continuous spectrum on the unit circle): one RK4 time step Δt from a 100 × 100 grid on
[−π, π) × [−p_max, p_max], Fourier in θ × Hermite functions in p. EDMD eigenvalues inside the disc are spectral
pollution: their residual is large. Writes ``koopman_pendulum.png`` (τ(z) on a grid, EDMD eigenvalues by residual)
and reports the median τ on circles |z| = r.
(2) Damped Duffing ``x' = y, y' = −δy − x(β + αx²)`` (α = 1, β = −1, δ = 0.5): Legendre products on
uniform samples of [−2, 2]², eigenvalues with residuals beside ``e^{Δt μ}`` of the linearisation at the stable foci,
and τ there; writes ``koopman_duffing.png``.
(3) Gallery: circle rotation by the golden mean (Fourier), Gauss map ``x ↦ e^{−αx²} + β`` (α = 2, β = −1 − e^{−2})
on [−1, 0] with Legendre polynomials at Gauss–Legendre nodes (quadrature weights).
Baseline: plain EDMD (every eigenvalue of K = G⁻¹A); ResDMD keeps those with res ≤ ε.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch

from zoo.analysis.koopman import dictionaries, pseudospectrum, resdmd
from zoo.optional import require

F64 = torch.float64
EPSILONS = (0.01, 0.05, 0.1)
PENDULUM_SWEEP = ((4, 4), (6, 8), (12, 14))  # (modes, degree) beside the main one: N = 45, 117, 375


def rk4(field, x: torch.Tensor, dt: float, substeps: int = 10) -> torch.Tensor:
    """``x`` (M, d) advanced by ``dt`` with ``substeps`` classical Runge–Kutta steps of ``field`` (M, d) -> (M, d)."""
    h = dt / substeps
    for _ in range(substeps):
        k1 = field(x)
        k2 = field(x + h / 2 * k1)
        k3 = field(x + h / 2 * k2)
        k4 = field(x + h * k3)
        x = x + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    return x


def pendulum_field(x: torch.Tensor) -> torch.Tensor:
    return torch.stack([x[:, 1], -torch.sin(x[:, 0])], 1)


def duffing_field(x: torch.Tensor, alpha: float = 1.0, beta: float = -1.0, delta: float = 0.5) -> torch.Tensor:
    return torch.stack([x[:, 1], -delta * x[:, 1] - x[:, 0] * (beta + alpha * x[:, 0] ** 2)], 1)


def summary(eigvals: torch.Tensor, residuals: torch.Tensor) -> dict:
    """Counts of EDMD eigenvalues: all, inside |λ| < 0.9, with res > 0.1 (pollution), kept by ResDMD per ε."""
    return {"n_eig": len(eigvals), "inside_0.9": int((eigvals.abs() < 0.9).sum()),
            "res_gt_0.1": int((residuals > 0.1).sum()),
            "res_gt_0.1_inside_0.9": int(((residuals > 0.1) & (eigvals.abs() < 0.9)).sum()),
            **{f"kept_eps_{eps}": int((residuals <= eps).sum()) for eps in EPSILONS},
            "kept_eps_0.1_min_abs": float(eigvals.abs()[residuals <= 0.1].min()) if (residuals <= 0.1).any() else None,
            "median_res": float(residuals.median())}


def circle_medians(psi_x, psi_y, weights=None, radii=(0.5, 0.9, 1.0, 1.1), points: int = 48) -> dict:
    """Median τ(z) on circles |z| = r: small only where the spectrum is."""
    angles = torch.arange(points, dtype=F64) * 2 * math.pi / points
    return {f"tau_median_r{r}": float(pseudospectrum(psi_x, psi_y, r * torch.exp(1j * angles), weights).median())
            for r in radii}


def grid_pseudospectrum(psi_x, psi_y, grid: int) -> tuple[torch.Tensor, torch.Tensor, float]:
    """τ(z) on a grid × grid lattice of [−1.5, 1.5]² and the seconds it took."""
    axis = torch.linspace(-1.5, 1.5, grid, dtype=F64)
    z = torch.complex(*torch.meshgrid(axis, axis, indexing="xy"))
    start = time.perf_counter()
    tau = pseudospectrum(psi_x, psi_y, z)
    return z, tau, time.perf_counter() - start


def pendulum(modes: int, degree: int, dt: float, p_max: float, grid: int | None, figures: Path | None) -> dict:
    """Fourier |k| ≤ modes in θ × Hermite functions of degree ≤ degree in p; τ on a grid (and the figure) if
    ``grid``. Nested dictionaries: τ_N(z) is non-increasing in N on the same data."""
    theta = torch.arange(100, dtype=F64) * 2 * math.pi / 100 - math.pi
    p = torch.linspace(-p_max, p_max, 100, dtype=F64)
    x = torch.cartesian_prod(theta, p)
    y = rk4(pendulum_field, x, dt)

    def psi(s):
        return dictionaries.product(dictionaries.fourier(s[:, :1], modes), dictionaries.hermite(s[:, 1:], degree))

    psi_x, psi_y = psi(x), psi(y)  # uniform grid: the default weights 1/M are the trapezoidal rule
    start = time.perf_counter()
    eigvals, _, res = resdmd(psi_x, psi_y)
    out = {"M": x.shape[0], "N": psi_x.shape[1], "dt": dt, "seconds_resdmd": time.perf_counter() - start,
           **summary(eigvals, res), **circle_medians(psi_x, psi_y)}
    if grid:
        z, tau, out["seconds_pseudospectrum_grid"] = grid_pseudospectrum(psi_x, psi_y, grid)
        out["grid_points"] = z.numel()
        if figures is not None:
            plot_spectrum(z, tau, eigvals, res, f"Pendulum, N = {len(eigvals)}: EDMD vs ResDMD",
                          figures / "koopman_pendulum.png")
    return out


def plot_spectrum(z, tau, eigvals, res, title: str, path: Path) -> None:
    """log10 τ on the grid, the unit circle, and the EDMD eigenvalues marked by res ≤ 0.1 (kept) or not."""
    plt = require("matplotlib.pyplot")
    fig, ax = plt.subplots(figsize=(6.4, 5.6))
    filled = ax.contourf(z.real.numpy(), z.imag.numpy(), np.log10(tau.clamp_min(1e-3).numpy()),
                         levels=np.linspace(-3, 0, 13), cmap="viridis_r", extend="max")
    fig.colorbar(filled, ax=ax, label="log10 τ(z)  (ResDMD pseudospectrum)")
    circle = np.exp(1j * np.linspace(0, 2 * np.pi, 400))
    ax.plot(circle.real, circle.imag, "w--", lw=0.8)
    kept = res <= 0.1
    ax.plot(eigvals.real[~kept], eigvals.imag[~kept], "rx", ms=4, label=f"EDMD, res > 0.1 ({int((~kept).sum())})")
    ax.plot(eigvals.real[kept], eigvals.imag[kept], "o", mfc="none", mec="w", ms=4,
            label=f"ResDMD kept, res ≤ 0.1 ({int(kept.sum())})")
    ax.set(xlabel="Re z", ylabel="Im z", aspect="equal", title=title)
    ax.legend(loc="lower left", fontsize=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=130, bbox_inches="tight")
    plt.close(fig)


def duffing(degree: int, dt: float, M: int, seed: int, grid: int, figures: Path | None) -> dict:
    x = (torch.rand(M, 2, dtype=F64, generator=torch.Generator().manual_seed(seed)) * 2 - 1) * 2
    y = rk4(duffing_field, x, dt)
    psi_x, psi_y = dictionaries.legendre(x / 2, degree), dictionaries.legendre(y / 2, degree)
    eigvals, _, res = resdmd(psi_x, psi_y)
    mu = complex(-0.25, math.sqrt(2 - 0.0625))  # Jacobian [[0, 1], [−2, −0.5]] at the foci (±1, 0)
    lam = complex(math.e ** (dt * mu.real) * math.cos(dt * mu.imag), math.e ** (dt * mu.real) * math.sin(dt * mu.imag))
    order, nearest = res.argsort()[:8], (eigvals - lam).abs().argmin()
    z, tau, _ = grid_pseudospectrum(psi_x, psi_y, grid)
    if figures is not None:
        plot_spectrum(z, tau, eigvals, res, f"Damped Duffing, N = {len(eigvals)}", figures / "koopman_duffing.png")
    return {"M": M, "N": len(eigvals), "dt": dt, **summary(eigvals, res), **circle_medians(psi_x, psi_y),
            "e^{dt mu}": [lam.real, lam.imag],
            "tau_at_e^{dt mu}": float(pseudospectrum(psi_x, psi_y, torch.tensor([lam], dtype=torch.complex128))),
            "nearest_to_e^{dt mu}": [float(eigvals[nearest].real), float(eigvals[nearest].imag), float(res[nearest])],
            "lowest_res": [[float(eigvals[i].real), float(eigvals[i].imag), float(res[i])] for i in order]}


def circle_rotation(modes: int, M: int, seed: int) -> dict:
    omega = (math.sqrt(5) - 1) / 2
    theta = torch.rand(M, 1, dtype=F64, generator=torch.Generator().manual_seed(seed)) * 2 * math.pi
    psi_x, psi_y = dictionaries.fourier(theta, modes), dictionaries.fourier(theta + 2 * math.pi * omega, modes)
    eigvals, _, res = resdmd(psi_x, psi_y)
    k = torch.arange(-modes, modes + 1, dtype=F64)
    exact = torch.exp(2j * math.pi * k * omega)
    error = (eigvals[:, None] - exact).abs().min(dim=1).values.max()
    return {"M": M, "N": len(eigvals), **summary(eigvals, res), **circle_medians(psi_x, psi_y),
            "max_res": float(res.max()), "max_eig_error": float(error)}


def gauss_map(degree: int, M: int) -> dict:
    nodes, weights = np.polynomial.legendre.leggauss(M)  # on [−1, 1] = 2x + 1 for x in [−1, 0]
    t, w = torch.tensor(nodes, dtype=F64)[:, None], torch.tensor(weights / 2, dtype=F64)
    x = (t - 1) / 2
    y = torch.exp(-2 * x ** 2) - 1 - math.exp(-2)
    psi_x, psi_y = dictionaries.legendre(t, degree), dictionaries.legendre(2 * y + 1, degree)
    eigvals, _, res = resdmd(psi_x, psi_y, w)
    return {"M": M, "N": len(eigvals), **summary(eigvals, res), **circle_medians(psi_x, psi_y, w),
            "kept_eigvals_eps_0.01": sorted(([float(v.real), float(v.imag)] for v in eigvals[res <= 0.01]),
                                            key=lambda v: -math.hypot(*v))}


def table(results: dict) -> str:
    columns = ("N", "inside_0.9", "res_gt_0.1", "res_gt_0.1_inside_0.9", "kept_eps_0.01", "kept_eps_0.05",
               "kept_eps_0.1", "median_res", "tau_median_r0.5", "tau_median_r1.0", "tau_median_r1.1")
    width = {c: max(len(c), 8) + 1 for c in columns}
    lines = ["system".ljust(16) + "".join(c.rjust(width[c]) for c in columns)]
    for name, row in results.items():
        cells = [f"{v:.3g}" if isinstance(v, float) else str(v) for v in (row[c] for c in columns)]
        lines.append(name.ljust(16) + "".join(v.rjust(width[c]) for v, c in zip(cells, columns)))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="koopman_study.json", help="JSON file to write")
    parser.add_argument("--figures", default="docs/figures", help="folder for koopman_*.png ('' for none)")
    parser.add_argument("--modes", type=int, default=10, help="pendulum Fourier modes |k| ≤ modes in θ")
    parser.add_argument("--degree", type=int, default=10, help="pendulum Hermite degree in p")
    parser.add_argument("--grid", type=int, default=31, help="pseudospectrum grid points per axis on [−1.5, 1.5]")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    figures = Path(args.figures) if args.figures else None

    start = time.perf_counter()
    results = {
        **{f"pendulum_N{(2 * m + 1) * (d + 1)}": pendulum(m, d, dt=0.5, p_max=6.0, grid=None, figures=None)
           for m, d in PENDULUM_SWEEP},
        "pendulum": pendulum(args.modes, args.degree, dt=0.5, p_max=6.0, grid=args.grid, figures=figures),
        "duffing": duffing(degree=12, dt=0.25, M=10_000, seed=args.seed, grid=args.grid, figures=figures),
        "circle_rotation": circle_rotation(modes=10, M=1000, seed=args.seed),
        "gauss_map": gauss_map(degree=40, M=100),
    }
    print(table(results))
    for name, row in results.items():
        extras = {k: v for k, v in row.items() if k not in ("lowest_res", "kept_eigvals_eps_0.01")}
        print(name, json.dumps(extras))
    print("duffing lowest residuals [Re λ, Im λ, res]:", json.dumps(results["duffing"]["lowest_res"]))
    print("gauss_map eigenvalues with res ≤ 0.01:", json.dumps(results["gauss_map"]["kept_eigvals_eps_0.01"]))
    results["seconds"] = time.perf_counter() - start
    Path(args.out).write_text(json.dumps(results, indent=2))
    print(f"wrote {args.out} in {results['seconds']:.0f} s")


if __name__ == "__main__":
    main()
