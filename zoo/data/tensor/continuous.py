"""Synthetic tensors indexed by continuous coordinates in ``[0, 1]^K`` (FunBaT, Fang et al., ICLR 2024, Sec. 5.1).

Two generators (float64, :data:`TENSORS`):

- ``u1u5`` (K = 2, the paper's): ``f(x, y) = u₁(x) u₅(y)``, ``u₁(t) = sin²(2πt) cos(2πt)``,
  ``u₅(t) = e^{−2t} sin(1.5πt)`` (a rank-one product; root mean square ≈ 0.08 on ``[0, 1]²``).
- ``tucker3`` (K = 3): a rank-(2, 2, 2) Tucker tensor ``f(i) = Σ_{abc} W_{abc} u¹_a(i₁) u²_b(i₂) u³_c(i₃)`` with the
  smooth factors (ours; the reference notebook's ``lam_U*`` are not published in a reusable form)::

      u¹(t) = (sin(2πt), cos(πt)),    u²(t) = (e^{−t}, sin(3πt)),    u³(t) = (cos(2πt), 4t(1 − t))
      W[0] = [[1.0, 0.5], [−0.5, 0.3]],    W[1] = [[0.2, −0.8], [0.6, 1.0]]

:func:`make_tensor` draws ``n`` entries at uniform random coordinates plus ``N(0, noise²)`` noise;
:class:`ContinuousTensorDataModule` gives them as FunBaT's ``bayes_fit`` task reads them. The data are generated in
memory in milliseconds, so nothing is cached.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import Tensor

from zoo.data.base import SplitDataModule

TUCKER3_CORE = (((1.0, 0.5), (-0.5, 0.3)), ((0.2, -0.8), (0.6, 1.0)))


def u1(t: Tensor) -> Tensor:
    """``sin²(2πt) cos(2πt)``."""
    return torch.sin(2 * math.pi * t) ** 2 * torch.cos(2 * math.pi * t)


def u5(t: Tensor) -> Tensor:
    """``e^{−2t} sin(1.5πt)``."""
    return torch.exp(-2 * t) * torch.sin(1.5 * math.pi * t)


#: the latent functions of each tensor, per mode: ``t (n,) -> (n, R_k)``
FACTORS: dict[str, tuple[Callable[[Tensor], Tensor], ...]] = {
    "u1u5": (lambda t: u1(t)[:, None], lambda t: u5(t)[:, None]),
    "tucker3": (lambda t: torch.stack([torch.sin(2 * math.pi * t), torch.cos(math.pi * t)], 1),
                lambda t: torch.stack([torch.exp(-t), torch.sin(3 * math.pi * t)], 1),
                lambda t: torch.stack([torch.cos(2 * math.pi * t), 4 * t * (1 - t)], 1)),
}
#: each tensor's Tucker core (the product of the rank-one ``u1u5`` has the core 1)
CORES = {"u1u5": ((1.0,),), "tucker3": TUCKER3_CORE}
TENSORS = tuple(FACTORS)


def _check(tensor: str) -> None:
    if tensor not in FACTORS:
        raise ValueError(f"tensor={tensor!r}: expected one of {TENSORS}")


def evaluate(tensor: str, coords: Tensor) -> Tensor:
    """The noiseless entries ``(N,)`` of ``tensor`` at ``coords (N, K)``."""
    _check(tensor)
    factors = FACTORS[tensor]
    if coords.dim() != 2 or coords.shape[1] != len(factors):
        raise ValueError(f"coords must be (N, {len(factors)}) for tensor={tensor!r}, got {tuple(coords.shape)}")
    core = torch.tensor(CORES[tensor], dtype=torch.float64)
    letters = "abcdefgh"[:len(factors)]
    spec = f"{letters},{','.join('n' + letter for letter in letters)}->n"
    return torch.einsum(spec, core, *(factor(coords[:, k]) for k, factor in enumerate(factors)))


def make_tensor(tensor: str, n: int, noise: float, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """``coords (n, K)`` uniform on ``[0, 1]^K`` and noisy entries ``y (n,)``, float64."""
    _check(tensor)
    coords = torch.rand(n, len(FACTORS[tensor]), generator=generator, dtype=torch.float64)
    return coords, evaluate(tensor, coords) + noise * torch.randn(n, generator=generator, dtype=torch.float64)


def grid(modes: int, points: int) -> Tensor:
    """The ``points^K`` cell centres ``(i + ½) / points`` of ``[0, 1]^K``, ``(points^K, K)`` float64 (the last mode
    fastest)."""
    axis = (torch.arange(points, dtype=torch.float64) + 0.5) / points
    return torch.cartesian_prod(*[axis] * modes).reshape(-1, modes)


class ContinuousTensorDataModule(SplitDataModule):
    """Noisy entries of a continuous-indexed tensor (module doc) for the ``bayes_fit`` task; every split is one batch.

    - ``train``: one dict ``{"coords": (n_train, K), "y": (n_train,)}`` (``model.fit(**batch)``);
    - ``val``: one pair ``(coords (n_val, K), y (n_val,))`` of noisy entries at other random coordinates;
    - ``test``: one pair ``(coords (n_test^K, K), f (n_test^K,))``, the noiseless tensor on the grid of
      ``n_test`` cell centres per mode (:func:`grid`; 50 as in the paper).

    Float64; ``seed`` fixes the coordinates and the noise. ``batch_size`` is unused (the splits come batched) and
    kept for the common signature.
    """

    batched = True

    def __init__(self, tensor: str = "u1u5", n_train: int = 1000, n_val: int = 200, n_test: int = 50,
                 noise: float = 0.05, seed: int = 0, batch_size: int = 1, num_workers: int = 0):
        super().__init__(batch_size=batch_size, num_workers=num_workers)
        _check(tensor)
        if any(not isinstance(n, int) or n < 1 for n in (n_train, n_val, n_test)):
            raise ValueError(f"n_train, n_val and n_test (grid points per mode) must be positive integers, got "
                             f"{n_train}, {n_val}, {n_test}")
        if noise < 0:
            raise ValueError(f"noise (the standard deviation of the entries' noise) must be >= 0, got {noise}")
        self.tensor, self.n_train, self.n_val, self.n_test = tensor, n_train, n_val, n_test
        self.noise, self.seed = noise, seed

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        generator = torch.Generator().manual_seed(self.seed)
        coords, y = make_tensor(self.tensor, self.n_train, self.noise, generator)
        self.splits["train"] = [{"coords": coords, "y": y}]
        self.splits["val"] = [make_tensor(self.tensor, self.n_val, self.noise, generator)]
        test = grid(len(FACTORS[self.tensor]), self.n_test)
        self.splits["test"] = [(test, evaluate(self.tensor, test))]
