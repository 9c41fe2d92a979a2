"""GP-HM: the Kronecker log prior and grid Laplacian against dense float64 algebra, the conditional mean's closed form
on the grid, the kernel-derivative Laplacian of an exact solution, a short solve, and clear errors."""

from __future__ import annotations

import math

import pytest
import torch

import zoo
from zoo.data.pde.manufactured import make_problem
from zoo.gp.gp_hm import GPHM
from zoo.gp.kernels import spectral_mixture


def dense(model: GPHM, axis: int, derivative: int = 0) -> torch.Tensor:
    """The kernel (or its second derivative) on axis ``axis``'s grid, evaluated point by point."""
    x = model.axes()[axis]
    return spectral_mixture(x, x, weights=model.log_w[axis].exp(), frequencies=model.mu[axis],
                            inverse_lengthscales=model.log_ls[axis].exp(), base="matern52", derivative=derivative)


def randomised(grid: list[int], seed: int = 0) -> GPHM:
    torch.manual_seed(seed)
    model = GPHM(grid=grid, upper=1.0, components=3, freq_scale=1.0, jitter=1e-3)
    with torch.no_grad():
        model.U.normal_()
        model.log_w.normal_(std=0.3)
        model.log_ls.normal_(std=0.3)
        model.mu.add_(torch.rand_like(model.mu))
    return model


def test_kronecker_log_prior_and_laplacian_equal_dense_algebra():
    model = randomised([7, 5])
    K1, K2 = (dense(model, axis) + model.jitter * torch.eye(n, dtype=torch.float64) for axis, n in enumerate([7, 5]))
    K = torch.kron(K1, K2)
    u = model.U.reshape(-1)
    logdet, quadratic, laplacian = model.log_prior_terms()
    assert torch.allclose(logdet, torch.logdet(K), rtol=1e-10)
    assert torch.allclose(quadratic, u @ torch.linalg.solve(K, u), rtol=1e-10)
    derivative = torch.kron(dense(model, 0, 2), K2) + torch.kron(K1, dense(model, 1, 2))   # cov(Δu, u) on the grid
    assert torch.allclose(laplacian.reshape(-1), derivative @ torch.linalg.solve(K, u), rtol=1e-9, atol=1e-9)
    assert torch.allclose(model.factors(1)[0], K2, atol=1e-14)        # the Toeplitz construction


def test_conditional_mean_equals_dense_conditioning_and_interpolates_as_the_jitter_vanishes():
    """``k(x, grid) ((K_1 + jI) ⊗ (K_2 + jI))⁻¹ vec U`` at off-grid points against dense algebra; at the grid the
    mean is ``U`` up to O(j)."""
    model = randomised([6, 4])
    jittered = torch.kron(*(model.factors(axis)[0] for axis in range(2)))
    alpha = torch.linalg.solve(jittered, model.U.reshape(-1))
    points = torch.rand(9, 2, dtype=torch.float64)
    cross = torch.stack([torch.kron(*(spectral_mixture(point[j:j + 1], model.axes()[j], weights=model.log_w[j].exp(),
                                                       frequencies=model.mu[j],
                                                       inverse_lengthscales=model.log_ls[j].exp(), base="matern52")
                                      for j in range(2)))[0] for point in points])
    with torch.no_grad():
        assert torch.allclose(model(points), cross @ alpha, atol=1e-10)
        for jitter, tolerance in ((1e-3, 1e-2), (1e-7, 1e-5)):
            model.jitter = jitter
            assert torch.allclose(model(torch.cartesian_prod(*model.axes())), model.U.reshape(-1), atol=tolerance)


def test_the_kernel_laplacian_of_an_exact_solution_matches_its_source():
    """U = sin(100x) on 400 points of [0, 2π] and one component at the true frequency 100/2π with a long length
    scale: ``K^{xx} K⁻¹ U`` is ``−10⁴ sin(100x)`` to 1e-4 relative in the interior."""
    model = GPHM(grid=[400], components=1, kernel="gm", freq_scale=0.0, jitter=1e-10)
    problem = make_problem("poisson_sin", grid=[400])
    with torch.no_grad():
        model.mu.fill_(100 / (2 * math.pi))
        model.log_ls.fill_(math.log(0.05))
        model.U.copy_(torch.sin(100 * model.axes()[0]))
        laplacian = model.log_prior_terms()[2]
    interior = slice(40, -40)
    error = (laplacian - problem["source"])[interior].norm() / problem["source"][interior].norm()
    assert error < 1e-4


def test_a_short_solve_gets_close_and_every_parameter_learns():
    model = zoo.create_model("gp_hm", grid=[400])
    problem = make_problem("poisson_sin", grid=[400])
    x = torch.linspace(0, 2 * math.pi, 1000, dtype=torch.float64)[:, None]
    exact = torch.sin(100 * x[:, 0])
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for step in range(300):
        optimizer.zero_grad()
        model.loss(problem)["loss"].backward()
        if step == 0:
            assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())
        optimizer.step()
    with torch.no_grad():
        error = (model(x) - exact).norm() / exact.norm()
    assert error < 0.2     # 0.99 at the start (U = 0); 0.09 after these 300 steps, 0.013 after 4000


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="too coarse for the requested frequency; use at least 253 points"):
        GPHM(grid=[100], freq_scale=20.0)
    with pytest.raises(ValueError, match="kernel='rbf'"):
        GPHM(kernel="rbf")
    model = GPHM(grid=[300])
    with pytest.raises(ValueError, match=r"is not the model's \(\[300\].*set model.grid"):
        model.loss(make_problem("poisson_sin", grid=[400]))
    with pytest.raises(ValueError, match=r"x must be \(B, 1\)"):
        model(torch.zeros(3, 2, dtype=torch.float64))
    GPHM(grid=[50], kernel="se")      # a single kernel has no frequency to resolve
