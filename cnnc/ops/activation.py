"""Elementwise activations: one registry entry each, sharing one infer rule.

Each entry is ``name: (attrs, numpy function)``.  The numpy functions compute in the
input's dtype and match ONNX's definitions (``Gelu`` with ``approximate`` none|tanh,
``HardSwish = x * HardSigmoid(x; 1/6, 1/2)``, ``Silu = x * sigmoid(x)``).
"""
from __future__ import annotations

import numpy as np

from ..ir import Attr, OnnxMap, OpDef, ShapeError, register
from ._c import cfn, elementwise, num
from ._common import broadcast_shapes, erf, require_float


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


_F = Attr("float", 1.0)
UNARY = {
    "Relu": ({}, lambda x, a: np.maximum(x, 0).astype(x.dtype)),
    "LeakyRelu": ({"alpha": Attr("float", 0.01)},
                  lambda x, a: np.where(x >= 0, x, a["alpha"] * x).astype(x.dtype)),
    "Elu": ({"alpha": _F}, lambda x, a: np.where(x > 0, x, a["alpha"] * np.expm1(np.minimum(x, 0))).astype(x.dtype)),
    "Selu": ({"alpha": Attr("float", 1.67326319217681884765625),
              "gamma": Attr("float", 1.05070102214813232421875)},
             lambda x, a: (a["gamma"] * np.where(x > 0, x, a["alpha"] * np.expm1(np.minimum(x, 0)))).astype(x.dtype)),
    "Sigmoid": ({}, lambda x, a: _sigmoid(x)),
    "HardSigmoid": ({"alpha": Attr("float", 0.2), "beta": Attr("float", 0.5)},
                    lambda x, a: _hard_sigmoid(x, a["alpha"], a["beta"])),
    "HardSwish": ({}, lambda x, a: (x * _hard_sigmoid(x, 1 / 6, 0.5)).astype(x.dtype)),
    "Silu": ({}, lambda x, a: (x * _sigmoid(x)).astype(x.dtype)),
    "Tanh": ({}, lambda x, a: np.tanh(x)),
    "Softplus": ({}, lambda x, a: np.logaddexp(0, x).astype(x.dtype)),
    "Softsign": ({}, lambda x, a: (x / (1 + np.abs(x))).astype(x.dtype)),
    "Mish": ({}, lambda x, a: (x * np.tanh(np.logaddexp(0, x))).astype(x.dtype)),
    "Gelu": ({"approximate": Attr("str", "none", choices=("none", "tanh"))}, _gelu),
    "Clip": ({"min": Attr("float", None), "max": Attr("float", None)}, _clip),
}

def _silu_export(node, operands, b):
    """ONNX spells SiLU only from opset 24 (Swish); before, a function x * Sigmoid(x)."""
    def body(fb, params):
        (s,) = fb.emit("Sigmoid", [params[0]])
        return fb.emit("Mul", [params[0], s])
    return b.function("Silu", operands, body)


ONNX = {"Clip": OnnxMap(const_inputs={1: ("min", "like:0"), 2: ("max", "like:0")}),
        "Silu": OnnxMap(domain="cnnc", exporter=_silu_export)}

def _hard_sigmoid_c(x, alpha, beta, t):
    return f"{cfn('fmin', t)}({cfn('fmax', t)}({num(alpha, t)} * {x} + {num(beta, t)}, {num(0, t)}), {num(1, t)})"


def _clip_c(a, t):
    lo = "a0" if a["min"] is None else f"{cfn('fmax', t)}(a0, {num(a['min'], t)})"
    return lo if a["max"] is None else f"{cfn('fmin', t)}({lo}, {num(a['max'], t)})"


