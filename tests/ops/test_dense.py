"""Gemm and MatMul against onnx.reference on random inputs."""
import numpy as np
import pytest
from helpers import assert_close, cnnc_run, onnx_run

from cnnc.ir import CnncError

M, K, N = 3, 5, 4


@pytest.mark.parametrize("trans_a", [0, 1])
@pytest.mark.parametrize("trans_b", [0, 1])
@pytest.mark.parametrize("c_shape", [None, (), (N,), (1, N), (M, 1), (M, N), (1, 1)])
@pytest.mark.parametrize("scales", [{}, {"alpha": 0.5, "beta": -2.0}, {"beta": 0.0}])
def test_gemm_matches_onnx(rng, trans_a, trans_b, c_shape, scales):
    a = rng.standard_normal((K, M) if trans_a else (M, K)).astype(np.float32)
    b = rng.standard_normal((N, K) if trans_b else (K, N)).astype(np.float32)
    c = None if c_shape is None else rng.standard_normal(c_shape).astype(np.float32)
    attrs = {"transA": trans_a, "transB": trans_b, **scales}
    (got,) = cnnc_run("Gemm", [a, b] + ([] if c is None else [c]), attrs)
    (want,) = onnx_run("Gemm", [a, b, c], attrs)
    assert got.shape == (M, N)
    assert_close(got, want)


@pytest.mark.parametrize("a_shape,b_shape", [
    ((3, 4), (4, 5)),
    ((4,), (4, 5)),
    ((3, 4), (4,)),
    ((4,), (4,)),
    ((2, 3, 4), (4, 5)),
    ((4,), (2, 4, 5)),
    ((2, 3, 4), (4,)),
    ((2, 3, 4), (2, 4, 5)),
    ((2, 1, 3, 4), (5, 4, 6)),
    ((1, 3, 4), (2, 1, 4, 2)),
])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matmul_matches_onnx(rng, a_shape, b_shape, dtype):
    a = rng.standard_normal(a_shape).astype(dtype)
    b = rng.standard_normal(b_shape).astype(dtype)
    (got,) = cnnc_run("MatMul", [a, b])
    (want,) = onnx_run("MatMul", [a, b])
    assert got.shape == np.matmul(a, b).shape
    assert_close(got, want)


F = np.float32


@pytest.mark.parametrize("shapes,attrs,msg", [
    (((3, 5), (4, 4)), {}, r"A \(3, 5\) .*K=5, B \(4, 4\) .*K=4"),
    (((5, 3), (5, 4)), {}, "inner dimensions differ"),
    (((3, 5), (5, 4), (3, 4, 1)), {}, r"C \(3, 4, 1\) does not broadcast to the output "
                                      r"shape \(3, 4\)"),
    (((3, 5), (5, 4), (2,)), {}, r"C \(2,\) does not broadcast"),
    (((3, 5, 1), (5, 4)), {}, "must be matrices"),
    (((3, 5), (5, 4)), {"transA": 2}, "must be one of"),
])
def test_gemm_rejects_bad_input(shapes, attrs, msg):
    with pytest.raises(CnncError, match=msg):
        cnnc_run("Gemm", [np.zeros(s, F) for s in shapes], attrs)


@pytest.mark.parametrize("a_shape,b_shape,dtypes,msg", [
    ((3, 4), (5, 6), (F, F), r"cannot multiply A \(3, 4\) by B \(5, 6\)"),
    ((4,), (3,), (F, F), r"cannot multiply A \(4,\) by B \(3,\)"),
    ((2, 3, 4), (3, 4, 5), (F, F), r"batch axes of A \(2, 3, 4\) and B \(3, 4, 5\)"),
    ((), (3,), (F, F), "rank >= 1"),
    ((3, 4), (4, 5), (F, np.float64), "share one dtype"),
    ((3, 4), (4, 5), (np.int64, np.int64), "float tensor"),
])
def test_matmul_rejects_bad_input(a_shape, b_shape, dtypes, msg):
    with pytest.raises(CnncError, match=msg):
        cnnc_run("MatMul", [np.zeros(a_shape, dtypes[0]), np.zeros(b_shape, dtypes[1])])


def test_flops():
    """2 * M * K * N (+ the C term's adds): what the profile's GFLOP/s and `show --summary` use."""
    from cnnc.ir import TensorType, get_op
    gemm, matmul = get_op("Gemm"), get_op("MatMul")
    t = TensorType
    a = gemm.make_attrs({"transA": 1}, [t((5, 3)), t((5, 7)), t((7,))])
    assert gemm.cost([t((5, 3)), t((5, 7)), t((7,))], a, [t((3, 7))]) == 2 * 3 * 5 * 7 + 3 * 7
    assert matmul.cost([t((2, 4, 5)), t((5, 6))], matmul.make_attrs({}, [t((2, 4, 5)), t((5, 6))]), [t((2, 4, 6))]) == 2 * 48 * 5
