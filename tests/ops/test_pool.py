"""MaxPool, AveragePool, LpPool against ONNX (reference evaluator and onnxruntime); LSEPool
and WeightedAvgPool (not in ONNX) against a direct loop."""
import math

import numpy as np
import pytest
from helpers import assert_close, cnnc_run, onnx_run

from cnnc.ir import CnncError

CASES = [
    # (input shape, attrs)
    ((2, 3, 9), {"kernel_shape": (3,)}),
    ((1, 2, 9), {"kernel_shape": (3,), "strides": (2,), "pads": (1, 2)}),
    ((1, 2, 9), {"kernel_shape": (2,), "dilations": (2,), "pads": (1, 1)}),
    ((1, 2, 7), {"kernel_shape": (3,), "strides": (2,), "ceil_mode": 1}),
    ((1, 2, 4), {"kernel_shape": (3,), "strides": (3,), "ceil_mode": 1}),
    ((1, 2, 10), {"kernel_shape": (3,), "strides": (4,), "pads": (1, 1), "ceil_mode": 1}),
    ((1, 2, 10), {"kernel_shape": (2,), "strides": (2,), "dilations": (3,), "pads": (1, 1),
                  "ceil_mode": 1}),
    ((1, 2, 9), {"kernel_shape": (4,), "strides": (2,), "auto_pad": "SAME_UPPER"}),
    ((1, 2, 9), {"kernel_shape": (4,), "strides": (2,), "auto_pad": "SAME_LOWER"}),
    ((1, 2, 9), {"kernel_shape": (4,), "strides": (2,), "auto_pad": "VALID", "ceil_mode": 1}),
    ((2, 3, 8, 8), {"kernel_shape": (2, 2), "strides": (2, 2)}),
    ((1, 2, 7, 8), {"kernel_shape": (3, 2), "strides": (2, 3), "pads": (1, 0, 1, 1),
                    "ceil_mode": 1}),
    ((1, 2, 8, 7), {"kernel_shape": (3, 3), "dilations": (2, 1), "pads": (2, 1, 0, 1)}),
    ((1, 2, 7, 6), {"kernel_shape": (3, 2), "auto_pad": "SAME_UPPER"}),
    ((1, 2, 7, 6), {"kernel_shape": (3, 2), "strides": (2, 2), "auto_pad": "SAME_LOWER"}),
    ((1, 2, 5, 6, 7), {"kernel_shape": (2, 3, 2), "strides": (2, 1, 2),
                       "pads": (1, 1, 0, 0, 1, 1), "ceil_mode": 1}),
    ((1, 2, 5, 6, 5), {"kernel_shape": (3, 3, 3), "strides": (2, 2, 2), "pads": (1,) * 6,
                       "dilations": (1, 2, 1)}),
    ((1, 2, 6, 6, 6), {"kernel_shape": (2, 2, 2), "strides": (2, 2, 2),
                       "auto_pad": "SAME_UPPER"}),
]

OPS = [("MaxPool", {}), ("AveragePool", {"count_include_pad": 0}),
       ("AveragePool", {"count_include_pad": 1}), ("LpPool", {"p": 2}), ("LpPool", {"p": 3})]


def _reference_is_wrong(op, attrs):
    """Cases where onnx.reference disagrees with the ONNX spec and onnxruntime: in ceil_mode
    it puts half of the last window's overhang before the input (shifting every window once
    the overhang is 2 or more), its LpPool scales the in-window mean by the full kernel size
    even where the window overhangs, and it asserts on ceil_mode with auto_pad; its MaxPool
    gives SAME_LOWER with strides floor(in/stride) outputs instead of ceil(in/stride)."""
    return attrs.get("ceil_mode") or (op == "MaxPool" and attrs.get("auto_pad") == "SAME_LOWER")


@pytest.mark.parametrize("xs,attrs", CASES)
@pytest.mark.parametrize("op,extra", OPS)
def test_pool_matches_onnx(rng, op, extra, xs, attrs):
    x = rng.standard_normal(xs).astype(np.float32)
    attrs = {**attrs, **extra}
    (got,) = cnnc_run(op, [x], attrs)
    assert_close(got, onnx_run(op, [x], attrs, runtime="ort")[0])
    if not _reference_is_wrong(op, attrs):
        assert_close(got, onnx_run(op, [x], attrs)[0])


