"""Concat (variadic inputs) and Split (variadic outputs) along one axis.

ONNX semantics (latest opsets).  Split's ``split`` is a run-time tensor in ONNX and an
**attribute** here, because cnnc has static shapes.  An OpDef has no fixed output count:
Split has as many outputs as its ``infer`` returns types, so the number of parts must be
known from the attributes — ``split`` (the part sizes) or ``num_outputs`` (ONNX 18: parts
of ``ceil(dim / num_outputs)``, the last one smaller), exactly one of them.  Canonical
attributes hold the normalized axis and the resolved ``split`` (``num_outputs`` None).

Both C kernels are ``chunks.c.j2``: along ``axis`` every part is one contiguous chunk per
row of the dims before ``axis``, so a part costs one ``memcpy`` per row.  TVM: Relax's
``concat``; Split is one ``strided_slice`` per part.
"""
from __future__ import annotations

import math

import numpy as np

from ..ir import Attr, Kernel, OnnxMap, OpDef, ShapeError, any_layout, if_one_operand, register
from ._c import SHORT, ctype, parallel_tasks, worth_splitting
from ._common import norm_axis, same_dtype


def _chunks_c(req, whole, parts, split: bool) -> Kernel:
    """``whole`` (the concatenation) and ``parts``, contiguous along ``axis``."""
    axis, dtype = req.attrs["axis"], whole.dtype
    outer, inner = math.prod(whole.shape[:axis]), math.prod(whole.shape[axis + 1:])
    chunks = tuple(t.shape[axis] * inner for t in parts)
    offsets = tuple(int(o) for o in np.cumsum((0,) + chunks[:-1]))
    op = "split" if split else "concat"
    name = f"cnnc_{op}_{SHORT[dtype]}_{outer}x{sum(chunks)}_{len(parts)}parts"
    parts_nonempty = tuple(j for j, c in enumerate(chunks) if c)
    parallel = worth_splitting(whole.size, req.workers)
    blocks = parallel_tasks(outer, whole.size, req.workers)
    rows = -(-outer // blocks) if outer else 1
    blocks = -(-outer // rows) if outer else 1
    tasks = blocks * max(1, len(parts_nonempty))
    parallel = parallel and tasks > 1
    return Kernel("c/kernels/chunks.c.j2", name,
                  {"outer": outer, "total": sum(chunks), "chunks": chunks, "offsets": offsets,
                   "split": split, "ctype": ctype(dtype), "parts": parts_nonempty, "rows": max(rows, 1),
                   "tasks": tasks, "parallel": parallel},
                  parallel=parallel,
                  comment=f"{req.node.op} axis={axis} {'x'.join(map(str, whole.shape))} "
                          f"{'into' if split else 'from'} {len(parts)} parts")


def _concat_canon(a, types):
    return {**a, "axis": norm_axis(a["axis"], types[0].rank)}


def _concat_infer(types, a):
    same_dtype(types, [f"inputs[{i}]" for i in range(len(types))])
    axis, first = a["axis"], types[0].shape

    def others(shape):
        return shape[:axis] + shape[axis + 1:]

    if any(t.rank != len(first) or others(t.shape) != others(first) for t in types):
        raise ShapeError(f"inputs must share their rank and every dim but axis {axis}; got "
                         + ", ".join(str(t.shape) for t in types))
    size = sum(t.shape[axis] for t in types)
    return (types[0].with_shape(first[:axis] + (size,) + first[axis + 1:]),)


register(OpDef(
    name="Concat",
    inputs=("inputs*",),
    attrs={"axis": Attr("int")},
    canonicalize=_concat_canon,
    infer=_concat_infer,
    reference=lambda inputs, a: np.concatenate(inputs, axis=a["axis"]),
    kernels={"c": lambda req: _chunks_c(req, req.out_types[0], req.in_types, split=False)},
    tvm=lambda req, xs, b: b.R.concat(list(xs), axis=req.attrs["axis"]),
    no_op=if_one_operand,
    blocked=lambda types, a, block, **kw: any_layout(types, a, block, **kw) if a["axis"] == 1 else None,
    doc="join tensors along one axis",
))


def _split_canon(a, types):
    shape = types[0].shape
    axis = norm_axis(a["axis"], len(shape))
    split, n = a["split"], a["num_outputs"]
    if (split is None) == (n is None):
        raise ShapeError("give exactly one of split (part sizes) and num_outputs")
    dim = shape[axis]
    if split is None:
        chunk = -(-dim // n)
        split = (chunk,) * (n - 1) + (dim - chunk * (n - 1),)
        if split[-1] < 0:
            raise ShapeError(f"axis {axis} of input shape {shape} cannot be split into "
                             f"{n} parts of ceil({dim}/{n}) = {chunk}")
    if sum(split) != dim:
        raise ShapeError(f"split {split} sums to {sum(split)}, but axis {axis} of input shape "
                         f"{shape} has {dim}")
    return {**a, "axis": axis, "split": split, "num_outputs": None}


def _split_infer(types, a):
    x, axis = types[0], a["axis"]
    return tuple(x.with_shape(x.shape[:axis] + (n,) + x.shape[axis + 1:]) for n in a["split"])


def _split_ref(inputs, a):
    return tuple(np.split(inputs[0], np.cumsum(a["split"])[:-1], axis=a["axis"]))


def _split_tvm(req, xs, b):
    """One strided_slice per part (Relax's split is a tuple; the parts may be empty)."""
    axis, offsets = req.attrs["axis"], np.cumsum((0,) + tuple(req.attrs["split"]))
    return [b.R.strided_slice(xs[0], [axis], [int(lo)], [int(hi)], assume_inbound=True)
            for lo, hi in zip(offsets[:-1], offsets[1:])]


def _split_import(node, b):
    """ONNX before opset 18 splits evenly into as many parts as the node has outputs when
    neither ``split`` nor ``num_outputs`` is given."""
    if "split" in node.attrs or node.has_input(1) or "num_outputs" in node.attrs:
        return b.generic()
    return b.generic(attrs={"num_outputs": len(node.outputs)})


register(OpDef(
    name="Split",
    inputs=("input",),
    outputs=("outputs*",),
    attrs={"axis": Attr("int", 0),
           "split": Attr("ints", None, check=lambda v: None if v and all(x >= 0 for x in v)
                         else "needs at least one entry, every entry >= 0"),
           "num_outputs": Attr("int", None, check=lambda v: None if v >= 1 else "must be >= 1")},
    canonicalize=_split_canon,
    infer=_split_infer,
    reference=_split_ref,
    kernels={"c": lambda req: _chunks_c(req, req.in_types[0], req.out_types, split=True)},
    tvm=_split_tvm,
    onnx=OnnxMap(const_inputs={1: ("split", "int64")}, importers={1: _split_import}),
    doc="cut a tensor into parts along one axis",
))
