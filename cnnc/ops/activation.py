"""Elementwise activations: one :class:`Activation` record each, registered by one loop.

A record holds everything about one activation: its attributes, the numpy reference (in
the input's dtype, matching ONNX's definitions: ``Gelu`` with ``approximate`` none|tanh,
``HardSwish = x * HardSigmoid(x; 1/6, 1/2)``, ``Silu = x * sigmoid(x)``), its C expression
over ``a0`` (the C kernel, the CUDA kernel rendered from it, and FusedConv's epilogue), its
TVM Relax rule, its ONNX mapping, and whether a conv epilogue may apply it (``fusable``:
the fusion pass fuses exactly those into FusedConv).  Adding an activation is one more
entry of the registration loop below (or, from outside, one :func:`register_activation`
call).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from ..ir import Attr, Attrs, CnncError, OnnxMap, OpDef, ShapeError, any_layout, register, unregister
from ._c import cfn, elementwise, num
from ._common import align_at_axis, broadcast_shapes, erf, require_float


def _unary_infer(types, a):
    require_float(types[0])
    return (types[0],)


def _sigmoid(x):
    # split by sign so that exp never overflows
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype)


def _gelu(x, a):
    if a["approximate"] == "tanh":
        y = 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))
    else:
        y = 0.5 * x * (1 + erf(x.astype(np.float64) / np.sqrt(2)))
    return y.astype(x.dtype)


def _hard_sigmoid(x, alpha, beta):
    return np.clip(alpha * x + beta, 0, 1).astype(x.dtype)


def _clip(x, a):
    lo = -np.inf if a["min"] is None else a["min"]
    hi = np.inf if a["max"] is None else a["max"]
    return np.clip(x, lo, hi).astype(x.dtype)


@dataclass(frozen=True)
class Activation:
    """One elementwise activation ``Y = f(X)`` (float ``X``, ``Y`` of its type).

    ``reference(x, attrs)`` is the numpy semantics in ``x``'s dtype; ``c(attrs, dtype)``
    the C expression over ``a0`` computing the same; ``tvm(req, xs, b)`` the Relax lowering
    rule (``None``: the TVM targets report the op unsupported); ``store(attrs)`` the same
    function as steps a GEMM microkernel applies to its registers in its store (``STEPS``;
    ``None``: the C GEMM plans apply ``c`` after the microkernel instead)."""

    name: str
    reference: Callable[[np.ndarray, Attrs], np.ndarray]
    c: Callable[[Attrs, str], str]
    tvm: Callable | None = None
    attrs: Mapping[str, Attr] = field(default_factory=dict)
    onnx: OnnxMap = field(default_factory=OnnxMap)
    fusable: bool = False
    store: Callable[[Attrs], tuple] | None = None


#: the steps of an ``Activation.store``, each ``(name, float or None)`` over the value s
#: (x: the value before the first step), with the semantics of the C expressions:
#: ``mul c``: s * c; ``add c``: s + c; ``max c``: s < c ? c : s; ``min c``: s > c ? c : s
#: (NaN stays NaN); ``relu``: s > 0 ? s : 0; ``leaky c``: s >= 0 ? s : c * s; ``mulx``: s * x
STEPS = ("mul", "add", "max", "min", "relu", "leaky", "mulx")


#: the registered activations, by name (FusedConv and the fusion pass read ``fusable``)
ACTIVATIONS: dict[str, Activation] = {}

#: the attributes a conv epilogue can carry (FusedConv's ``act_<name>``): a fusable
#: activation has no other
EPILOGUE_ATTRS = ("alpha", "beta", "min", "max")


def epilogue_steps(a: Mapping) -> tuple | None:
    """The store steps (``STEPS``) of a conv epilogue's activation, from FusedConv's
    ``activation`` and ``act_*`` attributes (others: no activation): () for none, None
    where the activation has no store form."""
    name = a.get("activation") or ""
    if not name:
        return ()
    act = ACTIVATIONS[name]
    if act.store is None:
        return None
    given = {k: a.get(f"act_{k}") for k in act.attrs}
    return tuple(act.store({k: spec.default if given[k] is None else given[k] for k, spec in act.attrs.items()}))


def _c_kernel(act: Activation):
    def hook(req):
        t = req.out_types[0].dtype
        return elementwise(req, act.c(req.attrs, t), act.name.lower(),
                           comment=f"{act.name} {dict(req.attrs)}" if req.attrs else act.name)
    return hook


def register_activation(act: Activation) -> OpDef:
    """Register ``act`` as an op of its own (and in ``ACTIVATIONS``)."""
    extra = sorted(set(act.attrs) - set(EPILOGUE_ATTRS))
    if act.fusable and extra:
        raise CnncError(f"activation {act.name} cannot be fusable: a conv epilogue carries only the attributes "
                        f"{', '.join(EPILOGUE_ATTRS)}, not {', '.join(extra)}")
    op = register(OpDef(name=act.name, inputs=("X",), attrs=act.attrs, infer=_unary_infer, onnx=act.onnx,
                        kernels={"c": _c_kernel(act)}, tvm=act.tvm,
                        reference=lambda inputs, a: act.reference(inputs[0], a),
                        in_place=(0,), blocked=any_layout, doc=f"elementwise {act.name}"))
    ACTIVATIONS[act.name] = act
    return op


def unregister_activation(name: str) -> None:
    """Remove an activation registered by :func:`register_activation`."""
    del ACTIVATIONS[name]
    unregister(name)


def _silu_export(node, operands, b):
    """ONNX spells SiLU only from opset 24 (Swish); before, a function x * Sigmoid(x)."""
    def body(fb, params):
        (s,) = fb.emit("Sigmoid", [params[0]])
        return fb.emit("Mul", [params[0], s])
    return b.function("Silu", operands, body)


def _clamp_c(x, lo, hi):
    """``x`` clamped to ``[lo, hi]`` (C literals; either None) by comparisons, as np.clip:
    NaN stays NaN, and ``lo > hi`` gives ``hi``.  (libm's fmin/fmax drop a NaN, and
    without -ffast-math they are calls that no loop around them vectorizes.)"""
    if lo is not None:
        x = f"({x} < {lo} ? {lo} : {x})"
    if hi is not None:
        x = f"({x} > {hi} ? {hi} : {x})"
    return x


def _hard_sigmoid_c(x, alpha, beta, t):
    return _clamp_c(f"({num(alpha, t)} * {x} + {num(beta, t)})", num(0, t), num(1, t))


def _clamp_steps(lo, hi) -> tuple:
    return tuple(step for step in (("max", lo), ("min", hi)) if step[1] is not None)


def _hard_sigmoid_steps(alpha, beta) -> tuple:
    return (("mul", alpha), ("add", beta)) + _clamp_steps(0.0, 1.0)


def _clip_c(a, t):
    return _clamp_c("a0", *(None if a[k] is None else num(a[k], t) for k in ("min", "max")))


# ---------------------------------------------------------------- TVM (Relax) rules
def tvm_clip(b, x, lo=None, hi=None):
    """``np.clip(x, lo, hi)`` (either bound optional) in Relax: NaN stays NaN, and ``lo > hi``
    gives ``hi``.  Relax's clip and relu are a max/min whose select drops a NaN."""
    t = b.dtype(x)
    if lo is not None:
        x = b.emit(b.R.where(b.R.less(x, c := b.const(lo, t)), c, x))
    if hi is not None:
        x = b.emit(b.R.where(b.R.greater(x, c := b.const(hi, t)), c, x))
    return x


