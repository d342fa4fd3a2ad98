"""``FusedConv``: a convolution with its epilogue, as the conv-norm-ReLU fusion pass makes it.

    residual="pre":   Y = act(conv(X, W) + B + Z)      (ResNet: add the shortcut, then ReLU)
    residual="post":  Y = act(conv(X, W) + B) + Z      (linear bottlenecks add after)

``X, W`` and the window attributes are Conv's; ``B`` (M,) is required (the pass folds a
BatchNorm into it, or makes it zeros); ``Z`` is an optional residual of Y's shape.
``activation`` names the activation op applied (``""`` for none) and ``act_alpha``,
``act_beta``, ``act_min``, ``act_max`` carry that op's attributes of the same names
(LeakyRelu's alpha, HardSigmoid's alpha/beta, Clip's min/max), so the epilogue has exactly
the activation op's semantics: the reference runs that op's own reference.  Every backend
implements FusedConv; ONNX export writes it as a model-local function of standard ops.
The C kernel is Conv's (``conv.direct_conv``) with the epilogue applied to each finished
accumulator before the store, the activation spelled by its record's C expression
(``activation.Activation.c``).  The TVM rule is Conv's followed by the residual add and the
activation's own Relax rule (``Activation.tvm``), which TVM's operator fusion folds into
the conv's epilogue.
"""
from __future__ import annotations

import numpy as np

from ..ir import Attr, KernelRequest, Node, OnnxMap, OpDef, ShapeError, UnsupportedError, get_op, register
from . import _spatial as sp
from .activation import ACTIVATIONS, EPILOGUE_ATTRS
from ._c_conv import conv_impls
from ._cuda_conv import cuda_conv_impls
from .layout import conv_blocked
from .conv import conv_flops, conv_nd, conv_tvm, direct_conv

ACT_PARAMS = EPILOGUE_ATTRS


def fusable_activation(name: str) -> bool:
    """Whether a conv epilogue may apply the op ``name`` (its ``Activation.fusable``; the
    fusion pass fuses exactly these)."""
    act = ACTIVATIONS.get(name)
    return act is not None and act.fusable


def fusable_activations() -> tuple[str, ...]:
    """The names of the registered fusable activations, in registration order."""
    return tuple(n for n in ACTIVATIONS if fusable_activation(n))


def _check_activation(name: str) -> str | None:
    if name == "" or fusable_activation(name):
        return None
    return f"must be '' (none) or a fusable activation: {', '.join(fusable_activations())}"


def activation_attrs(a) -> dict:
    """The fused activation op's own attributes, from FusedConv's ``act_*`` attributes."""
    spec = get_op(a["activation"]).attrs
    return {k: a[f"act_{k}"] for k in ACT_PARAMS if k in spec and a[f"act_{k}"] is not None}


def _canon(attrs, types):
    conv = get_op("Conv")
    out = conv.canonicalize(attrs, types[:2])
    if out["activation"]:
        get_op(out["activation"]).make_attrs(activation_attrs(out), types[:1])  # validates them
    return out


def _infer(types, a):
    (y,) = get_op("Conv").infer(types[:3], a)
    if len(types) > 3 and types[3] != y:
        raise ShapeError(f"residual Z {types[3]} must have the output's type {y}")
    return (y,)


def apply_activation(y: np.ndarray, a) -> np.ndarray:
    if not a["activation"]:
        return y
    op = get_op(a["activation"])
    return op.run([y], op.make_attrs(activation_attrs(a), []))[0]


def _reference(inputs, a):
    y = conv_nd(inputs[0], inputs[1], inputs[2], a)
    z = inputs[3] if len(inputs) > 3 else None
    if z is not None and a["residual"] == "pre":
        y = y + z
    y = apply_activation(y, a)
    if z is not None and a["residual"] == "post":
        y = y + z
    return y.astype(inputs[0].dtype)


def export_body(fb, params, a, ishape, dtype) -> str:
    """Emit FusedConv's meaning in standard ONNX ops into a function body ``fb``: Conv, the
    residual Add, the activation, in epilogue order, over ``params`` (X, W, B, Z?; X of
    spatial shape ``ishape``); returns the result's name."""
    pads = sp.resolve_pads(ishape, a["kernel_shape"], a["strides"], a["dilations"], a["auto_pad"], a["pads"])
    (y,) = fb.emit("Conv", params[:3], {"kernel_shape": a["kernel_shape"], "strides": a["strides"],
                                        "dilations": a["dilations"], "pads": pads, "group": a["group"]})
    if len(params) > 3 and a["residual"] == "pre":
        (y,) = fb.emit("Add", [y, params[3]])
    if a["activation"] == "Silu":
        (s,) = fb.emit("Sigmoid", [y])
        (y,) = fb.emit("Mul", [y, s])
    elif a["activation"] == "Clip":
        lo, hi = (None if a[k] is None else fb.const(np.asarray(a[k], dtype)) for k in ("act_min", "act_max"))
        (y,) = fb.emit("Clip", [y, lo or "", hi or ""] if hi else [y, lo or ""])
    elif a["activation"]:
        (y,) = fb.emit(a["activation"], [y], activation_attrs(a))
    if len(params) > 3 and a["residual"] == "post":
        (y,) = fb.emit("Add", [y, params[3]])
    return y


