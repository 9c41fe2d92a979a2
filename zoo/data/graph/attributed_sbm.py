"""Attributed stochastic block models: a planted partition with categorical vertex attributes that follow it.

The graph is networkx's ``stochastic_block_model`` with ``n_blocks`` blocks of (as nearly as possible) equal size,
edge probability ``p_in`` inside a block and ``p_out`` across. :func:`planted_partition` converts the usual
parametrisation, mean degree ``c`` and ``ε = c_out / c_in`` (``c_in = n p_in``, ``c_out = n p_out``), into
``(p_in, p_out)``: ``ε → 0`` separates the blocks, and above the Kesten–Stigum threshold
``ε* = (√c − 1) / (√c − 1 + n_blocks)`` no algorithm recovers them from the structure alone.

Each of ``n_attrs`` attributes takes one of ``n_values`` values: with probability ``rho`` the vertex's block index,
otherwise one of the other ``n_values − 1`` values uniformly (independently per attribute), so ``rho = 1 / n_values``
makes the attributes carry no information on the blocks and ``rho = 1`` makes each equal to the block.
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import scipy.sparse as sp


def planted_partition(c: float, epsilon: float, n: int, n_blocks: int) -> tuple[float, float]:
    """``(p_in, p_out)`` of a planted partition with mean degree ``c`` and ``ε = c_out / c_in`` (equal blocks)."""
    if not c > 0 or not 0 <= epsilon <= 1:
        raise ValueError(f"need mean degree c > 0 and 0 <= epsilon <= 1, got c={c}, epsilon={epsilon}")
    c_in = n_blocks * c / (1 + (n_blocks - 1) * epsilon)
    p_in, p_out = c_in / n, epsilon * c_in / n
    if p_in > 1:
        raise ValueError(f"mean degree c={c} with epsilon={epsilon} needs p_in = {p_in:.3g} > 1: lower c or raise n")
    return p_in, p_out


def attributed_sbm(n: int = 1000, n_blocks: int = 4, p_in: float = 0.03, p_out: float = 0.003, n_attrs: int = 2,
                   n_values: int = 5, rho: float = 0.5, seed: int = 0
                   ) -> tuple[sp.csr_array, np.ndarray, np.ndarray]:
    """An attributed SBM (module docstring).

    Returns:
        ``adj (n, n)`` symmetric float64 CSR (unit weights, no self-loops), ``attrs (n, n_attrs)`` int64 in
        ``0..n_values−1`` and the planted ``blocks (n,)`` int64 in ``0..n_blocks−1``.
    """
    if not 1 <= n_blocks <= n:
        raise ValueError(f"n_blocks must satisfy 1 <= n_blocks <= n = {n}, got {n_blocks}")
    if not 0 <= p_out <= 1 or not 0 <= p_in <= 1:
        raise ValueError(f"p_in and p_out are probabilities in [0, 1], got p_in={p_in}, p_out={p_out}")
    if n_values < max(n_blocks, 2):
        raise ValueError(f"n_values must be at least n_blocks = {n_blocks} (and 2), so a value can match each block; "
                         f"got {n_values}")
    if not 0 <= rho <= 1 or n_attrs < 1:
        raise ValueError(f"need 0 <= rho <= 1 and n_attrs >= 1, got rho={rho}, n_attrs={n_attrs}")
    rng = np.random.default_rng(seed)
    sizes = [n // n_blocks + (b < n % n_blocks) for b in range(n_blocks)]
    probs = np.full((n_blocks, n_blocks), p_out)
    np.fill_diagonal(probs, p_in)
    graph = nx.stochastic_block_model(sizes, probs.tolist(), seed=int(rng.integers(2**31)))
    adj = sp.csr_array(nx.to_scipy_sparse_array(graph, nodelist=range(n), dtype=np.float64, format="csr"))
    blocks = np.repeat(np.arange(n_blocks), sizes)
    other = (blocks[:, None] + rng.integers(1, n_values, size=(n, n_attrs))) % n_values  # uniform over the rest
    attrs = np.where(rng.random((n, n_attrs)) < rho, blocks[:, None], other)
    return adj, attrs.astype(np.int64), blocks
