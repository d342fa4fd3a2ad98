"""TVM lowering of Gemm and MatMul (Relax matmul, permute_dims, broadcasting multiply/add)
agrees with the reference over the cases of tests/backends/test_c_dense.py: every
transA/transB, every broadcast shape of C, alpha/beta scaling; MatMul with 1-D operands and
broadcast batch axes, float32 and float64 (one build per dtype); float16; a long inner dimension."""
import importlib.util

import numpy as np
import pytest
from helpers import add, check_graph
import test_c_dense as c_dense
from test_c_dense import C_SHAPES, K, M, N, SCALES  # the C tests' grids
from test_tvm_conv import check_nodes

from cnnc.ir import Graph

pytestmark = pytest.mark.skipif(importlib.util.find_spec("tvm") is None,
                                reason="TVM backend tests need Apache TVM: pip install 'cnnc[tvm]'")


def _matmul_shapes():
    """The (A, B) shapes test_c_dense parametrizes test_matmul_c with (not copied here)."""
    mark = next(m for m in c_dense.test_matmul_c.pytestmark if m.args[0] == "a_shape,b_shape")
    return mark.args[1]


@pytest.mark.parametrize("trans_a", [0, 1])
@pytest.mark.parametrize("trans_b", [0, 1])
def test_gemm_tvm(rng, trans_a, trans_b):
    """Every C shape x scaling for one (transA, transB): 21 nodes, one build."""
    a = rng.standard_normal((K, M) if trans_a else (M, K)).astype(np.float32)
    nodes = []
    for c_shape in C_SHAPES:
        for scales in SCALES:
            b = rng.standard_normal((N, K) if trans_b else (K, N)).astype(np.float32)
            c = [] if c_shape is None else [rng.standard_normal(c_shape).astype(np.float32)]
            nodes.append(("Gemm", [b] + c, {"transA": trans_a, "transB": trans_b, **scales}))
    check_nodes(a, nodes, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matmul_tvm(rng, dtype):
    """Every (A, B) shape pair of the C tests in one graph, both operands graph inputs."""
    g, feeds = Graph("matmul"), {}
    for a_shape, b_shape in _matmul_shapes():
        add(g, feeds, "MatMul", [rng.standard_normal(a_shape).astype(dtype),
                                 rng.standard_normal(b_shape).astype(dtype)])
    tol = 1e-5 if dtype == np.float32 else 1e-12
    check_graph(g.verify(), feeds, rtol=tol, atol=tol / 10, backend="tvm")


def test_dense_tvm_float64_float16_and_long_inner_dimension(rng):
    """Gemm in float64 with every scaling, in float16; K = 3000 (float32 sums of many terms)."""
    a = rng.standard_normal((4, 7))
    check_nodes(a, [("Gemm", [rng.standard_normal((7, 3)), rng.standard_normal((4, 1))],
                     {"alpha": 0.25, "beta": 3.0}),
                    ("Gemm", [rng.standard_normal((3, 7)), rng.standard_normal(3)], {"transB": 1, "beta": 0.0}),
                    ("Gemm", [rng.standard_normal((4, 5))], {"transA": 1, "alpha": -1.5})],
                rtol=1e-12, atol=1e-12)
    h = rng.standard_normal((3, 4)).astype(np.float16)
    check_nodes(h, [("Gemm", [rng.standard_normal((2, 4)).astype(np.float16), rng.standard_normal(2).astype(np.float16)],
                     {"transB": 1, "alpha": 0.5, "beta": 2.0}),
                    ("MatMul", [rng.standard_normal((2, 4, 5)).astype(np.float16)], {})], rtol=1e-2, atol=2e-2)
    a = rng.standard_normal((4, 3000)).astype(np.float32)
    check_nodes(a, [("MatMul", [rng.standard_normal((3000, 6)).astype(np.float32)], {}),
                    ("Gemm", [rng.standard_normal((5, 3000)).astype(np.float32)], {"transB": 1}),
                    ("Gemm", [rng.standard_normal((3000, 5)).astype(np.float32)], {})],
                rtol=1e-4, atol=1e-4)
