"""Conv and ConvTranspose against onnx.reference on random inputs and many attribute sets."""
import numpy as np
import pytest
from helpers import assert_close, cnnc_run, onnx_run

from cnnc.ir import CnncError

CONV_CASES = [
    # (input shape, weight shape, attrs)
    ((2, 3, 9), (4, 3, 3), {}),
    ((1, 3, 9), (4, 3, 4), {"auto_pad": "SAME_UPPER"}),
    ((1, 3, 10), (4, 3, 4), {"auto_pad": "SAME_LOWER", "strides": (3,)}),
    ((1, 3, 8, 8), (5, 3, 3, 3), {"pads": (1, 1, 1, 1)}),
    ((1, 3, 8, 7), (5, 3, 3, 2), {"pads": (0, 1, 2, 0), "strides": (2, 1)}),
    ((1, 4, 9, 9), (6, 2, 3, 3), {"group": 2, "dilations": (2, 2)}),
    ((2, 4, 8, 8), (4, 1, 3, 3), {"group": 4, "auto_pad": "SAME_UPPER"}),   # depthwise
    ((1, 2, 7, 8), (3, 2, 2, 4), {"auto_pad": "SAME_UPPER", "strides": (2, 2)}),  # even kernel
    ((1, 2, 7, 8), (3, 2, 2, 4), {"auto_pad": "SAME_LOWER", "strides": (2, 3)}),
    ((1, 2, 6, 6), (3, 2, 3, 3), {"auto_pad": "VALID", "strides": (2, 2)}),
    ((1, 2, 5, 6, 7), (3, 2, 3, 3, 3), {"pads": (1, 0, 1, 1, 2, 0)}),
    ((1, 4, 6, 6, 6), (4, 2, 2, 3, 2), {"group": 2, "strides": (2, 1, 2), "dilations": (1, 2, 1)}),
]


@pytest.mark.parametrize("xs,ws,attrs", CONV_CASES)
@pytest.mark.parametrize("bias", [False, True])
def test_conv_matches_onnx(rng, xs, ws, attrs, bias):
    x = rng.standard_normal(xs).astype(np.float32)
    w = rng.standard_normal(ws).astype(np.float32)
    ins = [x, w] + ([rng.standard_normal(ws[0]).astype(np.float32)] if bias else [])
    (got,) = cnnc_run("Conv", ins, attrs)
    (want,) = onnx_run("Conv", ins, attrs)
    assert_close(got, want)


@pytest.mark.parametrize("xs,ws", [((1, 2, 6), (3, 2, 3)), ((1, 2, 5, 6), (3, 2, 3, 2)),
                                   ((1, 1, 4, 4, 4), (2, 1, 2, 3, 3))])
def test_conv_full_padding(rng, xs, ws):
    """FULL (not an ONNX mode) equals explicit pads of dilation*(k-1) on both sides."""
    x = rng.standard_normal(xs).astype(np.float32)
    w = rng.standard_normal(ws).astype(np.float32)
    pads = tuple(2 * (k - 1) for k in ws[2:]) * 2
    (got,) = cnnc_run("Conv", [x, w], {"auto_pad": "FULL", "dilations": (2,) * len(ws[2:])})
    (want,) = onnx_run("Conv", [x, w], {"pads": pads, "dilations": (2,) * len(ws[2:])})
    assert_close(got, want)
    assert got.shape[2:] == tuple(n + 2 * (k - 1) for n, k in zip(xs[2:], ws[2:]))


CONVT_CASES = [
    ((1, 3, 5), (3, 2, 3), {}),
    ((1, 3, 5), (3, 2, 3), {"strides": (2,), "output_padding": (1,)}),
    ((2, 2, 4, 4), (2, 3, 3, 3), {"strides": (2, 2), "pads": (1, 1, 1, 1)}),
    ((1, 2, 4, 5), (2, 3, 2, 3), {"strides": (2, 3), "pads": (0, 1, 1, 0), "dilations": (2, 1)}),
    ((1, 4, 3, 3), (4, 1, 3, 3), {"group": 2, "strides": (2, 2)}),
    ((1, 2, 4, 4), (2, 3, 3, 3), {"strides": (2, 2), "output_shape": (9, 9)}),
    ((1, 2, 4, 4), (2, 3, 3, 3), {"strides": (2, 2), "auto_pad": "SAME_UPPER"}),
    ((1, 2, 4, 4), (2, 3, 3, 3), {"strides": (2, 2), "auto_pad": "SAME_LOWER"}),
    ((1, 2, 3, 3, 3), (2, 2, 2, 2, 2), {"strides": (2, 2, 2)}),
]


@pytest.mark.parametrize("xs,ws,attrs", CONVT_CASES)
@pytest.mark.parametrize("bias", [False, True])
def test_conv_transpose_matches_onnx(rng, xs, ws, attrs, bias):
    x = rng.standard_normal(xs).astype(np.float32)
    w = rng.standard_normal(ws).astype(np.float32)
    m = ws[1] * attrs.get("group", 1)
    ins = [x, w] + ([rng.standard_normal(m).astype(np.float32)] if bias else [])
    (got,) = cnnc_run("ConvTranspose", ins, attrs)
    # onnx.reference's ConvTranspose mis-reshapes grouped weights; onnxruntime checks those
    (want,) = onnx_run("ConvTranspose", ins, attrs, runtime="ort" if attrs.get("group", 1) > 1 else "reference")
    assert_close(got, want)


@pytest.mark.parametrize("xs,ws,attrs,msg", [
    ((1, 3, 8, 8), (4, 2, 3, 3), {}, "expects 2"),
    ((1, 3, 2, 2), (4, 3, 3, 3), {}, "larger than the padded input"),
    ((1, 3, 8, 8), (4, 3, 3, 3), {"strides": (0, 1)}, ">= 1"),
    ((1, 3, 8, 8), (4, 3, 3, 3), {"strides": (1, 1, 1)}, "3 entries"),
    ((1, 3, 8, 8), (4, 3, 3, 3), {"auto_pad": "SAMEISH"}, "must be one of"),
    ((1, 3, 8, 8), (4, 3, 3, 3), {"padding": 1}, "unknown attribute"),
    ((3, 8, 8), (4, 3, 3, 3), {}, "weight must have rank 3"),
    ((8,), (4, 3, 3), {}, "spatial axes"),
])
def test_conv_rejects_bad_shapes(rng, xs, ws, attrs, msg):
    with pytest.raises(CnncError, match=msg):
        cnnc_run("Conv", [np.zeros(xs, np.float32), np.zeros(ws, np.float32)], attrs)
