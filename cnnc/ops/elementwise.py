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

TVM rules (``tvm=``) are Relax's broadcasting ops, with the same care where Relax differs:
integer ``Div`` divides by 1 where the divisor is 0 or -1 (x86 traps) and selects the
reference's results there; ``Pow`` runs in numpy's compute dtype; ``Max``/``Min`` fold with
``where`` (Relax's maximum drops NaN); bool ``Equal`` compares as uint8.  Integer overflow:
TVM's LLVM code flags 32/64-bit integer ``+ - *`` no-wrap (nsw/nuw, signed and unsigned
alike, so no cast avoids it); a kernel computes the wrapped value (the tests check the
extremes), but LLVM may fold an overflowing sum with a comparison fused after it.
"""
from __future__ import annotations

import dataclasses
import functools

import numpy as np

from ..ir import ANY_OPERAND, OnnxMap, OpDef, ShapeError, TensorType, if_one_operand, register, same_shapes
from ..ir.types import DTYPES
from ._c import ctype, elementwise, num
from ._common import FLOATS, broadcast_shapes, legacy_binary_import, same_dtype

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


def _broadcast_op(name, inputs, fn, rule, doc, kernel, tvm, **traits):
    variadic = inputs[-1].endswith("*")

    def infer(types, a):
        dtype = rule(types, [f"data_{i}" for i in range(len(types))] if variadic else inputs)
        return (TensorType(broadcast_shapes(*(t.shape for t in types)), dtype),)

    # fn keeps the operands' dtype (or gives bool); asarray turns numpy scalars into 0-d arrays
    register(OpDef(name=name, inputs=inputs, infer=infer, kernels={"c": kernel}, tvm=tvm,
                   reference=lambda arrays, a: np.asarray(fn(*arrays)), doc=doc, **traits))


#: the binary ops whose ONNX opsets 1-6 carry ``broadcast``/``axis`` (opset 7 brought
#: numpy's rule)
_LEGACY_BROADCAST = OnnxMap(importers={1: legacy_binary_import, 7: None})


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


# ---------------------------------------------------------------- TVM (Relax) rules
def _div_tvm(req, xs, b):
    """Float: Relax's divide.  Integers: its truncating divide with the reference's results
    where the hardware traps -- 0 for a zero divisor, ``MIN / -1`` wrapping (as ``-x``) --
    by dividing by 1 there instead."""
    x, y = xs
    t = b.dtype(x)
    if t in FLOATS:
        return b.R.divide(x, y)
    R = b.R
    zero = b.const(0, t)
    by_zero = b.emit(R.equal(y, zero))
    special = by_zero
    if t != "uint8":
        by_minus_one = b.emit(R.equal(y, b.const(-1, t)))
        special = R.logical_or(by_zero, by_minus_one)
    q = b.emit(R.divide(x, R.where(special, b.const(1, t), y)))
    if t != "uint8":
        q = b.emit(R.where(by_minus_one, R.negative(x), q))
    return R.where(by_zero, zero, q)


def _pow_tvm(req, xs, b):
    """Relax's power in the dtype numpy computes the reference's in (float64 for an integer
    base), cast back to the base's dtype."""
    base, exp = (t.dtype for t in req.in_types)
    compute = np.result_type(base if base in FLOATS else "float64", exp).name
    p = b.R.power(*(x if d == compute else b.R.astype(x, compute) for x, d in zip(xs, (base, exp))))
    return p if compute == base else b.R.astype(p, base)


def _equal_tvm(req, xs, b):
    """Relax's equal; bool operands compare as uint8 (TVM's LLVM code for a bool equal is
    invalid: a float compare of i1)."""
    if b.dtype(xs[0]) == "bool":
        xs = [b.R.astype(x, "uint8") for x in xs]
    return b.R.equal(*xs)


def relax_rule(op: str):
    """The TVM rule calling Relax op ``op`` (a name in ``b.R``) on the operands."""
    return lambda req, xs, b: getattr(b.R, op)(*xs)


