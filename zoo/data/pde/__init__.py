"""Operator-learning data made by our own PDE solvers: :mod:`~zoo.data.pde.datamodules` (Darcy, Burgers,
Navier-Stokes) and :mod:`~zoo.data.pde.solvers`; :mod:`~zoo.data.pde.manufactured`, high-frequency problems with
exact solutions for the collocation solvers (GP-HM, PINNs); :mod:`~zoo.data.pde.quantum_well`, 1-D quantum wells
for the eigenvalue PINN (collocation streams and reference bound states); :mod:`~zoo.data.pde.elastic_bar`, boundary
conditions of a zone of interest of a 1-D elastic bar under random impacts (WGAN-GP's submodel UQ);
:mod:`~zoo.data.pde.rom_snapshots`, Burgers and Darcy snapshot sets clustered for local reduced-order bases (ROM-net)."""