#: C expressions of the activations over ``a0`` for a float dtype ``t``: the same
#: definitions as the numpy references above
C_EXPR = {
    "Relu": lambda a, t: f"a0 > 0 ? a0 : {num(0, t)}",
    "LeakyRelu": lambda a, t: f"a0 >= 0 ? a0 : {num(a['alpha'], t)} * a0",
    "Elu": lambda a, t: f"a0 > 0 ? a0 : {num(a['alpha'], t)} * {cfn('expm1', t)}(a0)",
    "Selu": lambda a, t: f"{num(a['gamma'], t)} * (a0 > 0 ? a0 : {num(a['alpha'], t)} * {cfn('expm1', t)}(a0))",
    "Sigmoid": lambda a, t: f"{'cnnc_sigmoidf' if t == 'float32' else 'cnnc_sigmoid'}(a0)",
    "HardSigmoid": lambda a, t: _hard_sigmoid_c("a0", a["alpha"], a["beta"], t),
    "HardSwish": lambda a, t: f"a0 * {_hard_sigmoid_c('a0', 1 / 6, 0.5, t)}",
    "Silu": lambda a, t: f"a0 * {'cnnc_sigmoidf' if t == 'float32' else 'cnnc_sigmoid'}(a0)",
    "Tanh": lambda a, t: f"{cfn('tanh', t)}(a0)",
    "Softplus": lambda a, t: f"(a0 > 0 ? a0 + {cfn('log1p', t)}({cfn('exp', t)}(-a0)) : {cfn('log1p', t)}({cfn('exp', t)}(a0)))",
    "Softsign": lambda a, t: f"a0 / ({num(1, t)} + {cfn('fabs', t)}(a0))",
    "Mish": lambda a, t: (f"a0 * {cfn('tanh', t)}(a0 > 0 ? a0 + {cfn('log1p', t)}({cfn('exp', t)}(-a0)) "
                          f": {cfn('log1p', t)}({cfn('exp', t)}(a0)))"),
    "Gelu": lambda a, t: (f"{num(0.5, t)} * a0 * ({num(1, t)} + {cfn('tanh', t)}({num(np.sqrt(2 / np.pi), t)} * "
                          f"(a0 + {num(0.044715, t)} * a0 * a0 * a0)))" if a["approximate"] == "tanh" else
                          f"{num(0.5, t)} * a0 * ({num(1, t)} + {cfn('erf', t)}(a0 * {num(1 / np.sqrt(2), t)}))"),
    "Clip": _clip_c,
}


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


#: Relax lowering rules of the activations (cnnc.backends.tvm): Relax ops where they
#: compute the reference's values, scalar TIR (``tvm_map``) where they lack the accuracy
TVM_EXPR = {
    "Relu": lambda req, xs, b: tvm_clip(b, xs[0], 0),
    "LeakyRelu": lambda req, xs, b: b.R.nn.leakyrelu(xs[0], req.attrs["alpha"]),
    "Elu": tvm_map(lambda T, v, a: _tir_elu(T, v, a["alpha"]), "elu"),
    "Selu": tvm_map(lambda T, v, a: T.const(a["gamma"], v.ty.dtype) * _tir_elu(T, v, a["alpha"]), "selu"),
    "Sigmoid": tvm_map(lambda T, v, a: _tir_sigmoid(T, v), "sigmoid"),
    "HardSigmoid": lambda req, xs, b: _hard_sigmoid_tvm(b, xs[0], req.attrs["alpha"], req.attrs["beta"]),
    "HardSwish": lambda req, xs, b: b.R.multiply(xs[0], _hard_sigmoid_tvm(b, xs[0], 1 / 6, 0.5)),
    "Silu": tvm_map(lambda T, v, a: v * _tir_sigmoid(T, v), "silu"),
    "Tanh": tvm_map(lambda T, v, a: _tir_tanh(T, v), "tanh"),
    "Softplus": tvm_map(lambda T, v, a: _tir_softplus(T, v), "softplus"),
    "Softsign": lambda req, xs, b: b.R.divide(xs[0], b.R.add(b.const(1, b.dtype(xs[0])), b.R.abs(xs[0]))),
    "Mish": tvm_map(lambda T, v, a: v * _tir_tanh(T, _tir_softplus(T, v)), "mish"),
    "Gelu": _gelu_tvm,
    "Clip": lambda req, xs, b: tvm_clip(b, xs[0], req.attrs["min"], req.attrs["max"]),
}


def _c_kernel(name):
    def hook(req):
        t = req.out_types[0].dtype
        return elementwise(req, C_EXPR[name](req.attrs, t), name.lower(),
                           comment=f"{name} {dict(req.attrs)}" if req.attrs else name)
    return hook


for _name, (_attrs, _fn) in UNARY.items():
    register(OpDef(name=_name, inputs=("X",), attrs=_attrs, infer=_unary_infer,
                   onnx=ONNX.get(_name, OnnxMap()), kernels={"c": _c_kernel(_name)},
                   tvm=TVM_EXPR.get(_name),
                   reference=lambda inputs, a, fn=_fn: fn(inputs[0], a),
                   doc=f"elementwise {_name}"))


def _prelu_infer(types, a):
    x, slope = types
    require_float(x)
    if broadcast_shapes(x.shape, slope.shape) != x.shape:
        raise ShapeError(f"slope {slope.shape} must broadcast to the input {x.shape} "
                         "(per-channel slopes have shape (C, 1, 1) for NCHW)")
    return (x,)


register(OpDef(
    name="PRelu", inputs=("X", "slope"), infer=_prelu_infer,
    reference=lambda inputs, a: np.where(inputs[0] >= 0, inputs[0], inputs[0] * inputs[1]).astype(inputs[0].dtype),
    kernels={"c": lambda req: elementwise(req, "a0 >= 0 ? a0 : a0 * a1", "prelu")},
    tvm=lambda req, xs, b: b.R.where(b.R.greater_equal(xs[0], b.const(0, b.dtype(xs[0]))), xs[0],
                                     b.R.multiply(xs[0], xs[1])),
    doc="leaky ReLU with learned slopes, broadcast against X"))
