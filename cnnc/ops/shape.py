"""Tensor-shape ops: Flatten, Reshape, Transpose, Squeeze, Unsqueeze, Expand, Tile, Slice,
DepthToSpace, SpaceToDepth.

Every one of them takes one tensor of any dtype and returns one of the same dtype whose
shape depends only on the input shape and the attributes, so each is a row of one table
``name: (attrs, canonicalize, shape rule, numpy function)`` registered by one loop.  The
shape rule is both the inference and the shape checks; the reference reuses it (ops that
keep the element order, like Squeeze, are a plain ``reshape`` to the inferred shape).

ONNX passes Reshape's ``shape``, Squeeze/Unsqueeze's ``axes``, Expand's ``shape``, Tile's
``repeats`` and Slice's ``starts/ends/axes/steps`` as run-time tensors; cnnc has static
shapes, so they are **attributes** here (same names, same semantics, ONNX's latest opset).

Canonical attributes: negative axes are stored normalized, and the defaults that depend on
the input (Transpose's reversed ``perm``, Squeeze's unit axes, Slice's ``axes``/``steps``)
are filled in.  Reshape's ``shape`` and Slice's ``starts``/``ends`` are kept as given
(re-applying ONNX's clamping to clamped bounds is not idempotent for negative steps);
``slice_ranges`` gives the resolved ``(axis, start, stop, step)`` triples a backend needs.

C kernels: the ops that keep the element order (Flatten, Reshape, Squeeze, Unsqueeze) are
a copy (``identity.copy_kernel``: nothing when the memory plan made the result a view);
the others are ``_c.gather``, one offset table per output axis.  Transpose and
DepthToSpace/SpaceToDepth (a transpose between the layouts below) walk a permuted input
axis per output axis (:func:`permuted_tables`); Expand, Tile, Slice and Pad read input axis
``d`` at an index list per output axis ``d`` (:func:`axis_tables`).  :func:`gather_kernel`
then merges adjacent axes where one is a unit axis or the merged table is one strided run
of at most ``MAX_MERGED`` entries (a channel Slice of NCHW: one run of C'*H*W), so inner
loops are long while the tables stay small.  The TVM rules are Relax ops (see ``TVM_RULES``).

DepthToSpace/SpaceToDepth accept ``N, C`` plus 1 to 3 spatial axes (ONNX defines 2 only;
the 2-D case is ONNX's exactly).  Both are one reshape-transpose-reshape between the
"blocked" layout ``N, b.., C', S..`` (DCR; CRD is ``N, C', b.., S..``) and the interleaved
layout ``N, C', S1, b1, S2, b2, ..``; SpaceToDepth (with the same ``mode``, which ONNX added
in opset 25) is the inverse of DepthToSpace.
"""
from __future__ import annotations

import math

import numpy as np

from ..ir import Attr, Kernel, OnnxMap, OpDef, ShapeError, if_same_type, register
from . import _spatial as sp
from ._c import axis_offsets, broadcast_strides, contiguous_strides, gather
from ._common import broadcast_shapes, normalize_axes
from .identity import copy_kernel


def _non_negative(v):
    return None if all(x >= 0 for x in v) else "every entry must be >= 0"


# ---------------------------------------------------------------- Flatten / Reshape
def _flatten_canon(a, types):
    r = types[0].rank
    if not -r <= a["axis"] <= r:
        raise ShapeError(f"axis {a['axis']} is out of range [-{r}, {r}] for input shape "
                         f"{types[0].shape}")
    return {**a, "axis": a["axis"] % r if a["axis"] < 0 else a["axis"]}


def _flatten_shape(s, a):
    return (math.prod(s[:a["axis"]]), math.prod(s[a["axis"]:]))