def _tir_expm1(T, v):
    """``exp(v) - 1`` accurate near 0 (Kahan: ``(u - 1) * v / log(u)`` with ``u = exp(v)``);
    TIR has no expm1, and ``exp(v) - 1`` loses the digits of a small ``v``."""
    one = T.const(1, v.ty.dtype)
    u = T.exp(v)
    return T.Select(u == one, v, T.Select(u - one == -one, -one, (u - one) * v / T.log(u)))


def _tir_tanh(T, v):
    """tanh from expm1 of ``-2|v|``: TVM's tanh is ``(1 - e) / (1 + e)``, whose relative error
    grows as ``v`` shrinks (1e-3 at ``v = 1e-5``)."""
    m = _tir_expm1(T, T.const(-2, v.ty.dtype) * T.abs(v))
    t = -m / (T.const(2, v.ty.dtype) + m)
    return T.Select(v < T.const(0, v.ty.dtype), -t, t)


def _tir_softplus(T, v):
    """``log(1 + exp(v)) = max(v, 0) + log1p(exp(-|v|))``, as ``np.logaddexp(0, v)``."""
    zero = T.const(0, v.ty.dtype)
    return T.Select(v > zero, v, zero) + T.log1p(T.exp(-T.abs(v)))


def _tir_sigmoid(T, v):
    """Split by sign like the reference: TVM's ``1 / (1 + exp(-v))`` flushes to 0 where the
    value is subnormal (``v < -88`` in float32)."""
    one = T.const(1, v.ty.dtype)
    e = T.exp(-T.abs(v))
    return T.Select(v >= T.const(0, v.ty.dtype), one / (one + e), e / (one + e))


