"""Evaluators named by configs (``configs/evaluator/``): ``evaluator(model, datamodule) -> {name: value}`` and,
where there is one, ``evaluator.plot(model, datamodule, path)``; they drive models through their public methods."""

from zoo.evaluation.base import Evaluator
from zoo.evaluation.inverse import InverseBenchmark
from zoo.evaluation.spectra import SpectraEvaluator
from zoo.evaluation.timeseries import TimeSeriesEvaluator
from zoo.evaluation.transport import EOTBenchmarkEvaluator, SinkhornEvaluator

__all__ = ["EOTBenchmarkEvaluator", "Evaluator", "InverseBenchmark", "SinkhornEvaluator", "SpectraEvaluator", "TimeSeriesEvaluator"]
