"""Operator-learning data made by our own PDE solvers: :mod:`~zoo.data.pde.datamodules` (Darcy, Burgers,
Navier-Stokes) and :mod:`~zoo.data.pde.solvers`."""
