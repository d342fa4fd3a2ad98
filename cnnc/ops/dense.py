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

Both share one C kernel, ``c/kernels/gemm.c.j2`` (``_gemm_kernel``): the operands are
described by element strides of ``A'`` and ``B'`` (transposition is a stride swap) and
per-batch offset tables, and the loop order follows ``B'``'s layout (i-k-j with a row of
accumulators when its rows are contiguous, i-j-k dot products when its columns are).
Their TVM rules are Relax's ``matmul`` (numpy's semantics: 1-D operands, broadcast batch
axes), Gemm's transpositions ``permute_dims`` and its scaling and ``C`` term Relax's
broadcasting ``multiply``/``add`` in the operands' dtype, as the reference computes them.
"""
from __future__ import annotations

import numpy as np

from ..ir import Attr, Impl, Kernel, OnnxMap, OpDef, ShapeError, register
from ._c import SHORT, broadcast_strides, ctype, num
from ._c_gemm import DENSE_TEMPLATE, dense_applies, dense_cost, dense_gemm
from ._common import broadcast_shapes, require_float, same_dtype
from ._precision import acc_bytes, acc_ctype, wide

# ---------------------------------------------------------------- the C kernel of both
#: partial sums of a dot product of contiguous rows (i-j-k order), vector code at -O2
DOT_LANES = 8


def batch_offsets(batch, a_batch, b_batch, a_size: int, b_size: int) -> dict[str, np.ndarray]:
    """The element offsets of each batch's A and B matrices (``aoff``, ``boff``; row-major
    over ``batch``), the operands' batch shapes broadcast to it, each matrix a contiguous
    block of ``a_size`` / ``b_size`` elements."""
    idx = np.indices(batch).reshape(len(batch), -1)
    tables = {}
    for key, shape, size in (("aoff", a_batch, a_size), ("boff", b_batch, b_size)):
        strides = np.array(broadcast_strides(shape, batch), np.int64) * size
        tables[key] = (strides[:, None] * idx).sum(axis=0)
    return tables


def _gemm_kernel(req, tag: str, *, m: int, k: int, n: int, a_strides, b_strides, batch=(),
                 a_batch=(), b_batch=(), alpha=1.0, beta=1.0, c_strides=None) -> Kernel:
    """The gemm.c.j2 kernel: ``A'(i, k) = A[i*a_strides[0] + k*a_strides[1]]``, likewise
    ``B'(k, j)``; ``a_batch``/``b_batch`` are the operands' batch shapes, broadcast to
    ``batch`` (each matrix a contiguous block); ``c_strides`` the (i, j) strides of a C."""
    dtype = req.out_types[0].dtype
    order = "ijk" if b_strides[0] == 1 else "ikj"
    assert order == "ijk" or b_strides[1] == 1, b_strides
    count = int(np.prod(batch, dtype=np.int64))
    tables = batch_offsets(batch, a_batch, b_batch, m * k, k * n) if count > 1 else {}
    acc = acc_ctype(dtype, k)
    lanes = DOT_LANES if order == "ijk" and a_strides[1] == 1 and k >= 2 * DOT_LANES else 0
    params = {"ctype": ctype(dtype), "acc_ctype": acc, "batch": count, "M": m, "N": n, "K": k,
              "asi": a_strides[0], "ask": a_strides[1], "bsk": b_strides[0], "bsj": b_strides[1],
              "order": order, "lanes": lanes,
              "alpha": "" if alpha == 1 else num(alpha, dtype),
              "c": c_strides is not None, "beta": "" if beta == 1 else num(beta, dtype),
              "csi": (c_strides or (0, 0))[0], "csj": (c_strides or (0, 0))[1]}
    return Kernel("c/kernels/gemm.c.j2", f"cnnc_{tag}_{SHORT[dtype]}_{count}x{m}x{k}x{n}", params, tables,
                  scratch_bytes=n * acc_bytes(acc) if order == "ikj" else 0,
                  comment=f"{req.node.op} {', '.join(map(str, req.in_types))} -> {req.out_types[0]}"
                  + (f" {dict(req.attrs)}" if req.attrs else ""))


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
    """Summed in float64 (``beta * C`` included) and rounded once (``wide``)."""
    x, w = wide(inputs[0]), wide(inputs[1])
    x = x.T if a["transA"] else x
    w = w.T if a["transB"] else w
    y = a["alpha"] * (x @ w)
    if len(inputs) > 2:
        y = y + a["beta"] * wide(inputs[2])
    return y.astype(inputs[0].dtype, copy=False)


def _matmul_ref(inputs, a):
    """``numpy.matmul`` summed in float64 and rounded once (``wide``); integers exactly."""
    return np.asarray(np.matmul(wide(inputs[0]), wide(inputs[1]))).astype(inputs[0].dtype, copy=False)


def _gemm_dims(req):
    a = req.attrs
    ta, tb = req.in_types[0].shape, req.in_types[1].shape
    m, k = ta[::-1] if a["transA"] else ta
    n = tb[0] if a["transB"] else tb[1]
    c = broadcast_strides(req.in_types[2].shape, (m, n)) if len(req.in_types) > 2 else None
    tag = "gemm" + "_ta" * a["transA"] + "_tb" * a["transB"] + "_c" * (c is not None)
    return m, k, n, c, tag, (1, m) if a["transA"] else (k, 1)


def _gemm_c(req):
    a = req.attrs
    m, k, n, c, tag, a_strides = _gemm_dims(req)
    return _gemm_kernel(req, tag, m=m, k=k, n=n, a_strides=a_strides,
                        b_strides=(1, k) if a["transB"] else (n, 1),
                        alpha=a["alpha"], beta=a["beta"], c_strides=c)


def _gemm_packed_c(req):
    """Gemm on the microkernel: a constant B packed at compile time, else per task at run time."""
    a = req.attrs
    m, k, n, c, tag, a_strides = _gemm_dims(req)
    b = req.constants[1]
    if b is not None:
        b = b.T if a["transB"] else b
    return dense_gemm(req, tag, m=m, k=k, n=n, a_strides=a_strides, b=b,
                      b_strides=(1, k) if a["transB"] else (n, 1), alpha=a["alpha"], beta=a["beta"], c_strides=c)


def _matmul_dims(req):
    sa, sb = req.in_types[0].shape, req.in_types[1].shape
    a2 = (1,) + sa if len(sa) == 1 else sa
    b2 = sb + (1,) if len(sb) == 1 else sb
    return a2, b2


def _matmul_packed_c(req):
    """MatMul on the microkernel.  A B of one matrix (no batch axes above 1): A's batch axes
    fold into its rows, and a constant B is packed at compile time.  A batched B (attention's
    Q.K^T and P.V): one product per broadcast batch, B packed per task at run time."""
    a2, b2 = _matmul_dims(req)
    k, n = b2[-2], b2[-1]
    b = req.constants[1]
    if all(d == 1 for d in b2[:-2]):
        m = int(np.prod(a2[:-1]))
        return dense_gemm(req, "matmul", m=m, k=k, n=n, a_strides=(k, 1),
                          b=None if b is None else b.reshape(k, n), b_strides=(n, 1))
    batch = broadcast_shapes(a2[:-2], b2[:-2])
    m = a2[-2]
    return dense_gemm(req, "matmul", m=m, k=k, n=n, a_strides=(k, 1), b=None, b_strides=(n, 1),
                      offsets=batch_offsets(batch, a2[:-2], b2[:-2], m * k, k * n))


def _dense_impls(direct, packed, dims) -> tuple[Impl, ...]:
    """A dense op's C table: the plain ``direct`` kernel (portable: the CUDA backend renders
    it too) and ``gemm``, the microkernel plan (B packed at compile time when constant, else
    at run time)."""
    return (Impl("direct", direct, cost=lambda req: 2.0 * req.out_types[0].size * dims(req) / 2e9),
            Impl("gemm", packed, applies=dense_applies, portable=False, template=DENSE_TEMPLATE,
                 cost=lambda req: dense_cost(req, *_mkn(req, dims))))


def _mkn(req, dims):
    k = dims(req)
    out = req.out_types[0]
    n = out.shape[-1] if out.rank else 1
    return out.size // max(n, 1), k, n


def _gemm_tvm(req, xs, b):
    a, dtype = req.attrs, req.out_types[0].dtype
    x = b.R.permute_dims(xs[0]) if a["transA"] else xs[0]
    w = b.R.permute_dims(xs[1]) if a["transB"] else xs[1]
    y = b.R.matmul(x, w)
    if a["alpha"] != 1:
        y = b.R.multiply(b.emit(y), b.const(a["alpha"], dtype))
    if len(xs) > 2:
        c = xs[2] if a["beta"] == 1 else b.R.multiply(xs[2], b.const(a["beta"], dtype))
        y = b.R.add(b.emit(y), b.emit(c))
    return y


def _gemm_flops(types, a, outs) -> int:
    """2 * M * K * N, plus the C term's adds."""
    k = types[0].shape[0] if a["transA"] else types[0].shape[1]
    return 2 * outs[0].size * k + (outs[0].size if len(types) > 2 else 0)


