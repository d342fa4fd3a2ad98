"""C kernels of Gemm and MatMul agree with the reference over the cases of
tests/ops/test_dense.py: every transA/transB, every broadcast shape of C, alpha/beta
scaling; MatMul with 1-D operands and broadcast batch axes, float32 and float64; both
loop orders with a longer inner dimension, and a long one (double sums)."""
import numpy as np
import pytest
from helpers import backend_check, check_nodes

M, K, N = 3, 5, 4
C_SHAPES = [None, (), (N,), (1, N), (M, 1), (M, N), (1, 1)]
SCALES = [{}, {"alpha": 0.5, "beta": -2.0}, {"beta": 0.0}]
MATMUL_SHAPES = [((3, 4), (4, 5)), ((4,), (4, 5)), ((3, 4), (4,)), ((4,), (4,)), ((2, 3, 4), (4, 5)),
                 ((4,), (2, 4, 5)), ((2, 3, 4), (4,)), ((2, 3, 4), (2, 4, 5)), ((2, 1, 3, 4), (5, 4, 6)),
                 ((1, 3, 4), (2, 1, 4, 2))]


@pytest.mark.parametrize("trans_a", [0, 1])
@pytest.mark.parametrize("trans_b", [0, 1])
def test_gemm_c(rng, trans_a, trans_b):
    """Every C shape x scaling for one (transA, transB): 21 nodes, one build."""
    a = rng.standard_normal((K, M) if trans_a else (M, K)).astype(np.float32)
    nodes = []
    for c_shape in C_SHAPES:
        for scales in SCALES:
            b = rng.standard_normal((N, K) if trans_b else (K, N)).astype(np.float32)
            c = [] if c_shape is None else [rng.standard_normal(c_shape).astype(np.float32)]
            nodes.append(("Gemm", [b] + c, {"transA": trans_a, "transB": trans_b, **scales}))
    check_nodes(a, nodes, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("a_shape,b_shape", MATMUL_SHAPES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matmul_c(rng, a_shape, b_shape, dtype):
    a = rng.standard_normal(a_shape).astype(dtype)
    b = rng.standard_normal(b_shape).astype(dtype)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    backend_check("MatMul", [a, b], const=[1], rtol=tol, atol=tol / 10)


def test_dense_c_dot_products(rng):
    """transB and matrix-vector products sum contiguous rows in partial sums (K = 37: full
    lanes and a remainder); transA with transB does not."""
    a = rng.standard_normal((3, 37)).astype(np.float32)
    check_nodes(a, [("Gemm", [rng.standard_normal((6, 37)).astype(np.float32)], {"transB": 1}),
                    ("Gemm", [rng.standard_normal((6, 3)).astype(np.float32)], {"transA": 1, "transB": 1}),
                    ("MatMul", [rng.standard_normal(37).astype(np.float32)], {})],
                rtol=1e-5, atol=1e-5)


def test_dense_c_long_inner_dimension(rng):
    """K = 3000 (beyond LONG_REDUCTION, so float32 sums run in double), both loop orders."""
    a = rng.standard_normal((4, 3000)).astype(np.float32)
    check_nodes(a, [("MatMul", [rng.standard_normal((3000, 6)).astype(np.float32)], {}),
                    ("Gemm", [rng.standard_normal((5, 3000)).astype(np.float32)], {"transB": 1}),
                    ("Gemm", [rng.standard_normal((3000, 5)).astype(np.float32)], {})],
                rtol=1e-4, atol=1e-4)
