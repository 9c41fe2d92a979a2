"""Lightning tasks, one per objective: adversarial (WGAN-GP), classification, regression, operator learning, anomaly
detection, generative, interatomic potentials, fits by a model's own inference (bayes_fit), PDE solves (pde_solve),
eigenvalue PINNs (pinn)."""

from zoo.tasks.adversarial import AdversarialTask
from zoo.tasks.anomaly import AnomalyTask
from zoo.tasks.base import ZooTask
from zoo.tasks.bayes_fit import BayesFitTask
from zoo.tasks.classification import ClassificationTask
from zoo.tasks.generative import GenerativeTask
from zoo.tasks.operator import OperatorTask
from zoo.tasks.pde_solve import PDESolveTask
from zoo.tasks.pinn import PINNTask
from zoo.tasks.potential import PotentialTask
from zoo.tasks.regression import RegressionTask

__all__ = ["AdversarialTask", "AnomalyTask", "BayesFitTask", "ClassificationTask", "GenerativeTask", "OperatorTask",
           "PDESolveTask", "PINNTask", "PotentialTask", "RegressionTask", "ZooTask"]
