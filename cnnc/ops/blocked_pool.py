"""``BlockedPool``: MaxPool or AveragePool on a channel-blocked tensor, as the
layout-assignment pass (``cnnc.passes.layout``) makes it.

    X (N, C/b, *S, b)  NCHW<b>c        Y (N, C/b, *S', b)  NCHW<b>c

``pool`` names the pool, ``block`` is ``b``, and every other attribute is that pool's
(``cnnc.ops.pool``), with its meaning: a pool is one window per channel, so on a blocked
tensor it is the same windows over the spatial axes with the channel block innermost.  A
region of blocked convs that a pool sits in (SqueezeNet's, ResNet's stem, Inception's)
then needs no layout transform on either side of the pool, and each tap is a vector of
``b`` channels.  The reference makes X plain, runs the pool's reference and blocks the
result; ONNX export writes the same as a model-local function of standard ops.  The C
kernel visits each window's taps on the input (the pool's per-axis tables) a vector of
channels at a time; TVM lowers it with the pool's own computation (``pool.lower_pool``),
which keeps trailing axes.
"""
from __future__ import annotations

import numpy as np

from ..ir import Attr, Impl, Kernel, OnnxMap, OpDef, ShapeError, get_op, register
from ..ir.types import TensorType
from . import _spatial as sp
from . import pool
from ._c import contiguous_strides, neg_infinity, parallel_tasks
from .layout import activation_layout, emit_transform, plan, transform


def pool_attrs(a) -> dict:
    """The pool's own attributes of a BlockedPool's ``a``."""
    names = get_op(a["pool"]).attrs
    return {k: v for k, v in a.items() if k in names}


def _own(a, x: TensorType):
    """The pool's attributes of a BlockedPool's ``a`` over the plain input type ``x``."""
    return get_op(a["pool"]).make_attrs(pool_attrs(a), [x])


def _plain_type(x: TensorType, a) -> TensorType:
    b = a["block"]
    if x.rank < 4 or x.shape[-1] != b:
        raise ShapeError(f"X {x} is not NCHW{b}c: expected (N, C/{b}, *spatial, {b})")
    return x.with_shape(plan(x.shape, activation_layout(x.rank - 1, b), activation_layout(x.rank - 1)).shape)


def _canon(a, types):
    if not types:
        return a
    x = _plain_type(types[0], a)
    sp.spatial_rank(x.shape, ranks=(1, 2))
    return {**a, **get_op(a["pool"]).canonicalize(pool_attrs(a), [x])}


def _infer(types, a):
    x = _plain_type(types[0], a)
    (y,) = get_op(a["pool"]).infer([x], _own(a, x))
    return (y.with_shape(plan(y.shape, activation_layout(y.rank), activation_layout(y.rank, a["block"])).shape),)


def _reference(inputs, a):
    rank = inputs[0].ndim - 1
    xl, pl = activation_layout(rank, a["block"]), activation_layout(rank)
    op = get_op(a["pool"])
    x = transform(inputs[0], xl, pl)
    (y,) = op.run([x], _own(a, TensorType.of(x)))
    return transform(y, pl, xl)


def _export(node, operands, b):
    """A model-local function: X made plain, the pool (``pool.onnx_pool``), the result
    blocked."""
    a = node.attrs
    t = b.type(operands[0])
    x = _plain_type(t, a)
    rank, own = x.rank, _own(a, x)
    y_shape = get_op(a["pool"]).infer([x], own)[0].shape

    def body(fb, params):
        (p,) = emit_transform(fb, params[0], t.shape, activation_layout(rank, a["block"]), activation_layout(rank))
        (y,) = pool.onnx_pool(fb, a["pool"], p, own, x.shape)
        return emit_transform(fb, y, y_shape, activation_layout(rank), activation_layout(rank, a["block"]))
    digest = b.digest(t.shape, t.dtype, sorted(a.items()))
    return b.function(f"BlockedPool_{digest}", operands, body)


def _tvm(req, xs, b):
    """The pool's own computation on the blocked operand: its window axes are the spatial
    ones, the channel block rides along as a trailing axis."""
    a = req.attrs
    x = _plain_type(req.in_types[0], a)
    return pool.lower_pool(a["pool"], b, xs[0], x.shape, x.dtype, _own(a, x))


