"""State space models: HiPPO matrices, S4D, S4-PTD, S5 and S5-PTD, and their Transformer baseline (LRA's) (importing this
package registers them)."""

from zoo.ssm.backbone import SequenceBackbone
from zoo.ssm.hippo import TRANSITIONS, fout, legs, legs_nplr, legs_normal, legt, low_rank, normal
from zoo.ssm.s4d import S4DKernel, S4DLayer, S4DModel, vandermonde
from zoo.ssm.s5 import S5SSM, S5Layer, S5Model, parallel_scan
from zoo.ssm.transfer import legs_transfer_function, normalised_error, transfer_function
from zoo.ssm.transformer import SelfAttention, TransformerBlock, TransformerModel, sinusoidal_positions

__all__ = [
    "S4DKernel",
    "S4DLayer",
    "S4DModel",
    "S5Layer",
    "S5Model",
    "S5SSM",
    "SelfAttention",
    "SequenceBackbone",
    "TRANSITIONS",
    "TransformerBlock",
    "TransformerModel",
    "fout",
    "legs",
    "legs_nplr",
    "legs_normal",
    "legt",
    "legs_transfer_function",
    "low_rank",
    "normal",
    "normalised_error",
    "parallel_scan",
    "sinusoidal_positions",
    "transfer_function",
    "vandermonde",
]
