"""gaunt_mace and cg_mace: E(3) invariance of the energy, forces = −∇E, locality, the cutoff, the batch, bad input."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch
from e3nn import o3  # the [equivariant] extra: rotations and the parity of the products

import zoo
from zoo.equivariant.mace import BesselBasis
from zoo.equivariant.products import CGProduct
from zoo.functional import energy_and_forces

D64 = torch.float64
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:FutureWarning")   # inside e3nn
#: ethanol (C, C, O, 6 H), Å
ETHANOL_Z = torch.tensor([6, 6, 8, 1, 1, 1, 1, 1, 1])
ETHANOL = torch.tensor([[-0.05, 0.55, 0.0], [1.23, -0.28, 0.02], [-1.16, -0.33, -0.04], [-0.10, 1.19, 0.89],
                        [-0.08, 1.21, -0.86], [2.11, 0.37, 0.04], [1.28, -0.93, 0.90], [1.27, -0.95, -0.85],
                        [-1.95, 0.21, -0.05]], dtype=D64)
MODELS = ("gaunt_mace", "cg_mace")


def molecule(pos: torch.Tensor, z: torch.Tensor = ETHANOL_Z, batch: torch.Tensor | None = None) -> SimpleNamespace:
    return SimpleNamespace(pos=pos, z=z, batch=torch.zeros_like(z) if batch is None else batch)


def build(name: str, **kwargs) -> torch.nn.Module:
    torch.manual_seed(0)
    return zoo.create_model(name, channels=8, lmax=3, radial_hidden=16, **kwargs).double()


def perturbed(seed: int = 0) -> torch.Tensor:
    return ETHANOL + 0.1 * torch.randn(ETHANOL.shape, generator=torch.Generator().manual_seed(seed), dtype=D64)


@pytest.mark.parametrize("name", MODELS)
def test_energy_is_invariant_and_forces_equivariant_under_rotations_reflections_translations(name):
    model, pos = build(name), perturbed()
    energy, forces = energy_and_forces(model, molecule(pos))
    torch.manual_seed(1)
    R = o3.rand_matrix(dtype=D64)
    for Q in (R, -R):                                        # a rotation, and a rotation times the inversion
        moved_energy, moved_forces = energy_and_forces(model, molecule(pos @ Q.T + torch.tensor([3.0, -1.0, 2.0],
                                                                                                 dtype=D64)))
        torch.testing.assert_close(moved_energy, energy, rtol=0, atol=1e-10)
        torch.testing.assert_close(moved_forces, forces @ Q.T, rtol=0, atol=1e-10)
    order = torch.randperm(len(pos), generator=torch.Generator().manual_seed(2))
    permuted_energy, permuted_forces = energy_and_forces(model, molecule(pos[order], ETHANOL_Z[order]))
    torch.testing.assert_close(permuted_energy, energy, rtol=0, atol=1e-10)
    torch.testing.assert_close(permuted_forces, forces[order], rtol=0, atol=1e-10)


@pytest.mark.parametrize("name", MODELS)
def test_forces_are_minus_the_finite_difference_gradient_of_the_energy(name):
    model, pos = build(name), perturbed(3)
    _, forces = energy_and_forces(model, molecule(pos))
    assert forces.abs().max() > 1e-3                          # a non-trivial check
    h = 1e-5
    for atom, axis in ((0, 0), (2, 1), (8, 2)):
        step = torch.zeros_like(pos)
        step[atom, axis] = h
        difference = (model(molecule(pos + step)) - model(molecule(pos - step))) / (2 * h)
        torch.testing.assert_close(-difference[0], forces[atom, axis], rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name", MODELS)
def test_a_batch_is_its_molecules_and_atoms_beyond_the_cutoff_do_not_interact(name):
    model = build(name)
    a, b = perturbed(4), perturbed(5)
    batch = molecule(torch.cat([a, b]), ETHANOL_Z.repeat(2), torch.arange(2).repeat_interleave(9))
    together = model(batch)
    torch.testing.assert_close(together, torch.cat([model(molecule(a)), model(molecule(b))]), rtol=0, atol=1e-10)
    far = molecule(torch.cat([a, b + torch.tensor([0.0, 0.0, 20.0], dtype=D64)]), ETHANOL_Z.repeat(2))
    torch.testing.assert_close(model(far), together.sum()[None], rtol=0, atol=1e-10)


def test_the_energy_is_smooth_where_a_neighbour_crosses_the_cutoff():
    model = build("gaunt_mace", cutoff=3.0)
    pair = torch.tensor([[0.0, 0.0, 0.0], [0.0, 0.0, 1.0]], dtype=D64)
    z = torch.tensor([8, 1, 1])

    def energy(distance: float) -> torch.Tensor:
        third = torch.tensor([[distance, 0.0, 0.0]], dtype=D64)
        return model(molecule(torch.cat([pair, third]), z))

    assert (energy(3.0 - 1e-4) - energy(3.0 + 1e-4)).abs() < 1e-9


def test_the_bessel_envelope_vanishes_with_its_derivative_at_the_cutoff():
    basis = BesselBasis(cutoff=4.0).double()
    r = torch.tensor([4.0 - 1e-7, 4.0, 4.5], dtype=D64, requires_grad=True)
    values = basis(r)
    assert values.abs().max() < 1e-10
    (gradient,) = torch.autograd.grad(values.sum(), r)
    assert gradient.abs().max() < 1e-5
    r0 = torch.tensor([1.3], dtype=D64)
    x = 1.3 / 4.0
    envelope = 1 - 21 * x**5 + 35 * x**6 - 15 * x**7                  # p = 5: the closed form
    expected = math.sqrt(2 / 4.0) * torch.sin(torch.arange(1, 9, dtype=D64) * math.pi * 1.3 / 4.0) / 1.3 * envelope
    torch.testing.assert_close(basis(r0)[0], expected, rtol=1e-12, atol=0)


def test_the_cg_product_keeps_the_odd_paths_a_gaunt_product_lacks():
    """``1o ⊗ 1o → 1e`` (the cross product) is in the CG many-body product and absent from Gaunt's."""
    product = CGProduct(1, 1, 1, channels=1, keep_pseudo=True)
    assert "1x1e" in str(product.irreps_out)
    torch.manual_seed(0)
    x = torch.zeros(1, 1, 4, dtype=torch.float32)
    y = torch.zeros(1, 1, 4, dtype=torch.float32)
    x[..., 1:], y[..., 1:] = torch.randn(3), torch.randn(3)
    out = product(x, y)
    pseudo = next(block for (_, ir), block in zip(product.irreps_out, product.irreps_out.slices()) if str(ir) == "1e")
    # e3nn's l=1 order is (y, z, x): the 1e part is proportional to the cross product
    xv, yv = x[0, 0, [3, 1, 2]], y[0, 0, [3, 1, 2]]
    cross = torch.linalg.cross(xv, yv)[[1, 2, 0]]
    got = out[0, pseudo]
    torch.testing.assert_close(got / got.norm(), cross / cross.norm() * torch.sign(got @ cross), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", MODELS)
def test_bad_input_is_a_clear_error(name):
    model = build(name)
    with pytest.raises(ValueError, match=r"atomic numbers \[17\] are not among the model's elements"):
        model(molecule(ETHANOL, torch.tensor([6, 6, 17, 1, 1, 1, 1, 1, 1])))
    with pytest.raises(ValueError, match=r"batch.pos must be \(N, 3\)"):
        model(molecule(ETHANOL[:, :2]))
    with pytest.raises(ValueError, match="hidden_lmax=4"):
        zoo.create_model(name, lmax=3, hidden_lmax=4)
    with pytest.raises(ValueError, match=r"lmax=41: expected an int in \[0, 40\]"):
        zoo.create_model(name, lmax=41)
    with pytest.raises(ValueError, match="correlation=0"):
        zoo.create_model(name, correlation=0)
