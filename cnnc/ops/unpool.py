"""``MaxUnpool``: the partial inverse of MaxPool, 1-D/2-D/3-D (ONNX, opset 22).

``X (N, C, *S)`` holds the pooled values, ``I`` (int64, same shape) where each came from:
a flat index into the unpooled tensor ``(N, C, *U)`` as a whole (not per plane — ONNX's
MaxPool ``Indices`` count the same way), with ``U = (S - 1) * stride + kernel -
pad_begin - pad_end`` per axis.  Every other output element is zero.  Windows that overlap
(stride < kernel) may pick one input element twice; both entries then carry the same value,
so the order of the writes does not matter.

``output_shape`` (the full ``N, C, *spatial`` shape) is a run-time input in ONNX and an
**attribute** here, because cnnc compiles static shapes.  It may only grow the spatial
axes: the ``(N, C, *U)`` result is placed at the origin of a zero tensor of that shape.
That is what the ONNX reference evaluator and the ONNX node test
``test_maxunpool_export_with_output_shape`` do (indices 5, 7, 13, 15 of a 4x4 grid land
on rows/columns 1 and 3 of a 5x5 output).  onnxruntime instead reads the indices as flat
offsets into the ``output_shape`` tensor; the two agree when ``output_shape`` is the
inferred shape.  Canonical attributes always hold ``output_shape`` (the inferred shape
when none was given), ``strides`` and ``pads``; ONNX's MaxUnpool has no ``auto_pad`` and
no dilations, and neither has cnnc's.

An index outside ``[0, N*C*prod(U))`` is reported by the reference when it runs (index
values are run-time data); the C kernel and the TVM lowering, which cannot raise, skip it
(its output element stays zero).
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np

from ..ir import REQUIRED, Attr, Kernel, OnnxMap, OpDef, ShapeError, register
from . import _spatial as sp
from ._c import SHORT, contiguous_strides
from ._common import require_float

_WINDOW = sp.window_attrs(dilations=False)
_ATTRS = {"kernel_shape": dataclasses.replace(_WINDOW["kernel_shape"], default=REQUIRED),
          "strides": _WINDOW["strides"],
          "pads": _WINDOW["pads"],
          "output_shape": Attr("ints", None, doc="full N, C, *spatial output shape; >= the "
                                                 "inferred one on every spatial axis")}


def _unpooled_shape(x_shape, a) -> tuple[int, ...]:
    """``(N, C, *U)``: the tensor the indices point into."""
    nd = len(x_shape) - 2
    k, s, p = a["kernel_shape"], a["strides"], a["pads"]
    u = tuple((n - 1) * s[i] + k[i] - p[i] - p[nd + i] for i, n in enumerate(x_shape[2:]))
    sp.check_spatial_match(x_shape[2:], u)
    return (*x_shape[:2], *u)


def _canon(attrs, types):
    x = types[0]
    a = sp.canonical_window(attrs, sp.spatial_rank(x.shape, "X"))
    inferred = _unpooled_shape(x.shape, a)
    out = a["output_shape"]
    if out is None:
        a["output_shape"] = inferred
    elif (len(out) != len(inferred) or out[:2] != inferred[:2]
          or any(o < u for o, u in zip(out[2:], inferred[2:]))):
        raise ShapeError(f"output_shape {out} must be N, C, *spatial with N, C = "
                         f"{inferred[:2]} and spatial extents >= {inferred[2:]} (the unpooled "
                         f"shape of X {x.shape} with kernel_shape {a['kernel_shape']}, strides "
                         f"{a['strides']}, pads {a['pads']})")
    return a


def _infer(types, a):
    x = types[0]
    require_float(x, "X")
    if types[1].shape != x.shape or types[1].dtype != "int64":
        raise ShapeError(f"I must be int64 of X's shape {x.shape}, got {types[1]}")
    return (x.with_shape(a["output_shape"]),)


def _reference(inputs, a):
    x, idx = inputs
    inferred = _unpooled_shape(x.shape, a)
    size = math.prod(inferred)
    if idx.size and not (0 <= idx.min() and idx.max() < size):
        bad = idx[(idx < 0) | (idx >= size)].flat[0]
        raise ShapeError(f"index {bad} is out of range [0, {size}) of the unpooled shape "
                         f"{inferred} (X {x.shape})")
    flat = np.zeros(size, dtype=x.dtype)
    flat[idx.reshape(-1)] = x.reshape(-1)
    y = np.zeros(a["output_shape"], dtype=x.dtype)
    y[tuple(map(slice, inferred))] = flat.reshape(inferred)
    return y


def _c_kernel(req):
    x, y = req.in_types[0], req.out_types[0]
    unpooled = _unpooled_shape(x.shape, req.attrs)
    params = {"in_size": x.size, "out_size": y.size, "unpooled": math.prod(unpooled),
              "same": unpooled == y.shape, "u_plane": math.prod(unpooled[2:]),
              "o_plane": math.prod(y.shape[2:]),
              # (unpooled, output) element strides per spatial axis
              "strides": tuple(zip(contiguous_strides(unpooled[2:]), contiguous_strides(y.shape[2:])))}
    name = (f"cnnc_maxunpool_{SHORT[x.dtype]}_{'x'.join(map(str, x.shape))}_to_"
            + "x".join(map(str, unpooled))
            + ("" if unpooled == y.shape else "_in_" + "x".join(map(str, y.shape))))
    return Kernel("c/kernels/max_unpool.c.j2", name, params,
                  comment=f"MaxUnpool {x} -> {y} (indices into {unpooled})")


def _tvm(req, xs, b):
    """Relax's scatter_elements of the flat values into a zero vector of the unpooled size
    (serially on the CPU: the last of repeated indices wins, as numpy's scatter) plus one
    slot, where the out-of-range indices write (the C kernel's skip) before it is sliced
    off; reshaped, then zero padded at the end of each spatial axis up to ``output_shape``."""
    R = b.R
    x, y = req.in_types[0], req.out_types[0]
    unpooled = _unpooled_shape(x.shape, req.attrs)
    size = math.prod(unpooled)
    idx = R.reshape(xs[1], (x.size,))
    inside = R.logical_and(R.greater_equal(idx, b.const(0, "int64")), R.less(idx, b.const(size, "int64")))
    idx = R.where(inside, idx, b.const(size, "int64"))
    flat = R.scatter_elements(R.zeros((size + 1,), x.dtype), idx, R.reshape(xs[0], (x.size,)), axis=0)
    out = R.reshape(R.strided_slice(flat, axes=[0], begin=[0], end=[size]), unpooled)
    if unpooled == y.shape:
        return out
    return R.nn.pad(out, [w for u, o in zip(unpooled, y.shape) for w in (0, o - u)])


register(OpDef(
    name="MaxUnpool",
    inputs=("X", "I"),
    attrs=_ATTRS,
    canonicalize=_canon,
    infer=_infer,
    reference=_reference,
    onnx=OnnxMap(const_inputs={2: ("output_shape", "int64")}),
    kernels={"c": _c_kernel},
    tvm=_tvm,
    doc="partial inverse of MaxPool: scatters X to the flat positions I, zeros elsewhere",
))
