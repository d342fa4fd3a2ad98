"""Spatial pyramid pooling (He et al. 2014, "Spatial Pyramid Pooling in Deep Convolutional
Networks for Visual Recognition"): a fixed-length vector from an input of any spatial size.

``SpatialPyramidPool``: ``X (N, C, *S)`` with 1 to 3 spatial axes; attributes ``levels``
(ints >= 1, default ``(1, 2, 4)``) and ``mode`` (``"max"`` | ``"avg"``, default
``"max"``).  ONNX has no such op.

For level ``n`` every spatial axis of extent ``H`` is cut into ``n`` bins, bin ``i``
covering ``[floor(i*H/n), ceil((i+1)*H/n))`` (the adaptive-pooling rule: bins cover the
whole axis, neighbours may share a row, and none is empty even when ``n > H``).  The output
is ``(N, C * sum(n ** nd))``: level by level in the order of ``levels``; within a level
channel-major, then the bins in row-major order, i.e. the level's ``(N, C, n, ..., n)``
result flattened to ``(N, C * n**nd)``.  So ``out[:, off + c*n**2 + i*n + j]`` is bin
``(i, j)`` of channel ``c`` at the 2-D level ``n`` whose block starts at ``off``.

A bin is a box, the product of one interval per axis, so its max (and its mean: the mean
over a box is the mean over one axis of the means over the others) is taken one axis at a
time, ``n`` slices per axis, instead of a loop over all ``n**nd`` bins.

The C kernel (``spp.c.j2``) does loop over the bins: the bounds of every bin of every level
are tables computed here (with the reference's :func:`_bins`), with each bin's output offset
within a sample and its level's channel stride ``n**nd``; a bin is reduced directly (max, or
the sum in double divided by the bin's element count), with the reduction spelled by
:func:`cnnc.ops._c_reduce.reduction`.
"""
from __future__ import annotations

import math

import numpy as np

from ..ir import Attr, Kernel, OnnxMap, OpDef, ShapeError, register
from . import _spatial as sp
from ._c import SHORT, contiguous_strides, ctype
from ._c_reduce import reduction
from ._common import require_float
from .pool import nan_max

_REDUCE = {"max": np.max, "avg": np.mean}


def _levels_ok(levels):
    if not levels:
        return "needs at least one level"
    return None if all(n >= 1 for n in levels) else "every level must be >= 1"


def _infer(types, a):
    x = types[0]
    require_float(x)
    nd = sp.spatial_rank(x.shape)
    if 0 in x.shape[2:]:
        raise ShapeError(f"cannot pool an input with an empty spatial axis: {x.shape}")
    return (x.with_shape((x.shape[0], x.shape[1] * sum(n ** nd for n in a["levels"]))),)