def _matmul_flops(types, a, outs) -> int:
    """2 * output elements * K."""
    return 2 * outs[0].size * types[0].shape[-1]


_BIT = Attr("int", 0, choices=(0, 1))
register(OpDef(
    name="Gemm",
    inputs=("A", "B", "C?"),
    attrs={"alpha": Attr("float", 1.0), "beta": Attr("float", 1.0),
           "transA": _BIT, "transB": _BIT},
    infer=_gemm_infer,
    reference=_gemm_ref,
    flops=_gemm_flops,
    kernels={"c": _dense_impls(_gemm_c, _gemm_packed_c, lambda req: _gemm_dims(req)[1])},
    tvm=_gemm_tvm,
    # opsets 1-6: ``broadcast`` says whether C broadcasts; cnnc's C always may (one way)
    onnx=OnnxMap(importers={1: lambda node, b: b.generic(attrs={"broadcast": None}), 7: None}),
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


def _matmul_c(req):
    a2, b2 = _matmul_dims(req)
    (m, k), n = a2[-2:], b2[-1]
    return _gemm_kernel(req, "matmul", m=m, k=k, n=n, a_strides=(k, 1), b_strides=(n, 1),
                        batch=broadcast_shapes(a2[:-2], b2[:-2]), a_batch=a2[:-2], b_batch=b2[:-2])


register(OpDef(
    name="MatMul",
    inputs=("A", "B"),
    infer=_matmul_infer,
    reference=_matmul_ref,
    flops=_matmul_flops,
    kernels={"c": _dense_impls(_matmul_c, _matmul_packed_c, lambda req: _matmul_dims(req)[1][-2])},
    tvm=lambda req, xs, b: b.R.matmul(xs[0], xs[1]),
    doc="numpy.matmul: batched matrix product with broadcasting",
))
