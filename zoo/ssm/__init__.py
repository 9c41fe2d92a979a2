"""State space models: HiPPO matrices and S4D (importing this package registers ``s4d``)."""

from zoo.ssm.hippo import legs, legs_normal
from zoo.ssm.s4d import S4DKernel, S4DLayer, S4DModel

__all__ = ["S4DKernel", "S4DLayer", "S4DModel", "legs", "legs_normal"]
