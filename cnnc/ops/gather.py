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
"""
from __future__ import annotations

import numpy as np

from ..ir import Attr, OpDef, ShapeError, register
from ._common import norm_axis

INDEX_DTYPES = ("int64", "int32")


def _canon(a, types):
    return {**a, "axis": norm_axis(a["axis"], types[0].rank, f"data {types[0]}: axis")}


def _infer(types, a):
    data, idx = types
    if idx.dtype not in INDEX_DTYPES:
        raise ShapeError(f"indices must be int64 or int32, got {idx}")
    ax = a["axis"]
    return (data.with_shape(data.shape[:ax] + idx.shape + data.shape[ax + 1:]),)


def _reference(inputs, a):
    data, idx = inputs
    n = data.shape[a["axis"]]
    if idx.size and not (-n <= idx.min() and idx.max() < n):
        bad = idx[(idx < -n) | (idx >= n)].flat[0]
        raise ShapeError(f"index {bad} is out of range [-{n}, {n}) for axis {a['axis']} of "
                         f"data shape {data.shape}")
    return np.asarray(np.take(data, idx.astype(np.int64), axis=a["axis"]))


register(OpDef(
    name="Gather",
    inputs=("data", "indices"),
    attrs={"axis": Attr("int", 0, doc="the axis of data the indices select along")},
    canonicalize=_canon,
    infer=_infer,
    reference=_reference,
    outputs=("output",),
    doc="entries of data along one axis, selected by an int32/int64 index tensor",
))
