"""Low-rank compression of the Linear layers of any ``nn.Module``: FWSVD (Fisher-weighted SVD) and plain SVD.

    from zoo.compress import fisher_information, fwsvd, svd
    I_W = fisher_information(model, train_loader, F.cross_entropy, max_batches=16)   # {name: (out, in)}
    fwsvd(model, I_W, ratio=0.5)          # every nn.Linear -> FactorizedLinear, in place
    zoo.save_pretrained(model, "compressed/")   # zoo.load_model("compressed/") rebuilds the factorised shapes

FWSVD (Hsu et al., "Language model compression with weighted low-rank factorization", ICLR 2022) is the subject
of a patent application by its authors (US 2023/0106213 A1); :mod:`zoo.compress.fwsvd` has the method.
"""

from zoo.compress.factorized import FactorizedLinear
from zoo.compress.fwsvd import (fisher_information, fwsvd, linear_layers, parameter_counts, reconstruction_error,
                                svd)

__all__ = ["FactorizedLinear", "fisher_information", "fwsvd", "linear_layers", "parameter_counts",
           "reconstruction_error", "svd"]
