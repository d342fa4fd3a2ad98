"""Pad: constant, reflect, edge or wrap padding of chosen axes (ONNX Pad, opset 19+).

ONNX passes ``pads``, ``constant_value`` and ``axes`` as run-time tensors; cnnc has static
shapes, so they are **attributes** here: ``pads`` (``begin..., end...`` for ``axes``, or
for every axis when ``axes`` is not given), ``value`` (the constant, cast to the input's
dtype; named after Pad-2's attribute) and ``axes``.  Canonical attributes hold ``axes``
filled in and normalized.

Negative pads crop, as ONNX allows.  An axis is cropped first and the remainder padded
(what onnxruntime does; ONNX's reference evaluator rejects negative pads), so ``reflect``,
``edge`` and ``wrap`` read the cropped data.  ``reflect`` mirrors without repeating the
edge and may add at most ``dim - 1`` on each side (onnxruntime's limit; numpy would reflect
again); ``wrap`` may exceed the dim (periodic); ``edge`` and ``wrap`` need a non-empty axis
to pad.  :func:`pad_widths` gives the per-axis ``(crop_begin, crop_end, pad_begin,
pad_end)`` a backend needs.

The C kernel is ``_c.gather`` (through ``shape.gather_kernel``): per axis, the input index
each output index reads, which is ``np.pad`` of the kept index range in the same mode
(constant mode pads with -1, the kernel's "fill" mark); ``value`` becomes the fill after
the same ``astype`` as the reference's.  TVM (:func:`_pad_tvm`): constant mode is the crop
(``strided_slice``) and Relax's ``nn.pad``; the other modes ``take`` the same per-axis
source indices (:func:`pad_sources`) as the C kernel.
"""
from __future__ import annotations

import numpy as np

from ..ir import Attr, OnnxMap, OpDef, ShapeError, register
from ._common import normalize_axes
from .shape import axis_tables, gather_kernel

MODES = ("constant", "reflect", "edge", "wrap")


def _pad_canon(a, types):
    rank = types[0].rank
    axes = normalize_axes(range(rank) if a["axes"] is None else a["axes"], rank)
    if len(a["pads"]) != 2 * len(axes):
        raise ShapeError(f"pads {a['pads']} needs {2 * len(axes)} entries (begin..., end...) "
                         f"for axes {axes} of input shape {types[0].shape}")
    return {**a, "axes": axes}


def pad_widths(shape, a) -> list[tuple[int, int, int, int]]:
    """Per axis of ``shape``: ``(crop_begin, crop_end, pad_begin, pad_end)``, all >= 0."""
    widths = [(0, 0, 0, 0)] * len(shape)
    n = len(a["axes"])
    for i, axis in enumerate(a["axes"]):
        begin, end = a["pads"][i], a["pads"][n + i]
        widths[axis] = (max(-begin, 0), max(-end, 0), max(begin, 0), max(end, 0))
    for axis, (cb, ce, pb, pe) in enumerate(widths):
        kept = shape[axis] - cb - ce
        if kept < 0:
            raise ShapeError(f"pads crop {cb} + {ce} from axis {axis} of input shape "
                             f"{tuple(shape)}, more than it has")
        if a["mode"] != "constant" and (pb or pe) and kept == 0:
            raise ShapeError(f"{a['mode']} padding of axis {axis} needs data, but the axis is "
                             f"empty (input shape {tuple(shape)}, pads {a['pads']})")
        if a["mode"] == "reflect" and max(pb, pe) > kept - 1:
            raise ShapeError(f"reflect padding of axis {axis} adds ({pb}, {pe}), more than "
                             f"{kept - 1}: the dim after cropping minus 1 (input shape "
                             f"{tuple(shape)})")
    return widths


def _pad_infer(types, a):
    x = types[0]
    return (x.with_shape(d - cb - ce + pb + pe
                         for d, (cb, ce, pb, pe) in zip(x.shape, pad_widths(x.shape, a))),)


def _pad_ref(inputs, a):
    x = inputs[0]
    widths = pad_widths(x.shape, a)
    cropped = x[tuple(slice(cb, d - ce) for d, (cb, ce, _, _) in zip(x.shape, widths))]
    pads = [(pb, pe) for _, _, pb, pe in widths]
    if a["mode"] == "constant":
        return np.pad(cropped, pads, constant_values=np.array(a["value"]).astype(x.dtype))
    return np.pad(cropped, pads, mode=a["mode"])


def pad_sources(shape, a) -> list[np.ndarray]:
    """Per axis of ``shape``: the input index each output index reads, ``np.pad`` of the kept
    index range in the mode (-1: the constant)."""
    sources = []
    for d, (cb, ce, pb, pe) in zip(shape, pad_widths(shape, a)):
        kept = np.arange(cb, d - ce)
        if a["mode"] == "constant":
            sources.append(np.pad(kept, (pb, pe), constant_values=-1))
        else:
            sources.append(np.pad(kept, (pb, pe), mode=a["mode"]))
    return sources


def _fill(a, dtype: str):
    """The constant ``value`` cast to ``dtype`` as the reference casts it."""
    return np.array(a["value"]).astype(dtype).item()


def _pad_c(req):
    x, a = req.in_types[0], req.attrs
    sources = pad_sources(x.shape, a)
    fill = _fill(a, x.dtype)
    return gather_kernel(req, req.out_types[0].shape, axis_tables(x.shape, sources),
                         f"pad_{a['mode']}", fill=fill,
                         comment=f"Pad {a['mode']} pads={a['pads']} axes={a['axes']}")


def _pad_tvm(req, xs, b):
    """Constant mode: the crop (strided_slice), then Relax's pad with the cast value;
    reflect, edge and wrap: ``take`` of the source indices of every axis that changes."""
    x, a, y = req.in_types[0], req.attrs, xs[0]
    widths = pad_widths(x.shape, a)
    if a["mode"] == "constant":
        if any(cb or ce for cb, ce, _, _ in widths):
            y = b.emit(b.R.strided_slice(y, list(range(x.rank)), [cb for cb, _, _, _ in widths],
                                         [d - ce for d, (_, ce, _, _) in zip(x.shape, widths)],
                                         assume_inbound=True))
        if any(pb or pe for _, _, pb, pe in widths):
            y = b.R.nn.pad(y, [w for _, _, pb, pe in widths for w in (pb, pe)], "constant",
                           float(_fill(a, x.dtype)))
        return y
    for axis, (src, d) in enumerate(zip(pad_sources(x.shape, a), x.shape)):
        if len(src) != d or (src != np.arange(d)).any():
            # "clip": the indices are in bounds (made here), and TOPI's default "fast" mode
            # prints a warning per take
            y = b.emit(b.R.take(y, b.const(src, "int64"), axis=axis, mode="clip"))
    return y


register(OpDef(
    name="Pad",
    inputs=("data",),
    attrs={"pads": Attr("ints", doc="begin..., end... per axis in axes; negative crops"),
           "mode": Attr("str", "constant", choices=MODES),
           "value": Attr("float", 0.0, doc="the constant of mode constant"),
           "axes": Attr("ints", None)},
    canonicalize=_pad_canon,
    infer=_pad_infer,
    reference=_pad_ref,
    kernels={"c": _pad_c},
    tvm=_pad_tvm,
    onnx=OnnxMap(const_inputs={1: ("pads", "int64"), 2: ("value", "like:0"), 3: ("axes", "int64")}),
    no_op=lambda in_types, a, out_types: not any(a["pads"]),
    doc="pad (or, with negative pads, crop) a tensor",
))
