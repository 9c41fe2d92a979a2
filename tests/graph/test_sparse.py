import pytest
import torch
import torch.nn.functional as F

import zoo
from zoo.graph.sparse import csr_matrix, sparse_product
from zoo.registry import model_info


def csr(dense: torch.Tensor) -> torch.Tensor:
    rows, cols = dense.nonzero(as_tuple=True)  # row-major
    return csr_matrix(F.pad(torch.cumsum(torch.bincount(rows, minlength=dense.shape[0]), 0), (1, 0)), cols,
                      dense[rows, cols])


def test_sparse_product_and_its_gradient_are_the_dense_ones():
    generator = torch.Generator().manual_seed(0)
    dense = torch.randn(6, 6, generator=generator, dtype=torch.float64) * (torch.rand(6, 6, generator=generator) < 0.4)
    operator = csr(dense), csr(dense.T)
    h = torch.randn(6, 3, generator=generator, dtype=torch.float64, requires_grad=True)
    torch.testing.assert_close(sparse_product(h, operator), dense @ h, rtol=1e-12, atol=1e-12)
    assert torch.autograd.gradcheck(lambda h: sparse_product(h, operator), (h,))


@pytest.mark.parametrize("name", ["spe_gine", "rqgnn"])
def test_graph_models_train_under_bfloat16_autocast(name):
    """The sparse products run in float32 inside autocast (CPU has no bfloat16 sparse kernel)."""
    torch.manual_seed(0)
    model = zoo.create_model(name)
    inputs, shape = model_info(name).example(model)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(inputs)
    assert out.dtype == torch.bfloat16 and tuple(out.shape) == tuple(shape)
    out.float().square().mean().backward()
    assert all(torch.isfinite(param.grad).all() for param in model.parameters() if param.grad is not None)