def _tir_elu(T, v, alpha):
    zero = T.const(0, v.ty.dtype)
    return T.Select(v > zero, v, T.const(alpha, v.ty.dtype) * _tir_expm1(T, v))


def _tir_gelu_tanh(T, v):
    c = [T.const(k, v.ty.dtype) for k in (0.5, 1, np.sqrt(2 / np.pi), 0.044715)]
    return c[0] * v * (c[1] + _tir_tanh(T, c[2] * (v + c[3] * v * v * v)))


def tvm_map(fn, name: str):
    """A lowering rule applying the scalar TIR function ``fn(T, v, attrs)`` (``T`` is
    ``b.tir``) to every element: one TE compute, for the activations Relax has no accurate
    op for (no expm1/log1p; see ``_tir_tanh``).  float16 computes in float32, as numpy's
    float16 functions do (and LLVM has no float16 log1p)."""
    def rule(req, xs, b):
        def element(v):
            if v.ty.dtype == "float16":
                return fn(b.tir, v.astype("float32"), req.attrs).astype("float16")
            return fn(b.tir, v, req.attrs)

        def compute(x):
            return b.te.compute(x.shape, lambda *i: element(x(*i)), name=name)
        return b.emit_te(compute, xs[0], name=name)
    return rule


def _hard_sigmoid_tvm(b, x, alpha, beta):
    t = b.dtype(x)
    return tvm_clip(b, b.emit(b.R.add(b.R.multiply(b.const(alpha, t), x), b.const(beta, t))), 0, 1)


def _gelu_tvm(req, xs, b):
    """``approximate="none"``: like the reference, erf and the products in float64."""
    if req.attrs["approximate"] == "tanh":
        return tvm_map(lambda T, v, a: _tir_gelu_tanh(T, v), "gelu_tanh")(req, xs, b)
    x, t = xs[0], b.dtype(xs[0])
    half_x = b.R.astype(b.R.multiply(b.const(0.5, t), x), "float64")
    e = b.R.erf(b.R.divide(b.R.astype(x, "float64"), b.const(np.sqrt(2), "float64")))
    return b.R.astype(b.R.multiply(half_x, b.R.add(b.const(1, "float64"), e)), t)


def _sigmoid_c(t):
    return "cnnc_sigmoidf" if t == "float32" else "cnnc_sigmoid"


def _softplus_c(t):
    return f"(a0 > 0 ? a0 + {cfn('log1p', t)}({cfn('exp', t)}(-a0)) : {cfn('log1p', t)}({cfn('exp', t)}(a0)))"


