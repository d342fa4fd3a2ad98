"""MaxUnpool against onnx.reference (opset 22): the ONNX node test cases, random scatters in
1-D/2-D/3-D, and a MaxPool -> MaxUnpool round trip (checked against onnxruntime too)."""
import numpy as np
import pytest
from helpers import assert_close, cnnc_run, onnx_run

from cnnc.ir import CnncError

OPSET = 22


def _run_both(x, i, attrs):
    """cnnc with ``output_shape`` as an attribute, ONNX with it as the third input."""
    (got,) = cnnc_run("MaxUnpool", [x, i], attrs)
    onnx_attrs = {k: v for k, v in attrs.items() if k != "output_shape"}
    extra = [np.array(attrs["output_shape"], np.int64)] if "output_shape" in attrs else []
    (want,) = onnx_run("MaxUnpool", [x, i, *extra], onnx_attrs, opset=OPSET)
    return got, want


# onnx.backend.test.case.node.maxunpool: export_without_output_shape, export_with_output_shape
NODE_CASES = [
    ([[[[1, 2], [3, 4]]]], {},
     [[[[0, 0, 0, 0], [0, 1, 0, 2], [0, 0, 0, 0], [0, 3, 0, 4]]]]),
    ([[[[5, 6], [7, 8]]]], {"output_shape": (1, 1, 5, 5)},
     [[[[0, 0, 0, 0, 0], [0, 5, 0, 6, 0], [0, 0, 0, 0, 0], [0, 7, 0, 8, 0], [0, 0, 0, 0, 0]]]]),
]


@pytest.mark.parametrize("x,extra,y", NODE_CASES)
def test_maxunpool_onnx_node_cases(x, extra, y):
    x = np.array(x, np.float32)
    i = np.array([[[[5, 7], [13, 15]]]], np.int64)
    got, want = _run_both(x, i, {"kernel_shape": (2, 2), "strides": (2, 2), **extra})
    np.testing.assert_array_equal(got, np.array(y, np.float32))
    np.testing.assert_array_equal(got, want)


CASES = [
    # (X shape, attrs)
    ((2, 3, 4), {"kernel_shape": (2,), "strides": (2,)}),
    ((1, 2, 5), {"kernel_shape": (3,), "pads": (1, 0)}),
    ((1, 2, 4), {"kernel_shape": (3,), "strides": (2,), "output_shape": (1, 2, 11)}),
    ((2, 2, 3, 3), {"kernel_shape": (2, 2), "strides": (2, 2)}),
    ((1, 3, 3, 4), {"kernel_shape": (3, 2), "strides": (2, 3), "pads": (1, 0, 0, 1)}),
    ((1, 1, 3, 3), {"kernel_shape": (3, 3), "strides": (1, 1), "pads": (1, 1, 1, 1)}),
    ((2, 2, 2, 3), {"kernel_shape": (2, 2), "strides": (2, 2), "output_shape": (2, 2, 5, 7)}),
    ((1, 2, 2, 3, 2), {"kernel_shape": (2, 2, 2), "strides": (2, 2, 2)}),
    ((1, 1, 3, 2, 2), {"kernel_shape": (3, 2, 2), "strides": (1, 2, 2), "pads": (1, 0, 0, 1, 0, 1),
                       "output_shape": (1, 1, 6, 4, 5)}),
]


@pytest.mark.parametrize("xs,attrs", CASES)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_maxunpool_matches_onnx(rng, xs, attrs, dtype):
    x = rng.standard_normal(xs).astype(dtype)
    nd = len(xs) - 2
    s, p = attrs.get("strides", (1,) * nd), attrs.get("pads", (0,) * 2 * nd)
    unpooled = [(n - 1) * s[d] + attrs["kernel_shape"][d] - p[d] - p[nd + d]
                for d, n in enumerate(xs[2:])]
    size = xs[0] * xs[1] * int(np.prod(unpooled))
    i = rng.choice(size, size=xs, replace=False).astype(np.int64)
    got, want = _run_both(x, i, attrs)
    assert got.dtype == x.dtype
    assert got.shape == attrs.get("output_shape", (*xs[:2], *unpooled))
    assert_close(got, want)
    assert np.count_nonzero(got) == x.size


