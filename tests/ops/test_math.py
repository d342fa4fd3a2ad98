"""Unary math ops and Cast against onnx.reference on random inputs."""
import numpy as np
import pytest
from helpers import assert_close, cnnc_run, onnx_run
from onnx import helper

from cnnc.ir import CnncError

SHAPES = [(7,), (3, 5), (2, 3, 4), (1, 2, 3, 4)]

# op: maps standard-normal samples into the op's domain
DOMAIN = {
    "Sqrt": lambda x: np.abs(x),
    "Exp": lambda x: x,
    "Log": lambda x: np.abs(x) + 0.01,
    "Erf": lambda x: x,
    "Neg": lambda x: x,
    "Abs": lambda x: x,
    "Reciprocal": lambda x: np.sign(x) * (np.abs(x) + 0.1),
    "Floor": lambda x: 3 * x,
    "Ceil": lambda x: 3 * x,
}


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("op", list(DOMAIN))
def test_unary_float_matches_onnx(rng, op, dtype, shape):
    x = DOMAIN[op](rng.standard_normal(shape)).astype(dtype)
    (got,) = cnnc_run(op, [x])
    (want,) = onnx_run(op, [x])
    assert got.dtype == np.dtype(dtype)
    assert_close(got, want)


@pytest.mark.parametrize("dtype", ["int64", "int32", "int8"])
@pytest.mark.parametrize("op", ["Neg", "Abs"])
def test_neg_abs_int_match_onnx(rng, op, dtype):
    x = rng.integers(-100, 100, (3, 4)).astype(dtype)
    (got,) = cnnc_run(op, [x])
    (want,) = onnx_run(op, [x])
    assert got.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("src,to", [
    ("float32", "int64"), ("float32", "int32"), ("float32", "float16"), ("float32", "float64"),
    ("float32", "bool"), ("float64", "float32"), ("int64", "float32"), ("int64", "int8"),
    ("uint8", "float32"), ("bool", "float32"), ("bool", "int64"), ("int32", "int64"),
    ("float32", "float32"),
])
def test_cast_matches_onnx(rng, src, to):
    x = (rng.standard_normal((2, 3, 4)) * 50)
    x = (x > 0) if src == "bool" else np.abs(x).astype(src) if src == "uint8" else x.astype(src)
    x[0, 0, :2] = 0                           # zeros matter for casts to bool
    (got,) = cnnc_run("Cast", [x], {"to": to})
    (want,) = onnx_run("Cast", [x], {"to": helper.np_dtype_to_tensor_dtype(np.dtype(to))})
    assert got.dtype == np.dtype(to)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("op,x,attrs,msg", [
    ("Sqrt", np.zeros(3, np.int64), {},
     r"Sqrt needs a float32 or float64 or float16 input; got i64\[3\]"),
    ("Erf", np.zeros(3, bool), {}, "Erf needs a float"),
    ("Neg", np.zeros(3, np.uint8), {}, "Neg needs"),
    ("Abs", np.zeros(3, bool), {}, "Abs needs"),
    ("Cast", np.zeros(3, np.float32), {}, "missing required attribute 'to'"),
    ("Cast", np.zeros(3, np.float32), {"to": "float"}, "must be one of"),
    ("Cast", np.zeros(3, np.float32), {"to": 1}, "expects str"),
])
def test_rejects_bad_input(op, x, attrs, msg):
    with pytest.raises(CnncError, match=msg):
        cnnc_run(op, [x], attrs)
