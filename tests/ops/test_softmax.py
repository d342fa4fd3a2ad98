"""Softmax and LogSoftmax against onnx.reference (opset 13+ semantics: along one axis)."""
import numpy as np
import pytest
from helpers import assert_close, cnnc_run, onnx_run

from cnnc.ir import CnncError

OPS = ["Softmax", "LogSoftmax"]


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("shape,axis", [
    ((7,), None), ((7,), 0), ((3, 5), None), ((3, 5), 0), ((2, 3, 4), 1), ((2, 3, 4), -2),
    ((2, 3, 4, 5), None), ((2, 3, 4, 5), 1), ((2, 3, 4, 5), -4), ((1, 2, 3, 4, 5), 2),
])
def test_softmax_matches_onnx(rng, op, shape, axis):
    x = rng.standard_normal(shape).astype(np.float32) * 3
    attrs = {} if axis is None else {"axis": axis}
    (got,) = cnnc_run(op, [x], attrs)
    (want,) = onnx_run(op, [x], attrs)
    assert_close(got, want)


@pytest.mark.parametrize("op", OPS)
def test_softmax_is_stable_for_large_inputs(rng, op):
    x = np.concatenate([rng.standard_normal((4, 6)) * 1e4, np.full((1, 6), -3e38)])
    x = x.astype(np.float32)
    (got,) = cnnc_run(op, [x], {"axis": 0})
    assert np.isfinite(got).all()
    # onnx.reference's LogSoftmax is log(Softmax), -inf where Softmax underflows;
    # onnxruntime computes (x - max) - log(sum) as cnnc does
    (want,) = onnx_run(op, [x], {"axis": 0}, runtime="ort" if op == "LogSoftmax" else "reference")
    assert_close(got, want)


def test_log_softmax_is_log_of_softmax(rng):
    x = rng.standard_normal((3, 8)).astype(np.float64)
    (s,) = cnnc_run("Softmax", [x])
    (ls,) = cnnc_run("LogSoftmax", [x])
    assert_close(np.log(s), ls)
    assert_close(s.sum(-1), np.ones(3))


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("x,attrs,msg", [
    (np.zeros((2, 3), np.float32), {"axis": 2}, "out of range for a rank-2"),
    (np.zeros((2, 3), np.float32), {"axis": -3}, "out of range"),
    (np.zeros((2, 3), np.int64), {}, "float tensor"),
    (np.zeros((2, 3), np.float32), {"axis": 1.5}, "expects int"),
])
def test_softmax_rejects_bad_input(op, x, attrs, msg):
    with pytest.raises(CnncError, match=msg):
        cnnc_run(op, [x], attrs)