def _reshape_shape(s, a):
    target = list(a["shape"])
    if any(d < -1 for d in target) or target.count(-1) > 1:
        raise ShapeError(f"shape {a['shape']} may hold one -1 and otherwise dims >= 0")
    if not a["allowzero"]:
        if any(d == 0 for d in target[len(s):]):
            raise ShapeError(f"shape {a['shape']} copies (0) a dim past the input's rank "
                             f"{len(s)} (input shape {tuple(s)})")
        target = [s[i] if d == 0 else d for i, d in enumerate(target)]
    size = math.prod(s)
    if -1 in target:
        known = math.prod(d for d in target if d != -1)
        if known == 0 or size % known:
            raise ShapeError(f"cannot infer the -1 of shape {a['shape']} for input shape "
                             f"{tuple(s)} ({size} elements)")
        target[target.index(-1)] = size // known
    if math.prod(target) != size:
        raise ShapeError(f"cannot reshape input shape {tuple(s)} ({size} elements) to "
                         f"{a['shape']} ({math.prod(target)} elements)")
    return tuple(target)


# ---------------------------------------------------------------- Transpose
def _transpose_canon(a, types):
    r = types[0].rank
    perm = tuple(reversed(range(r))) if a["perm"] is None else a["perm"]
    if sorted(perm) != list(range(r)):
        raise ShapeError(f"perm {perm} is not a permutation of the {r} axes of input shape "
                         f"{types[0].shape}")
    return {**a, "perm": perm}


# ---------------------------------------------------------------- Squeeze / Unsqueeze
def _squeeze_canon(a, types):
    s = types[0].shape
    if a["axes"] is None:
        return {**a, "axes": tuple(i for i, d in enumerate(s) if d == 1)}
    return {**a, "axes": tuple(sorted(normalize_axes(a["axes"], len(s))))}


def _squeeze_shape(s, a):
    bad = [i for i in a["axes"] if s[i] != 1]
    if bad:
        raise ShapeError(f"cannot squeeze axes {bad} of input shape {tuple(s)}: their dims "
                         "are not 1")
    return tuple(d for i, d in enumerate(s) if i not in a["axes"])


def _unsqueeze_canon(a, types):
    return {**a, "axes": tuple(sorted(normalize_axes(a["axes"], types[0].rank + len(a["axes"]))))}


def _unsqueeze_shape(s, a):
    rest = iter(s)
    return tuple(1 if i in a["axes"] else next(rest) for i in range(len(s) + len(a["axes"])))


# ---------------------------------------------------------------- Expand / Tile
def _tile_shape(s, a):
    if len(a["repeats"]) != len(s):
        raise ShapeError(f"repeats {a['repeats']} needs one entry per axis of input shape "
                         f"{tuple(s)}")
    return tuple(d * r for d, r in zip(s, a["repeats"]))


# ---------------------------------------------------------------- Slice
def _slice_canon(a, types):
    n = len(a["starts"])
    axes = tuple(range(n)) if a["axes"] is None else a["axes"]
    steps = (1,) * n if a["steps"] is None else a["steps"]
    if not len(a["ends"]) == len(axes) == len(steps) == n:
        raise ShapeError(f"starts {a['starts']}, ends {a['ends']}, axes {axes} and steps "
                         f"{steps} must have one entry each")
    if 0 in steps:
        raise ShapeError(f"steps {steps} must be non-zero")
    return {**a, "axes": normalize_axes(axes, types[0].rank), "steps": steps}


def slice_ranges(shape, a) -> list[tuple[int, int, int, int]]:
    """``(axis, start, stop, step)`` per sliced axis after ONNX's clamping, as a Python
    slice reads them (``stop`` is ``-1`` for "past index 0" with a negative step)."""
    out = []
    for axis, start, end, step in zip(a["axes"], a["starts"], a["ends"], a["steps"]):
        d = shape[axis]
        start, end = (v + d if v < 0 else v for v in (start, end))
        lo, hi = (0, d) if step > 0 else (-1, d - 1)
        out.append((axis, min(max(start, 0), hi), min(max(end, lo), hi), step))
    return out


