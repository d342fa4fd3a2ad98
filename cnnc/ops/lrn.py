"""Local response normalization across channels (ONNX ``LRN``), 1-D/2-D/3-D.

``Y[n, c, *s] = X[n, c, *s] / (bias + alpha / size * sum(X[n, i, *s]^2))^beta`` where
``i`` runs over ``max(0, c - floor((size-1)/2)) .. min(C-1, c + ceil((size-1)/2))``: an even
``size`` reaches one channel further up than down.  The window sum is taken over the
squares zero-padded along the channel axis, in float64.  ONNX's own kernels only take 4-D
input; the definition is per spatial position, so cnnc applies it to any 1..3 spatial axes.

The C kernel (``lrn.c.j2``) sums the window's squares in double per channel over a chunk of
spatial positions (unit stride), the window's channel rows from per-channel tables; ``d **
beta`` is spelled with square roots for the usual betas (1, 0.5, 0.75).  The TVM rule
computes in float64 as the reference does: Relax for the squares and the pointwise
division, a TE compute for the channel window sum over the zero-padded squares.
"""
from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..ir import Attr, Kernel, OpDef, register
from . import _spatial as sp
from ._c import SHORT, ctype, num
from ._c_reduce import BLOCK
from ._common import require_float


def _lrn_infer(types, a):
    x = types[0]
    require_float(x, "X")
    sp.spatial_rank(x.shape, "X")
    return (x,)


def _lrn_ref(inputs, a):
    x = inputs[0]
    size = a["size"]
    below = (size - 1) // 2
    sq = np.square(x.astype(np.float64))
    width = [(0, 0)] * x.ndim
    width[1] = (below, size - 1 - below)
    sums = sliding_window_view(np.pad(sq, width), size, axis=1).sum(axis=-1)
    return (x / (a["bias"] + a["alpha"] / size * sums) ** a["beta"]).astype(x.dtype)


def _power(beta: float) -> str:
    """C for ``d ** beta`` (d > 0 in practice)."""
    return {1.0: "d", 0.5: "sqrt(d)", 0.75: "sqrt(d * sqrt(d))"}.get(
        beta, f"pow(d, {num(beta, 'float64')})")


def _lrn_c(req):
    x, a = req.in_types[0], req.attrs
    n, c = x.shape[:2]
    s = math.prod(x.shape[2:])
    size = a["size"]
    below = (size - 1) // 2
    ch = np.arange(c, dtype=np.int64)
    tables = {"lo": np.maximum(ch - below, 0), "hi": np.minimum(ch + size - below, c)}
    params = {"n": n, "c": c, "s": s, "block": max(1, min(s, BLOCK)), "ctype": ctype(x.dtype),
              "bias": num(a["bias"], "float64"), "coef": num(a["alpha"] / size, "float64"),
              "denom": _power(a["beta"])}
    return Kernel("c/kernels/lrn.c.j2", f"cnnc_lrn_{SHORT[x.dtype]}_{n}x{c}x{s}_n{size}", params,
                  tables=tables, comment=f"LRN size {size} alpha {a['alpha']} beta {a['beta']} "
                                         f"bias {a['bias']} on {x}")


def _lrn_tvm(req, xs, b):
    x, a = req.in_types[0], req.attrs
    size = a["size"]
    below = (size - 1) // 2
    x64 = b.emit(b.R.astype(xs[0], "float64"))
    te = b.te

    def window_sum(sq):
        rest = (0,) * (x.rank - 2)
        padded = b.topi.nn.pad(sq, (0, below, *rest), (0, size - 1 - below, *rest))
        r = te.reduce_axis((0, size), name="r")
        return te.compute(x.shape, lambda n, c, *s: te.sum(padded[(n, c + r, *s)], axis=r), name="lrn_sum")

    sums = b.emit_te(window_sum, b.emit(b.R.multiply(x64, x64)), name="lrn_window_sum")
    denom = b.R.add(b.const(a["bias"], "float64"), b.R.multiply(b.const(a["alpha"] / size, "float64"), sums))
    y = b.R.divide(x64, b.R.power(b.emit(denom), b.const(a["beta"], "float64")))
    return b.R.astype(b.emit(y), x.dtype)


register(OpDef(
    name="LRN",
    inputs=("X",),
    attrs={"size": Attr("int", check=lambda s: None if s >= 1 else "must be >= 1"),
           "alpha": Attr("float", 1e-4),
           "beta": Attr("float", 0.75),
           "bias": Attr("float", 1.0)},
    infer=_lrn_infer,
    reference=_lrn_ref,
    kernels={"c": _lrn_c},
    tvm=_lrn_tvm,
    doc="local response normalization across channels",
))
