"""The IR spectrum of one molecule from GFN2-xTB: harmonic analysis of a relaxed geometry, Lorentzian-broadened.

QM9S (the paper's data) cannot be downloaded here, so ``scripts/build_spectra.py`` computes an IR set with a real
method: each QM9 molecule (from the PyPI wheel ``qm9pack``, B3LYP geometries; :mod:`zoo.data.spectra.qm9`) is relaxed
with GFN2-xTB (``tblite``), its Hessian ``H`` and dipole derivatives ``∂μ/∂x`` come from central finite differences of
the analytic gradient and dipole, and the harmonic analysis gives wavenumbers ``ν̃_k`` and intensities

    ``ν̃_k = √λ_k / (2πc)``, ``λ_k`` the eigenvalues of the mass-weighted Hessian ``M^{-1/2} H M^{-1/2}``
    projected off translations and rotations;
    ``A_k = (N_A π / 3c²) · |∂μ/∂Q_k|²`` (km/mol), ``∂μ/∂Q_k = Σ_i ∂μ/∂x_i · L_ik / √m_i``.

The sticks are Lorentzian-broadened, ``S(ν̃) = Σ_k A_k (γ/π) / ((ν̃ − ν̃_k)² + γ²)``, on QM9S's grid: 500–4000 cm⁻¹
at 1 cm⁻¹ (3501 points). Label results "IR-proxy (GFN2-xTB), not QM9S": GFN2 wavenumbers are unscaled harmonic
ones. Units inside the harmonic analysis are atomic (Hartree, Bohr, e·Bohr) with masses in u.
"""

from __future__ import annotations

import numpy as np

from zoo.optional import require

BOHR = 0.52917721092  # Å
#: √(Hartree / (Bohr² u)) in cm⁻¹: the wavenumber of a unit eigenvalue of the mass-weighted Hessian
HARTREE_BOHR2_AMU_TO_CM = 5140.4871
#: (e)² / u in km/mol: the IR intensity of a unit dipole derivative ∂μ/∂Q (μ in e·Bohr, Q in Bohr·√u)
E2_PER_AMU_TO_KM_MOL = 974.8801
#: most abundant isotope masses (u) of QM9's elements
MASSES = {1: 1.00782503, 6: 12.0, 7: 14.00307401, 8: 15.99491462, 9: 18.99840316}
GRID = np.arange(500.0, 4001.0, 1.0)  # cm⁻¹, 3501 points (QM9S)


def _calculator(numbers: np.ndarray, positions_bohr: np.ndarray):
    calc = require("tblite.interface").Calculator("GFN2-xTB", numbers, positions_bohr)
    calc.set("verbosity", 0)
    return calc


def relax(numbers: np.ndarray, positions: np.ndarray, gtol: float = 1e-4, max_steps: int = 300) -> np.ndarray:
    """GFN2-xTB minimum (BFGS on the analytic gradient) from ``positions (N, 3)`` Å; returns ``(N, 3)`` Å.

    ``gtol`` is the largest gradient component allowed at convergence (Hartree/Bohr).
    """
    from scipy.optimize import minimize

    calc = _calculator(numbers, positions / BOHR)
    restart = calc.singlepoint()  # each step starts its SCF from the previous density (half the cost)

    def energy_and_gradient(flat):
        calc.update(flat.reshape(-1, 3))
        result = calc.singlepoint(restart)
        return result.get("energy"), result.get("gradient").ravel()

    fit = minimize(energy_and_gradient, (positions / BOHR).ravel(), jac=True, method="BFGS",
                   options={"gtol": gtol, "maxiter": max_steps})
    return fit.x.reshape(-1, 3) * BOHR


def hessian_and_dipole_derivatives(numbers: np.ndarray, positions: np.ndarray, step: float = 5e-3):
    """Central finite differences at ``positions (N, 3)`` Å with displacement ``step`` Bohr.

    Returns ``H (3N, 3N)`` in Hartree/Bohr² (symmetrised) and ``∂μ/∂x (3N, 3)`` in e (e·Bohr per Bohr).
    Costs ``6N`` GFN2-xTB single points.
    """
    base = (positions / BOHR).ravel()
    calc = _calculator(numbers, base.reshape(-1, 3))
    restart = calc.singlepoint()  # SCF guesses from the previous displacement's density
    hessian, dipole_derivatives = np.empty((base.size, base.size)), np.empty((base.size, 3))
    for coordinate in range(base.size):
        sides = []
        for sign in (1.0, -1.0):
            shifted = base.copy()
            shifted[coordinate] += sign * step
            calc.update(shifted.reshape(-1, 3))
            result = calc.singlepoint(restart)
            sides.append((result.get("gradient").ravel(), result.get("dipole")))
        hessian[coordinate] = (sides[0][0] - sides[1][0]) / (2 * step)
        dipole_derivatives[coordinate] = (sides[0][1] - sides[1][1]) / (2 * step)
    return (hessian + hessian.T) / 2, dipole_derivatives


