"""Broadcasting elementwise ops: arithmetic, comparison and logic, variadic Max/Min/Sum/Mean,
Not and Where.

All follow ONNX's multidirectional (numpy) broadcasting through
:func:`~cnnc.ops._common.broadcast_shapes`, and ONNX's type constraints restricted to the
dtypes cnnc carries.  Each shape family is one table and one registration loop:

* ``BINARY`` — two operands, one output: ``Add Sub Mul Div Pow`` (numeric, result in the
  operands' dtype) and ``Equal Greater Less And`` (result ``bool``).  An entry pairs the
  numpy function with a *dtype rule* that checks the operand dtypes and names the output
  dtype (and with its C expression); operands share one dtype, except ``Pow``, whose
  exponent may have any numeric dtype (the result has the base's dtype, as in ONNX).
* ``VARIADIC`` — one or more operands folded left to right: ``Max Min`` (numeric),
  ``Sum Mean`` (float only, as in ONNX).

Integer semantics follow ONNX: ``Div`` truncates toward zero (C's ``/``, which ONNX's
reference and onnxruntime implement; numpy's ``//`` floors), in exact integer arithmetic.
``Pow`` with an integer base is computed in float64 and truncated, which is what
onnxruntime (C++ ``std::pow``) and a C backend calling ``pow`` do; it is exact while the
result fits in 53 bits, and gives 0 for ``b ** -n`` with ``|b| > 1`` where numpy would
raise.  Integer overflow wraps; integer division by zero is undefined, as in ONNX.

C kernels (``kernels={"c": ...}``) are one broadcasting expression each (``_c.elementwise``).
They keep the reference's results where C would be undefined: int32/int64 arithmetic wraps
through the unsigned type of the same width, and integer ``Div`` gives 0 for a zero divisor
and wraps ``MIN / -1`` (what ``trunc_divide`` computes) instead of trapping.  ``Pow``
computes in the dtype numpy's promotion of (base, exponent) gives (``powf`` only for
float32 ** float32/int8/uint8).  ``Max``/``Min`` fold left to right like
``np.maximum``/``np.minimum``: a NaN operand makes the result NaN, ties keep the earlier
operand (``-0.0`` vs ``0.0``); they render ``elementwise_fold.c.j2``, an elementwise loop
with one accumulator statement per operand, so N operands cost N steps, not a nested
expression of size 2^N (the NaN test comes once, after the fold).
"""
from __future__ import annotations

import dataclasses
import functools

import numpy as np

from ..ir import OpDef, ShapeError, TensorType, register
from ..ir.types import DTYPES
from ._c import ctype, elementwise, num
from ._common import FLOATS, broadcast_shapes, same_dtype

NUMERIC = tuple(d for d in DTYPES if d != "bool")
POW_BASE = FLOATS + ("int64", "int32")


def _require(t: TensorType, allowed, what: str) -> None:
    if t.dtype not in allowed:
        raise ShapeError(f"{what} must have dtype {' or '.join(allowed)}; got {t}")


def _shared(allowed, result: str | None = None):
    """Dtype rule: all operands have one dtype among ``allowed``; the output has ``result``
    (default: that dtype)."""
    def rule(types, names):
        dtype = same_dtype(types, names)
        _require(types[0], allowed, "operands")
        return result or dtype
    return rule


def _pow_rule(types, names):
    _require(types[0], POW_BASE, f"base {names[0]}")
    _require(types[1], NUMERIC, f"exponent {names[1]}")
    return types[0].dtype


def trunc_divide(a: np.ndarray, b) -> np.ndarray:
    """Integer division rounding toward zero (C semantics), exact for every int dtype."""
    q = np.floor_divide(a, b)
    return q + ((np.remainder(a, b) != 0) & ((a < 0) != (b < 0))).astype(q.dtype)


def _div(a, b):
    return trunc_divide(a, b) if a.dtype.kind in "iu" else np.divide(a, b)


def _pow(x, y):
    base = x.astype(np.float64) if x.dtype.kind in "iu" else x
    return np.power(base, y).astype(x.dtype)


def _broadcast_op(name, inputs, fn, rule, doc, kernel):
    variadic = inputs[-1].endswith("*")

    def infer(types, a):
        dtype = rule(types, [f"data_{i}" for i in range(len(types))] if variadic else inputs)
        return (TensorType(broadcast_shapes(*(t.shape for t in types)), dtype),)

    # fn keeps the operands' dtype (or gives bool); asarray turns numpy scalars into 0-d arrays
    register(OpDef(name=name, inputs=inputs, infer=infer, kernels={"c": kernel},
                   reference=lambda arrays, a: np.asarray(fn(*arrays)), doc=doc))


# ---------------------------------------------------------------- C expressions
#: the unsigned type of int32/int64, in which C arithmetic wraps like numpy's (int8/uint8
#: operands are promoted to int, where +, -, * cannot overflow)
_UNSIGNED = {"int64": "uint64_t", "int32": "uint32_t"}


def c_wrapping(x: str, dtype: str) -> str:
    """``x`` in the type where ``dtype``'s arithmetic wraps."""
    u = _UNSIGNED.get(dtype)
    return f"({u}){x}" if u else x


def c_arith(op: str, dtype: str) -> str:
    """``a0 op a1`` with numpy's wrap-around."""
    return f"{c_wrapping('a0', dtype)} {op} {c_wrapping('a1', dtype)}"


