"""Neural operators: spectral convolutions (dense and factorised), FNO / TFNO / MG-TFNO, T1 and LSM.

Every model maps ``(batch, in_channels, *spatial)`` to ``(batch, out_channels, *spatial)``; importing this
package registers them in :mod:`zoo.registry`.
"""

from zoo.operators.lsm import LSM, NeuralSpectralBlock
from zoo.operators.fno import FNO, FNOBlock
from zoo.operators.multigrid import MultigridPatching
from zoo.operators.spectral import FactorizedWeight, JointFactorizedWeight, SpectralConv
from zoo.operators.t1 import T1, T1Layer

__all__ = ["LSM", "NeuralSpectralBlock", "FNO", "FNOBlock", "FactorizedWeight", "JointFactorizedWeight",
           "MultigridPatching", "SpectralConv", "T1", "T1Layer"]