BINARY = {
    # name: (numpy function, dtype rule, C expression for the operand dtypes, TVM rule)
    "Add": (np.add, _shared(NUMERIC), lambda t, _: c_arith("+", t), relax_rule("add")),
    "Sub": (np.subtract, _shared(NUMERIC), lambda t, _: c_arith("-", t), relax_rule("subtract")),
    "Mul": (np.multiply, _shared(NUMERIC), lambda t, _: c_arith("*", t), relax_rule("multiply")),
    "Div": (_div, _shared(NUMERIC), lambda t, _: _div_c(t), _div_tvm),
    "Pow": (_pow, _pow_rule, _pow_c, _pow_tvm),
    "Equal": (np.equal, _shared(DTYPES, "bool"), lambda t, _: "a0 == a1", _equal_tvm),
    "Greater": (np.greater, _shared(NUMERIC, "bool"), lambda t, _: "a0 > a1", relax_rule("greater")),
    "Less": (np.less, _shared(NUMERIC, "bool"), lambda t, _: "a0 < a1", relax_rule("less")),
    "And": (np.logical_and, _shared(("bool",), "bool"), lambda t, _: "a0 && a1", relax_rule("logical_and")),
}

#: the binary ops whose result may overwrite either operand (Y[i] = f(A[i'], B[i'']), of
#: the operands' dtype); the comparisons give bool
_IN_PLACE_BINARY = ("Add", "Sub", "Mul", "Div", "Pow")

for _name, (_fn, _rule, _c_expr, _tvm) in BINARY.items():
    _broadcast_op(_name, ("X", "Y") if _name == "Pow" else ("A", "B"), _fn, _rule,
                  f"broadcasting elementwise {_name}", _binary_c(_name, _c_expr), _tvm,
                  in_place=(0, 1) if _name in _IN_PLACE_BINARY else (), onnx=_LEGACY_BROADCAST,
                  blocked=same_shapes if _name in _IN_PLACE_BINARY else None)


def _mean(*arrays):
    return functools.reduce(np.add, arrays) / len(arrays)


def _fold_tvm(name):
    """Max/Min as numpy's left fold: a later operand replaces the running result only when it
    wins strictly (ties keep the earlier operand: ``-0.0`` vs ``0.0``) or is NaN (a NaN
    result stays, as nothing wins against it).  Relax's maximum/minimum are a select that
    drops a NaN."""
    def rule(req, xs, b):
        wins = b.R.greater if name == "Max" else b.R.less
        acc = xs[0]
        for x in xs[1:]:
            w = wins(x, acc)
            if b.dtype(x) in FLOATS:
                w = b.R.logical_or(w, b.R.isnan(x))
            acc = b.emit(b.R.where(w, x, acc))
        return acc
    return rule


def _sum_tvm(req, xs, b):
    return functools.reduce(lambda acc, x: b.emit(b.R.add(acc, x)), xs)


def _mean_tvm(req, xs, b):
    return b.R.divide(_sum_tvm(req, xs, b), b.const(len(xs), b.dtype(xs[0])))


VARIADIC = {
    "Max": (lambda *xs: functools.reduce(np.maximum, xs), NUMERIC, _fold_c("Max"), _fold_tvm("Max")),
    "Min": (lambda *xs: functools.reduce(np.minimum, xs), NUMERIC, _fold_c("Min"), _fold_tvm("Min")),
    "Sum": (lambda *xs: functools.reduce(np.add, xs), FLOATS, _sum_c, _sum_tvm),
    "Mean": (_mean, FLOATS, _mean_c, _mean_tvm),
}

for _name, (_fn, _allowed, _kernel, _tvm) in VARIADIC.items():
    _broadcast_op(_name, ("data_0*",), _fn, _shared(_allowed),
                  f"elementwise {_name} of one or more broadcast operands", _kernel, _tvm,
                  in_place=ANY_OPERAND, no_op=if_one_operand, blocked=same_shapes)


def _not_infer(types, a):
    _require(types[0], ("bool",), "X")
    return (types[0],)


register(OpDef(name="Not", inputs=("X",), infer=_not_infer,
               kernels={"c": lambda req: elementwise(req, "!a0", "not", comment="Not")},
               tvm=relax_rule("logical_not"), in_place=(0,),
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
               tvm=relax_rule("where"),
               reference=lambda arrays, a: np.asarray(np.where(*arrays)),
               doc="X where condition holds, else Y (all three broadcast)"))