def _gelu_c(a, t):
    if a["approximate"] == "tanh":
        return (f"{num(0.5, t)} * a0 * ({num(1, t)} + {cfn('tanh', t)}({num(np.sqrt(2 / np.pi), t)} * "
                f"(a0 + {num(0.044715, t)} * a0 * a0 * a0)))")
    return f"{num(0.5, t)} * a0 * ({num(1, t)} + {cfn('erf', t)}(a0 * {num(1 / np.sqrt(2), t)}))"


_F = Attr("float", 1.0)
_SELU = {"alpha": Attr("float", 1.67326319217681884765625), "gamma": Attr("float", 1.05070102214813232421875)}

for _act in (
    Activation("Relu", lambda x, a: np.maximum(x, 0).astype(x.dtype),
               c=lambda a, t: f"a0 > 0 ? a0 : {num(0, t)}",
               tvm=lambda req, xs, b: tvm_clip(b, xs[0], 0), fusable=True, store=lambda a: (("relu", None),)),
    Activation("LeakyRelu", lambda x, a: np.where(x >= 0, x, a["alpha"] * x).astype(x.dtype),
               c=lambda a, t: f"a0 >= 0 ? a0 : {num(a['alpha'], t)} * a0",
               tvm=lambda req, xs, b: b.R.nn.leakyrelu(xs[0], req.attrs["alpha"]),
               attrs={"alpha": Attr("float", 0.01)}, fusable=True, store=lambda a: (("leaky", a["alpha"]),)),
    Activation("Elu", lambda x, a: np.where(x > 0, x, a["alpha"] * np.expm1(np.minimum(x, 0))).astype(x.dtype),
               c=lambda a, t: f"a0 > 0 ? a0 : {num(a['alpha'], t)} * {cfn('expm1', t)}(a0)",
               tvm=tvm_map(lambda T, v, a: _tir_elu(T, v, a["alpha"]), "elu"), attrs={"alpha": _F}),
    Activation("Selu", lambda x, a: (a["gamma"] * np.where(x > 0, x, a["alpha"] * np.expm1(np.minimum(x, 0))))
               .astype(x.dtype),
               c=lambda a, t: f"{num(a['gamma'], t)} * (a0 > 0 ? a0 : {num(a['alpha'], t)} * {cfn('expm1', t)}(a0))",
               tvm=tvm_map(lambda T, v, a: T.const(a["gamma"], v.ty.dtype) * _tir_elu(T, v, a["alpha"]), "selu"),
               attrs=_SELU),
    Activation("Sigmoid", lambda x, a: _sigmoid(x), c=lambda a, t: f"{_sigmoid_c(t)}(a0)",
               tvm=tvm_map(lambda T, v, a: _tir_sigmoid(T, v), "sigmoid"), fusable=True),
    Activation("HardSigmoid", lambda x, a: _hard_sigmoid(x, a["alpha"], a["beta"]),
               c=lambda a, t: _hard_sigmoid_c("a0", a["alpha"], a["beta"], t),
               tvm=lambda req, xs, b: _hard_sigmoid_tvm(b, xs[0], req.attrs["alpha"], req.attrs["beta"]),
               attrs={"alpha": Attr("float", 0.2), "beta": Attr("float", 0.5)}, fusable=True,
               store=lambda a: _hard_sigmoid_steps(a["alpha"], a["beta"])),
    Activation("HardSwish", lambda x, a: (x * _hard_sigmoid(x, 1 / 6, 0.5)).astype(x.dtype),
               c=lambda a, t: f"a0 * {_hard_sigmoid_c('a0', 1 / 6, 0.5, t)}",
               tvm=lambda req, xs, b: b.R.multiply(xs[0], _hard_sigmoid_tvm(b, xs[0], 1 / 6, 0.5)), fusable=True,
               store=lambda a: _hard_sigmoid_steps(1 / 6, 0.5) + (("mulx", None),)),
    Activation("Silu", lambda x, a: (x * _sigmoid(x)).astype(x.dtype), c=lambda a, t: f"a0 * {_sigmoid_c(t)}(a0)",
               tvm=tvm_map(lambda T, v, a: v * _tir_sigmoid(T, v), "silu"),
               onnx=OnnxMap(domain="cnnc", exporter=_silu_export), fusable=True),
    Activation("Tanh", lambda x, a: np.tanh(x), c=lambda a, t: f"{cfn('tanh', t)}(a0)",
               tvm=tvm_map(lambda T, v, a: _tir_tanh(T, v), "tanh"), fusable=True),
    Activation("Softplus", lambda x, a: np.logaddexp(0, x).astype(x.dtype), c=lambda a, t: _softplus_c(t),
               tvm=tvm_map(lambda T, v, a: _tir_softplus(T, v), "softplus")),
    Activation("Softsign", lambda x, a: (x / (1 + np.abs(x))).astype(x.dtype),
               c=lambda a, t: f"a0 / ({num(1, t)} + {cfn('fabs', t)}(a0))",
               tvm=lambda req, xs, b: b.R.divide(xs[0], b.R.add(b.const(1, b.dtype(xs[0])), b.R.abs(xs[0])))),
    Activation("Mish", lambda x, a: (x * np.tanh(np.logaddexp(0, x))).astype(x.dtype),
               c=lambda a, t: f"a0 * {cfn('tanh', t)}{_softplus_c(t)}",
               tvm=tvm_map(lambda T, v, a: v * _tir_tanh(T, _tir_softplus(T, v)), "mish")),
    Activation("Gelu", _gelu, c=_gelu_c, tvm=_gelu_tvm,
               attrs={"approximate": Attr("str", "none", choices=("none", "tanh"))}),
    Activation("Clip", _clip, c=_clip_c, tvm=lambda req, xs, b: tvm_clip(b, xs[0], req.attrs["min"], req.attrs["max"]),
               attrs={"min": Attr("float", None), "max": Attr("float", None)},
               onnx=OnnxMap(const_inputs={1: ("min", "like:0"), 2: ("max", "like:0")}), fusable=True,
               store=lambda a: _clamp_steps(a["min"], a["max"])),
):
    register_activation(_act)


