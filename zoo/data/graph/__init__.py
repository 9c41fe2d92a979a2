"""Graph data sets, batches of PyG graphs: cycle counting (:mod:`~zoo.data.graph.cycles`), rdkit's bundled molecules
(:mod:`~zoo.data.graph.rdkit_molecules`), ZINC (:mod:`~zoo.data.graph.zinc`), graph-level anomalies
(:mod:`~zoo.data.graph.anomaly`, :mod:`~zoo.data.graph.tu_screens`)."""
