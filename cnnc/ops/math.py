"""Unary elementwise math (``Sqrt Exp Log Erf Neg Abs Reciprocal Floor Ceil``) and ``Cast``.

The unary ops are one table, ``name: (numpy function, accepted dtypes)``, registered by one
loop, like ``activation.py``.  Dtypes are ONNX's constraints restricted to what cnnc carries:
float only, except ``Neg`` (also signed integers) and ``Abs`` (every numeric dtype).  The
result keeps the input's dtype; out-of-domain inputs give NaN/inf as in IEEE (``Log(-1)``,
``Reciprocal(0)``), and integer ``Neg``/``Abs`` wrap at the minimum value.

``Cast`` deviates from ONNX in how ``to`` is spelled: cnnc stores the numpy dtype name (one
of :data:`cnnc.ir.types.DTYPES`, e.g. ``"int64"``) instead of ONNX's ``TensorProto`` enum;
the ONNX importer/exporter translates.  ONNX's ``saturate`` and ``round_mode`` only concern
float8/float4 types, which cnnc does not carry, so they are not attributes.  Conversions
follow numpy's ``astype`` (floats to integers truncate toward zero, non-zero to ``bool`` is
True); float-to-integer of NaN or out-of-range values is undefined, as in ONNX.

C kernels are one elementwise expression each.  Integer ``Neg``/``Abs`` wrap through the
unsigned type (C's ``-INT64_MIN`` is undefined).  ``Cast`` to ``bool`` is ``x != 0`` (NaN
is True); float to ``int8``/``uint8`` goes through ``int64_t``, which gives numpy's
wrapped values for floats in the int32 range where a direct conversion would be undefined.

TVM rules are Relax ops (``astype`` for Cast, float to int8/uint8 again through int64).
"""
from __future__ import annotations

import numpy as np

from ..ir import Attr, OnnxMap, OpDef, ShapeError, TensorType, UnsupportedError, if_same_type, register
from ..ir.types import DTYPE_INFO, DTYPES
from ._c import cfn, elementwise, num
from ._common import FLOATS, erf
from .elementwise import NUMERIC, c_neg, c_wrapping, relax_rule

SIGNED = tuple(d for d in NUMERIC if d != "uint8")


UNARY = {
    "Sqrt": (np.sqrt, FLOATS),
    "Exp": (np.exp, FLOATS),
    "Log": (np.log, FLOATS),
    "Erf": (erf, FLOATS),
    "Neg": (np.negative, SIGNED),
    "Abs": (np.abs, NUMERIC),
    "Reciprocal": (np.reciprocal, FLOATS),
    "Floor": (np.floor, FLOATS),
    "Ceil": (np.ceil, FLOATS),
}


def _unary_infer(name, allowed):
    def infer(types, a):
        if types[0].dtype not in allowed:
            raise ShapeError(f"{name} needs a {' or '.join(allowed)} input; got {types[0]}")
        return (types[0],)
    return infer


def _abs_c(t):
    if t in FLOATS:
        return f"{cfn('fabs', t)}(a0)"
    if t == "uint8":
        return "a0"
    return f"a0 < 0 ? {c_neg('a0', t)} : {c_wrapping('a0', t)}"


#: C expressions over ``a0`` of the ops above, for an input dtype ``t``
C_UNARY = {
    "Sqrt": lambda t: f"{cfn('sqrt', t)}(a0)",
    "Exp": lambda t: f"{cfn('exp', t)}(a0)",
    "Log": lambda t: f"{cfn('log', t)}(a0)",
    "Erf": lambda t: f"{cfn('erf', t)}(a0)",
    "Neg": lambda t: "-a0" if t in FLOATS else c_neg("a0", t),
    "Abs": _abs_c,
    "Reciprocal": lambda t: f"{num(1, t)} / a0",
    "Floor": lambda t: f"{cfn('floor', t)}(a0)",
    "Ceil": lambda t: f"{cfn('ceil', t)}(a0)",
}


#: TVM rules of the ops above: Relax ops (integer Neg/Abs wrap at the minimum, as the
#: reference does; see elementwise.py on TVM's integer overflow)
TVM_UNARY = {
    **{name: relax_rule(name.lower()) for name in ("Sqrt", "Exp", "Log", "Erf", "Abs", "Floor", "Ceil")},
    "Neg": relax_rule("negative"),
    "Reciprocal": lambda req, xs, b: b.R.divide(b.const(1, b.dtype(xs[0])), xs[0]),
}


def _unary_c(name):
    return lambda req: elementwise(req, C_UNARY[name](req.in_types[0].dtype), name.lower(),
                                   comment=name)


for _name, (_fn, _allowed) in UNARY.items():
    register(OpDef(name=_name, inputs=("X",), infer=_unary_infer(_name, _allowed),
                   kernels={"c": _unary_c(_name)},
                   tvm=TVM_UNARY[_name], in_place=(0,),
                   reference=lambda arrays, a, fn=_fn: np.asarray(fn(arrays[0])),
                   doc=f"elementwise {_name}"))


#: ONNX TensorProto element-type codes of the dtypes cnnc carries (``ir.types.DTYPE_INFO``)
ONNX_DTYPES = {d.onnx: name for name, d in DTYPE_INFO.items()}


def _cast_import(node, b):
    """ONNX spells ``to`` as a TensorProto enum; ``saturate``/``round_mode`` only concern
    float8/float4 targets, which cnnc does not have."""
    to = node.attrs.get("to")
    if to not in ONNX_DTYPES:
        raise UnsupportedError(f"Cast to ONNX element type {to} is not supported (cnnc "
                               f"handles {', '.join(ONNX_DTYPES.values())})")
    return b.generic(attrs={"to": ONNX_DTYPES[to], "saturate": None, "round_mode": None})


def _cast_export(node, operands, b):
    enum = {name: code for code, name in ONNX_DTYPES.items()}
    return b.generic(attrs={"to": enum[node.attrs["to"]]})


def _cast_c(req):
    src, to = req.in_types[0].dtype, req.out_types[0].dtype
    if to == "bool":
        expr = "a0 != 0"
    elif src in FLOATS and to in ("int8", "uint8"):
        expr = "(int64_t)a0"
    else:
        expr = "a0"
    return elementwise(req, expr, "cast", comment=f"Cast {src} to {to}")


def _cast_tvm(req, xs, b):
    """Relax's astype, except float to int8/uint8, which goes through int64 like the C
    kernel: LLVM's direct conversion of a float beyond the narrow range is poison."""
    src, to = req.in_types[0].dtype, req.out_types[0].dtype
    x = xs[0]
    if src in FLOATS and to in ("int8", "uint8"):
        x = b.R.astype(x, "int64")
    return b.R.astype(x, to)


register(OpDef(
    name="Cast",
    inputs=("input",),
    attrs={"to": Attr("str", choices=DTYPES, doc="target dtype, by its numpy name")},
    infer=lambda types, a: (TensorType(types[0].shape, a["to"]),),
    reference=lambda arrays, a: arrays[0].astype(a["to"]),
    onnx=OnnxMap(importers={1: _cast_import}, exporter=_cast_export),
    kernels={"c": _cast_c},
    tvm=_cast_tvm,
    no_op=if_same_type,
    doc="elementwise conversion to the dtype named by `to`",
))
