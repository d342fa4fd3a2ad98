"""Broadcasting elementwise ops: arithmetic, comparison and logic, variadic Max/Min/Sum/Mean,
Not and Where.

All follow ONNX's multidirectional (numpy) broadcasting through
:func:`~cnnc.ops._common.broadcast_shapes`, and ONNX's type constraints restricted to the
dtypes cnnc carries.  Each shape family is one table and one registration loop:

* ``BINARY`` — two operands, one output: ``Add Sub Mul Div Pow`` (numeric, result in the
  operands' dtype) and ``Equal Greater Less And`` (result ``bool``).  An entry pairs the
  numpy function with a *dtype rule* that checks the operand dtypes and names the output
  dtype; operands share one dtype, except ``Pow``, whose exponent may have any numeric dtype
  (the result has the base's dtype, as in ONNX).
* ``VARIADIC`` — one or more operands folded left to right: ``Max Min`` (numeric),
  ``Sum Mean`` (float only, as in ONNX).

Integer semantics follow ONNX: ``Div`` truncates toward zero (C's ``/``, which ONNX's
reference and onnxruntime implement; numpy's ``//`` floors), in exact integer arithmetic.
``Pow`` with an integer base is computed in float64 and truncated, which is what
onnxruntime (C++ ``std::pow``) and a C backend calling ``pow`` do; it is exact while the
result fits in 53 bits, and gives 0 for ``b ** -n`` with ``|b| > 1`` where numpy would
raise.  Integer overflow wraps; integer division by zero is undefined, as in ONNX.
"""
from __future__ import annotations

import functools

import numpy as np

from ..ir import OpDef, ShapeError, TensorType, register
from ..ir.types import DTYPES
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


def _broadcast_op(name, inputs, fn, rule, doc):
    variadic = inputs[-1].endswith("*")

    def infer(types, a):
        dtype = rule(types, [f"data_{i}" for i in range(len(types))] if variadic else inputs)
        return (TensorType(broadcast_shapes(*(t.shape for t in types)), dtype),)

    # fn keeps the operands' dtype (or gives bool); asarray turns numpy scalars into 0-d arrays
    register(OpDef(name=name, inputs=inputs, infer=infer,
                   reference=lambda arrays, a: np.asarray(fn(*arrays)), doc=doc))


BINARY = {
    "Add": (np.add, _shared(NUMERIC)),
    "Sub": (np.subtract, _shared(NUMERIC)),
    "Mul": (np.multiply, _shared(NUMERIC)),
    "Div": (_div, _shared(NUMERIC)),
    "Pow": (_pow, _pow_rule),
    "Equal": (np.equal, _shared(DTYPES, "bool")),
    "Greater": (np.greater, _shared(NUMERIC, "bool")),
    "Less": (np.less, _shared(NUMERIC, "bool")),
    "And": (np.logical_and, _shared(("bool",), "bool")),
}

for _name, (_fn, _rule) in BINARY.items():
    _broadcast_op(_name, ("X", "Y") if _name == "Pow" else ("A", "B"), _fn, _rule,
                  f"broadcasting elementwise {_name}")


def _mean(*arrays):
    return functools.reduce(np.add, arrays) / len(arrays)


VARIADIC = {
    "Max": (lambda *xs: functools.reduce(np.maximum, xs), NUMERIC),
    "Min": (lambda *xs: functools.reduce(np.minimum, xs), NUMERIC),
    "Sum": (lambda *xs: functools.reduce(np.add, xs), FLOATS),
    "Mean": (_mean, FLOATS),
}

for _name, (_fn, _allowed) in VARIADIC.items():
    _broadcast_op(_name, ("data_0*",), _fn, _shared(_allowed),
                  f"elementwise {_name} of one or more broadcast operands")


def _not_infer(types, a):
    _require(types[0], ("bool",), "X")
    return (types[0],)


register(OpDef(name="Not", inputs=("X",), infer=_not_infer,
               reference=lambda arrays, a: np.asarray(np.logical_not(arrays[0])),
               doc="elementwise logical not of a bool tensor"))


def _where_infer(types, a):
    cond, x, y = types
    _require(cond, ("bool",), "condition")
    dtype = same_dtype((x, y), ("X", "Y"))
    return (TensorType(broadcast_shapes(cond.shape, x.shape, y.shape), dtype),)


register(OpDef(name="Where", inputs=("condition", "X", "Y"), infer=_where_infer,
               reference=lambda arrays, a: np.asarray(np.where(*arrays)),
               doc="X where condition holds, else Y (all three broadcast)"))
