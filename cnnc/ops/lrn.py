"""Local response normalization across channels (ONNX ``LRN``), 1-D/2-D/3-D.

``Y[n, c, *s] = X[n, c, *s] / (bias + alpha / size * sum(X[n, i, *s]^2))^beta`` where
``i`` runs over ``max(0, c - floor((size-1)/2)) .. min(C-1, c + ceil((size-1)/2))``: an even
``size`` reaches one channel further up than down.  The window sum is taken over the
squares zero-padded along the channel axis, in float64.  ONNX's own kernels only take 4-D
input; the definition is per spatial position, so cnnc applies it to any 1..3 spatial axes.
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..ir import Attr, OpDef, register
from . import _spatial as sp
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


register(OpDef(
    name="LRN",
    inputs=("X",),
    attrs={"size": Attr("int", check=lambda s: None if s >= 1 else "must be >= 1"),
           "alpha": Attr("float", 1e-4),
           "beta": Attr("float", 0.75),
           "bias": Attr("float", 1.0)},
    infer=_lrn_infer,
    reference=_lrn_ref,
    doc="local response normalization across channels",
))
