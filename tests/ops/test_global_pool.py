"""GlobalAveragePool, GlobalMaxPool, GlobalLpPool against ONNX, 1-D/2-D/3-D."""
import numpy as np
import pytest
from helpers import assert_close, cnnc_run, onnx_run

from cnnc.ir import CnncError

SHAPES = [(2, 3, 7), (2, 3, 5, 6), (1, 4, 3, 4, 5), (1, 2, 1, 1)]


@pytest.mark.parametrize("xs", SHAPES)
@pytest.mark.parametrize("op", ["GlobalAveragePool", "GlobalMaxPool"])
def test_global_pool_matches_onnx(rng, op, xs):
    x = rng.standard_normal(xs).astype(np.float32)
    (got,) = cnnc_run(op, [x])
    assert got.shape == xs[:2] + (1,) * (len(xs) - 2)
    # onnx.reference's GlobalMaxPool reduces axes (nd, nd+1), right only for 2-D inputs
    wrong = op == "GlobalMaxPool" and len(xs) != 4
    assert_close(got, onnx_run(op, [x], runtime="ort" if wrong else "reference")[0])


@pytest.mark.parametrize("xs", SHAPES)
@pytest.mark.parametrize("p", [1, 2, 3])
def test_global_lp_pool_matches_onnxruntime(rng, xs, p):
    # onnx.reference has no GlobalLpPool implementation
    x = rng.standard_normal(xs).astype(np.float32)
    attrs = {"p": p} if p != 2 else {}
    (got,) = cnnc_run("GlobalLpPool", [x], attrs)
    assert_close(got, onnx_run("GlobalLpPool", [x], attrs, runtime="ort")[0])


def test_global_pool_keeps_float64(rng):
    x = rng.standard_normal((1, 2, 3, 3))
    for op in ("GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool"):
        assert cnnc_run(op, [x])[0].dtype == np.float64


@pytest.mark.parametrize("op,xs,attrs,msg", [
    ("GlobalAveragePool", (2, 3), {}, "spatial axes"),
    ("GlobalMaxPool", (1, 2, 2, 2, 2, 2), {}, "spatial axes"),
    ("GlobalLpPool", (1, 2, 3), {"p": 0}, ">= 1"),
    ("GlobalMaxPool", (1, 2, 3), {"p": 2}, "unknown attribute"),
])
def test_global_pool_rejects_bad_input(op, xs, attrs, msg):
    with pytest.raises(CnncError, match=msg):
        cnnc_run(op, [np.zeros(xs, np.float32)], attrs)


def test_global_pool_rejects_integer_input():
    with pytest.raises(CnncError, match="float tensor"):
        cnnc_run("GlobalAveragePool", [np.zeros((1, 2, 3), np.int32)])
