"""Molecular-dynamics data for interatomic potentials: BAOAB Langevin dynamics on GFN2-xTB
(:mod:`~zoo.data.md.dynamics`) and the sharded build and datamodule of its frames (:mod:`~zoo.data.md.datamodule`)."""
