"""Sequence data sets: images read pixel by pixel (:mod:`~zoo.data.sequence.images`), LRA ListOps
(:mod:`~zoo.data.sequence.listops`), time series for generative models (:mod:`~zoo.data.sequence.timeseries`)."""
