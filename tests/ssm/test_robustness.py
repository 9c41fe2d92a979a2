import math

import pytest
import torch

import zoo
from zoo.ssm import S4DLayer
from zoo.ssm.robustness import fourier_noise, legs_peak_frequency


def test_peak_frequency_is_the_top_s4d_legs_mode():
    assert legs_peak_frequency(32) == pytest.approx(325.43, abs=5e-3)  # the reference's 325.4
    assert legs_peak_frequency(64) == pytest.approx(1303.27, abs=5e-3)


def test_noise_is_a_cos_of_omega_dt_k_before_every_layer():
    torch.manual_seed(0)
    layer = S4DLayer(4, 8).double().eval()
    u = torch.randn(3, 50, 4, dtype=torch.float64)
    with fourier_noise(layer, amplitude=0.1, omega=7.0, seed=5) as omega:
        noisy = layer(u)
    assert omega == 7.0
    a = 0.1 * torch.rand(3, 1, 4, generator=torch.Generator().manual_seed(5)).double()
    dt = layer.kernel.log_dt.exp()
    k = torch.arange(50, dtype=torch.float64)[:, None]
    expected = u + a * torch.cos(7.0 * dt * k)
    assert torch.allclose(noisy, layer(expected), atol=1e-12)
    assert torch.equal(layer(u), layer(u))  # the hook is gone after the block
    assert (a < 0.1).all() and math.isclose(float(expected[0, 0, 0] - u[0, 0, 0]), float(a[0, 0, 0]))


def test_default_omega_follows_the_layer_init_and_errors():
    model = zoo.create_model("s4d", d_model=8, n_layers=2, d_state=32, init="legs")
    with fourier_noise(model) as omega:
        assert omega == pytest.approx(325.43, abs=5e-3)
    with pytest.raises(ValueError, match="needs a model with S4D layers"):
        with fourier_noise(torch.nn.Linear(2, 2)):
            pass
