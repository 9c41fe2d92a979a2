"""Relative Lp / H1 errors against closed forms, in float64."""

import math

import pytest
import torch

from zoo.metrics import RelativeH1Error, RelativeL2Error, RelativeLpError, relative_h1, relative_l2, relative_lp


def test_relative_lp_of_a_scaled_target_is_the_scale_error():
    y = torch.rand(3, 1, 8, 8, dtype=torch.float64) + 0.5
    for p in (1.0, 2.0, 4.0):
        assert relative_lp(1.25 * y, y, p).item() == pytest.approx(0.25, rel=1e-12)


def test_mean_reduction_over_samples_not_a_sum():
    y = torch.ones(2, 1, 4, 4, dtype=torch.float64)
    prediction = y * torch.tensor([1.1, 1.3], dtype=torch.float64).view(2, 1, 1, 1)
    assert relative_l2(prediction, y).item() == pytest.approx(0.2, rel=1e-12)
    metric = RelativeL2Error()
    metric.update(prediction[:1], y[:1])
    metric.update(prediction[1:], y[1:])
    assert metric.compute().item() == pytest.approx(0.2, rel=1e-6)
    assert RelativeLpError(p=1.0)(prediction, y).item() == pytest.approx(0.2, rel=1e-6)


def test_periodic_h1_matches_the_central_difference_closed_form():
    n, k, j, delta = 256, 2, 5, 0.1
    x = torch.arange(n, dtype=torch.float64) / n
    y = torch.sin(2 * math.pi * k * x).view(1, 1, n)
    error = delta * torch.sin(2 * math.pi * j * x).view(1, 1, n)
    # central differences of sin(2πjx) on spacing 1/n: n·sin(2πj/n)·cos(2πjx), so ‖∂e‖² / ‖e‖² = n² sin²(2πj/n)
    expected = delta * math.sqrt((1 + n**2 * math.sin(2 * math.pi * j / n) ** 2)
                                 / (1 + n**2 * math.sin(2 * math.pi * k / n) ** 2))
    assert relative_h1(y + error, y, periodic=True).item() == pytest.approx(expected, rel=1e-12)
    # and the continuous H1 ratio δ √((1 + 4π²j²)/(1 + 4π²k²)) to O(h²)
    continuous = delta * math.sqrt((1 + 4 * math.pi**2 * j**2) / (1 + 4 * math.pi**2 * k**2))
    assert relative_h1(y + error, y, periodic=True).item() == pytest.approx(continuous, rel=1e-2)


def test_non_periodic_h1_of_linear_fields_is_exact():
    n, c = 33, 0.2
    x = torch.linspace(0, 1, n, dtype=torch.float64)
    xx, yy = torch.meshgrid(x, x, indexing="ij")
    y = (1 + xx + 2 * yy).view(1, 1, n, n)
    error = c * xx.view(1, 1, n, n)
    # ‖e‖² = c² Σ x², ‖∇e‖² = c² n²; ‖y‖² = Σ (1 + x + 2y)², ‖∇y‖² = (1 + 4) n²
    numerator = c**2 * (xx.square().sum() + n * n)
    denominator = (1 + xx + 2 * yy).square().sum() + 5 * n * n
    expected = math.sqrt(numerator / denominator)
    assert relative_h1(y + error, y).item() == pytest.approx(expected, rel=1e-12)
    assert RelativeH1Error()(y + error, y).item() == pytest.approx(expected, rel=1e-6)


def test_shape_mismatch_is_a_clear_error():
    with pytest.raises(ValueError, match="same shape"):
        relative_l2(torch.zeros(2, 1, 4), torch.zeros(2, 1, 5))
    with pytest.raises(ValueError, match="channels, \\*spatial"):
        relative_h1(torch.zeros(2, 4), torch.zeros(2, 4))
