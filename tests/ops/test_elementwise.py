"""Broadcasting elementwise ops against onnx.reference on random inputs, over several
broadcast patterns and dtypes."""
import numpy as np
import pytest
from helpers import assert_close, cnnc_run, onnx_run

from cnnc.ir import CnncError


def run(op, ins, attrs=None):
    """cnnc_run with rank-0 operands as Constants: CompiledModel.check_feeds passes feeds
    through np.ascontiguousarray, which turns a 0-d array into shape (1,)."""
    return cnnc_run(op, ins, attrs, const=[i for i, a in enumerate(ins) if np.ndim(a) == 0])


PAIRS = [
    ((3, 4), (3, 4)),
    ((2, 3, 4), (4,)),
    ((2, 1, 4), (3, 1)),
    ((1,), (2, 3)),
    ((), (2, 3)),
    ((5,), ()),
    ((2, 3, 1, 5), (3, 4, 1)),
]


def _operands(rng, op, sa, sb, dtype):
    """Random operands in each op's domain: non-zero divisors, positive float bases."""
    if np.dtype(dtype).kind == "i":
        a = rng.integers(-20, 21, sa).astype(dtype)
        b = rng.integers(-20, 21, sb).astype(dtype)
        if op == "Div":
            b[b == 0] = 7
        if op == "Pow":
            a, b = rng.integers(-5, 6, sa).astype(dtype), rng.integers(0, 6, sb).astype(dtype)
        return a, b
    a = rng.standard_normal(sa).astype(dtype)
    b = rng.standard_normal(sb).astype(dtype)
    if op == "Div":
        b = (np.sign(b) + (b == 0)) * rng.uniform(0.5, 2, sb).astype(dtype)
    if op == "Pow":
        a = np.abs(a) + dtype(0.5)
    return a, b


@pytest.mark.parametrize("sa,sb", PAIRS)
@pytest.mark.parametrize("op", ["Add", "Sub", "Mul", "Div", "Pow"])
def test_binary_float_matches_onnx(rng, op, sa, sb):
    ins = _operands(rng, op, sa, sb, np.float32)
    (got,) = run(op, ins)
    (want,) = onnx_run(op, ins)
    assert_close(got, want)


@pytest.mark.parametrize("sa,sb", PAIRS[:4])
@pytest.mark.parametrize("op", ["Add", "Sub", "Mul", "Div", "Pow"])
def test_binary_int64_matches_onnx(rng, op, sa, sb):
    ins = _operands(rng, op, sa, sb, np.int64)
    (got,) = run(op, ins)
    (want,) = onnx_run(op, ins)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, want)


def test_int_div_truncates_toward_zero():
    a = np.array([7, -7, 7, -7, 6, -1], np.int64)
    b = np.array([2, 2, -2, -2, 3, 4], np.int64)
    (got,) = run("Div", [a, b])
    np.testing.assert_array_equal(got, [3, -3, -3, 3, 2, 0])
    np.testing.assert_array_equal(got, onnx_run("Div", [a, b])[0])


def test_int_pow_negative_exponent_matches_ort():
    # onnx.reference raises on integer ** negative integer (numpy refuses); onnxruntime
    # computes std::pow in double and truncates, which cnnc matches
    a = np.array([2, -1, 1, 3, -2, 5], np.int64)
    b = np.array([-1, -3, -2, 2, 3, 0], np.int64)
    (got,) = run("Pow", [a, b])
    (want,) = onnx_run("Pow", [a, b], runtime="ort")
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("base,exp", [("float32", "int64"), ("float32", "float64"),
                                      ("float64", "float32"), ("int64", "int32")])
def test_pow_mixed_dtypes_keep_base_dtype(rng, base, exp):
    x = (rng.uniform(0.5, 2, (2, 3, 4)) * (3 if base == "int64" else 1)).astype(base)
    y = rng.integers(0, 4, (3, 1)).astype(exp)
    (got,) = run("Pow", [x, y])
    (want,) = onnx_run("Pow", [x, y])
    assert got.dtype == np.dtype(base)
    assert_close(got, want)


@pytest.mark.parametrize("dtype", ["float16", "float64", "int32", "int8", "uint8"])
@pytest.mark.parametrize("op", ["Add", "Sub", "Mul"])
def test_binary_other_dtypes(rng, op, dtype):
    a = rng.integers(0, 10, (2, 3, 4)).astype(dtype)
    b = rng.integers(0, 10, (3, 1)).astype(dtype)
    (got,) = run(op, [a, b])
    (want,) = onnx_run(op, [a, b])
    assert got.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("sa,sb", PAIRS)
