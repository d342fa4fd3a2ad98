"""Resize (ONNX opset 19 semantics) and the deprecated Upsample, 1-D to N-D.

ONNX passes ``roi``, ``scales`` and ``sizes`` as run-time tensors; cnnc has static shapes,
so they are **attributes** here (with ``axes`` naming the axes they refer to; canonical
attributes hold ``axes`` filled in and normalized).  Exactly one of ``scales`` and
``sizes`` is given.  ``scales`` are rounded to float32 first, because that is the type of
ONNX's ``scales`` tensor: the same attributes give the same result here and in an exported
model (``roi`` likewise).  Output extents are ``floor(in * scale)`` or ``sizes`` (adjusted by
``keep_aspect_ratio_policy``, which, as in ONNX, does nothing with ``scales``); like
onnxruntime and ONNX's reference and shape inference, and unlike a sentence of ONNX's
spec, ``roi`` does not change the output extent.

Where ONNX's reference evaluator departs from ONNX's spec, cnnc follows the spec, as
onnxruntime does: ``align_corners`` and ``tf_crop_and_resize`` divide by the integer output
extent minus 1 (the reference uses the fractional ``in * scale``), and
``pytorch_half_pixel`` maps an output of extent 1 to coordinate 0 (the reference: -0.5).
``antialias`` with ``nearest`` is rejected, as ONNX's reference does.

Resizing is separable, so the whole op is, per resized axis, a table of taps computed in
Python — ``index`` and ``weight`` arrays of shape ``(out, taps)`` — applied axis by axis:
``y[.., o, ..] = sum_t weight[o, t] * x[.., index[o, t], ..]``.  One mechanism serves every
mode:

* the source coordinate ``x_original`` of each output index comes from
  ``coordinate_transformation_mode`` (ONNX's formulas);
* ``nearest`` is 1 tap at the rounded coordinate (``nearest_mode``);
* ``linear`` and ``cubic`` are 2 and 4 taps of the triangle resp. Keys cubic kernel
  (``cubic_coeff_a``) around the coordinate; with ``antialias`` and a scale below 1 the
  kernel is stretched by ``1/scale`` and covers more taps (ONNX's filter);
* taps that fall outside the input are clamped to the edge, or, with ``exclude_outside``,
  dropped; weights are then normalized to sum 1 (a no-op unless antialiasing or
  excluding);
* with ``tf_crop_and_resize`` an output whose coordinate lies outside ``[0, in - 1]`` is
  ``extrapolation_value`` (the ``outside`` mask).

:func:`resize_plan` returns these tables, so a backend's kernel receives final integers
and weights.  Computation is in float64, cast back to the input dtype at the end (integer
dtypes round half to even and saturate, as ONNX's reference does).  The TVM rule
(:func:`_tvm_rule`) applies the same tables with Relax's take, multiply and sum.

Upsample (ONNX opsets 7-9, deprecated in 10) is Resize with ``asymmetric`` coordinates and, for
``nearest``, ``floor`` rounding — what onnxruntime runs for it — and scales (>= 1) on every
axis.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from ..ir import Attr, Attrs, Kernel, OnnxMap, OpDef, ShapeError, register
from ._c import SHORT, contiguous_strides, ctype, gather, num
from ._common import normalize_axes
from .shape import tvm_reshape

COORDINATE_MODES = ("half_pixel", "half_pixel_symmetric", "pytorch_half_pixel",
                    "align_corners", "asymmetric", "tf_crop_and_resize")
NEAREST_MODES = ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil")

RESIZE_ATTRS = {
    "scales": Attr("floats", None, check=lambda v: None if all(s > 0 and np.isfinite(np.float32(s)) for s in v)
                   else "every scale must be > 0 and finite in float32"),
    "sizes": Attr("ints", None, check=lambda v: None if all(s >= 1 for s in v)
                  else "every size must be >= 1"),
    "roi": Attr("floats", None, doc="starts..., ends... (normalized) for tf_crop_and_resize"),
    "axes": Attr("ints", None),
    "mode": Attr("str", "nearest", choices=("nearest", "linear", "cubic")),
    "coordinate_transformation_mode": Attr("str", "half_pixel", choices=COORDINATE_MODES),
    "nearest_mode": Attr("str", "round_prefer_floor", choices=NEAREST_MODES),
    "cubic_coeff_a": Attr("float", -0.75),
    "exclude_outside": Attr("int", 0, choices=(0, 1)),
    "extrapolation_value": Attr("float", 0.0),
    "keep_aspect_ratio_policy": Attr("str", "stretch",
                                     choices=("stretch", "not_larger", "not_smaller")),
    "antialias": Attr("int", 0, choices=(0, 1)),
}


def _resize_canon(a, types):
    rank = types[0].rank
    axes = normalize_axes(range(rank) if a["axes"] is None else a["axes"], rank)
    if (a["scales"] is None) == (a["sizes"] is None):
        raise ShapeError("give exactly one of scales and sizes")
    given = "scales" if a["sizes"] is None else "sizes"
    if len(a[given]) != len(axes):
        raise ShapeError(f"{given} {a[given]} needs one entry per resized axis {axes} of "
                         f"input shape {types[0].shape}")
    if a["roi"] is not None and len(a["roi"]) != 2 * len(axes):
        raise ShapeError(f"roi {a['roi']} needs {2 * len(axes)} entries (starts..., ends...) "
                         f"for axes {axes}")
    if a["coordinate_transformation_mode"] == "tf_crop_and_resize" and a["roi"] is None:
        raise ShapeError("coordinate_transformation_mode tf_crop_and_resize needs roi")
    if a["antialias"] and a["mode"] == "nearest":
        raise ShapeError("antialias applies to modes linear and cubic, not nearest")
    return {**a, "axes": axes}


# ---------------------------------------------------------------- scales and extents
def _scales_and_extents(shape, a) -> tuple[list[float], list[int]]:
    """Scale and output extent of each resized axis (in ``a["axes"]`` order)."""
    ins = [shape[d] for d in a["axes"]]
    if 0 in ins:
        raise ShapeError(f"cannot resize the empty axes of input shape {tuple(shape)}")
    if a["scales"] is not None:
        scales = [float(np.float32(s)) for s in a["scales"]]
        outs = [math.floor(s * n) for s, n in zip(scales, ins)]
    elif a["keep_aspect_ratio_policy"] == "stretch":
        scales = [o / n for o, n in zip(a["sizes"], ins)]
        outs = list(a["sizes"])
    else:
        pick = min if a["keep_aspect_ratio_policy"] == "not_larger" else max
        scale = pick(o / n for o, n in zip(a["sizes"], ins))
        scales = [scale] * len(ins)
        outs = [int(scale * n + 0.5) for n in ins]
    if 0 in outs:
        raise ShapeError(f"resizing axes {a['axes']} of input shape {tuple(shape)} by "
                         f"{a['scales'] or a['sizes']} gives an empty output")
    return scales, outs


def _resize_infer(types, a):
    x = types[0]
    if x.dtype == "bool":
        raise ShapeError(f"Resize takes a numeric tensor, got {x}")
    shape = list(x.shape)
    for d, n in zip(a["axes"], _scales_and_extents(x.shape, a)[1]):
        shape[d] = n
    return (x.with_shape(shape),)


# ---------------------------------------------------------------- the per-axis taps
def _source_coordinates(mode, y, scale, n_in, n_out, roi):
    """``x_original`` of output indices ``y`` (ONNX's coordinate_transformation_mode)."""
    width = scale * n_in  # the fractional output extent
    if mode == "half_pixel":
        return (y + 0.5) / scale - 0.5
    if mode == "half_pixel_symmetric":
        return n_in / 2 * (1 - n_out / width) + (y + 0.5) / scale - 0.5
    if mode == "pytorch_half_pixel":
        return (y + 0.5) / scale - 0.5 if n_out > 1 else np.zeros_like(y)
    if mode == "align_corners":
        return y * (n_in - 1) / (n_out - 1) if n_out > 1 else np.zeros_like(y)
    if mode == "asymmetric":
        return y / scale
    start, end = roi  # float32, as ONNX's roi tensor: ties then round as in ONNX's reference
    if n_out > 1:
        return y * (end - start) * (n_in - 1) / (n_out - 1) + start * (n_in - 1)
    return np.full_like(y, (end - start) * (n_in - 1) / 2) + start * (n_in - 1)


_ROUND = {"round_prefer_floor": lambda x: np.ceil(x - 0.5),
          "round_prefer_ceil": lambda x: np.floor(x + 0.5),
          "floor": np.floor, "ceil": np.ceil}


def _keys_cubic(a):
    def kernel(d):
        d = np.abs(d)
        near = ((a + 2) * d - (a + 3)) * d * d + 1
        far = ((a * d - 5 * a) * d + 8 * a) * d - 4 * a
        return np.where(d <= 1, near, np.where(d < 2, far, 0.0))
    return kernel


def _taps(x, scale, a):
    """``(index, weight)`` of shape (out, taps) for source coordinates ``x``; indices may
    lie outside the input (the caller clamps or excludes them)."""
    if a["mode"] == "nearest":
        return _ROUND[a["nearest_mode"]](x).astype(np.int64)[:, None], np.ones((len(x), 1))
    support, kernel = ((1, lambda d: np.maximum(1 - np.abs(d), 0.0)) if a["mode"] == "linear"
                       else (2, _keys_cubic(a["cubic_coeff_a"])))
    stretch = min(scale, 1.0) if a["antialias"] else 1.0
    first = math.floor(-support / stretch) + 1
    offsets = np.arange(first, 2 - first)
    base = np.ceil(x) - 1  # so that the fraction x - base lies in (0, 1], as ONNX's does
    index = base.astype(np.int64)[:, None] + offsets
    return index, kernel((offsets - (x - base)[:, None]) * stretch)


class AxisPlan(NamedTuple):
    """How one axis is resized: ``y[o] = sum_t weight[o, t] * x[index[o, t]]``, replaced by
    the extrapolation value where ``outside[o]`` (tf_crop_and_resize only, else None)."""

    axis: int
    index: np.ndarray
    weight: np.ndarray
    outside: np.ndarray | None


def resize_plan(shape, a) -> list[AxisPlan]:
    """The tap tables of every axis that Resize with canonical attributes ``a`` changes."""
    scales, outs = _scales_and_extents(shape, a)
    coord_mode = a["coordinate_transformation_mode"]
    n_axes = len(a["axes"])
    plans = []
    for i, (axis, scale, n_out) in enumerate(zip(a["axes"], scales, outs)):
        n_in = shape[axis]
        roi = (tuple(np.float32(a["roi"][j]) for j in (i, n_axes + i))
               if coord_mode == "tf_crop_and_resize" else None)
        if scale == 1 and n_out == n_in and roi in (None, (0.0, 1.0)):
            continue
        x = _source_coordinates(coord_mode, np.arange(n_out, dtype=np.float64), scale, n_in,
                                n_out, roi)
        index, weight = _taps(x, scale, a)
        if a["exclude_outside"]:
            weight = np.where((index >= 0) & (index < n_in), weight, 0.0)
        total = weight.sum(axis=1, keepdims=True)
        weight = weight / np.where(total == 0, 1.0, total)
        outside = (x < 0) | (x > n_in - 1) if roi is not None else None
        plans.append(AxisPlan(axis, np.clip(index, 0, n_in - 1), weight, outside))
    return plans


def _resize_ref(inputs, a):
    x = inputs[0]
    y = x.astype(np.float64)
    for p in resize_plan(x.shape, a):
        before, after = (1,) * p.axis, (1,) * (x.ndim - p.axis - 1)
        taps = np.take(y, p.index, axis=p.axis)  # .., out, taps, ..
        y = (taps * p.weight.reshape(before + p.weight.shape + after)).sum(axis=p.axis + 1)
        if p.outside is not None:
            y = np.where(p.outside.reshape(before + (-1,) + after), a["extrapolation_value"], y)
    if np.issubdtype(x.dtype, np.integer):
        info = np.iinfo(x.dtype)
        y = np.clip(np.round(y), info.min, info.max)
    return y.astype(x.dtype)


# ---------------------------------------------------------------- C kernel
# nearest is pure data movement: the gather kernel with one offset table per output axis
# (the plan's single tap; an output that is extrapolated, or whose tap exclude_outside
# dropped, reads the fill value instead).  linear and cubic apply the plan's tap tables
# axis by axis, in plan order and in double like the reference; the results between axes
# live in two double buffers of the kernel's scratch.

INT_LIMITS = {"int64": ("INT64_MIN", "INT64_MAX"), "int32": ("INT32_MIN", "INT32_MAX"),
              "int8": ("INT8_MIN", "INT8_MAX"), "uint8": ("0", "UINT8_MAX")}


def _as_dtype(v: float, dtype: str):
    """A float64 result stored as ``dtype``, as the reference stores it."""
    if not np.issubdtype(np.dtype(dtype), np.integer):
        return v
    info = np.iinfo(dtype)
    return min(max(round(v), int(info.min)), int(info.max))


def _nearest_c(req, a, plans) -> Kernel:
    x, y = req.in_types[0], req.out_types[0]
    strides = contiguous_strides(x.shape)
    tables = [np.arange(n, dtype=np.int64) * s for n, s in zip(x.shape, strides)]
    for p in plans:
        offsets = p.index[:, 0] * strides[p.axis]
        dropped = p.weight[:, 0] == 0  # exclude_outside dropped the only tap: 0 * x
        if p.outside is not None:
            assert not (dropped & ~p.outside).any(), "a dropped tap is always extrapolated"
            dropped = p.outside
        tables[p.axis] = np.where(dropped, -1, offsets)
    extrapolates = a["coordinate_transformation_mode"] == "tf_crop_and_resize"
    fill = _as_dtype(a["extrapolation_value"], y.dtype) if extrapolates else 0
    return gather(req, y.shape, tables, "resize_nearest", fill=fill,
                  comment=f"{req.node.op} nearest ({a['nearest_mode']}, "
                          f"{a['coordinate_transformation_mode']}) {x} -> {y}")


def _c_kernel(req, a=None) -> Kernel:
    """Resize's kernel; Upsample passes its equivalent Resize attributes ``a``."""
    a = req.attrs if a is None else a
    x, y = req.in_types[0], req.out_types[0]
    plans = resize_plan(x.shape, a)
    if a["mode"] == "nearest" or not plans:
        return _nearest_c(req, a, plans)
    shape, steps, tables = list(x.shape), [], {}
    scratch = [0, 0]  # doubles in the two buffers
    for k, p in enumerate(plans):
        outer, inner = int(np.prod(shape[:p.axis])), int(np.prod(shape[p.axis + 1:]))
        n_in, (n_out, taps) = shape[p.axis], p.index.shape
        shape[p.axis] = n_out
        last = k == len(plans) - 1
        if not last:
            scratch[k % 2] = max(scratch[k % 2], int(np.prod(shape)))
        steps.append({"axis": p.axis, "outer": outer, "n_in": n_in, "n_out": n_out,
                      "inner": inner, "taps": taps, "src": "x0" if k == 0 else "ab"[(k - 1) % 2],
                      "dst": "y0" if last else "ab"[k % 2], "outside": p.outside is not None})
        tables[f"i{k}"] = (p.index * inner).astype(np.int64).reshape(-1)
        tables[f"w{k}"] = p.weight.astype(np.float64).reshape(-1)
        if p.outside is not None:
            tables[f"x{k}"] = p.outside.astype(np.uint8)
    t = y.dtype
    params = {"steps": steps, "ctype": ctype(t), "scratch_a": scratch[0],
              "int_limits": INT_LIMITS.get(t), "extrapolation": num(a["extrapolation_value"], "float64")}
    if t in INT_LIMITS:
        info = np.iinfo(t)
        params["int_bounds"] = (num(float(info.min), "float64"), num(float(info.max), "float64"))
    resized = "_".join(f"a{p.axis}x{p.index.shape[0]}t{p.index.shape[1]}" for p in plans)
    name = (f"cnnc_resize_{a['mode']}_{a['coordinate_transformation_mode']}_{SHORT[t]}_"
            f"{'x'.join(map(str, x.shape))}_{resized}")
    flags = [f for f in ("antialias", "exclude_outside") if a[f]]
    comment = (f"{req.node.op} {a['mode']} "
               f"({', '.join([a['coordinate_transformation_mode'], *flags])}) {x} -> {y}")
    return Kernel("c/kernels/resize.c.j2", name, params, tables=tables,
                  scratch_bytes=8 * (scratch[0] + scratch[1]), comment=comment)


# ---------------------------------------------------------------- TVM
# The reference's computation in Relax: float64 throughout, per planned axis a ``take`` of
# the tap indices, the taps weighted and summed (a single tap of weight 1 is the take
# alone), extrapolated outputs replaced (``where``); integer results rounded half to even
# and saturated.  Relax's image.resize2d/3d compute source coordinates in the input dtype
# and cover neither 1-D, antialias nor every tap rule, so the plan's tables are used for
# every mode: one mechanism that matches the reference exactly.

def _tvm_rule(req, xs, b, a=None):
    """Resize's rule; Upsample passes its equivalent Resize attributes ``a``."""
    a = req.attrs if a is None else a
    R, x = b.R, req.in_types[0]
    y = b.emit(R.astype(xs[0], "float64"))
    shape = list(x.shape)
    for p in resize_plan(x.shape, a):
        (n_out, taps), after = p.index.shape, (1,) * (x.rank - p.axis - 1)
        # "clip": the taps are in bounds (made here); TOPI's "fast" mode prints a warning per take
        y = b.emit(R.take(y, b.const(p.index.reshape(-1), "int64"), axis=p.axis, mode="clip"))
        if taps > 1 or (p.weight != 1).any():
            y = tvm_reshape(b, y, (*shape[:p.axis], n_out, taps, *shape[p.axis + 1:]))
            y = b.emit(R.multiply(y, b.const(p.weight.reshape((n_out, taps) + after), "float64")))
            y = b.emit(R.sum(y, [p.axis + 1]))
        shape[p.axis] = n_out
        if p.outside is not None:
            y = b.emit(R.where(b.const(p.outside.reshape((n_out,) + after), "bool"),
                               b.const(a["extrapolation_value"], "float64"), y))
    if np.issubdtype(np.dtype(x.dtype), np.integer):
        info = np.iinfo(x.dtype)
        y = b.emit(R.round(y))
        y = b.emit(R.minimum(R.maximum(y, b.const(float(info.min), "float64")), b.const(float(info.max), "float64")))
    return R.astype(y, x.dtype)


def _resize_import_v10(node, b):
    """Opset 10: Resize(X, scales), no roi/sizes and only nearest/linear, asymmetric."""
    return b.generic(attrs={"scales": tuple(b.const_input(1, "scales").tolist()),
                            "coordinate_transformation_mode": "asymmetric",
                            "nearest_mode": "floor"}, skip=(1,))


def _resize_import(node, b):
    """Opset 11+: Resize(X, roi, scales, sizes); an empty roi or scales means "not given"."""
    empty = tuple(i for i in (1, 2, 3) if node.has_input(i) and b.const_input(i).size == 0)
    return b.generic(skip=empty)


register(OpDef(
    name="Resize",
    inputs=("X",),
    attrs=RESIZE_ATTRS,
    canonicalize=_resize_canon,
    infer=_resize_infer,
    reference=_resize_ref,
    onnx=OnnxMap(const_inputs={1: ("roi", "float"), 2: ("scales", "float"), 3: ("sizes", "int64")},
                 importers={10: _resize_import_v10, 11: _resize_import}),
    kernels={"c": _c_kernel},
    tvm=_tvm_rule,
    doc="resize by scales or to sizes with nearest, (multi)linear or cubic interpolation",
))


# ---------------------------------------------------------------- Upsample
def _upsample_canon(a, types):
    if len(a["scales"]) != types[0].rank:
        raise ShapeError(f"scales {a['scales']} needs one entry per axis of input shape "
                         f"{types[0].shape}")
    return a


def _as_resize(a, rank: int) -> Attrs:
    """Resize's canonical attributes for Upsample's ``a``."""
    defaults = {k: spec.default for k, spec in RESIZE_ATTRS.items()}
    return Attrs({**defaults, "scales": a["scales"], "mode": a["mode"],
                  "axes": tuple(range(rank)), "coordinate_transformation_mode": "asymmetric",
                  "nearest_mode": "floor"})


register(OpDef(
    name="Upsample",
    inputs=("X",),
    attrs={"mode": Attr("str", "nearest", choices=("nearest", "linear")),
           "scales": Attr("floats", check=lambda v: None if all(s >= 1 for s in v)
                          else "every scale must be >= 1")},
    canonicalize=_upsample_canon,
    infer=lambda types, a: _resize_infer(types, _as_resize(a, types[0].rank)),
    reference=lambda inputs, a: _resize_ref(inputs, _as_resize(a, inputs[0].ndim)),
    onnx=OnnxMap(const_inputs={1: ("scales", "float")},
                 exporter=lambda node, operands, b: b.emit(
                     "Resize", [operands[0], "", b.const(np.asarray(node.attrs["scales"], np.float32))],
                     {"mode": node.attrs["mode"], "coordinate_transformation_mode": "asymmetric",
                      "nearest_mode": "floor"}, outputs=b.outputs)),
    kernels={"c": lambda req: _c_kernel(req, _as_resize(req.attrs, req.in_types[0].rank))},
    tvm=lambda req, xs, b: _tvm_rule(req, xs, b, _as_resize(req.attrs, req.in_types[0].rank)),
    doc="ONNX's deprecated Upsample: Resize with asymmetric coordinates",
))
