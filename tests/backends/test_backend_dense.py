"""Gemm and MatMul agree with the reference on every backend of ``helpers.BACKENDS`` over the
cases of tests/ops/test_dense.py: every transA/transB, every broadcast shape of C, alpha/beta
scaling; MatMul with 1-D operands and broadcast batch axes (a constant and a run-time B),
float32 and float64; both loop orders with a longer inner dimension, and a long one (double
sums); sizes spanning several of the CUDA kernel's 64x64x16 tiles with partial ones (each
operand layout staged along its contiguous axis); float16 on TVM.  nvcc compiles the CUDA
GEMM in test_backend_conv.py's kernel-variant test."""
import numpy as np
import pytest
from helpers import add, backends, check_graph, check_nodes, only

from cnnc.ir import Graph

M, K, N = 3, 5, 4
C_SHAPES = [None, (), (N,), (1, N), (M, 1), (M, N), (1, 1)]
SCALES = [{}, {"alpha": 0.5, "beta": -2.0}, {"beta": 0.0}]
MATMUL_SHAPES = [((3, 4), (4, 5)), ((4,), (4, 5)), ((3, 4), (4,)), ((4,), (4,)), ((2, 3, 4), (4, 5)),
                 ((4,), (2, 4, 5)), ((2, 3, 4), (4,)), ((2, 3, 4), (2, 4, 5)), ((2, 1, 3, 4), (5, 4, 6)),
                 ((1, 3, 4), (2, 1, 4, 2))]


@backends
@pytest.mark.parametrize("trans_a", [0, 1])
@pytest.mark.parametrize("trans_b", [0, 1])
def test_gemm(backend, rng, trans_a, trans_b):
    """Every C shape x scaling for one (transA, transB): 21 nodes, one build."""
    a = rng.standard_normal((K, M) if trans_a else (M, K)).astype(np.float32)
    nodes = []
    for c_shape in C_SHAPES:
        for scales in SCALES:
            b = rng.standard_normal((N, K) if trans_b else (K, N)).astype(np.float32)
            c = [] if c_shape is None else [rng.standard_normal(c_shape).astype(np.float32)]
            nodes.append(("Gemm", [b] + c, {"transA": trans_a, "transB": trans_b, **scales}))
    check_nodes(a, nodes, rtol=1e-5, atol=1e-6, backend=backend)


@backends
@pytest.mark.parametrize("a_shape,b_shape", MATMUL_SHAPES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matmul(backend, rng, a_shape, b_shape, dtype):
    """B a Constant and a graph input."""
    a = rng.standard_normal(a_shape).astype(dtype)
    b = rng.standard_normal(b_shape).astype(dtype)
    g, feeds = Graph("matmul"), {}
    add(g, feeds, "MatMul", [a, b], const=[1])
    add(g, feeds, "MatMul", [a, b], name="runtime_b")
    tol = 1e-5 if dtype == np.float32 else 1e-12
    check_graph(g.verify(), feeds, rtol=tol, atol=tol / 10, backend=backend)


@backends
def test_dense_dot_products(backend, rng):
    """transB and matrix-vector products sum contiguous rows in partial sums (K = 37: full
    lanes and a remainder); transA with transB does not."""
    a = rng.standard_normal((3, 37)).astype(np.float32)
    check_nodes(a, [("Gemm", [rng.standard_normal((6, 37)).astype(np.float32)], {"transB": 1}),
                    ("Gemm", [rng.standard_normal((6, 3)).astype(np.float32)], {"transA": 1, "transB": 1}),
                    ("MatMul", [rng.standard_normal(37).astype(np.float32)], {})],
                rtol=1e-5, atol=1e-5, backend=backend)


@backends
def test_dense_long_inner_dimension(backend, rng):
    """K = 3000 (beyond LONG_REDUCTION, so float32 sums run in double), both loop orders."""
    a = rng.standard_normal((4, 3000)).astype(np.float32)
    check_nodes(a, [("MatMul", [rng.standard_normal((3000, 6)).astype(np.float32)], {}),
                    ("Gemm", [rng.standard_normal((5, 3000)).astype(np.float32)], {"transB": 1}),
                    ("Gemm", [rng.standard_normal((3000, 5)).astype(np.float32)], {})],
                rtol=1e-4, atol=1e-4, backend=backend)


@backends
def test_dense_tiles(backend, rng):
    """M, N, K spanning several 64x64x16 tiles of the CUDA kernel with partial last ones,
    each layout of A' and B' (transA, transB), a batched MatMul with a broadcast batch axis."""
    a = rng.standard_normal((70, 150)).astype(np.float32)
    check_nodes(a, [("Gemm", [rng.standard_normal((150, 130)).astype(np.float32),
                              rng.standard_normal(130).astype(np.float32)], {"alpha": 0.5}),
                    ("Gemm", [rng.standard_normal((65, 150)).astype(np.float32)], {"transB": 1}),
                    ("MatMul", [rng.standard_normal((3, 150, 66)).astype(np.float32)], {})],
                rtol=1e-4, atol=1e-4, backend=backend)
    at = rng.standard_normal((150, 70)).astype(np.float32)
    check_nodes(at, [("Gemm", [rng.standard_normal((129, 150)).astype(np.float32),
                               rng.standard_normal((70, 1)).astype(np.float32)],
                      {"transA": 1, "transB": 1, "beta": -1.0}),
                     ("Gemm", [rng.standard_normal((150, 17)).astype(np.float32)], {"transA": 1})],
                rtol=1e-4, atol=1e-4, backend=backend)


@backends
def test_dense_float64(backend, rng):
    """Gemm in float64 with every scaling."""
    a = rng.standard_normal((4, 7))
    check_nodes(a, [("Gemm", [rng.standard_normal((7, 3)), rng.standard_normal((4, 1))],
                     {"alpha": 0.25, "beta": 3.0}),
                    ("Gemm", [rng.standard_normal((3, 7)), rng.standard_normal(3)], {"transB": 1, "beta": 0.0}),
                    ("Gemm", [rng.standard_normal((4, 5))], {"transA": 1, "alpha": -1.5})],
                rtol=1e-12, atol=1e-12, backend=backend)


@only("tvm")  # float16: TVM's alone
def test_dense_tvm_only_float16(backend, rng):
    h = rng.standard_normal((3, 4)).astype(np.float16)
    check_nodes(h, [("Gemm", [rng.standard_normal((2, 4)).astype(np.float16), rng.standard_normal(2).astype(np.float16)],
                     {"transB": 1, "alpha": 0.5, "beta": 2.0}),
                    ("MatMul", [rng.standard_normal((2, 4, 5)).astype(np.float16)], {})],
                rtol=1e-2, atol=2e-2, backend=backend)
