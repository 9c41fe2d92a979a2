"""Tangent vector fields on point-cloud manifolds (sphere, torus) for RVGP: closed-form and diffused random fields,
super-resolution and inpainting splits."""

from zoo.data.manifold.datamodule import ManifoldVectorsDataModule
from zoo.data.manifold.vector_fields import manifold_points, normals, singularities, vector_field

__all__ = ["ManifoldVectorsDataModule", "manifold_points", "normals", "singularities", "vector_field"]