def rigid_motions(masses: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Orthonormal basis ``(3N, r)`` of the mass-weighted translations and rotations (r = 6, or 5 if linear)."""
    weights = np.sqrt(masses)
    centred = positions - (masses[:, None] * positions).sum(0) / masses.sum()
    vectors = []
    for axis in np.eye(3):
        vectors.append((weights[:, None] * axis[None, :]).ravel())
        vectors.append((weights[:, None] * np.cross(axis[None, :], centred)).ravel())
    u, s, _ = np.linalg.svd(np.stack(vectors, 1), full_matrices=False)
    return u[:, s > 1e-6 * s.max()]


def harmonic_analysis(numbers: np.ndarray, positions: np.ndarray, hessian: np.ndarray,
                      dipole_derivatives: np.ndarray):
    """Wavenumbers ``(3N − r,)`` cm⁻¹ (negative = imaginary) and IR intensities ``(3N − r,)`` km/mol.

    ``positions (N, 3)`` (any length unit), ``hessian (3N, 3N)`` Hartree/Bohr², ``dipole_derivatives (3N, 3)`` e.
    """
    masses = np.array([MASSES[int(z)] for z in numbers])
    inv_sqrt_m = np.repeat(masses ** -0.5, 3)
    weighted = hessian * inv_sqrt_m[:, None] * inv_sqrt_m[None, :]
    rigid = rigid_motions(masses, positions)
    internal = np.linalg.svd(rigid, full_matrices=True)[0][:, rigid.shape[1]:]  # complement of the rigid motions
    eigenvalues, vectors = np.linalg.eigh(internal.T @ weighted @ internal)
    modes = internal @ vectors  # (3N, 3N − r) mass-weighted normal coordinates L
    wavenumbers = np.sign(eigenvalues) * np.sqrt(np.abs(eigenvalues)) * HARTREE_BOHR2_AMU_TO_CM
    dmu_dq = (modes * inv_sqrt_m[:, None]).T @ dipole_derivatives  # (3N − r, 3)
    return wavenumbers, E2_PER_AMU_TO_KM_MOL * (dmu_dq ** 2).sum(1)


def lorentzian_spectrum(wavenumbers: np.ndarray, intensities: np.ndarray, hwhm: float = 10.0,
                        grid: np.ndarray = GRID) -> np.ndarray:
    """``S(ν̃) = Σ_k A_k (γ/π) / ((ν̃ − ν̃_k)² + γ²)`` on ``grid (S,)``, γ = ``hwhm`` cm⁻¹; imaginary modes dropped."""
    real = wavenumbers > 0
    offsets = grid[:, None] - wavenumbers[None, real]
    return (intensities[None, real] * (hwhm / np.pi) / (offsets ** 2 + hwhm ** 2)).sum(1)


def ir_spectrum(numbers, positions, relax_first: bool = True, hwhm: float = 10.0) -> dict:
    """The whole GFN2-xTB IR pipeline for one molecule: ``numbers (N,)`` atomic numbers, ``positions (N, 3)`` Å.

    Returns ``positions`` (the relaxed geometry, Å), ``wavenumbers`` and ``intensities`` (the sticks) and
    ``spectrum`` (the broadened spectrum on :data:`GRID`).
    """
    numbers, positions = np.asarray(numbers, dtype=np.int64), np.asarray(positions, dtype=np.float64)
    unknown = sorted(set(numbers.tolist()) - set(MASSES))
    if positions.shape != (len(numbers), 3) or unknown:
        raise ValueError(f"expected numbers (N,) of QM9 elements {sorted(MASSES)} and positions (N, 3) Å; got "
                         f"shapes {numbers.shape}, {positions.shape} and unknown elements {unknown}")
    if relax_first:
        positions = relax(numbers, positions)
    hessian, dipole_derivatives = hessian_and_dipole_derivatives(numbers, positions)
    wavenumbers, intensities = harmonic_analysis(numbers, positions, hessian, dipole_derivatives)
    return {"positions": positions, "wavenumbers": wavenumbers, "intensities": intensities,
            "spectrum": lorentzian_spectrum(wavenumbers, intensities, hwhm)}