def _slice_shape(s, a):
    out = list(s)
    for axis, start, stop, step in slice_ranges(s, a):
        out[axis] = max(0, -(-(stop - start) // step))
    return tuple(out)


def _slice(x, a):
    index = [slice(None)] * x.ndim
    for axis, start, stop, step in slice_ranges(x.shape, a):
        index[axis] = slice(start, stop if stop >= 0 else None, step)
    return x[tuple(index)]


# ---------------------------------------------------------------- DepthToSpace / SpaceToDepth
def _blocked_to_interleaved(nd: int, mode: str) -> tuple[int, ...]:
    """Axis permutation from the blocked layout to ``N, C', S1, b1, S2, b2, ..``."""
    blocks, channel = ((1, nd + 1) if mode == "DCR" else (2, 1))
    return (0, channel, *(ax for i in range(nd) for ax in (nd + 2 + i, blocks + i)))


def _depth_to_space_shape(s, a):
    nd, b = sp.spatial_rank(s), a["blocksize"]
    if s[1] % b ** nd:
        raise ShapeError(f"input channels {s[1]} (shape {tuple(s)}) are not divisible by "
                         f"blocksize**{nd} = {b ** nd}")
    return (s[0], s[1] // b ** nd, *(d * b for d in s[2:]))


def _space_depth_plan(shape, a, to_space: bool):
    """``(view, perm)``: DepthToSpace (``to_space``) or SpaceToDepth of an input of ``shape``
    is ``x.reshape(view).transpose(perm)`` reshaped to the output shape."""
    n, c, *spatial = shape
    nd, b, mode = len(spatial), a["blocksize"], a["mode"]
    perm = _blocked_to_interleaved(nd, mode)
    if to_space:
        blocks, depth = (b,) * nd, c // b ** nd
        return ((n, *blocks, depth, *spatial) if mode == "DCR" else (n, depth, *blocks, *spatial)), perm
    return (n, c, *(v for d in spatial for v in (d // b, b))), tuple(int(p) for p in np.argsort(perm))


def _depth_to_space(x, a):
    view, perm = _space_depth_plan(x.shape, a, True)
    return x.reshape(view).transpose(perm).reshape(_depth_to_space_shape(x.shape, a))


def _space_to_depth_shape(s, a):
    nd, b = sp.spatial_rank(s), a["blocksize"]
    if any(d % b for d in s[2:]):
        raise ShapeError(f"spatial dims of input shape {tuple(s)} are not divisible by "
                         f"blocksize {b}")
    return (s[0], s[1] * b ** nd, *(d // b for d in s[2:]))


def _space_to_depth(x, a):
    view, perm = _space_depth_plan(x.shape, a, False)
    return x.reshape(view).transpose(perm).reshape(_space_to_depth_shape(x.shape, a))


# ---------------------------------------------------------------- the table
_POSITIVE = Attr("int", check=lambda v: None if v >= 1 else "must be >= 1")

SHAPE_OPS = {
    # name: (attrs, canonicalize, output shape from (input shape, attrs), numpy function or
    #        None for a reshape to the output shape)
    "Flatten": ({"axis": Attr("int", 1)}, _flatten_canon, _flatten_shape, None),
    "Reshape": ({"shape": Attr("ints"), "allowzero": Attr("int", 0, choices=(0, 1))},
                None, _reshape_shape, None),
    "Transpose": ({"perm": Attr("ints", None)}, _transpose_canon,
                  lambda s, a: tuple(s[p] for p in a["perm"]),
                  lambda x, a: x.transpose(a["perm"])),
    "Squeeze": ({"axes": Attr("ints", None)}, _squeeze_canon, _squeeze_shape, None),
    "Unsqueeze": ({"axes": Attr("ints")}, _unsqueeze_canon, _unsqueeze_shape, None),
    "Expand": ({"shape": Attr("ints", check=_non_negative)}, None,
               lambda s, a: broadcast_shapes(s, a["shape"]),
               lambda x, a: np.broadcast_to(x, broadcast_shapes(x.shape, a["shape"])).copy()),
    "Tile": ({"repeats": Attr("ints", check=_non_negative)}, None, _tile_shape,
             lambda x, a: np.tile(x, a["repeats"])),
    "Slice": ({"starts": Attr("ints"), "ends": Attr("ints"), "axes": Attr("ints", None),
               "steps": Attr("ints", None)}, _slice_canon, _slice_shape, _slice),
    "DepthToSpace": ({"blocksize": _POSITIVE,
                      "mode": Attr("str", "DCR", choices=("DCR", "CRD"))},
                     None, _depth_to_space_shape, _depth_to_space),
    "SpaceToDepth": ({"blocksize": _POSITIVE,
                      "mode": Attr("str", "DCR", choices=("DCR", "CRD"))},
                     None, _space_to_depth_shape, _space_to_depth),
}


def _space_to_depth_export(node, operands, b):
    """ONNX has SpaceToDepth's ``mode`` only from opset 25; CRD is written as the
    reshape-transpose-reshape the reference computes."""
    if node.attrs["mode"] == "DCR":
        return b.generic(attrs={"mode": None})
    n, c, *spatial = b.type(operands[0]).shape
    bs = node.attrs["blocksize"]
    perm = [int(p) for p in np.argsort(_blocked_to_interleaved(len(spatial), "CRD"))]
    (r,) = b.emit("Reshape", [operands[0], b.const(np.array([n, c, *(v for d in spatial for v in (d // bs, bs))], np.int64))])
    (t,) = b.emit("Transpose", [r], {"perm": perm})
    out = _space_to_depth_shape((n, c, *spatial), node.attrs)
    return b.emit("Reshape", [t, b.const(np.array(out, np.int64))], outputs=b.outputs)


#: ONNX inputs that are attributes here (the generic OnnxMap rule also reads the older
#: opsets' attribute forms of Squeeze/Unsqueeze/Slice axes, starts and ends)
ONNX = {
    "Reshape": OnnxMap(const_inputs={1: ("shape", "int64")}),
    "Expand": OnnxMap(const_inputs={1: ("shape", "int64")}),
    "Tile": OnnxMap(const_inputs={1: ("repeats", "int64")}),
    "Squeeze": OnnxMap(const_inputs={1: ("axes", "int64")}),
    "Unsqueeze": OnnxMap(const_inputs={1: ("axes", "int64")}),
    "Slice": OnnxMap(const_inputs={1: ("starts", "int64"), 2: ("ends", "int64"),
                                   3: ("axes", "int64"), 4: ("steps", "int64")}),
    "SpaceToDepth": OnnxMap(exporter=_space_to_depth_export),
}


# ---------------------------------------------------------------- C kernels
MAX_MERGED = 4096


def permuted_tables(in_view, perm):
    """View and tables of ``x.reshape(in_view).transpose(perm)``."""
    strides = contiguous_strides(in_view)
    view = tuple(in_view[p] for p in perm)
    return view, [axis_offsets(view[d], strides[p]) for d, p in enumerate(perm)]


def axis_tables(shape, sources):
    """Tables of output axes that read input axis ``d`` (of ``shape``) at the indices
    ``sources[d]`` (< 0: the fill value)."""
    return [np.where(src < 0, -1, np.asarray(src, np.int64) * s)
            for src, s in zip(sources, contiguous_strides(shape))]


def gather_kernel(req, view, tables, tag, fill=0, comment="") -> Kernel:
    """``_c.gather`` after merging adjacent view axes where one is a unit axis or the merged
    table is one strided run of at most MAX_MERGED entries without fill."""
    view, tables = list(view), [np.asarray(t, np.int64) for t in tables]
    if req.out_types[0].size == 0:
        view, tables = [0], [np.zeros(0, np.int64)]
    elif not view:                        # a rank-0 result
        view, tables = [1], [np.zeros(1, np.int64)]
    for d in reversed(range(len(view) - 1)):
        unit = 1 in (view[d], view[d + 1])
        if not unit and view[d] * view[d + 1] > MAX_MERGED:
            continue
        a, b = tables[d][:, None], tables[d + 1][None, :]
        merged = np.where((a < 0) | (b < 0), -1, a + b).reshape(-1)
        steps = np.diff(merged)
        if unit or (merged >= 0).all() and (steps == steps[0]).all():
            view[d:d + 2], tables[d:d + 2] = [view[d] * view[d + 1]], [merged]
    return gather(req, view, tables, tag, fill=fill, comment=comment)


def _transpose_c(req):
    perm = req.attrs["perm"]
    view, tables = permuted_tables(req.in_types[0].shape, perm)
    return gather_kernel(req, view, tables, "transpose_" + "_".join(map(str, perm)),
                         comment=f"Transpose perm={perm}")


def _expand_c(req):
    x, y = req.in_types[0], req.out_types[0]
    tables = [axis_offsets(o, s) for o, s in zip(y.shape, broadcast_strides(x.shape, y.shape))]
    return gather_kernel(req, y.shape, tables, "expand", comment=f"Expand {x.shape} to {y.shape}")


def _tile_c(req):
    x, y = req.in_types[0], req.out_types[0]
    sources = [np.arange(o) % max(d, 1) for d, o in zip(x.shape, y.shape)]
    return gather_kernel(req, y.shape, axis_tables(x.shape, sources), "tile",
                         comment=f"Tile repeats={req.attrs['repeats']}")


def _slice_c(req):
    shape = req.in_types[0].shape
    sources = [np.arange(d) for d in shape]
    for axis, start, stop, step in slice_ranges(shape, req.attrs):
        sources[axis] = np.arange(start, stop, step)
    return gather_kernel(req, req.out_types[0].shape, axis_tables(shape, sources), "slice",
                         comment="Slice " + ", ".join(f"axis {a}: {b}:{e}:{s}" for a, b, e, s
                                                      in slice_ranges(shape, req.attrs)))


def _space_depth_c(to_space: bool):
    def hook(req):
        nd, b, mode = req.in_types[0].rank - 2, req.attrs["blocksize"], req.attrs["mode"]
        view, tables = permuted_tables(*_space_depth_plan(req.in_types[0].shape, req.attrs, to_space))
        op = "depth_to_space" if to_space else "space_to_depth"
        return gather_kernel(req, view, tables, f"{op}{nd}d_b{b}_{mode.lower()}",
                             comment=f"{req.node.op} blocksize={b} mode={mode}")
    return hook


C_KERNELS = {"Flatten": copy_kernel, "Reshape": copy_kernel, "Squeeze": copy_kernel,
             "Unsqueeze": copy_kernel, "Transpose": _transpose_c, "Expand": _expand_c,
             "Tile": _tile_c, "Slice": _slice_c, "DepthToSpace": _space_depth_c(True),
             "SpaceToDepth": _space_depth_c(False)}


# ---------------------------------------------------------------- TVM
# The reshaping ops are Relax's reshape to the output shape; Transpose is permute_dims,
# Expand broadcast_to, Tile a broadcast between reshapes; Slice is strided_slice with the resolved ranges (a
# negative step is the positive-step slice of the same elements, then flip: Relax reads an
# end of -1 as "dim - 1", not "past index 0"); DepthToSpace/SpaceToDepth are the reference's
# reshape-transpose-reshape.

def _slice_tvm(req, xs, b):
    R, y = b.R, xs[0]
    axes, begins, ends, strides, flips = [], [], [], [], []
    for axis, start, stop, step in slice_ranges(req.in_types[0].shape, req.attrs):
        r = range(start, stop, step)
        first = (r[-1] if step < 0 else r[0]) if r else 0  # the lowest index taken
        axes.append(axis)
        begins.append(first)
        ends.append(first + (len(r) - 1) * abs(step) + 1 if r else 0)
        strides.append(abs(step))
        if step < 0 and len(r) > 1:
            flips.append(axis)
    y = b.emit(R.strided_slice(y, axes, begins, ends, strides, assume_inbound=True))
    for axis in flips:
        y = b.emit(R.flip(y, axis))
    return y


def _space_depth_tvm(to_space: bool):
    def rule(req, xs, b):
        view, perm = _space_depth_plan(req.in_types[0].shape, req.attrs, to_space)
        y = b.emit(b.R.permute_dims(tvm_reshape(b, xs[0], view), perm))
        return tvm_reshape(b, y, req.out_types[0].shape)
    return rule


def tvm_reshape(b, x, shape):
    """``x`` reshaped to ``shape``; Relax's reshape reads a 0 in ``shape`` as "copy the input
    dim", so an empty shape is TOPI's reshape."""
    shape = tuple(shape)
    return b.emit_te(b.topi.reshape, x, shape) if 0 in shape else b.emit(b.R.reshape(x, shape))


def _reshape_tvm(req, xs, b):
    return tvm_reshape(b, xs[0], req.out_types[0].shape)


def _tile_tvm(req, xs, b):
    """``x`` viewed as ``(1, d0, 1, d1, ..)``, broadcast to ``(r0, d0, r1, d1, ..)``, merged
    (Relax's tile miscompiles on AVX-512 LLVM targets: wrong values for a (2, 3, 4, 5) input
    tiled (7, 6, 4, 2), TVM 0.27)."""
    shape, reps = req.in_types[0].shape, req.attrs["repeats"]
    y = tvm_reshape(b, xs[0], tuple(v for d in shape for v in (1, d)))
    y = b.emit(b.R.broadcast_to(y, tuple(v for r, d in zip(reps, shape) for v in (r, d))))
    return tvm_reshape(b, y, req.out_types[0].shape)


TVM_RULES = {"Flatten": _reshape_tvm, "Reshape": _reshape_tvm, "Squeeze": _reshape_tvm,
             "Unsqueeze": _reshape_tvm,
             "Transpose": lambda req, xs, b: b.R.permute_dims(xs[0], req.attrs["perm"]),
             "Expand": lambda req, xs, b: b.R.broadcast_to(xs[0], req.out_types[0].shape),
             "Tile": _tile_tvm,
             "Slice": _slice_tvm, "DepthToSpace": _space_depth_tvm(True),
             "SpaceToDepth": _space_depth_tvm(False)}


#: the passes' traits (``OpDef``): the reshapes are views of their operand, and a node of
#: one of these that keeps its operand's type (or permutes no axis) is a no-op
_VIEW = {"view": True, "no_op": if_same_type}
TRAITS = {"Flatten": _VIEW, "Reshape": _VIEW, "Squeeze": _VIEW, "Unsqueeze": _VIEW,
          "Expand": {"no_op": if_same_type}, "Tile": {"no_op": if_same_type},
          "Transpose": {"no_op": lambda in_types, a, out_types: a["perm"] == tuple(range(len(a["perm"])))}}


def _reference(shape_fn, fn):
    def ref(inputs, a):
        x = inputs[0]
        return x.reshape(shape_fn(x.shape, a)) if fn is None else fn(x, a)
    return ref


for _name, (_attrs, _canon, _shape, _fn) in SHAPE_OPS.items():
    register(OpDef(name=_name, inputs=("X",), attrs=_attrs, canonicalize=_canon,
                   infer=lambda types, a, f=_shape: (types[0].with_shape(f(types[0].shape, a)),),
                   reference=_reference(_shape, _fn), onnx=ONNX.get(_name, OnnxMap()),
                   kernels={"c": C_KERNELS[_name]}, tvm=TVM_RULES[_name], **TRAITS.get(_name, {}),
                   doc=f"tensor-shape op {_name}"))
