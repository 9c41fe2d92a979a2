"""PDE solvers and random-field generators that make the neural-operator data sets offline.

- :mod:`~zoo.data.pde.solvers.grf`: Gaussian random fields ``sigma^2 (-Delta + tau^2)^(-alpha)`` (periodic or
  Neumann; 1-D and 2-D).
- :mod:`~zoo.data.pde.solvers.darcy`: ``-div(a grad u) = f`` on the unit square, 5-point FD + sparse LU.
- :mod:`~zoo.data.pde.solvers.burgers`: periodic viscous Burgers, Fourier pseudo-spectral + ETDRK4.
- :mod:`~zoo.data.pde.solvers.navier_stokes`: 2-D vorticity NS on the torus, pseudo-spectral, Crank-Nicolson +
  Adams-Bashforth 2, batched in torch.
- :mod:`~zoo.data.pde.solvers.elastic_bar`: the 1-D elastic bar ``rho u_tt = (E(x) u_x)_x + f`` under random impacts
  (leapfrog, lognormal GRF stiffness) and the Dirichlet-driven submodel of its zone of interest, batched in numpy.
"""

from zoo.data.pde.solvers.burgers import burgers_initial_condition, solve_burgers
from zoo.data.pde.solvers.darcy import darcy_coefficient, solve_darcy
from zoo.data.pde.solvers.elastic_bar import lognormal_stiffness, sample_impacts, solve_bar, solve_submodel
from zoo.data.pde.solvers.grf import gaussian_random_field
from zoo.data.pde.solvers.navier_stokes import (advection, fno_forcing, solve_navier_stokes, velocity,
                                                vorticity_initial_condition)

__all__ = [
    "advection", "burgers_initial_condition", "darcy_coefficient", "fno_forcing", "gaussian_random_field",
    "lognormal_stiffness", "sample_impacts", "solve_bar", "solve_burgers", "solve_darcy", "solve_navier_stokes",
    "solve_submodel", "velocity", "vorticity_initial_condition",
]
