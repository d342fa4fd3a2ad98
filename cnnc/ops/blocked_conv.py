"""``BlockedConv``: FusedConv on channel-blocked tensors, as the layout-assignment pass
(``cnnc.passes.layout``) makes it.

    X (N, C/b, *S, b)  NCHW<b>c        Y (N, M/b, *S', b)  NCHW<b>c
    W OIHW<b>i<b>o: (M/b, C/b, *K, b, b), or depthwise (group = C = M) OIHW<b>o: (M/b, 1, *K, b)
    B (M,), Z? like Y

``block`` is ``b``.  With ``x_blocked`` false X is plain NCHW of any channels and W is
OIHW<b>o: (M/b, C, *K, b), as MLAS reads a first layer; with ``y_blocked`` false Y and Z
are plain NCHW of ``out_channels`` channels, the weight and bias padded with zeros to a
whole last block.  So a region of blocked layers needs no layout transform where it
starts or ends at a conv.  Every other attribute is FusedConv's, and so is the meaning:
the reference makes the operands plain (``layout.transform``), runs FusedConv's reference
and cuts and blocks the result; ONNX export writes the same as a model-local function of
standard ops.  The layout pass packs the weight with a ``LayoutTransform`` (after a
``Pad``) of the constant that constant folding folds, so the packed array is what the
model stores.  The C entry is ``_c_nchwc``; TVM makes the operands plain, runs
FusedConv's rule and blocks the result (issue 14 gives it Relax's blocked conv layouts).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..ir import Attr, Impl, KernelRequest, Node, OnnxMap, OpDef, ShapeError, get_op, register
from ..ir.types import TensorType
from . import _c_nchwc as nchwc
from . import _spatial as sp
from . import fused_conv
from .layout import activation_layout, emit_transform, plan, transform, tvm_transform, weight_layout

FUSED = get_op("FusedConv")


def layouts(a, rank: int) -> tuple[str, str, str]:
    """(X, W, Y) layouts of a BlockedConv with attributes ``a`` whose plain input has
    ``rank`` axes (Z has Y's)."""
    b = a["block"]
    return (activation_layout(rank, b if a["x_blocked"] else 0),
            weight_layout(rank, b, block_inputs=a["x_blocked"] and a["group"] == 1),
            activation_layout(rank, b if a["y_blocked"] else 0))


def _rank(types, a) -> int:
    return types[0].rank - 1 if a["x_blocked"] else types[0].rank


def plain_types(types, a) -> list[TensorType]:
    """The FusedConv operand types whose meaning ``types`` (X, W, B, Z?) carry: X and W
    unblocked, and Z padded to the padded output channels (``a``: every attribute, as
    ``OpDef.make_attrs`` gives them to ``canonicalize``)."""
    x, rank = types[0], _rank(types, a)
    if a["x_blocked"] and (x.rank < 4 or x.shape[-1] != a["block"]):
        raise ShapeError(f"X {x} is not NCHW{a['block']}c: expected (N, C/{a['block']}, *spatial, {a['block']})")
    xl, wl, yl = layouts(a, rank)
    w = types[1].with_shape(plan(types[1].shape, wl, weight_layout(rank)).shape)
    out = [x.with_shape(plan(x.shape, xl, activation_layout(rank)).shape), w, *types[2:3]]
    if len(types) > 3:
        z = types[3].with_shape(plan(types[3].shape, yl, activation_layout(rank)).shape)
        out.append(z.with_shape((z.shape[0], w.shape[0], *z.shape[2:])))
    return out


def fused_attrs(a, plain):
    """FusedConv's attributes of a BlockedConv's ``a`` (all but its layout attributes)."""
    return FUSED.make_attrs({k: v for k, v in a.items() if k not in LAYOUT_ATTRS}, plain)


LAYOUT_ATTRS = ("block", "x_blocked", "y_blocked", "out_channels")


def _canon(a, types):
    if not types:
        return a
    plain = plain_types(types, a)
    out = dict(FUSED.canonicalize({k: v for k, v in a.items() if k not in LAYOUT_ATTRS}, plain))
    g, c, padded = out["group"], plain[0].shape[1], plain[1].shape[0]
    if g != 1 and not (g == c == padded and a["x_blocked"] and a["y_blocked"]):
        raise ShapeError(f"a blocked conv is group 1 or depthwise with one output per channel on blocked "
                         f"tensors; got group {g} with {c} input and {padded} output channels")
    m = a["out_channels"] or padded
    if not (padded - a["block"] < m <= padded) or (a["y_blocked"] and m != padded):
        raise ShapeError(f"out_channels {m} does not fit a weight of {padded} output channels "
                         f"({'blocks of' if a['y_blocked'] else 'a last partial block of'} {a['block']})")
    return {**out, **{k: a[k] for k in LAYOUT_ATTRS}, "out_channels": m}


def _infer(types, a):
    plain = plain_types(types, a)
    (y,) = FUSED.infer(plain[:3], fused_attrs(a, plain))
    y = y.with_shape((y.shape[0], a["out_channels"], *y.shape[2:]))
    yb = y.with_shape(plan(y.shape, activation_layout(y.rank), layouts(a, y.rank)[2]).shape)
    if len(types) > 3 and types[3] != yb:
        raise ShapeError(f"residual Z {types[3]} must have the output's type {yb}")
    return (yb,)


def _reference(inputs, a):
    rank = _rank([TensorType.of(v) for v in inputs], a)
    xl, wl, yl = layouts(a, rank)
    plain = [transform(inputs[0], xl, activation_layout(rank)), transform(inputs[1], wl, weight_layout(rank)),
             inputs[2]]
    padded = plain[1].shape[0]
    if len(inputs) > 3:
        z = transform(inputs[3], yl, activation_layout(rank))
        plain.append(np.pad(z, [(0, 0), (0, padded - z.shape[1])] + [(0, 0)] * (z.ndim - 2)))
    (y,) = FUSED.run(plain, fused_attrs(a, [TensorType.of(v) for v in plain]))
    return transform(np.ascontiguousarray(y[:, :a["out_channels"]]), activation_layout(rank), yl)


class _Meaning(NamedTuple):
    """A BlockedConv as FusedConv: its operand types, rank, the (X, W, Y) layouts, its
    attributes and (padded) result type, the padded and the real output channels."""

    plain: list
    rank: int
    xl: str
    wl: str
    yl: str
    attrs: object
    y: TensorType
    padded: int
    m: int


def _meaning(types, a) -> _Meaning:
    plain = plain_types(types, a)
    fa = fused_attrs(a, plain)
    (y,) = FUSED.infer(plain[:3], fa)
    return _Meaning(plain, plain[0].rank, *layouts(a, plain[0].rank), fa, y, plain[1].shape[0], a["out_channels"])


def _flops(types, a, outs) -> int:
    f = _meaning(types, a)
    return FUSED.cost(f.plain, f.attrs, [f.y])


def _export(node, operands, b):
    """A model-local function: the operands made plain (Z padded), FusedConv's body, the
    result cut to its channels and blocked."""
    a, t = node.attrs, [b.type(o) for o in operands]
    plain, rank, xl, wl, yl, fa, y_plain, padded, m = _meaning(t, a)

    def body(fb, params):
        ps = [emit_transform(fb, params[0], t[0].shape, xl, activation_layout(rank))[0],
              emit_transform(fb, params[1], t[1].shape, wl, weight_layout(rank))[0], *params[2:3]]
        if len(params) > 3:
            (z,) = emit_transform(fb, params[3], t[3].shape, yl, activation_layout(rank))
            if padded != m:
                pads = np.zeros(2 * rank, np.int64)
                pads[rank + 1] = padded - m
                (z,) = fb.emit("Pad", [z, fb.const(pads)])
            ps.append(z)
        y = fused_conv.export_body(fb, ps, fa, plain[0].shape[2:], t[0].dtype)
        if padded != m:
            (y,) = fb.emit("Slice", [y, fb.const(np.array([0], np.int64)), fb.const(np.array([m], np.int64)),
                                     fb.const(np.array([1], np.int64))])
        return emit_transform(fb, y, (y_plain.shape[0], m, *y_plain.shape[2:]), activation_layout(rank), yl)
    digest = b.digest([x.shape for x in t], t[0].dtype, sorted(a.items()))
    return b.function(f"BlockedConv_{digest}", operands, body)


def _tvm(req, xs, b):
    """The blocked conv as one TE reduction on the blocked operands (the layout TVM's CPU
    schedule rules tile: the channel block is the vector, ``cnnc.backends.tvm_rules``),
    then bias, the epilogue and the result's layout as Relax ops, which operator fusion
    keeps in the conv's kernel.  A padded conv with a non-finite weight takes FusedConv's
    rule on plain operands instead (its padding taps must not be multiplied)."""
    a, t = req.attrs, list(req.in_types)
    f = _meaning(t, a)
    plain_req = KernelRequest(Node(req.node.name, "FusedConv", f.attrs, (f.y,), req.node.label), f.plain, [f.y],
                              [None, None if req.constants[1] is None
                               else transform(req.constants[1], f.wl, weight_layout(f.rank)), None, None][:len(t)])
    if sp.weight_meets_padding_nonfinite(plain_req):
        return _tvm_plain(req, xs, b, f, plain_req)
    blk, rank = a["block"], f.rank
    yb = activation_layout(rank, blk)
    pads = sp.resolve_pads(f.plain[0].shape[2:], a["kernel_shape"], a["strides"], a["dilations"], a["auto_pad"],
                           a["pads"])
    y = b.emit_te(lambda x, w: _te_conv(b, x, w, a, f.y, pads), xs[0], xs[1], name=f"conv{rank - 2}d_nchw{blk}c")
    out_shape = b.shape(y)
    y = b.R.add(y, b.R.reshape(xs[2], (1, out_shape[1]) + (1,) * (rank - 2) + (blk,)))
    z = None
    if len(xs) > 3:
        z = xs[3]
        if not a["y_blocked"]:
            if f.padded != f.m:
                z = b.emit(b.R.nn.pad(z, [0, 0, 0, f.padded - f.m] + [0, 0] * (rank - 2)))
            z = tvm_transform(b, z, (t[3].shape[0], f.padded, *t[3].shape[2:]), activation_layout(rank), yb)
    y = fused_conv.epilogue_tvm(plain_req, y, z, b, out_shape)
    if a["y_blocked"]:
        return y
    y = tvm_transform(b, b.emit(y), out_shape, yb, activation_layout(rank))
    if f.padded != f.m:
        y = b.emit(b.R.strided_slice(y, [1], [0], [f.m]))
    return y


def _te_conv(b, x, w, attrs, y, pads):
    """TE: the conv of X and W in their blocked layouts (see the module docstring), without
    bias.  Reduction axes: input-channel blocks, the kernel window, the channel in its block
    (depthwise: the window only)."""
    te, tir = b.te, b.tir
    a, blk = attrs, attrs["block"]
    nd = len(a["kernel_shape"])
    k, s, d = a["kernel_shape"], a["strides"], a["dilations"]
    xs = [int(e) for e in x.shape]
    spatial = xs[2:2 + nd]
    if any(pads):
        def padded(*i):
            pos = [i[2 + j] - pads[j] for j in range(nd)]
            inside = tir.all(*[tir.all(p >= 0, p < e) for p, e in zip(pos, spatial)])
            at = (*i[:2], *[tir.max(tir.min(p, e - 1), 0) for p, e in zip(pos, spatial)], *i[2 + nd:])
            return tir.if_then_else(inside, x[at], tir.const(0, x.dtype))
        x = te.compute((*xs[:2], *[e + pads[j] + pads[nd + j] for j, e in enumerate(spatial)], *xs[2 + nd:]),
                       padded, name="pad")
    rk = [te.reduce_axis((0, ki), name=f"rk{i}") for i, ki in enumerate(k)]
    out = (y.shape[0], y.shape[1] // blk, *y.shape[2:], blk)

    def at(o):
        return [oi * si + ri * di for oi, si, ri, di in zip(o, s, rk, d)]
    if a["group"] != 1:                               # depthwise: one input channel per output
        def f(n, m, *rest):
            o, c = rest[:-1], rest[-1]
            return te.sum(x[(n, m, *at(o), c)] * w[(m, 0, *rk, c)], axis=rk)
    elif a["x_blocked"]:
        rc = te.reduce_axis((0, xs[1]), name="rc")
        rb = te.reduce_axis((0, blk), name="rb")

        def f(n, m, *rest):
            o, c = rest[:-1], rest[-1]
            return te.sum(x[(n, rc, *at(o), rb)] * w[(m, rc, *rk, rb, c)], axis=[rc, *rk, rb])
    else:                                             # a plain input of any channels
        rc = te.reduce_axis((0, xs[1]), name="rc")

        def f(n, m, *rest):
            o, c = rest[:-1], rest[-1]
            return te.sum(x[(n, rc, *at(o))] * w[(m, rc, *rk, c)], axis=[rc, *rk])
    return te.compute(out, f, name="conv_nchwc")


def _tvm_plain(req, xs, b, f, plain_req):
    """Unblock, FusedConv's rule, block."""
    a, t = req.attrs, list(req.in_types)
    rank = f.rank
    ps = [tvm_transform(b, xs[0], t[0].shape, f.xl, activation_layout(rank)),
          tvm_transform(b, xs[1], t[1].shape, f.wl, weight_layout(rank)), *xs[2:3]]
    if len(xs) > 3:
        z = tvm_transform(b, xs[3], t[3].shape, f.yl, activation_layout(rank))
        if f.padded != f.m:
            z = b.emit(b.R.nn.pad(z, [0, 0, 0, f.padded - f.m] + [0, 0] * (rank - 2)))
        ps.append(z)
    out = b.emit(fused_conv.fused_tvm(plain_req, ps, b))
    if f.padded != f.m:
        out = b.emit(b.R.strided_slice(out, [1], [0], [f.m]))
    return tvm_transform(b, out, (f.y.shape[0], f.m, *f.y.shape[2:]), activation_layout(rank), f.yl)


def _c_plan(req):
    return nchwc.conv_nchwc(req, "bconv", **fused_conv.plan_epilogue(req))


register(OpDef(
    name="BlockedConv",
    inputs=("X", "W", "B", "Z?"),
    attrs={**FUSED.attrs, "block": Attr("int", check=lambda b: None if b >= 2 else "must be >= 2",
                                        doc="channels per block (the target's vector lanes)"),
           "x_blocked": Attr("bool", True, doc="X is NCHW<block>c (else plain NCHW, read as it is)"),
           "y_blocked": Attr("bool", True, doc="Y and Z are NCHW<block>c (else plain NCHW)"),
           "out_channels": Attr("int", 0, doc="Y's channels (0: the weight's; fewer where Y is plain and "
                                "the weight's last block is padded)")},
    canonicalize=_canon,
    infer=_infer,
    reference=_reference,
    onnx=OnnxMap(domain="cnnc", exporter=_export),
    flops=_flops,
    kernels={"c": (Impl("nchwc", _c_plan, applies=nchwc.applies, cost=nchwc.cost, portable=False,
                        template=nchwc.TEMPLATE),)},
    tvm=_tvm,
    in_place=(3,),
    doc="FusedConv on channel-blocked tensors (NCHW<b>c, weights packed OIHW<b>i<b>o or OIHW<b>o), "
        "made by the layout pass",
))
