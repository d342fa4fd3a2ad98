"""``BlockedConv``: FusedConv on channel-blocked tensors, as the layout-assignment pass
(``cnnc.passes.layout``) makes it.

    X (N, C/b, *S, b)  NCHW<b>c        Y (N, M/b, *S', b)  NCHW<b>c
    W OIHW<b>i<b>o: (M/b, C/b, *K, b, b), or depthwise (group = C = M) OIHW<b>o: (M/b, 1, *K, b)
    B (M,), Z? like Y

``block`` is ``b``; every other attribute is FusedConv's, and so is the meaning: the
reference unblocks the operands (``layout.transform``), runs FusedConv's reference and
blocks the result, and ONNX export writes the same as a model-local function of standard
ops.  The layout pass blocks a conv only where both channel counts are multiples of
``b`` (group 1, or depthwise with one output per channel), and packs the weight with a
``LayoutTransform`` of the constant that constant folding folds, so the packed array is
what the model stores.  The C entry is ``_c_nchwc``; TVM unblocks, runs FusedConv's rule
and blocks (issue 14 gives it Relax's blocked conv layouts).
"""
from __future__ import annotations

from ..ir import Attr, Impl, KernelRequest, Node, OnnxMap, OpDef, ShapeError, get_op, register
from ..ir.types import TensorType
from . import _c_nchwc as nchwc
from . import fused_conv
from .layout import activation_layout, emit_transform, plan, transform, tvm_transform, weight_layout

FUSED = get_op("FusedConv")


def layouts(rank: int, block: int, depthwise: bool) -> tuple[str, str]:
    """(activation, weight) layouts of a BlockedConv whose plain input has ``rank`` axes."""
    return activation_layout(rank, block), weight_layout(rank, block, depthwise)


def _depthwise(a) -> bool:
    return a.get("group", 1) > 1


def plain_types(types, a) -> list[TensorType]:
    """The FusedConv operand types that ``types`` (X, W, B, Z?) block."""
    x = types[0]
    if x.rank < 4 or x.shape[-1] != a["block"]:
        raise ShapeError(f"X {x} is not NCHW{a['block']}c: expected (N, C/{a['block']}, *spatial, {a['block']})")
    act, wl = layouts(x.rank - 1, a["block"], _depthwise(a))
    plain = activation_layout(x.rank - 1)
    out = [x.with_shape(plan(x.shape, act, plain).shape),
           types[1].with_shape(plan(types[1].shape, wl, weight_layout(x.rank - 1)).shape), *types[2:3]]
    if len(types) > 3:
        out.append(types[3].with_shape(plan(types[3].shape, act, plain).shape))
    return out


def fused_attrs(a, plain):
    """FusedConv's attributes of a BlockedConv's ``a`` (all but ``block``)."""
    return FUSED.make_attrs({k: v for k, v in a.items() if k != "block"}, plain)


def _canon(a, types):
    if not types:
        return a
    plain = plain_types(types, a)
    out = dict(FUSED.canonicalize({k: v for k, v in a.items() if k != "block"}, plain))
    g, c, m = out["group"], plain[0].shape[1], plain[1].shape[0]
    if g != 1 and not g == c == m:
        raise ShapeError(f"a blocked conv is group 1 or depthwise with one output per channel; got group {g} "
                         f"with {c} input and {m} output channels")
    return {**out, "block": a["block"]}


def _infer(types, a):
    plain = plain_types(types, a)
    (y,) = FUSED.infer(plain, fused_attrs(a, plain))
    yb = y.with_shape(plan(y.shape, activation_layout(y.rank), activation_layout(y.rank, a["block"])).shape)
    if len(types) > 3 and types[3] != yb:
        raise ShapeError(f"residual Z {types[3]} must have the output's type {yb}")
    return (yb,)


def _unblock(arrays, a):
    rank = arrays[0].ndim - 1
    act, wl = layouts(rank, a["block"], _depthwise(a))
    plain = activation_layout(rank)
    out = [transform(arrays[0], act, plain), transform(arrays[1], wl, weight_layout(rank)), *arrays[2:3]]
    if len(arrays) > 3:
        out.append(transform(arrays[3], act, plain))
    return out


def _reference(inputs, a):
    plain = _unblock(inputs, a)
    (y,) = FUSED.run(plain, fused_attrs(a, [TensorType.of(v) for v in plain]))
    return transform(y, activation_layout(y.ndim), activation_layout(y.ndim, a["block"]))


def _flops(types, a, outs) -> int:
    plain = plain_types(types, a)
    (y,) = FUSED.infer(plain, fused_attrs(a, plain))
    return FUSED.cost(plain, fused_attrs(a, plain), [y])


def _export(node, operands, b):
    """A model-local function: the operands unblocked, FusedConv's body, the result blocked."""
    a, t = node.attrs, [b.type(o) for o in operands]
    plain = plain_types(t, a)
    rank = plain[0].rank
    act, wl = layouts(rank, a["block"], _depthwise(a))
    fa = fused_attrs(a, plain)
    (y_plain,) = FUSED.infer(plain, fa)

    def body(fb, params):
        ps = [emit_transform(fb, params[0], t[0].shape, act, activation_layout(rank))[0],
              emit_transform(fb, params[1], t[1].shape, wl, weight_layout(rank))[0], *params[2:3]]
        if len(params) > 3:
            ps.append(emit_transform(fb, params[3], t[3].shape, act, activation_layout(rank))[0])
        y = fused_conv.export_body(fb, ps, fa, plain[0].shape[2:], t[0].dtype)
        return emit_transform(fb, y, y_plain.shape, activation_layout(rank), act)
    digest = b.digest([x.shape for x in t], t[0].dtype, sorted(a.items()))
    return b.function(f"BlockedConv_{digest}", operands, body)


def _tvm(req, xs, b):
    """Unblock, FusedConv's rule, block."""
    a, t = req.attrs, list(req.in_types)
    plain = plain_types(t, a)
    rank = plain[0].rank
    act, wl = layouts(rank, a["block"], _depthwise(a))
    fa = fused_attrs(a, plain)
    (y,) = FUSED.infer(plain, fa)
    ps = [tvm_transform(b, xs[0], t[0].shape, act, activation_layout(rank)),
          tvm_transform(b, xs[1], t[1].shape, wl, weight_layout(rank)), *xs[2:3]]
    if len(xs) > 3:
        ps.append(tvm_transform(b, xs[3], t[3].shape, act, activation_layout(rank)))
    consts = [None] * len(t)
    if req.constants[1] is not None:
        consts[1] = transform(req.constants[1], wl, weight_layout(rank))
    node = Node(req.node.name, "FusedConv", fa, (y,), req.node.label)
    out = fused_conv.fused_tvm(KernelRequest(node, plain, [y], consts), ps, b)
    return tvm_transform(b, b.emit(out), y.shape, activation_layout(rank), act)


def _c_plan(req):
    return nchwc.conv_nchwc(req, "bconv", **fused_conv.plan_epilogue(req))


register(OpDef(
    name="BlockedConv",
    inputs=("X", "W", "B", "Z?"),
    attrs={**FUSED.attrs, "block": Attr("int", check=lambda b: None if b >= 2 else "must be >= 2",
                                        doc="channels per block (the target's vector lanes)")},
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
