"""Kronecker algebra against the dense matrices (torch.kron), float64."""

from __future__ import annotations

import pytest
import torch

from zoo.functional.kronecker import kron_logdet, kron_matvec, kron_solve

D64 = torch.float64


def spd(n: int, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    A = torch.randn(n, n, generator=generator, dtype=D64)
    return A @ A.T / n + 0.1 * torch.eye(n, dtype=D64)


@pytest.mark.parametrize("sizes", [(3, 4), (2, 3, 5)])
@pytest.mark.parametrize("noise", [0.0, 0.3])
def test_matvec_solve_and_logdet_equal_the_dense_matrix(sizes, noise):
    factors = [spd(n, seed) for seed, n in enumerate(sizes)]
    dense = factors[0]
    for factor in factors[1:]:
        dense = torch.kron(dense, factor)
    dense_noisy = dense + noise * torch.eye(len(dense), dtype=D64)
    generator = torch.Generator().manual_seed(9)
    b = torch.randn(len(dense), generator=generator, dtype=D64)
    B = torch.randn(len(dense), 2, generator=generator, dtype=D64)
    torch.testing.assert_close(kron_matvec(factors, b), dense @ b, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(kron_matvec(factors, B), dense @ B, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(kron_solve(factors, b, noise), torch.linalg.solve(dense_noisy, b), rtol=1e-9,
                               atol=1e-9)
    torch.testing.assert_close(kron_solve(factors, B, noise), torch.linalg.solve(dense_noisy, B), rtol=1e-9,
                               atol=1e-9)
    torch.testing.assert_close(kron_logdet(factors, noise), torch.linalg.slogdet(dense_noisy)[1], rtol=1e-12,
                               atol=1e-10)
    if noise == 0.0:   # the closed form: Σ_i (N / n_i) log det K_i
        N = len(dense)
        expected = sum(N / len(f) * torch.linalg.slogdet(f)[1] for f in factors)
        torch.testing.assert_close(kron_logdet(factors), expected, rtol=1e-12, atol=1e-10)


def test_bad_shapes_are_clear_errors():
    with pytest.raises(ValueError, match=r"the factors \(3, 4\) make N = 12"):
        kron_matvec([spd(3, 0), spd(4, 1)], torch.zeros(10, dtype=D64))
    with pytest.raises(ValueError, match="must be square"):
        kron_solve([torch.zeros(3, 2, dtype=D64)], torch.zeros(3, dtype=D64))
