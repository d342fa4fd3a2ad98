"""Fully connected layers: ``Gemm`` and ``MatMul`` (ONNX semantics, float tensors only).

``Gemm``: ``Y = alpha * A' @ B' + beta * C`` with ``A' = A.T if transA`` (``A'`` is
``(M, K)``), ``B' = B.T if transB`` (``(K, N)``); the optional ``C`` is broadcast one way
to ``(M, N)`` (scalar, ``(N,)``, ``(M, 1)``, ``(1, N)``, ``(M, N)``, …).  A missing ``C``
means zero.

``MatMul``: ``numpy.matmul`` — the last two axes multiply, leading (batch) axes broadcast;
a 1-D ``A`` is a row vector and a 1-D ``B`` a column vector, and the unit axis they were
given is dropped from the result.  Shape errors print both operand shapes.

The products run in the operands' dtype (as ONNX does); ``alpha``/``beta`` scaling and the
``C`` term too, so float32 in gives float32 out.
"""
from __future__ import annotations

import numpy as np

from ..ir import Attr, OpDef, ShapeError, register
from ._common import broadcast_shapes, require_float, same_dtype


# ---------------------------------------------------------------- Gemm
def _gemm_infer(types, a):
    names = ("A", "B", "C")
    for t, name in zip(types, names):
        require_float(t, name)
    same_dtype(types, names)
    ta, tb = types[0], types[1]
    if ta.rank != 2 or tb.rank != 2:
        raise ShapeError(f"A and B must be matrices, got A {ta.shape}, B {tb.shape}")
    m, k = ta.shape[::-1] if a["transA"] else ta.shape
    kb, n = tb.shape[::-1] if a["transB"] else tb.shape
    if k != kb:
        raise ShapeError(f"inner dimensions differ: A {ta.shape} (transA={a['transA']}) gives "
                         f"K={k}, B {tb.shape} (transB={a['transB']}) gives K={kb}")
    if len(types) > 2:
        c = types[2].shape
        if len(c) > 2 or any(d not in (1, want) for d, want in zip(c[::-1], (n, m))):
            raise ShapeError(f"C {c} does not broadcast to the output shape {(m, n)}")
    return (ta.with_shape((m, n)),)


def _gemm_ref(inputs, a):
    x, w = inputs[0], inputs[1]
    x = x.T if a["transA"] else x
    w = w.T if a["transB"] else w
    y = a["alpha"] * (x @ w)
    if len(inputs) > 2:
        y = y + a["beta"] * inputs[2]
    return y.astype(inputs[0].dtype, copy=False)


_BIT = Attr("int", 0, choices=(0, 1))
register(OpDef(
    name="Gemm",
    inputs=("A", "B", "C?"),
    attrs={"alpha": Attr("float", 1.0), "beta": Attr("float", 1.0),
           "transA": _BIT, "transB": _BIT},
    infer=_gemm_infer,
    reference=_gemm_ref,
    doc="general matrix multiply alpha*A'B' + beta*C (a fully connected layer)",
))


# ---------------------------------------------------------------- MatMul
def _matmul_infer(types, a):
    ta, tb = types
    require_float(ta, "A")
    same_dtype(types, ("A", "B"))
    sa, sb = ta.shape, tb.shape
    if not sa or not sb:
        raise ShapeError(f"MatMul operands must have rank >= 1, got A {sa}, B {sb}")
    a2 = (1,) + sa if len(sa) == 1 else sa
    b2 = sb + (1,) if len(sb) == 1 else sb
    if a2[-1] != b2[-2]:
        raise ShapeError(f"cannot multiply A {sa} by B {sb}: A has {a2[-1]} columns, "
                         f"B has {b2[-2]} rows")
    try:
        batch = broadcast_shapes(a2[:-2], b2[:-2])
    except ShapeError:
        raise ShapeError(f"batch axes of A {sa} and B {sb} do not broadcast") from None
    out = batch + a2[-2:-1] * (len(sa) > 1) + b2[-1:] * (len(sb) > 1)
    return (ta.with_shape(out),)


register(OpDef(
    name="MatMul",
    inputs=("A", "B"),
    infer=_matmul_infer,
    reference=lambda inputs, a: np.asarray(np.matmul(inputs[0], inputs[1])),
    doc="numpy.matmul: batched matrix product with broadcasting",
))
