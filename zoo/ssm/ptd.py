"""Perturb-then-diagonalise (PTD): "Robustifying State-space Models for Long Sequences via Approximate
Diagonalization" (Yu, Mahoney, Erichson, 2023).

The HiPPO-LegS matrix ``A_H`` (:func:`zoo.ssm.hippo.legs`, eigenvalues exactly ``-1, ..., -n``) cannot be
diagonalised in floating point: its eigenvector matrix has condition number ~1e19 at ``n = 32``. PTD diagonalises a
nearby matrix instead. In the paper's symbols it solves::

    minimise  kappa(V_E) + gamma ||E||   subject to   A_H + E = V_E Lambda V_E^{-1},

with ``kappa`` the 2-norm condition number of ``V_E`` (unit-norm columns), and initialises a diagonal SSM with
``Lambda``, ``B~ = V_E^{-1} B_H`` and ``C~ = C V_E``; that diagonal system's transfer function is exactly
``C (sI - A_H - E)^{-1} B_H``.

Our solver minimises, over real ``(n, n)`` matrices ``X`` and ``M``::

    kappa_16(V_E) + gamma ||E||_{S_32} / ||A_H||_2,        E = ||A_H||_2 ((X - X^T) / sqrt(2) - M M^T),

in float64 with L-BFGS (strong Wolfe line search), the gradient taken by autograd through ``torch.linalg.eig``.

* Stability is a constraint built into the parameterisation. LegS is contractive: ``A_H + A_H^T = -I - 2 P P^T``
  (``P_n = sqrt(n + 1/2)``). ``E`` = skew-symmetric minus positive semidefinite keeps it so,
  ``(A_H + E) + (A_H + E)^T <= -I``, and every eigenvalue of a matrix lies in its numerical range, so
  ``Re lambda <= -1/2`` at every iterate, the solution included. Nothing is flipped or clipped afterwards. The
  constraint costs ~3% in ``kappa`` at equal ``||E||`` against an unconstrained real ``E``, which needs a stability
  penalty instead and then converges several times slower at ``n = 128`` (a random start has ``Re lambda ~ +470``).
* ``E`` is real, so the spectrum and ``V_E`` keep conjugate symmetry.
* ``kappa_p(V) = ||V||_{S_p} ||V^{-1}||_{S_p}`` (Schatten norms) bounds ``kappa_2(V)`` from above, within a factor
  ``n^(2/p)``; ``||E||_{S_q}`` bounds ``||E||_2`` within ``n^(1/q)``. Both are smooth where the 2-norms are not
  (where the largest singular values coincide, as they tend to at the optimum); with ``||E||_2`` itself L-BFGS
  needed ~5x more iterations. ``p = 2`` (``||V^{-1}||_F^2`` = the sum of the squared eigenvalue condition numbers)
  gives a ~10% larger ``kappa_2`` at equal ``||E||_2``.
* ``||E||`` is measured relative to ``||A_H||_2``, so ``gamma`` means about the same at every ``n``.
* Start: seeded Gaussian ``X`` and ``M`` with ``||E_skew||_2 ~ init_scale ||A_H||_2`` and a small
  ``||M M^T||_2 ~ init_scale^2 / 25 ||A_H||_2``, so that the dissipative part grows only as far as the conditioning
  needs. (The objective is nearly flat along it: a start with ``||M M^T|| ~ ||E_skew||`` ends with the same
  ``kappa`` and ``||E||`` but the slowest mode needlessly fast, ``max Re lambda ~ -23`` instead of ``-1.2`` at
  ``n = 128``; LegS's slowest mode is ``-1``.)

Differences from the authors' solver (dense complex ``E``, Adam on ``kappa_2(V)^2 + lambda ||E||_F``, 3k-10k steps,
stability patched afterwards by ``Re lambda <- -|Re lambda|``): real ``E``, stability by construction, smooth
surrogates, L-BFGS with 200 iterations. We use none of the authors' precomputed ``.mat`` perturbations.

With the defaults, ``kappa_2(V) ~ 6.9`` at ``||E||_2 / ||A_H||_2 ~ 3.6%`` for every ``n`` from 8 to 128, in about
1-2 s for ``n = 64`` on one CPU core. The authors' released perturbations: 8.31 at 3.8% (``n = 32``) and 9.17 at 3.4%
(``n = 64``, unstable); a random ``E`` of 3.8% at ``n = 32``: ~97.
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch

from zoo.cache import cache_dir, cached
from zoo.ssm.hippo import legs

SOLVER_VERSION = 2  # part of the cache file name: bump it whenever the solver's result changes
_P = 16  # Schatten order of the condition-number surrogate
_Q = 32  # Schatten order of the perturbation-size surrogate
_DEFAULTS = {"max_iter": 200, "init_scale": 0.1}


def _log_schatten(log_sv: torch.Tensor, p: float) -> torch.Tensor:
    """``log ||X||_{S_p}`` from the logs of the singular values of ``X``, without overflow."""
    return torch.logsumexp(p * log_sv, dim=0) / p


def _perturbation(X: torch.Tensor, M: torch.Tensor) -> torch.Tensor:
    """``(X - X^T) / sqrt(2) - M M^T`` (n, n): exactly skew-symmetric minus exactly symmetric PSD."""
    MMt = M @ M.T
    return (X - X.T) / math.sqrt(2) - (MMt + MMt.T) / 2


def _objective(X: torch.Tensor, M: torch.Tensor, A: torch.Tensor, gamma: float) -> torch.Tensor:
    """``kappa_16(V) + gamma ||E||_{S_32}`` for ``A + E = V Lambda V^{-1}``; ``A = A_H / ||A_H||_2`` (n, n) float64."""
    E = _perturbation(X, M)
    _, V = torch.linalg.eig(A + E)
    V = V / torch.linalg.vector_norm(V, dim=0)  # also makes the loss invariant to eig's choice of phases
    log_sv = torch.log(torch.linalg.svdvals(V))
    kappa = torch.exp(_log_schatten(log_sv, _P) + _log_schatten(-log_sv, _P))
    sv = torch.linalg.svdvals(E)
    scale = sv.max().detach().clamp_min(1e-300)  # ||E||_q = s ||E / s||_q for any s > 0: no underflow near E = 0
    return kappa + gamma * scale * ((sv / scale) ** _Q).sum() ** (1 / _Q)


def _solve(n: int, gamma: float, seed: int, max_iter: int, init_scale: float) -> dict:
    """Optimise ``E`` and diagonalise ``A_H + E``; returns the cache entry (torch tensors and plain numbers)."""
    start = time.perf_counter()
    A_H = legs(n)[0]
    norm_A = np.linalg.norm(A_H, 2)
    A = torch.tensor(A_H / norm_A)
    generator = torch.Generator().manual_seed(seed)
    X = torch.randn(n, n, generator=generator, dtype=torch.float64) * (init_scale / (2 * math.sqrt(n)))
    M = torch.randn(n, n, generator=generator, dtype=torch.float64) * (init_scale / (10 * math.sqrt(n)))
    X.requires_grad_(True)
    M.requires_grad_(True)
    optimiser = torch.optim.LBFGS([X, M], lr=1, max_iter=max_iter, history_size=20, line_search_fn="strong_wolfe",
                                  tolerance_grad=1e-10, tolerance_change=1e-12)

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        loss = _objective(X, M, A, gamma)
        loss.backward()
        return loss

    optimiser.step(closure)
    with torch.no_grad():
        E = norm_A * _perturbation(X, M).numpy()
    Lambda, V = (x.astype(np.complex128) for x in np.linalg.eig(A_H + E))  # eig returns real arrays if it can
    order = np.lexsort((Lambda.real, Lambda.imag))
    Lambda, V = Lambda[order], V[:, order]
    V = V / np.linalg.norm(V, axis=0)
    return {"E": torch.from_numpy(E), "Lambda": torch.from_numpy(Lambda), "V": torch.from_numpy(V),
            "V_inv": torch.from_numpy(np.linalg.inv(V)), "kappa": float(np.linalg.cond(V)),
            "E_rel": float(np.linalg.norm(E, 2) / norm_A), "max_real": float(Lambda.real.max()),
            "steps": int(optimiser.state[X]["n_iter"]), "seconds": time.perf_counter() - start}


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _is_positive_number(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool) and \
        0 < value < math.inf


def ptd_perturbation(n: int, gamma: float = 150.0, seed: int = 0, cache: bool = True, **solver_options) -> dict:
    """Solve PTD for HiPPO-LegS of size ``n``: ``A_LegS(n) + E = V diag(Lambda) V_inv``.

    Args:
        n: state size, a positive integer.
        gamma: weight of ``||E|| / ||A_LegS||_2`` against the condition number: larger gives a smaller ``E`` and a
            larger ``kappa`` (100: ~5.8 at 4.5%; 150: ~6.9 at 3.6%; 200: ~7.8 at 3.1%; 300: ~9.3 at 2.5%).
        seed: seed of the random start; the result is deterministic given all the arguments.
        cache: load and save the result under ``zoo.cache.cache_dir() / "ptd"`` (file name: solver version, ``n``,
            ``gamma``, ``seed`` and any non-default solver option).
        solver_options: ``max_iter`` (L-BFGS iterations, default 200) and ``init_scale`` (size of the random start
            relative to ``||A_LegS||_2``, default 0.1).

    Returns:
        A dict with ``E`` (n, n) float64; ``Lambda`` (n,) complex128, sorted by imaginary part, then real part (the
        ``Im < 0`` modes first, then the real eigenvalues in increasing order, then the conjugates of the first block
        in reverse order); ``V`` (n, n) complex128 with unit-norm columns; ``V_inv`` (n, n) complex128, the true
        inverse of ``V``; ``kappa``: ``kappa_2(V)``; ``E_rel``: ``||E||_2 / ||A_LegS||_2``; ``max_real``:
        ``max Re Lambda`` (``<= -1/2`` by construction); ``steps``: L-BFGS iterations; ``seconds``: the solve's wall
        time (that of the original solve when loaded from the cache).
    """
    if not _is_int(n) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if not _is_positive_number(gamma):
        raise ValueError(f"gamma must be a finite number > 0, got {gamma!r}")
    if not _is_int(seed):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    unknown = sorted(set(solver_options) - set(_DEFAULTS))
    if unknown:
        raise ValueError(f"unknown solver options {unknown}; expected some of {sorted(_DEFAULTS)}")
    options = {**_DEFAULTS, **solver_options}
    if not _is_int(options["max_iter"]) or options["max_iter"] < 1:
        raise ValueError(f"max_iter must be a positive integer, got {options['max_iter']!r}")
    if not _is_positive_number(options["init_scale"]):
        raise ValueError(f"init_scale must be a finite number > 0, got {options['init_scale']!r}")
    n, gamma, seed = int(n), float(gamma), int(seed)
    options = {"max_iter": int(options["max_iter"]), "init_scale": float(options["init_scale"])}

    def build() -> dict:
        # The matrices are small: one thread is as fast on an idle machine, and several times faster on a busy one.
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return _solve(n, gamma, seed, **options)
        finally:
            torch.set_num_threads(threads)

    if cache:
        extra = "".join(f"_{key}{options[key]!r}" for key in sorted(_DEFAULTS) if options[key] != _DEFAULTS[key])
        entry = cached(cache_dir() / "ptd" / f"v{SOLVER_VERSION}_n{n}_gamma{gamma!r}_seed{seed}{extra}.pt", build)
    else:
        entry = build()
    return {key: value.numpy() if isinstance(value, torch.Tensor) else value for key, value in entry.items()}


def ptd_init(n: int, gamma: float = 150.0, seed: int = 0, cache: bool = True,
             **solver_options) -> tuple[np.ndarray, np.ndarray]:
    """Diagonal-SSM initialisation from PTD: ``(Lambda (n,) complex128, B_tilde (n,) complex128)``.

    ``Lambda`` holds all ``n`` eigenvalues of ``A_LegS(n) + E`` (ordered as in :func:`ptd_perturbation`) and
    ``B_tilde = V^{-1} B_LegS(n)``. The output matrix ``C~ = C V`` is not returned: a freshly random ``C`` absorbs
    ``V``, as in the reference implementation. Arguments as in :func:`ptd_perturbation`.
    """
    result = ptd_perturbation(n, gamma=gamma, seed=seed, cache=cache, **solver_options)
    return result["Lambda"], result["V_inv"] @ legs(n)[1]
