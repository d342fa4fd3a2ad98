"""LRN against onnxruntime and a direct loop over channels, 1-D/2-D/3-D.

onnx.reference's LRN loops over the batch axis where it means the channel axis (wrong
whenever N != C), so onnxruntime is the oracle.  Both ONNX kernels take 4-D input only;
LRN acts per spatial position, so 1-D and 3-D inputs are checked by running onnxruntime
on the same data reshaped to ``(N, C, prod(spatial), 1)``.  onnxruntime also rejects an
even ``size``, which the spec allows; the loop test covers that case.
"""
import math

import numpy as np
import pytest
from helpers import assert_close, cnnc_run, onnx_run

from cnnc.ir import CnncError

SHAPES = [(2, 5, 7), (2, 6, 4, 5), (1, 4, 3, 4, 2)]
ODD = [
    {"size": 1},
    {"size": 3},
    {"size": 5, "alpha": 0.3, "beta": 0.5, "bias": 2.0},
    {"size": 9, "alpha": 1.0, "beta": 1.0},  # window wider than the channel axis
]
EVEN = [
    {"size": 2, "alpha": 0.5},  # even size: the window reaches one channel further up
    {"size": 4, "alpha": 0.5, "beta": 1.0, "bias": 0.5},
]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("attrs", ODD)
def test_lrn_matches_onnxruntime(rng, shape, attrs):
    x = rng.standard_normal(shape).astype(np.float32)
    (got,) = cnnc_run("LRN", [x], attrs)
    x4 = x.reshape(shape[0], shape[1], -1, 1)
    (want,) = onnx_run("LRN", [x4], attrs, runtime="ort")
    assert_close(got, want.reshape(shape))


def _lrn_loop(x, size, alpha=1e-4, beta=0.75, bias=1.0):
    """ONNX's definition, one output element at a time."""
    y = np.empty_like(x)
    c_count = x.shape[1]
    for idx in np.ndindex(*x.shape):
        n, c, s = idx[0], idx[1], idx[2:]
        lo = max(0, c - math.floor((size - 1) / 2))
        hi = min(c_count - 1, c + math.ceil((size - 1) / 2))
        sq = sum(float(x[(n, i) + s]) ** 2 for i in range(lo, hi + 1))
        y[idx] = x[idx] / (bias + alpha / size * sq) ** beta
    return y


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("attrs", ODD[1:] + EVEN)
def test_lrn_matches_loop(rng, shape, attrs):
    x = rng.standard_normal(shape).astype(np.float32)
    (got,) = cnnc_run("LRN", [x], attrs)
    assert_close(got, _lrn_loop(x, **attrs))


@pytest.mark.parametrize("shape,attrs,msg", [
    ((2, 5, 7), {}, "missing required attribute 'size'"),
    ((2, 5, 7), {"size": 0}, ">= 1"),
    ((2, 5), {"size": 3}, "spatial axes"),
    ((1, 2, 2, 2, 2, 2), {"size": 3}, "spatial axes"),
    ((2, 5, 7), {"size": 3, "alpha": "big"}, "expects float"),
])
def test_lrn_rejects_bad_input(shape, attrs, msg):
    with pytest.raises(CnncError, match=msg):
        cnnc_run("LRN", [np.zeros(shape, np.float32)], attrs)