def _prelu_infer(types, a):
    x, slope = types
    require_float(x)
    if broadcast_shapes(x.shape, slope.shape) != x.shape:
        raise ShapeError(f"slope {slope.shape} must broadcast to the input {x.shape} "
                         "(per-channel slopes have shape (C, 1, 1) for NCHW)")
    return (x,)


def _prelu_import_v1(node, b):
    """Opsets 1-6: a 1-D slope of C entries is per channel (axis 1), one entry is shared;
    ``consumed_inputs`` is dropped."""
    x, slope = b.input(0), b.input(1)
    xt, st = b.type(x), b.type(slope)
    if st.rank == 1 and st.size > 1 and xt.rank > 2:
        slope = align_at_axis(b, slope, xt.rank, 1, "slope")
    return b.op("PRelu", [x, slope])


register(OpDef(
    name="PRelu", inputs=("X", "slope"), infer=_prelu_infer, onnx=OnnxMap(importers={1: _prelu_import_v1, 7: None}),
    reference=lambda inputs, a: np.where(inputs[0] >= 0, inputs[0], inputs[0] * inputs[1]).astype(inputs[0].dtype),
    kernels={"c": lambda req: elementwise(req, "a0 >= 0 ? a0 : a0 * a1", "prelu")},
    tvm=lambda req, xs, b: b.R.where(b.R.greater_equal(xs[0], b.const(0, b.dtype(xs[0]))), xs[0],
                                     b.R.multiply(xs[0], xs[1])),
    in_place=(0,),
    doc="leaky ReLU with learned slopes, broadcast against X"))
