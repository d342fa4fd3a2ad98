"""``Gather``: pick entries of ``data`` along one axis by an integer index tensor (ONNX,
opset 13 — its latest).

``out[i_0..i_{axis-1}, j.., k..] = data[i_0..i_{axis-1}, indices[j..], k..]``, so the output
shape is ``data.shape[:axis] + indices.shape + data.shape[axis+1:]``; rank-0 ``indices``
drop the axis.  ``data`` may have any dtype; ``indices`` are int32 or int64, and an index
``i`` in ``[-n, n)`` (``n = data.shape[axis]``) counts from the back when negative.

``indices`` stays an operand, as in ONNX: it is data, not a shape (the importer's constant
folding turns a Gather over constants, as in shape sub-graphs, into a constant).  Since
index values are known only at run time, an index out of range is reported by the
reference when it runs, not by inference (ONNX leaves that case undefined).  ``axis`` is
stored normalized to ``[0, rank)``.

C kernels.  Constant ``indices`` (the usual case: an embedding row, a channel pick) are
resolved at compile time into ``_c.gather`` offset tables, and an index out of range is a
compile-time error naming it.  Run-time ``indices`` go to ``gather_indices.c.j2``, which
reads and normalizes each index as it copies its row.  An out-of-range run-time index is a
user error the reference raises on, but a kernel has no error path (``<model>_run``
reports only argument and arena errors), so the C kernel **writes zeros** for that row:
defined behaviour, never an out-of-bounds read.

The TVM rule is Relax's take with ``mode="clip"`` (never out of bounds), with the same two
cases: constant indices are checked and made non-negative here; run-time ones are
normalized in the graph and, as in C, an out-of-range one gives zeros.
"""
from __future__ import annotations

import math

import numpy as np

from ..ir import Attr, Kernel, OpDef, ShapeError, register
from ._c import SHORT, axis_offsets, contiguous_strides, ctype
from ._common import norm_axis
from .shape import gather_kernel

INDEX_DTYPES = ("int64", "int32")


def _canon(a, types):
    return {**a, "axis": norm_axis(a["axis"], types[0].rank, f"data {types[0]}: axis")}


def _infer(types, a):
    data, idx = types
    if idx.dtype not in INDEX_DTYPES:
        raise ShapeError(f"indices must be int64 or int32, got {idx}")
    ax = a["axis"]
    return (data.with_shape(data.shape[:ax] + idx.shape + data.shape[ax + 1:]),)


def _check_range(idx: np.ndarray, shape, axis: int) -> None:
    n = shape[axis]
    if idx.size and not (-n <= idx.min() and idx.max() < n):
        bad = idx[(idx < -n) | (idx >= n)].flat[0]
        raise ShapeError(f"index {bad} is out of range [-{n}, {n}) for axis {axis} of "
                         f"data shape {tuple(shape)}")


def _reference(inputs, a):
    data, idx = inputs
    _check_range(idx, data.shape, a["axis"])
    return np.asarray(np.take(data, idx.astype(np.int64), axis=a["axis"]))


def _gather_c(req):
    data, idx_type = req.in_types
    axis = req.attrs["axis"]
    outer, n, inner = (math.prod(data.shape[:axis]), data.shape[axis],
                       math.prod(data.shape[axis + 1:]))
    idx, dtype = req.constants[1], data.dtype
    comment = f"Gather axis={axis} of {data} by {idx_type}"
    if idx is None:
        name = f"cnnc_gather_{SHORT[dtype]}_{outer}x{n}x{inner}_by_{SHORT[idx_type.dtype]}"
        return Kernel("c/kernels/gather_indices.c.j2", f"{name}x{idx_type.size}",
                      {"outer": outer, "n": n, "inner": inner, "count": idx_type.size,
                       "ctype": ctype(dtype)}, comment=comment)
    _check_range(idx, data.shape, axis)
    flat = idx.astype(np.int64).reshape(-1)
    strides = contiguous_strides(data.shape)
    tables = [axis_offsets(d, s) for d, s in zip(data.shape[:axis], strides)]
    tables += [np.where(flat < 0, flat + n, flat) * inner, axis_offsets(inner, 1)]
    return gather_kernel(req, (*data.shape[:axis], flat.size, inner), tables, "gather",
                         comment=comment)


def _gather_tvm(req, xs, b):
    data, idx_type = req.in_types
    axis, t = req.attrs["axis"], idx_type.dtype
    n = data.shape[axis]
    R = b.R
    idx = req.constants[1]
    if idx is not None:
        _check_range(idx, data.shape, axis)
        return R.take(xs[0], b.const(np.where(idx < 0, idx + n, idx), t), axis=axis, mode="clip")
    i = b.emit(R.where(R.less(xs[1], b.const(0, t)), R.add(xs[1], b.const(n, t)), xs[1]))
    y = b.emit(R.take(xs[0], i, axis=axis, mode="clip"))
    inside = R.logical_and(R.greater_equal(i, b.const(0, t)), R.less(i, b.const(n, t)))
    trailing = data.rank - axis - 1
    if trailing:   # the index's mask, broadcast over the entries each index picks
        inside = R.reshape(inside, idx_type.shape + (1,) * trailing)
    return R.where(inside, y, b.const(0, data.dtype))


register(OpDef(
    name="Gather",
    inputs=("data", "indices"),
    attrs={"axis": Attr("int", 0, doc="the axis of data the indices select along")},
    canonicalize=_canon,
    infer=_infer,
    reference=_reference,
    outputs=("output",),
    kernels={"c": _gather_c},
    tvm=_gather_tvm,
    doc="entries of data along one axis, selected by an int32/int64 index tensor",
))