def _bins(size, n):
    """``(start, stop)`` of the ``n`` bins of an axis of extent ``size``."""
    return [(i * size // n, -(-(i + 1) * size // n)) for i in range(n)]


def _reference(inputs, a):
    x = inputs[0]
    reduce = _REDUCE[a["mode"]]
    parts = []
    for n in a["levels"]:
        y = x
        for axis in range(2, x.ndim):
            y = np.stack([reduce(np.take(y, range(lo, hi), axis), axis=axis)
                          for lo, hi in _bins(x.shape[axis], n)], axis=axis)
        parts.append(y.reshape(x.shape[0], -1))
    return np.concatenate(parts, axis=1).astype(x.dtype)


def _c_kernel(req):
    x, a = req.in_types[0], req.attrs
    spatial = x.shape[2:]
    nd = len(spatial)
    lo, hi, off, cm = [[] for _ in range(nd)], [[] for _ in range(nd)], [], []
    start = 0
    for n in a["levels"]:
        per_axis = [_bins(h, n) for h in spatial]
        for flat, box in enumerate(np.ndindex(*(n,) * nd)):
            for d, i in enumerate(box):
                lo[d].append(per_axis[d][i][0])
                hi[d].append(per_axis[d][i][1])
            off.append(start + flat)
            cm.append(n ** nd)
        start += x.shape[1] * n ** nd
    tables = {"off": np.array(off, np.int64), "cm": np.array(cm, np.int64)}
    for d in range(nd):
        tables[f"lo{d}"] = np.array(lo[d], np.int64)
        tables[f"hi{d}"] = np.array(hi[d], np.int64)
    avg = a["mode"] == "avg"
    if avg:
        tables["cnt"] = np.prod([np.subtract(hi[d], lo[d]) for d in range(nd)], axis=0).astype(np.int64)
    r = reduction("mean" if avg else "max", x.dtype, "cnt")
    (ps,) = r.passes
    params = {"n": x.shape[0], "c": x.shape[1], "plane": math.prod(spatial),
              "strides": tuple(contiguous_strides(spatial)), "bins": len(off), "per_sample": start,
              "avg": avg, "locals": r.locals, "init": ps["init"], "each": ps["each"],
              "value": r.value, "ctype": ctype(x.dtype)}
    name = (f"cnnc_spp_{a['mode']}_{SHORT[x.dtype]}_{'x'.join(map(str, x.shape))}"
            f"_l{'_'.join(map(str, a['levels']))}")
    return Kernel("c/kernels/spp.c.j2", name, params, tables=tables,
                  comment=f"SpatialPyramidPool levels {a['levels']} mode {a['mode']} on {x}")


def _tvm(req, xs, b):
    """One TE computation per level, ``(N, C, n, ..., n)``: each output reduces its box, bin
    ``i`` of an axis of extent ``H`` covering ``[floor(i*H/n), ceil((i+1)*H/n))`` (``_bins``
    as index arithmetic), over a reduction domain of the widest bin; max propagates NaN as
    numpy's (``pool.nan_max``), avg divides the sum by the box's size.  The levels are
    flattened and concatenated by Relax."""
    x, a = req.in_types[0], req.attrs
    spatial, nd, te, tir = x.shape[2:], x.rank - 2, b.te, b.tir
    reducer = nan_max(b) if a["mode"] == "max" else te.sum
    # taps past the bin are the reducer's identity (TVM 0.27's create_prim_func drops a
    # reduction's ``where``), their reads clamped into the input
    identity = tir.const(float("-inf") if a["mode"] == "max" else 0.0, x.dtype)
    parts = []
    for n in a["levels"]:
        width = [max(hi - lo for lo, hi in _bins(h, n)) for h in spatial]

        def fn(xt, n=n, width=width):
            def bins(o):
                return ([o[d] * h // n for d, h in enumerate(spatial)],
                        [((o[d] + 1) * h + n - 1) // n for d, h in enumerate(spatial)])

            def body(i, c, *o):
                ks = [te.reduce_axis((0, w), name=f"k{d}") for d, w in enumerate(width)]
                lo, hi = bins(o)
                inside = tir.all(*(lo[d] + ks[d] < hi[d] for d in range(nd)))
                tap = xt[(i, c, *(tir.min(lo[d] + ks[d], h - 1) for d, h in enumerate(spatial)))]
                return reducer(tir.Select(inside, tap, identity), axis=ks)

            def mean(y, i, c, *o):
                lo, hi = bins(o)
                size = 1
                for d in range(nd):
                    size = size * (hi[d] - lo[d])
                return y[(i, c, *o)] / size.astype(x.dtype)
            shape = (*x.shape[:2], *(n,) * nd)
            y = te.compute(shape, body, name=f"spp_{a['mode']}_level{n}")
            return y if a["mode"] == "max" else te.compute(shape, lambda *i: mean(y, *i), name="spp_mean")
        level = b.emit_te(fn, xs[0], name=f"spp_{a['mode']}_level{n}")
        parts.append(b.R.reshape(level, (x.shape[0], x.shape[1] * n ** nd)))
    return parts[0] if len(parts) == 1 else b.R.concat(parts, axis=1)


def _export(node, operands, b):
    """As a model-local function (ONNX lacks the op), the reference's own scheme: per level
    and axis, one Slice + ReduceMax/ReduceMean per bin, concatenated; then each level
    flattened and the levels concatenated."""
    a, t = node.attrs, b.type(operands[0])
    reduce = {"max": "ReduceMax", "avg": "ReduceMean"}[a["mode"]]

    def body(fb, params):
        def ints(*v):
            return fb.const(np.array(v, np.int64))
        parts = []
        for n in a["levels"]:
            y = params[0]
            for axis in range(2, t.rank):
                bins = []
                for lo, hi in _bins(t.shape[axis], n):
                    (s,) = fb.emit("Slice", [y, ints(lo), ints(hi), ints(axis)])
                    bins += fb.emit(reduce, [s, ints(axis)], {"keepdims": 1})
                (y,) = fb.emit("Concat", bins, {"axis": axis})
            parts += fb.emit("Flatten", [y], {"axis": 1})
        return fb.emit("Concat", parts, {"axis": 1})
    return b.function(f"SpatialPyramidPool_{b.digest(t.shape, t.dtype, sorted(a.items()))}", operands, body)


register(OpDef(
    name="SpatialPyramidPool",
    inputs=("X",),
    attrs={"levels": Attr("ints", (1, 2, 4), check=_levels_ok),
           "mode": Attr("str", "max", choices=tuple(_REDUCE))},
    infer=_infer,
    reference=_reference,
    onnx=OnnxMap(domain="cnnc", exporter=_export),
    kernels={"c": _c_kernel},
    tvm=_tvm,
    doc="spatial pyramid pooling: fixed-length (N, C * sum(n^nd)) output for any input size",
))
