"""Perturb-then-diagonalise (PTD): "Robustifying State-space Models for Long Sequences via Approximate
Diagonalization" (Yu, Mahoney, Erichson, 2023).

The HiPPO-LegS matrix ``A_H`` (:func:`zoo.ssm.hippo.legs`, eigenvalues exactly ``-1, ..., -n``) cannot be
diagonalised in floating point: its eigenvector matrix has condition number ~1e19 at ``n = 32``. PTD diagonalises a
nearby matrix instead. In the paper's symbols it solves::

    minimise  kappa(V_E) + gamma ||E||   subject to   A_H + E = V_E Lambda V_E^{-1},

with ``kappa`` the 2-norm condition number of ``V_E`` (unit-norm columns), and initialises a diagonal SSM with
``Lambda``, ``B~ = V_E^{-1} B_H`` and ``C~ = C V_E``. The transfer function of that diagonal system is exactly
``C (sI - A_H - E)^{-1} B_H``.

Our solver. ``E`` is real (so the spectrum and ``V_E`` keep conjugate symmetry) and is optimised in float64 with
L-BFGS (strong Wolfe line search), the gradient taken by autograd through ``torch.linalg.eig``. The objective is::

    kappa_p(V_E) + gamma ||E||_{S_q} / ||A_H||_2 + mu * m * sum_j softplus((Re lambda_j + 2 m) / m)

* ``kappa_p(V) = ||V||_{S_p} ||V^{-1}||_{S_p}`` (Schatten ``p = 16``) is a smooth upper bound on ``kappa_2(V)``, within
  a factor ``n^(2/p)``; the exact ``kappa_2`` is a max over singular values and stalls L-BFGS once they cluster.
* ``||E||_{S_q}`` (Schatten ``q = 32``) is a smooth upper bound on ``||E||_2`` within ``n^(1/q)``, and the size of
  ``E`` is measured relative to ``||A_H||_2``, so ``gamma`` means the same at every ``n``.
* Stability is part of the optimisation: the softplus barrier acts on every eigenvalue right of ``-2 m``
  (``m = stability_margin``). If the optimum still has ``max Re lambda > -m``, ``mu`` grows tenfold and L-BFGS goes on
  from there (at most three times); if that fails the solver raises. No eigenvalue is ever flipped afterwards.
* Start: a seeded Gaussian ``E`` with ``||E||_2 ~ init_scale ||A_H||_2``.

Differences from the authors' solver (dense complex ``E``, Adam on ``kappa_2(V)^2 + lambda ||E||_F``, 3k-10k steps,
stability patched afterwards by ``Re lambda <- -|Re lambda|``): real ``E``, smooth surrogates, L-BFGS (~100-300
iterations), stability enforced during the solve. We use none of the authors' precomputed ``.mat`` perturbations.

With the defaults, ``kappa_2(V) ~ 6.8`` at ``||E||_2 / ||A_H||_2 ~ 3.6%`` for ``n = 16 ... 64`` (the released
``n = 32`` perturbation: 8.31 at 3.8%; a random ``E`` of that size: ~97), in about 1-3 s on 2 CPU cores.
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch

from zoo.cache import cache_dir, cached
from zoo.ssm.hippo import legs

SOLVER_VERSION = 1  # bump whenever the solver changes: it is part of the cache file name
_P = 16  # Schatten order of the condition-number surrogate
_Q = 32  # Schatten order of the perturbation-size surrogate
_WIDTH = 0.25  # width of the stability penalty, in the units of A_H's eigenvalues (which are 1 apart)
_DEFAULTS = {"max_iter": 200, "init_scale": 0.1, "stability_margin": 0.5}


def _log_schatten(log_sv: torch.Tensor, p: float) -> torch.Tensor:
    """``log ||X||_{S_p}`` from the logs of the singular values of ``X``, without overflow."""
    return torch.logsumexp(p * log_sv, dim=0) / p


def _objective(P: torch.Tensor, A: torch.Tensor, norm_A: float, gamma: float, margin: float,
               mu: float) -> torch.Tensor:
    """The PTD objective at ``E = norm_A P``; ``P`` and ``A = A_H / norm_A`` real ``(n, n)``, ``norm_A = ||A_H||_2``."""
    Lambda, V = torch.linalg.eig(A + P)
    Vd = V.detach()
    # The loss is invariant to V -> V diag(c), so the gradient reaching eig has Im diag(V^* grad) = 0 in exact
    # arithmetic; remove the rounding residue, which torch's eig backward rejects when V is ill-conditioned.
    V.register_hook(lambda g: g - Vd * (1j * torch.imag((Vd.conj() * g).sum(0)) / (Vd.abs() ** 2).sum(0)))
    V = V / torch.linalg.vector_norm(V, dim=0)
    log_sv = torch.log(torch.linalg.svdvals(V))
    kappa_p = torch.exp(_log_schatten(log_sv, _P) + _log_schatten(-log_sv, _P))
    sv_P = torch.linalg.svdvals(P)
    scale = sv_P.max().detach().clamp_min(1e-300)  # ||P||_q = s ||P / s||_q for any s > 0: avoids underflow
    size = scale * ((sv_P / scale) ** _Q).sum() ** (1 / _Q)
    barrier = _WIDTH * torch.nn.functional.softplus((norm_A * Lambda.real + margin) / _WIDTH + 2).sum()
    return kappa_p + gamma * size + mu * barrier


def _solve(n: int, gamma: float, seed: int, max_iter: int, init_scale: float, stability_margin: float) -> dict:
    """Optimise ``E`` and diagonalise ``A_H + E``; returns the cache entry (torch tensors and plain numbers)."""
    start = time.perf_counter()
    A_np = legs(n)[0]
    norm_A = np.linalg.norm(A_np, 2)
    A = torch.tensor(A_np / norm_A)
    generator = torch.Generator().manual_seed(seed)
    P = torch.randn(n, n, generator=generator, dtype=torch.float64) * (init_scale / (2 * math.sqrt(n)))
    P.requires_grad_(True)
    mu, steps = 1.0, 0
    for _ in range(4):
        optimiser = torch.optim.LBFGS([P], lr=1, max_iter=max_iter, history_size=20, line_search_fn="strong_wolfe",
                                      tolerance_grad=1e-10, tolerance_change=1e-12)

        def closure():
            optimiser.zero_grad()
            loss = _objective(P, A, norm_A, gamma, stability_margin, mu)
            loss.backward()
            return loss

        optimiser.step(closure)
        steps += optimiser.state[P]["n_iter"]
        max_real = np.linalg.eigvals(A_np + norm_A * P.detach().numpy()).real.max()
        if max_real <= -stability_margin:
            break
        mu *= 10
    else:
        raise RuntimeError(f"PTD solve for n={n}, gamma={gamma}, seed={seed} left max Re lambda = {max_real:.3g} > "
                           f"-{stability_margin} after raising the stability weight to {mu / 10:g}")
    E = norm_A * P.detach().numpy()
    Lambda, V = np.linalg.eig(A_np + E)
    order = np.lexsort((Lambda.real, Lambda.imag))
    Lambda, V = Lambda[order], V[:, order]
    V = V / np.linalg.norm(V, axis=0)
    V_inv = np.linalg.inv(V)
    return {"E": torch.from_numpy(E), "Lambda": torch.from_numpy(Lambda), "V": torch.from_numpy(V),
            "V_inv": torch.from_numpy(V_inv), "kappa": float(np.linalg.cond(V)),
            "E_rel": float(np.linalg.norm(E, 2) / norm_A), "max_real": float(Lambda.real.max()), "steps": int(steps),
            "seconds": time.perf_counter() - start}


def ptd_perturbation(n: int, gamma: float = 150.0, seed: int = 0, cache: bool = True, **solver_options) -> dict:
    """Solve PTD for HiPPO-LegS of size ``n``: ``A_LegS(n) + E = V diag(Lambda) V_inv``.

    Args:
        n: state size, a positive integer.
        gamma: weight of ``||E|| / ||A_LegS||_2`` against the condition number (larger: smaller ``E``, larger
            ``kappa``; 100 gives ~5.7 at 4.6%, 150 ~6.8 at 3.6%, 200 ~7.7 at 3.1%).
        seed: seed of the random start; the result is deterministic given ``(n, gamma, seed, solver_options)``.
        cache: load/save the result under ``zoo.cache.cache_dir() / "ptd"``.
        solver_options: ``max_iter`` (L-BFGS iterations per round, default 200), ``init_scale`` (relative size of
            the random start, 0.1), ``stability_margin`` (required ``max Re Lambda <= -stability_margin``, 0.5).

    Returns:
        ``E`` (n, n) float64 real; ``Lambda`` (n,) complex128, ordered by imaginary part, then real part (so the
        ``Im < 0`` half comes first, the real eigenvalues sit in the middle in increasing order, and the conjugates
        follow in reverse order); ``V`` (n, n) complex128 with unit-norm columns; ``V_inv`` (n, n) complex128, the true
        inverse of ``V``; ``kappa`` = ``kappa_2(V)``; ``E_rel`` = ``||E||_2 / ||A_LegS||_2``; ``max_real`` =
        ``max Re Lambda``; ``steps`` (L-BFGS iterations); ``seconds`` (the solve's wall time, also when loaded from
        the cache).
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if isinstance(gamma, bool) or not isinstance(gamma, (int, float)) or not math.isfinite(gamma) or gamma <= 0:
        raise ValueError(f"gamma must be a finite number > 0, got {gamma!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    unknown = set(solver_options) - set(_DEFAULTS)
    if unknown:
        raise ValueError(f"unknown solver options {sorted(unknown)}; expected some of {sorted(_DEFAULTS)}")
    options = {**_DEFAULTS, **solver_options}
    if not isinstance(options["max_iter"], (int, np.integer)) or options["max_iter"] < 1:
        raise ValueError(f"max_iter must be a positive integer, got {options['max_iter']!r}")
    for key in ("init_scale", "stability_margin"):
        if not isinstance(options[key], (int, float)) or not 0 < options[key] < math.inf:
            raise ValueError(f"{key} must be a finite number > 0, got {options[key]!r}")
    n, gamma, seed = int(n), float(gamma), int(seed)

    def build() -> dict:
        # The matrices are small: one thread is as fast unloaded and several times faster on a busy machine.
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return _solve(n, gamma, seed, int(options["max_iter"]), float(options["init_scale"]),
                          float(options["stability_margin"]))
        finally:
            torch.set_num_threads(threads)

    if cache:
        extra = "".join(f"_{key}{float(options[key])!r}" for key in sorted(solver_options) if
                        options[key] != _DEFAULTS[key])
        name = f"v{SOLVER_VERSION}_n{n}_gamma{gamma!r}_seed{seed}{extra}.pt"
        entry = cached(cache_dir() / "ptd" / name, build)
    else:
        entry = build()
    return {key: value.numpy() if isinstance(value, torch.Tensor) else value for key, value in entry.items()}


def ptd_init(n: int, gamma: float = 150.0, seed: int = 0, cache: bool = True, **solver_options) -> tuple[np.ndarray,
                                                                                                          np.ndarray]:
    """Diagonal-SSM initialisation from PTD: ``(Lambda (n,) complex128, B_tilde (n,) complex128)``.

    ``Lambda`` are all ``n`` eigenvalues of ``A_LegS(n) + E`` (order as in :func:`ptd_perturbation`), and
    ``B_tilde = V^{-1} B_LegS(n)``. The output matrix ``C~ = C V`` is not returned: a freshly random ``C`` absorbs
    ``V``, as in the reference implementation. Arguments as in :func:`ptd_perturbation`.
    """
    result = ptd_perturbation(n, gamma=gamma, seed=seed, cache=cache, **solver_options)
    return result["Lambda"], result["V_inv"] @ legs(n)[1]
