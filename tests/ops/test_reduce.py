"""Reduce* ops against onnx.reference (opset 21, axes as a tensor operand there, as an
attribute in cnnc) over shapes, axes, keepdims and noop_with_empty_axes."""
import numpy as np
import pytest
from helpers import assert_close, cnnc_run, onnx_run

from cnnc.ir import CnncError, Graph, TensorType

OPS = ["ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceL2", "ReduceLogSumExp",
       "ReduceProd"]

CASES = [
    # (shape, axes, keepdims, noop_with_empty_axes)
    ((5,), None, 1, 0),
    ((5,), (0,), 0, 0),
    ((3, 4), (1,), 1, 0),
    ((3, 4), (-2,), 0, 0),
    ((3, 4), None, 0, 0),
    ((3, 4), None, 1, 1),
    ((3, 4), (), 0, 1),
    ((2, 3, 4), (0, 2), 1, 0),
    ((2, 3, 4), (2, 0), 0, 0),
    ((2, 3, 4), (1, -1), 0, 1),
    ((2, 3, 4), (0, 1, 2), 1, 0),
    ((2, 3, 4, 5), (2, 3), 1, 0),
    ((2, 3, 4, 5), (1,), 0, 0),
]


def _onnx(op, x, axes, keepdims, noop):
    axes_in = None if axes is None else np.array(axes, np.int64)
    return onnx_run(op, [x, axes_in], {"keepdims": keepdims, "noop_with_empty_axes": noop})[0]


@pytest.mark.parametrize("shape,axes,keepdims,noop", CASES)
@pytest.mark.parametrize("op", OPS)
def test_reduce_float_matches_onnx(rng, op, shape, axes, keepdims, noop):
    x = rng.standard_normal(shape).astype(np.float32)
    attrs = {"axes": axes, "keepdims": keepdims, "noop_with_empty_axes": noop}
    (got,) = cnnc_run(op, [x], attrs)
    assert_close(got, _onnx(op, x, axes, keepdims, noop))


@pytest.mark.parametrize("shape,axes,keepdims,noop", CASES[2:10])
@pytest.mark.parametrize("op", [op for op in OPS if op != "ReduceLogSumExp"])
def test_reduce_int64_matches_onnx(rng, op, shape, axes, keepdims, noop):
    # small values keep ReduceProd in range; negative ones check Mean's truncation toward 0
    x = rng.integers(-4, 5, shape)
    attrs = {"axes": axes, "keepdims": keepdims, "noop_with_empty_axes": noop}
    (got,) = cnnc_run(op, [x], attrs)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, _onnx(op, x, axes, keepdims, noop))


@pytest.mark.parametrize("op", OPS)
def test_reduce_empty_extent_matches_onnx(op):
    x = np.zeros((0, 3), np.float32)
    (got,) = cnnc_run(op, [x], {"axes": (0,), "keepdims": 0})
    assert_close(got, _onnx(op, x, (0,), 0, 0))     # NaN == NaN for ReduceMean


def test_log_sum_exp_does_not_overflow(rng):
    x = rng.standard_normal((2, 3, 4)) * 10 + np.array([1000, -1000, 0])[:, None]
    x = x.astype(np.float32)
    x[0, 0, 0] = -np.inf
    (got,) = cnnc_run("ReduceLogSumExp", [x], {"axes": (2,)})
    assert np.isfinite(got).all()
    assert_close(got, _onnx("ReduceLogSumExp", x, (2,), 1, 0))


@pytest.mark.parametrize("axes,noop,stored", [
    (None, 0, (0, 1, 2)), ((), 0, (0, 1, 2)), ((-1, 0), 0, (0, 2)), (None, 1, ()), ((1,), 1, (1,)),
])
def test_axes_are_stored_explicitly(axes, noop, stored):
    g = Graph()
    x = g.add_input("x", TensorType((2, 3, 4)))
    (y,) = g.add_node("ReduceSum", [x], {"axes": axes, "noop_with_empty_axes": noop})
    assert g.node(y.node).attrs["axes"] == stored
    g.replace_attrs(y.node)                      # canonical attributes are a fixed point
    assert g.node(y.node).attrs["axes"] == stored


@pytest.mark.parametrize("op,x,attrs,msg", [
    ("ReduceSum", np.zeros((2, 3), np.float32), {"axes": (2,)},
     "axis 2 is out of range for a rank-2"),
    ("ReduceMax", np.zeros((2, 3), np.float32), {"axes": (-3,)}, "out of range"),
    ("ReduceMean", np.zeros((2, 3), np.float32), {"axes": (1, -1)},
     r"repeat an axis of a rank-2 tensor"),
    ("ReduceProd", np.zeros((2, 3), np.float32), {"keepdims": 2}, "must be one of 0, 1"),
    ("ReduceMin", np.zeros((2, 3), np.float32), {"noop_with_empty_axes": -1}, "must be one of"),
    ("ReduceL2", np.zeros((2, 3), np.float32), {"axes": 1}, "expects ints"),
    ("ReduceLogSumExp", np.zeros((2, 3), np.int64), {}, "ReduceLogSumExp needs a float"),
    ("ReduceSum", np.zeros((2, 3), bool), {}, "ReduceSum needs"),
    ("ReduceSum", np.zeros((2, 3), np.float32), {"axis": 1}, "unknown attribute"),
])
def test_rejects_bad_attributes(op, x, attrs, msg):
    with pytest.raises(CnncError, match=msg):
        cnnc_run(op, [x], attrs)
