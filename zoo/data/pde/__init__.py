"""Operator-learning data made by our own PDE solvers: :mod:`~zoo.data.pde.datamodules` (Darcy, Burgers,
Navier-Stokes) and :mod:`~zoo.data.pde.solvers`; :mod:`~zoo.data.pde.manufactured`, high-frequency problems with
exact solutions for the collocation solvers (GP-HM, PINNs); :mod:`~zoo.data.pde.quantum_well`, 1-D quantum wells
for the eigenvalue PINN (collocation streams and reference bound states)."""