@pytest.mark.parametrize("op", ["Equal", "Greater", "Less"])
@pytest.mark.parametrize("dtype", ["float32", "int64"])
def test_compare_matches_onnx(rng, op, sa, sb, dtype):
    # small integers make equal pairs common, so every comparison outcome occurs
    a = rng.integers(-2, 3, sa).astype(dtype)
    b = rng.integers(-2, 3, sb).astype(dtype)
    (got,) = run(op, [a, b])
    (want,) = onnx_run(op, [a, b])
    assert got.dtype == np.bool_
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("sa,sb", PAIRS)
@pytest.mark.parametrize("op", ["And", "Equal"])
def test_bool_binary_matches_onnx(rng, op, sa, sb):
    a, b = rng.random(sa) < 0.5, rng.random(sb) < 0.5
    (got,) = run(op, [np.asarray(a), np.asarray(b)])
    (want,) = onnx_run(op, [np.asarray(a), np.asarray(b)])
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("shape", [(), (5,), (2, 3), (2, 3, 4)])
def test_not_matches_onnx(rng, shape):
    x = np.asarray(rng.random(shape) < 0.5)
    (got,) = run("Not", [x])
    np.testing.assert_array_equal(got, onnx_run("Not", [x])[0])


@pytest.mark.parametrize("shapes", [
    [(3, 4)] * 3,
    [(2, 1, 4), (3, 1), (4,)],
    [(), (2, 3), (2, 1)],
    [(5,)],
    [(2, 3, 4), (1, 3, 1), (4,), (2, 1, 1)],
])
@pytest.mark.parametrize("op", ["Max", "Min", "Sum", "Mean"])
def test_variadic_float_matches_onnx(rng, op, shapes):
    ins = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    (got,) = run(op, ins)
    # onnx.reference's Mean adds in place into a copy of the first operand, so it fails when
    # that operand is smaller than the broadcast result; onnxruntime broadcasts correctly
    (want,) = onnx_run(op, ins, runtime="ort" if op == "Mean" else "reference")
    assert_close(got, want)


@pytest.mark.parametrize("op", ["Max", "Min"])
def test_variadic_int64_matches_onnx(rng, op):
    ins = [rng.integers(-100, 100, s) for s in [(2, 1, 4), (3, 1), (4,)]]
    (got,) = run(op, ins)
    np.testing.assert_array_equal(got, onnx_run(op, ins)[0])


@pytest.mark.parametrize("shapes", [
    [(3, 4), (3, 4), (3, 4)],
    [(3, 1), (1, 4), (4,)],
    [(2, 3, 4), (), (3, 1)],
    [(), (), ()],
])
@pytest.mark.parametrize("dtype", ["float32", "int64"])
def test_where_matches_onnx(rng, shapes, dtype):
    cond = np.asarray(rng.random(shapes[0]) < 0.5)
    x = rng.integers(-9, 10, shapes[1]).astype(dtype)
    y = rng.integers(-9, 10, shapes[2]).astype(dtype)
    (got,) = run("Where", [cond, x, y])
    (want,) = onnx_run("Where", [cond, x, y])
    assert got.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("op,ins,msg", [
    ("Add", [np.zeros((3, 4), np.float32), np.zeros((5,), np.float32)],
     r"\(3, 4\), \(5,\) do not broadcast"),
    ("Mul", [np.zeros(3, np.float32), np.zeros(3, np.int64)], "share one dtype"),
    ("Sub", [np.zeros(3, bool), np.zeros(3, bool)], "must have dtype"),
    ("Pow", [np.zeros(3, np.uint8), np.zeros(3, np.float32)], "base X must have dtype"),
    ("Pow", [np.zeros(3, np.float32), np.zeros(3, bool)], "exponent Y must have dtype"),
    ("Greater", [np.zeros(3, bool), np.zeros(3, bool)], "must have dtype"),
    ("And", [np.zeros(3, np.float32), np.zeros(3, np.float32)], "must have dtype bool"),
    ("Sum", [np.zeros(3, np.int64), np.zeros(3, np.int64)], "must have dtype"),
    ("Mean", [np.zeros(3, np.float32), np.zeros(3, np.float64)], "data_1: f64"),
    ("Max", [np.zeros((2, 3), np.float32), np.zeros((3,), np.float32), np.zeros((2,), np.float32)],
     "do not broadcast"),
    ("Max", [], "at least 1"),
    ("Add", [np.zeros(3, np.float32)], "takes 2"),
    ("Not", [np.zeros(3, np.float32)], "X must have dtype bool"),
    ("Where", [np.zeros(3, np.float32), np.zeros(3, np.float32), np.zeros(3, np.float32)],
     "condition must have dtype bool"),
    ("Where", [np.zeros(3, bool), np.zeros(3, np.float32), np.zeros(3, np.int64)],
     "share one dtype"),
    ("Where", [np.zeros(4, bool), np.zeros(3, np.float32), np.zeros(3, np.float32)],
     "do not broadcast"),
])
def test_rejects_bad_operands(op, ins, msg):
    with pytest.raises(CnncError, match=msg):
        run(op, ins)
