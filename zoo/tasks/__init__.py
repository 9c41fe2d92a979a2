"""Lightning tasks, one per objective: classification, regression, operator learning, generative."""

from zoo.tasks.base import ZooTask
from zoo.tasks.classification import ClassificationTask
from zoo.tasks.generative import GenerativeTask
from zoo.tasks.operator import OperatorTask
from zoo.tasks.regression import RegressionTask

__all__ = ["ClassificationTask", "GenerativeTask", "OperatorTask", "RegressionTask", "ZooTask"]