# ------------------------------------------------------------------ C kernel
#: one tap of one lane a second (a vector of the block's lanes is one load and one max or
#: add), as the pool's other C plans count their taps
LANE_TAPS = 1e9


def _geometry(req):
    a, x, y = req.attrs, req.in_types[0], req.out_types[0]
    plain = _plain_type(x, a)
    return a, plain, y, plain.shape[2:], y.shape[2:-1]


def _applies(req) -> bool:
    """fp32 on an ISA with vectors (the template's vectors are GNU C vector extensions, as
    the blocked conv's; the layout pass blocks nothing for generic C99)."""
    return (req.in_types[0].dtype == "float32" and req.isa.vector > 0 and req.in_types[0].size > 0
            and req.out_types[0].size > 0)


def _items(req) -> tuple[int, int]:
    """(items, taps an item): an item is one output row (a 1-D map's whole row) of one
    channel block."""
    a, plain, y, xs, ys = _geometry(req)
    items = y.shape[0] * y.shape[1] * (ys[0] if len(ys) == 2 else 1)
    return items, y.size // max(items, 1) * int(np.prod(a["kernel_shape"]))


def _cost(req) -> float:
    items, taps = _items(req)
    lanes = max(1, min(req.attrs["block"], req.isa.vector or 1))
    tasks = parallel_tasks(items, items * taps, req.workers)
    return items * taps / (LANE_TAPS * lanes) * req.workers / min(req.workers, tasks)


def _c_plan(req):
    a, plain, y, xs, ys = _geometry(req)
    kind = pool.POOLS[a["pool"]]
    own = _own(a, plain)
    nd, blk = len(xs), a["block"]
    pads, tables = pool.window_table_set(kind, xs, own)
    items, taps = _items(req)
    tasks = parallel_tasks(items, items * taps, req.workers)
    params = {"avg": kind.name == "AveragePool", "nd": nd, "B": blk, "out": ys, "rows": items,
              "in_plane": int(np.prod(xs)) * blk, "x_strides": [s * blk for s in contiguous_strides(xs)],
              "dilations": own["dilations"], "neg_inf": neg_infinity("float32"), "tasks": tasks,
              "chunk": -(-items // tasks)}
    name = (f"cnnc_{kind.tag}_nchw{blk}c_{'x'.join(map(str, (y.shape[0] * y.shape[1], *xs)))}"
            f"_k{'x'.join(map(str, own['kernel_shape']))}_s{'x'.join(map(str, own['strides']))}"
            f"_d{'x'.join(map(str, own['dilations']))}_p{'_'.join(map(str, pads))}"
            + ("_ceil" if own["ceil_mode"] else "") + ("_cip" if own.get("count_include_pad") else ""))
    comment = (f"{kind.name} on NCHW{blk}c, kernel {own['kernel_shape']} strides {own['strides']} dilations "
               f"{own['dilations']} pads {pads} ceil_mode {own['ceil_mode']} -> {y}")
    return Kernel("c/kernels/pool_blocked.c.j2", name, params, tables=tables, comment=comment, parallel=tasks > 1)


_ATTRS = {k: v for name in pool.BLOCKED_POOLS for k, v in get_op(name).attrs.items() if k not in pool.NOT_BLOCKED}

register(OpDef(
    name="BlockedPool",
    inputs=("X",),
    attrs={**_ATTRS,
           "pool": Attr("str", choices=pool.BLOCKED_POOLS, doc="the pool: MaxPool or AveragePool"),
           "block": Attr("int", check=lambda b: None if b >= 2 else "must be >= 2",
                         doc="channels per block (the target's vector lanes)")},
    canonicalize=_canon,
    infer=_infer,
    reference=_reference,
    onnx=OnnxMap(domain="cnnc", exporter=_export),
    kernels={"c": (Impl("blocked", _c_plan, applies=_applies, cost=_cost, portable=False,
                        template="c/kernels/pool_blocked.c.j2"),)},
    tvm=_tvm,
    doc="MaxPool or AveragePool on a channel-blocked tensor (NCHW<b>c), made by the layout pass",
))