def c_neg(x: str, dtype: str) -> str:
    """``-x`` with numpy's wrap-around (``-MIN == MIN``)."""
    return f"{c_wrapping('0', dtype)} - {c_wrapping(x, dtype)}" if dtype in _UNSIGNED else f"-{x}"


def _div_c(t: str) -> str:
    if t in FLOATS:
        return "a0 / a1"
    if t not in _UNSIGNED:
        return "a1 == 0 ? 0 : a0 / a1"
    zero, quotient = c_wrapping("0", t), c_wrapping("(a0 / a1)", t)
    return f"a1 == 0 ? {zero} : a1 == -1 ? {c_neg('a0', t)} : {quotient}"


def _pow_c(base: str, exp: str) -> str:
    compute = np.result_type(base if base in FLOATS else "float64", exp).name
    if compute == "float32":
        return "powf(a0, (float)a1)"
    return "pow((double)a0, (double)a1)"     # truncated toward zero for an integer base


def _binary_c(name, expr):
    return lambda req: elementwise(req, expr(*(t.dtype for t in req.in_types)), name.lower(),
                                   comment=name)


def _fold_c(name):
    """Max/Min as a left fold, numpy's rules: ``acc`` takes ``aj`` only when ``aj`` wins
    strictly (ties keep the earlier operand), and any NaN operand makes the result NaN --
    one test at the end, so that the fold stays branch-free (maxss/minss)."""
    cmp = ">" if name == "Max" else "<"

    def hook(req):
        n, t = len(req.in_types), req.out_types[0].dtype
        steps = tuple(f"a{j} {cmp} acc ? a{j} : acc" for j in range(1, n))
        expr = "acc"
        if t in FLOATS and n > 1:
            any_nan = " | ".join(f"(a{j} != a{j})" for j in range(n))
            expr = f"({any_nan}) ? {' + '.join(f'a{j}' for j in range(n))} : acc"
        k = elementwise(req, expr, name.lower(), comment=f"{name} of {n}")
        return dataclasses.replace(k, template="c/kernels/elementwise_fold.c.j2",
                                   params={**k.params, "acc_ctype": ctype(t), "steps": steps})
    return hook


def _sum_c(req):
    return elementwise(req, " + ".join(f"a{j}" for j in range(len(req.in_types))), "sum",
                       comment=f"Sum of {len(req.in_types)}")


def _mean_c(req):
    n, t = len(req.in_types), req.out_types[0].dtype
    return elementwise(req, f"({' + '.join(f'a{j}' for j in range(n))}) / {num(n, t)}", "mean",
                       comment=f"Mean of {n}")


BINARY = {
    # name: (numpy function, dtype rule, C expression for the operand dtypes)
    "Add": (np.add, _shared(NUMERIC), lambda t, _: c_arith("+", t)),
    "Sub": (np.subtract, _shared(NUMERIC), lambda t, _: c_arith("-", t)),
    "Mul": (np.multiply, _shared(NUMERIC), lambda t, _: c_arith("*", t)),
    "Div": (_div, _shared(NUMERIC), lambda t, _: _div_c(t)),
    "Pow": (_pow, _pow_rule, _pow_c),
    "Equal": (np.equal, _shared(DTYPES, "bool"), lambda t, _: "a0 == a1"),
    "Greater": (np.greater, _shared(NUMERIC, "bool"), lambda t, _: "a0 > a1"),
    "Less": (np.less, _shared(NUMERIC, "bool"), lambda t, _: "a0 < a1"),
    "And": (np.logical_and, _shared(("bool",), "bool"), lambda t, _: "a0 && a1"),
}

for _name, (_fn, _rule, _c_expr) in BINARY.items():
    _broadcast_op(_name, ("X", "Y") if _name == "Pow" else ("A", "B"), _fn, _rule,
                  f"broadcasting elementwise {_name}", _binary_c(_name, _c_expr))


def _mean(*arrays):
    return functools.reduce(np.add, arrays) / len(arrays)


VARIADIC = {
    "Max": (lambda *xs: functools.reduce(np.maximum, xs), NUMERIC, _fold_c("Max")),
    "Min": (lambda *xs: functools.reduce(np.minimum, xs), NUMERIC, _fold_c("Min")),
    "Sum": (lambda *xs: functools.reduce(np.add, xs), FLOATS, _sum_c),
    "Mean": (_mean, FLOATS, _mean_c),
}

for _name, (_fn, _allowed, _kernel) in VARIADIC.items():
    _broadcast_op(_name, ("data_0*",), _fn, _shared(_allowed),
                  f"elementwise {_name} of one or more broadcast operands", _kernel)


def _not_infer(types, a):
    _require(types[0], ("bool",), "X")
    return (types[0],)


register(OpDef(name="Not", inputs=("X",), infer=_not_infer,
               kernels={"c": lambda req: elementwise(req, "!a0", "not", comment="Not")},
               reference=lambda arrays, a: np.asarray(np.logical_not(arrays[0])),
               doc="elementwise logical not of a bool tensor"))


def _where_infer(types, a):
    cond, x, y = types
    _require(cond, ("bool",), "condition")
    dtype = same_dtype((x, y), ("X", "Y"))
    return (TensorType(broadcast_shapes(cond.shape, x.shape, y.shape), dtype),)


register(OpDef(name="Where", inputs=("condition", "X", "Y"), infer=_where_infer,
               kernels={"c": lambda req: elementwise(req, "a0 ? a1 : a2", "where",
                                                     comment="Where")},
               reference=lambda arrays, a: np.asarray(np.where(*arrays)),
               doc="X where condition holds, else Y (all three broadcast)"))