@pytest.mark.parametrize("xs,attrs", [
    ((2, 3, 8), {"kernel_shape": (3,), "strides": (2,), "pads": (1, 0)}),
    ((2, 3, 6, 6), {"kernel_shape": (3, 3), "strides": (2, 2), "pads": (1, 1, 0, 0)}),
    ((1, 2, 4, 4, 6), {"kernel_shape": (2, 2, 2), "strides": (2, 2, 2)}),
])
def test_maxunpool_inverts_maxpool(rng, xs, attrs):
    """The indices ONNX's MaxPool returns; onnxruntime agrees here, since the unpooled shape is
    the pooled input's (it reads indices as offsets into output_shape, see unpool.py)."""
    x = rng.standard_normal(xs).astype(np.float32)
    y, i = onnx_run("MaxPool", [x], attrs, n_outputs=2, opset=OPSET)
    (got,) = cnnc_run("MaxUnpool", [y, i], attrs)
    assert got.shape == xs
    (ort,) = onnx_run("MaxUnpool", [y, i], attrs, opset=OPSET, runtime="ort")
    assert_close(got, ort)
    kept = got != 0
    assert_close(got[kept], x[kept])
    assert np.isin(y, got).all()


@pytest.mark.parametrize("xs,ishape,idtype,attrs,msg", [
    ((1, 1, 2, 2), (1, 1, 2, 2), "int64", {}, "missing required attribute 'kernel_shape'"),
    ((1, 1, 2, 2), (1, 1, 2, 2), "int64", {"kernel_shape": (2,)}, "expected 2"),
    ((1, 1, 2, 2), (1, 1, 2, 2), "int64", {"kernel_shape": (2, 2), "pads": (0, 0)},
     "pads has 2 entries"),
    ((1, 1, 2, 2), (1, 1, 2, 2), "int64", {"kernel_shape": (2, 2), "auto_pad": "VALID"},
     "unknown attribute"),
    ((1, 1, 2, 2), (1, 1, 2, 2), "int64", {"kernel_shape": (2, 2), "dilations": (1, 1)},
     "unknown attribute"),
    ((1, 1, 2, 2), (1, 1, 4), "int64", {"kernel_shape": (2, 2)}, "I must be int64 of X's shape"),
    ((1, 1, 2, 2), (1, 1, 2, 2), "int32", {"kernel_shape": (2, 2)}, "I must be int64"),
    ((1, 1, 2, 2), (1, 1, 2, 2), "int64", {"kernel_shape": (2, 2), "output_shape": (1, 1, 2, 5)},
     r"spatial extents >= \(3, 3\)"),
    ((1, 1, 2, 2), (1, 1, 2, 2), "int64", {"kernel_shape": (2, 2), "output_shape": (1, 2, 3, 3)},
     "N, C = \\(1, 1\\)"),
    ((1, 1, 2, 2), (1, 1, 2, 2), "int64", {"kernel_shape": (2, 2), "output_shape": (3, 3)},
     "must be N, C, \\*spatial"),
    ((1, 1, 1, 2), (1, 1, 1, 2), "int64", {"kernel_shape": (1, 2), "pads": (1, 0, 0, 0)},
     "would be empty"),
    ((1, 2), (1, 2), "int64", {"kernel_shape": ()}, "spatial axes"),
])
def test_maxunpool_rejects_bad_operands(xs, ishape, idtype, attrs, msg):
    with pytest.raises(CnncError, match=msg):
        cnnc_run("MaxUnpool", [np.zeros(xs, np.float32), np.zeros(ishape, idtype)], attrs)


@pytest.mark.parametrize("index", [9, -1])
def test_maxunpool_rejects_out_of_range_index_at_run_time(index):
    i = np.array([[[[0, 1], [2, index]]]], np.int64)
    with pytest.raises(CnncError, match=rf"index {index} is out of range \[0, 9\)"):
        cnnc_run("MaxUnpool", [np.ones((1, 1, 2, 2), np.float32), i], {"kernel_shape": (2, 2)})
