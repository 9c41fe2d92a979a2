"""A GP-HM objective step with Kronecker algebra against the same step on the dense covariance, for
``scripts/benchmark.py --comparisons gp``.

One step is ``gp_hm``'s negative log joint on the 2-D Poisson problem (``poisson_2d_sin_sin``) on an ``n × n``
collocation grid and its backward. The Kronecker path is the model's own (two ``n × n`` Cholesky factors, solves along
each axis, ``log det = n Σ_j log det K_j``); the dense path builds ``K = K_1 ⊗ K_2`` (``n² × n²``) and the Laplacian
operator ``(K_1^{xx} ⊗ K_2 + K_1 ⊗ K_2^{yy}) K⁻¹`` and factors ``K`` once, as a GP solver without the grid structure
must (the reference does so in 1-D). The two run round by round, interleaved; medians; ``ratio`` = dense / Kronecker.
Sizes ``GP_HM_SIZE``: ``n`` = 16..48 (the dense ``K`` has ``n⁴`` entries).
"""

from __future__ import annotations

import torch

from bench_timing import interleaved_medians

GP_HM_SIZE = {"n": (16, 24, 32, 48), "components": 30}


def _dense_step(model, problem) -> None:
    """The negative log joint through dense ``n² × n²`` algebra, and its backward."""
    from zoo.functional.pde import operator

    (K1, Kxx1), (K2, Kxx2) = model.factors(0), model.factors(1)
    K = torch.kron(K1, K2)
    chol = torch.linalg.cholesky(K)
    u = model.U.reshape(-1)
    alpha = torch.cholesky_solve(u[:, None], chol)[:, 0]
    laplacian = (torch.kron(Kxx1, K2) + torch.kron(K1, Kxx2)) @ alpha
    mask = problem["boundary_mask"].reshape(-1)
    boundary = (u[mask] - problem["boundary_values"].reshape(-1)[mask]).square().sum()
    residual = (operator(problem["equation"], u, laplacian) - problem["source"].reshape(-1)).square().sum()
    log_joint = (-torch.log(torch.diagonal(chol)).sum() - 0.5 * u @ alpha
                 + model.boundary_weight * (mask.sum() / 2 * model.log_tau - model.log_tau.exp() / 2 * boundary)
                 + len(u) / 2 * model.log_v - model.log_v.exp() / 2 * residual)
    (-log_joint).backward()


def time_gp_hm(n: int, device: str, repeats: int) -> dict:
    """Median ms of a Kronecker and a dense GP-HM step on an ``n × n`` grid."""
    import zoo
    from zoo.data.pde.manufactured import make_problem

    upper = (n - 1) / 50        # a domain the grid resolves: freq_scale 20 cycles and the solution's 100 rad per unit
    model = zoo.create_model("gp_hm", grid=[n, n], upper=upper, components=GP_HM_SIZE["components"]).to(device)
    problem = {key: value.to(device) if torch.is_tensor(value) else value
               for key, value in make_problem("poisson_2d_sin_sin", grid=[n, n], upper=upper).items()}
    problem["axes"] = [axis.to(device) for axis in problem["axes"]]
    with torch.no_grad():
        model.U.normal_()

    def kronecker():
        model.loss(problem)["loss"].backward()

    times = interleaved_medians({"kronecker": kronecker, "dense": lambda: _dense_step(model, problem)}, repeats,
                                device)
    return {"kronecker_ms": times["kronecker"], "dense_ms": times["dense"], "ratio": times["dense"] / times["kronecker"],
            "ms": times["kronecker"], "peak_mib": float("nan")}


def print_report(results: dict) -> dict:
    print(f"GP-HM step on an n x n grid ({GP_HM_SIZE['components']} components per axis), ms: Kronecker vs dense")
    print(f"{'n':>4}{'Kronecker':>12}{'dense':>12}{'dense/Kron':>12}")
    for n, result in results.items():
        print(f"{n:>4}{result['kronecker_ms']:>12.1f}{result['dense_ms']:>12.1f}{result['ratio']:>11.1f}x")
    return results