@pytest.mark.parametrize("op,extra", OPS + [("LSEPool", {}), ("WeightedAvgPool", {})])
@pytest.mark.parametrize("xs,attrs,pads", [
    ((1, 2, 9), {"kernel_shape": (3,), "dilations": (2,), "auto_pad": "SAME_UPPER"}, (2, 2)),
    ((1, 2, 8, 9), {"kernel_shape": (2, 3), "dilations": (3, 2), "strides": (2, 1),
                    "auto_pad": "SAME_LOWER"}, (1, 2, 1, 2)),
])
def test_same_padding_with_dilation(rng, op, extra, xs, attrs, pads):
    """SAME pads the dilated kernel (ONNX spec, opset 19+): output ceil(in/stride), total pad
    (out-1)*stride + dilation*(k-1) + 1 - in.  onnxruntime pads for the undilated kernel (and
    gives fewer outputs than its own shape inference), and onnx.reference's AveragePool and
    LpPool do too, so SAME is checked against the explicit pads it resolves to."""
    x = rng.standard_normal(xs).astype(np.float32)
    attrs = {**attrs, **extra}
    (got,) = cnnc_run(op, [x], attrs)
    explicit = {k: v for k, v in attrs.items() if k != "auto_pad"} | {"pads": pads}
    assert got.shape[2:] == tuple(-(-n // s) for n, s in zip(xs[2:], attrs.get("strides", (1, 1))))
    assert_close(got, cnnc_run(op, [x], explicit)[0])
    if op in ("MaxPool", "AveragePool", "LpPool"):
        assert_close(got, onnx_run(op, [x], explicit, runtime="ort")[0])


@pytest.mark.parametrize("op,extra", OPS)
@pytest.mark.parametrize("xs,kernel", [((1, 2, 7), (3,)), ((1, 2, 5, 6), (2, 3)),
                                       ((1, 1, 4, 3, 5), (2, 2, 3))])
def test_full_padding(rng, op, extra, xs, kernel):
    """cnnc's auto_pad FULL (not in ONNX) is explicit pads of k-1 on both sides."""
    x = rng.standard_normal(xs).astype(np.float32)
    (got,) = cnnc_run(op, [x], {"kernel_shape": kernel, "auto_pad": "FULL", **extra})
    pads = tuple(k - 1 for k in kernel) * 2
    # onnx.reference's MaxPool indexes past its buffer when a window is mostly padding
    runtime = "ort" if op == "MaxPool" else "reference"
    want = onnx_run(op, [x], {"kernel_shape": kernel, "pads": pads, **extra}, runtime=runtime)
    assert_close(got, want[0])


# ------------------------------------------------------------------ ops ONNX lacks
def loop_pool(x, attrs, reduce):
    """Direct loop: every output position, every kernel tap on the input (explicit pads);
    ``reduce(values, offsets from the kernel centre in input pixels)``."""
    nd = x.ndim - 2
    k, s = attrs["kernel_shape"], attrs.get("strides", (1,) * nd)
    d, p = attrs.get("dilations", (1,) * nd), attrs.get("pads", (0,) * (2 * nd))
    out = []
    for i in range(nd):
        span = x.shape[2 + i] + p[i] + p[nd + i] - d[i] * (k[i] - 1) - 1
        o = (math.ceil(span / s[i]) if attrs.get("ceil_mode") else span // s[i]) + 1
        if attrs.get("ceil_mode") and (o - 1) * s[i] >= x.shape[2 + i] + p[i]:
            o -= 1
        out.append(o)
    y = np.zeros(x.shape[:2] + tuple(out))
    for n, c in np.ndindex(*x.shape[:2]):
        for o in np.ndindex(*out):
            vals, offs = [], []
            for t in np.ndindex(*k):
                pos = [o[i] * s[i] - p[i] + t[i] * d[i] for i in range(nd)]
                if all(0 <= q < x.shape[2 + i] for i, q in enumerate(pos)):
                    vals.append(float(x[(n, c, *pos)]))
                    offs.append([d[i] * (t[i] - (k[i] - 1) / 2) for i in range(nd)])
            y[(n, c, *o)] = reduce(np.array(vals), np.array(offs))
    return y


def lse(vals, offs):
    return math.log(sum(math.exp(v) for v in vals))


def gaussian_average(sigma):
    def reduce(vals, offs):
        w = np.exp(-(offs ** 2).sum(1) / (2 * sigma ** 2))
        return float((w * vals).sum() / w.sum())
    return reduce


LOOP_CASES = [c for c in CASES if c[1].get("auto_pad", "NOTSET") == "NOTSET"]


@pytest.mark.parametrize("xs,attrs", LOOP_CASES)
@pytest.mark.parametrize("op,extra,reduce", [
    ("LSEPool", {}, lse),
    ("WeightedAvgPool", {}, gaussian_average(1.0)),
    ("WeightedAvgPool", {"sigma": 0.7}, gaussian_average(0.7)),
    ("WeightedAvgPool", {"sigma": 2.5}, gaussian_average(2.5)),
])
def test_own_pools_match_loop(rng, op, extra, reduce, xs, attrs):
    x = rng.standard_normal(xs).astype(np.float32)
    (got,) = cnnc_run(op, [x], {**attrs, **extra})
    assert_close(got, loop_pool(x, attrs, reduce))


def test_lse_pool_is_stable(rng):
    """exp(1000) overflows float32; the window max is subtracted first."""
    x = 1000 + rng.standard_normal((1, 2, 6, 6)).astype(np.float32)
    (got,) = cnnc_run("LSEPool", [x], {"kernel_shape": (3, 3), "pads": (1, 1, 1, 1)})
    assert np.isfinite(got).all()
    assert_close(got, loop_pool(x.astype(np.float64) - 1000, {"kernel_shape": (3, 3),
                                                               "pads": (1, 1, 1, 1)}, lse) + 1000)


def test_weighted_average_limits(rng):
    """Huge sigma: the plain average over the taps on the input; tiny sigma: the centre tap."""
    x = rng.standard_normal((1, 2, 7, 7)).astype(np.float32)
    attrs = {"kernel_shape": (3, 3), "pads": (1, 1, 1, 1), "strides": (2, 2)}
    (flat,) = cnnc_run("WeightedAvgPool", [x], {**attrs, "sigma": 1e6})
    assert_close(flat, onnx_run("AveragePool", [x], attrs)[0])
    (sharp,) = cnnc_run("WeightedAvgPool", [x], {**attrs, "sigma": 0.05})
    assert_close(sharp, x[:, :, ::2, ::2])


def test_storage_order_is_ignored(rng):
    x = rng.standard_normal((1, 2, 5, 6)).astype(np.float32)
    a = {"kernel_shape": (2, 2)}
    assert_close(cnnc_run("MaxPool", [x], {**a, "storage_order": 1})[0],
                 cnnc_run("MaxPool", [x], a)[0])


def test_float64_kept(rng):
    x = rng.standard_normal((1, 2, 6)).astype(np.float64)
    for op in ("MaxPool", "AveragePool", "LpPool", "LSEPool", "WeightedAvgPool"):
        assert cnnc_run(op, [x], {"kernel_shape": (2,)})[0].dtype == np.float64


@pytest.mark.parametrize("op,xs,attrs,msg", [
    ("MaxPool", (1, 2, 8, 8), {}, "missing required attribute 'kernel_shape'"),
    ("MaxPool", (1, 2, 8, 8), {"kernel_shape": (2,)}, "expected 2"),
    ("MaxPool", (1, 2, 8, 8), {"kernel_shape": (2, 2), "pads": (2, 0, 0, 0)},
     "entirely in the padding"),
    ("AveragePool", (1, 2, 2, 2), {"kernel_shape": (3, 3)}, "larger than the padded input"),
    ("AveragePool", (1, 2, 8, 8), {"kernel_shape": (2, 2), "ceil_mode": 2}, "must be one of"),
    ("AveragePool", (1, 2, 8, 8), {"kernel_shape": (2, 2), "strides": (0, 1)}, ">= 1"),
    ("LpPool", (1, 2, 8, 8), {"kernel_shape": (2, 2), "p": 0}, ">= 1"),
    ("LSEPool", (2, 8), {"kernel_shape": (2,)}, "spatial axes"),
    ("WeightedAvgPool", (1, 2, 8), {"kernel_shape": (2,), "sigma": 0.0}, "'sigma'.*must be > 0"),
    ("WeightedAvgPool", (1, 2, 8), {"kernel_shape": (2,), "count_include_pad": 1},
     "unknown attribute"),
])
def test_pool_rejects_bad_attributes(op, xs, attrs, msg):
    with pytest.raises(CnncError, match=msg):
        cnnc_run(op, [np.zeros(xs, np.float32)], attrs)


def test_pool_rejects_integer_input():
    with pytest.raises(CnncError, match="float tensor"):
        cnnc_run("MaxPool", [np.zeros((1, 1, 4), np.int64)], {"kernel_shape": (2,)})