def _export(node, operands, b):
    """A model-local function of standard ops (``export_body``)."""
    a = node.attrs
    t = [b.type(o) for o in operands]
    digest = b.digest([x.shape for x in t], t[0].dtype, sorted(a.items()))
    return b.function(f"FusedConv_{digest}", operands,
                      lambda fb, params: [export_body(fb, params, a, t[0].shape[2:], t[0].dtype)])


def epilogue(req) -> dict:
    a = req.attrs
    act = ""
    if a["activation"]:
        op = get_op(a["activation"])
        act = ACTIVATIONS[a["activation"]].c(op.make_attrs(activation_attrs(a), []), req.out_types[0].dtype)
    return {"residual": a["residual"] if len(req.in_types) > 3 else "", "act": act, "act_name": a["activation"]}


def _c_kernel(req):
    return direct_conv(req, "fconv", bias="channel", **epilogue(req))


def plan_epilogue(req) -> dict:
    return {"bias": True, **epilogue(req)}


def activation_request(req) -> KernelRequest:
    """The fused activation as a node of its own over the conv's result (its canonical
    attributes made from the ``act_*`` ones), the request its lowering rules take."""
    y, op = req.out_types[0], get_op(req.attrs["activation"])
    node = Node(req.node.name, op.name, op.make_attrs(activation_attrs(req.attrs), [y]), (y,), req.node.label)
    return KernelRequest(node, [y], [y], [None])


def fused_tvm(req, xs, b):
    """Conv's rule (bias included), then the epilogue in the reference's order."""
    return epilogue_tvm(req, conv_tvm(req, xs[:3], b), xs[3] if len(xs) > 3 else None, b)


def epilogue_tvm(req, y, z, b, shape=None):
    """Relax: FusedConv's epilogue on the conv result ``y`` (bias added): the residual ``z``
    (None: none) before or after the activation, as ``req``'s attributes say.  ``shape``:
    the shape of ``y`` where it is not the request's (a blocked layout); the activation is
    elementwise, so its rule runs on any layout."""
    a = req.attrs
    if z is not None and a["residual"] == "pre":
        y = b.R.add(y, z)
    if a["activation"]:
        rule = ACTIVATIONS[a["activation"]].tvm
        if rule is None:
            raise UnsupportedError(f"the fused activation {a['activation']} has no TVM lowering rule "
                                   "(its Activation.tvm)")
        act = activation_request(req)
        if shape is not None:
            t = act.in_types[0].with_shape(tuple(shape))
            act = KernelRequest(act.node, [t], [t], act.constants)
        y = rule(act, [b.emit(y)], b)
    if z is not None and a["residual"] == "post":
        y = b.R.add(b.emit(y), z)
    return y


def _flops(types, a, outs) -> int:
    extra = outs[0].size * ((len(types) > 3) + bool(a["activation"]))
    return conv_flops(types[:3], a, outs) + extra


register(OpDef(
    name="FusedConv",
    inputs=("X", "W", "B", "Z?"),
    attrs={**sp.window_attrs(),
           "group": Attr("int", 1, check=lambda g: None if g >= 1 else "must be >= 1"),
           "activation": Attr("str", "", check=_check_activation),
           **{f"act_{k}": Attr("float", None) for k in ACT_PARAMS},
           "residual": Attr("str", "pre", choices=("pre", "post"))},
    canonicalize=_canon,
    infer=_infer,
    reference=_reference,
    onnx=OnnxMap(domain="cnnc", exporter=_export),
    flops=_flops,
    kernels={"c": conv_impls(_c_kernel, "fconv", plan_epilogue), "cuda": cuda_conv_impls("fconv", plan_epilogue)},
    tvm=fused_tvm,
    in_place=(3,),  # the residual Z, read only by the epilogue of Y[i]
    zero_padded=lambda a: True,
    conv=True,
    blocked=conv_blocked,
    doc="convolution with bias, residual add and activation fused into its epilogue",
))
