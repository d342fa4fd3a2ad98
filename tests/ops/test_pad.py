"""Pad against ONNX on random inputs: onnx.reference for non-negative pads, onnxruntime for
negative (cropping) pads, which ONNX's reference evaluator rejects (it calls np.pad)."""
import numpy as np
import pytest
from helpers import assert_close, cnnc_run, onnx_run

from cnnc.ir import CnncError, Graph, TensorType

MODES = ["constant", "reflect", "edge", "wrap"]


def onnx_pad(x, attrs, runtime="reference"):
    """ONNX's Pad, with cnnc's pads/value/axes attributes passed as its input tensors."""
    ins = [x, np.array(attrs["pads"], np.int64),
           np.array(attrs.get("value", 0), x.dtype),
           None if attrs.get("axes") is None else np.array(attrs["axes"], np.int64)]
    if ins[-1] is None:
        ins.pop()
    (y,) = onnx_run("Pad", ins, {"mode": attrs.get("mode", "constant")}, runtime=runtime)
    return y


CASES = [
    # (shape, pads, axes)
    ((5,), (2, 3), None),
    ((5,), (0, 4), None),
    ((3, 4), (1, 2, 2, 1), None),
    ((3, 4), (0, 3, 0, 3), None),
    ((2, 3, 4, 5), (0, 0, 1, 2, 0, 0, 2, 1), None),      # NCHW spatial padding
    ((2, 3, 4, 5), (1, 3, 0, 2), (2, -1)),
    ((1, 2, 3, 4, 5), (1, 1, 2, 1, 0, 2), (2, 3, 4)),
    ((2, 3), (0, 0, 0, 0), None),
]


@pytest.mark.parametrize("shape,pads,axes", CASES)
@pytest.mark.parametrize("mode", MODES)
def test_pad_matches_onnx(rng, shape, pads, axes, mode):
    x = rng.standard_normal(shape).astype(np.float32)
    attrs = {"pads": pads, "mode": mode, "value": 1.5 if mode == "constant" else 0.0}
    if axes is not None:
        attrs["axes"] = axes
    (got,) = cnnc_run("Pad", [x], attrs)
    assert_close(got, onnx_pad(x, attrs))


CROP_CASES = [
    ((6,), (-2, 3)),
    ((6,), (-1, -2)),
    ((3, 4), (1, -1, 2, 1)),
    ((3, 4), (-1, 1, 0, -2)),
    ((3, 6), (-1, 3, 0, -2)),
    ((3, 5), (0, -2, 0, 1)),
    ((2, 3, 4, 5), (0, 0, -1, 2, 0, 0, 1, -2)),
]


@pytest.mark.parametrize("shape,pads", CROP_CASES)
@pytest.mark.parametrize("mode", MODES)
def test_negative_pads_crop_like_onnxruntime(rng, shape, pads, mode):
    x = rng.standard_normal(shape).astype(np.float32)
    attrs = {"pads": pads, "mode": mode}
    (got,) = cnnc_run("Pad", [x], attrs)
    assert_close(got, onnx_pad(x, attrs, runtime="ort"))


@pytest.mark.parametrize("dtype", ["int64", "uint8", "int32"])
def test_pad_integer_constant(rng, dtype):
    x = rng.integers(0, 100, (2, 3)).astype(dtype)
    attrs = {"pads": (1, 0, 0, 2), "value": 7.0}
    (got,) = cnnc_run("Pad", [x], attrs)
    assert got.dtype == x.dtype
    np.testing.assert_array_equal(got, onnx_pad(x, attrs))


def test_canonical_axes():
    g = Graph()
    x = g.add_input("x", TensorType((2, 3, 4)))
    (v,) = g.add_node("Pad", [x], {"pads": (1, 0, 0, 0, 0, 2)})
    assert g.node(v.node).attrs["axes"] == (0, 1, 2) and g.type_of(v).shape == (3, 3, 6)
    (w,) = g.add_node("Pad", [x], {"pads": (1, 2), "axes": (-1,)})
    assert g.node(w.node).attrs["axes"] == (2,) and g.type_of(w).shape == (2, 3, 7)


@pytest.mark.parametrize("shape,attrs,msg", [
    ((3, 4), {"pads": (1, 1)}, r"needs 4 entries"),
    ((3, 4), {"pads": (1, 1), "axes": (1, -1)}, "repeat"),
    ((3, 4), {"pads": (1, 1), "axes": (2,)}, "out of range"),
    ((3, 4), {"pads": (0, 4, 0, 0), "mode": "reflect"}, r"more than 3"),
    ((3, 4), {"pads": (0, -2, 0, 2), "mode": "reflect"}, r"more than 1"),
    ((3, 4), {"pads": (-2, 0, -2, 0)}, "more than it has"),
    ((3, 4), {"pads": (0, -4, 0, 1), "mode": "edge"}, "axis is empty"),
    ((3, 4), {"pads": (0, 0, 0, 0), "mode": "symmetric"}, "must be one of"),
])
def test_rejects_bad_attributes(shape, attrs, msg):
    with pytest.raises(CnncError, match=msg):
        cnnc_run("Pad", [np.zeros(shape, np.float32)], attrs)
