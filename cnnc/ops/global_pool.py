"""Global pooling: one value per channel, over every spatial position.

``GlobalAveragePool``, ``GlobalMaxPool`` and ``GlobalLpPool`` (``p`` an int >= 1, default
2) map ``N, C, *spatial`` (1 to 3 spatial axes) to ``N, C, 1, ...`` with the spatial axes
kept as ones, as ONNX does.  They are the windowed pools with the window the whole input
and no padding, but need none of the window machinery, so ``GLOBAL_POOLS`` is a table of
``name: (attributes, reduction over the spatial axes)``.  Their C kernels are the shared
reduction of :mod:`cnnc.ops._c_reduce` over the spatial axes (``C_KIND``).
"""
from __future__ import annotations

import numpy as np

from ..ir import OpDef, register
from . import _spatial as sp
from ._c_reduce import reduce_over
from ._common import require_float
from .pool import LP_P, lower_pool


def _infer(types, a):
    x = types[0]
    require_float(x)
    nd = sp.spatial_rank(x.shape)
    return (x.with_shape((*x.shape[:2],) + (1,) * nd),)


def _lp(x, axes, a):
    p = a["p"]
    return (np.abs(x) ** p).sum(axes, keepdims=True) ** (1.0 / p)


GLOBAL_POOLS = {
    "GlobalAveragePool": ({}, lambda x, axes, a: x.mean(axes, keepdims=True)),
    "GlobalMaxPool": ({}, lambda x, axes, a: x.max(axes, keepdims=True)),
    "GlobalLpPool": ({"p": LP_P}, _lp),
}

C_KIND = {"GlobalAveragePool": "mean", "GlobalMaxPool": "max", "GlobalLpPool": "lp"}


def _c_kernel(name):
    def hook(req):
        extra = {"p": req.attrs["p"]} if name == "GlobalLpPool" else {}
        label = name + "".join(f" p={v}" for v in extra.values())
        return reduce_over(req, C_KIND[name], range(2, req.in_types[0].rank),
                           label.lower().replace(" p=", "_p"), comment=f"{label} -> {req.out_types[0]}",
                           **extra)
    return hook


def _tvm(name):
    """GlobalAveragePool: Relax's mean; GlobalMaxPool and GlobalLpPool: their windowed pools'
    lowering (``pool.lower_pool``: a max that propagates NaN, as numpy's) with one window
    covering the input."""
    def rule(req, xs, b):
        x = req.in_types[0]
        nd = x.rank - 2
        if name == "GlobalAveragePool":
            return b.R.mean(xs[0], axis=list(range(2, x.rank)), keepdims=True)
        window = {"kernel_shape": x.shape[2:], "strides": (1,) * nd, "dilations": (1,) * nd,
                  "pads": (0,) * (2 * nd), "auto_pad": "NOTSET", "ceil_mode": 0, **req.attrs}
        return lower_pool(name.removeprefix("Global"), b, xs[0], x.shape, x.dtype, window)
    return rule


for _name, (_attrs, _reduce) in GLOBAL_POOLS.items():
    register(OpDef(
        name=_name, inputs=("X",), attrs=_attrs, infer=_infer, kernels={"c": _c_kernel(_name)},
        tvm=_tvm(_name),
        reference=lambda inputs, a, fn=_reduce: fn(
            inputs[0], tuple(range(2, inputs[0].ndim)), a).astype(inputs[0].dtype),
        doc=f"{_name} over all spatial axes"))
