"""Lightning tasks, one per objective: classification, regression, operator learning, anomaly detection, generative,
interatomic potentials."""

from zoo.tasks.anomaly import AnomalyTask
from zoo.tasks.base import ZooTask
from zoo.tasks.classification import ClassificationTask
from zoo.tasks.generative import GenerativeTask
from zoo.tasks.operator import OperatorTask
from zoo.tasks.potential import PotentialTask
from zoo.tasks.regression import RegressionTask

__all__ = ["AnomalyTask", "ClassificationTask", "GenerativeTask", "OperatorTask", "PotentialTask", "RegressionTask", "ZooTask"]
