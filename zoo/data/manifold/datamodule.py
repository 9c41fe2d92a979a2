"""Vector fields on point-cloud manifolds, split for super-resolution or inpainting, for models fitted by
``model.fit(**batch)`` (the ``bayes_fit`` task; RVGP).

Splits of the ``n`` nodes (``seed``):

* ``superres``: a random ``train_fraction`` of the nodes are observed; the model predicts the rest.
* ``inpaint``: a cap, the nodes within chord distance ``cap_radius`` of its centre, is masked; a random
  ``train_fraction`` of the nodes outside it are observed, and the model predicts the cap. The centre is the field's
  first singularity (:func:`~zoo.data.manifold.vector_fields.singularities`: the north pole for the sphere's
  rotation, ``e_x`` for its gradient field, ``(u, v) = (0, π/2)`` on the torus), so the cap holds exactly one (up to
  ``cap_radius`` 0.8); for the random field, the first zero that
  :func:`zoo.metrics.vector_fields.field_singularities` finds on the true field (winding numbers in the exact
  frames); a field without zeros (the torus rotation) is masked around a random node.
"""

from __future__ import annotations

import numpy as np
import torch

from zoo.data.base import SplitDataModule
from zoo.data.manifold.vector_fields import FIELDS, exact_frames, manifold_points, singularities, vector_field
from zoo.metrics.vector_fields import field_singularities

SPLITS = ("superres", "inpaint")


def cap_center(manifold: str, field: str, points: np.ndarray, vectors: np.ndarray,
               rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """The inpainting cap's centre ``(3,)`` and the index of the singularity there (0: none) (module doc);
    ``vectors (n, 3)`` the field at ``points (n, 3)``."""
    locations, indices = singularities(manifold, field)
    if not len(locations):
        locations, indices = field_singularities(points, vectors, exact_frames(manifold, points))
    if len(locations):
        return locations[0], int(indices[0])
    return points[rng.integers(len(points))], 0


def split_nodes(points: np.ndarray, split: str, train_fraction: float, rng: np.random.Generator,
                center: np.ndarray | None = None, cap_radius: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """``(train_idx (n_train,), test_idx (m,))``, sorted, of ``points (n, 3)`` (module doc; ``center (3,)`` and
    ``cap_radius`` for ``inpaint``)."""
    n = len(points)
    if split == "superres":
        candidates, test = np.arange(n), None
    else:
        inside = np.linalg.norm(points - center, axis=1) < cap_radius
        candidates, test = np.flatnonzero(~inside), np.flatnonzero(inside)
    train = np.sort(rng.choice(candidates, size=max(1, round(train_fraction * len(candidates))), replace=False))
    return train, (np.setdiff1d(np.arange(n), train) if test is None else test)


class ManifoldVectorsDataModule(SplitDataModule):
    """One tangent field on the sphere or the torus (:mod:`zoo.data.manifold.vector_fields`), split (module doc).

    Items, float64, each split one item (``batched``): ``train`` the dict ``{"points": (n, 3), "train_idx":
    (n_train,) long, "vectors": (n_train, 3)}`` for ``model.fit(**batch)``; ``val`` and ``test`` the tuple
    ``(idx (m,) long, vectors (m, 3))`` of the held-out nodes (the same nodes: a model fitted by its marginal
    likelihood selects nothing on ``val``). ``self.points (n, 3)`` and ``self.field (n, 3)`` keep the whole field,
    ``self.center (3,)`` and ``self.center_index`` the inpainting cap's centre and the index of its singularity
    (``None`` and 0 for ``superres``).
    """

    batched = True

    def __init__(self, manifold: str = "sphere", field: str = "rotation", split: str = "superres",
                 n_points: int | None = None, train_fraction: float = 0.2, cap_radius: float = 0.5,
                 diffusion_time: float = 3.0, seed: int = 0, num_workers: int = 0):
        super().__init__(batch_size=1, num_workers=num_workers)
        if field not in FIELDS:
            raise ValueError(f"field={field!r}: expected one of {FIELDS}")
        if split not in SPLITS:
            raise ValueError(f"split={split!r}: expected one of {SPLITS}")
        if not 0 < train_fraction < 1 or cap_radius <= 0 or diffusion_time <= 0:
            raise ValueError(f"train_fraction must lie in (0, 1) and cap_radius and diffusion_time be positive, got "
                             f"{train_fraction}, {cap_radius}, {diffusion_time}")
        self.manifold, self.field_name, self.split, self.seed = manifold, field, split, seed
        self.n_points, self.train_fraction, self.cap_radius, self.diffusion_time = (n_points, train_fraction,
                                                                                    cap_radius, diffusion_time)
        manifold_points(manifold, 4)   # checks the manifold's name now

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        rng = np.random.default_rng(self.seed)
        self.points = manifold_points(self.manifold, self.n_points, seed=self.seed)
        self.field = vector_field(self.manifold, self.field_name, self.points, seed=self.seed, time=self.diffusion_time)
        self.center, self.center_index = (cap_center(self.manifold, self.field_name, self.points, self.field, rng)
                                          if self.split == "inpaint" else (None, 0))
        train, test = split_nodes(self.points, self.split, self.train_fraction, rng, self.center, self.cap_radius)
        points, field = torch.from_numpy(self.points), torch.from_numpy(self.field)
        train, test = torch.from_numpy(train), torch.from_numpy(test)
        self.splits["train"] = [{"points": points, "train_idx": train, "vectors": field[train]}]
        self.splits["val"] = self.splits["test"] = [(test, field[test])]
