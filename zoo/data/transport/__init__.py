"""Unpaired samples for entropic OT and Schrödinger bridges (:mod:`~zoo.data.transport.pairs`): the Gaussian-mixture
EOT benchmark (:mod:`~zoo.data.transport.eot_benchmark`) and 2-D toy targets (:mod:`~zoo.data.transport.toy2d`)."""
