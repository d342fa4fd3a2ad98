"""Softmax and LogSoftmax along one axis (ONNX opset-13 semantics, not the older
"flatten to 2-D at ``axis``" rule).

Both subtract the maximum along ``axis`` first, so ``exp`` never overflows, and compute in
float64 before casting back to the input dtype: ``Softmax = e / sum(e)``, ``LogSoftmax =
(x - max) - log(sum(e))`` with ``e = exp(x - max)``.  The two entries share one infer rule
and differ only in the last step (the table below).

The C kernel is the shared reduction of :mod:`cnnc.ops._c_reduce` over ``axis`` with three
passes per position: the maximum; the sum of ``e = exp(x - max)`` in double (Softmax
stores ``e`` in Y on the way, so that ``exp`` runs once per element); then each element of
Y: ``e / sum`` (as ``e * (1 / sum)``), or ``(x - max) - log(sum)``.

The TVM rule is Relax's softmax/log_softmax, in float64 like the reference.
"""
from __future__ import annotations

import numpy as np

from ..ir import Attr, OnnxMap, OpDef, register
from ._c import ctype
from ._c_reduce import pick, reduce_kernel, reduce_plan, sweep
from ._common import norm_axis, require_float


def _canon(attrs, types):
    return {**attrs, "axis": norm_axis(attrs["axis"], types[0].rank)}


def _infer(types, a):
    require_float(types[0])
    return (types[0],)


def _shifted(x, axis):
    """``x - max`` and ``sum(exp(x - max))`` along ``axis``, in float64."""
    x = x.astype(np.float64)
    z = x - x.max(axis=axis, keepdims=True)
    return z, np.exp(z).sum(axis=axis, keepdims=True)


FINISH = {
    "Softmax": lambda z, s: np.exp(z) / s,
    "LogSoftmax": lambda z, s: z - np.log(s),
}


def _reference(finish):
    def ref(inputs, a):
        x = inputs[0]
        return finish(*_shifted(x, a["axis"])).astype(x.dtype)
    return ref


def _c_kernel(name):
    def hook(req):
        x = req.in_types[0]
        t, axis = ctype(x.dtype), req.attrs["axis"]
        plan = reduce_plan(x.shape, (axis,))
        m, s, m_, s_ = f"mx{plan.at}", f"sm{plan.at}", f"mx{plan.done}", f"sm{plan.done}"
        # x's NaN sticks to the maximum (as numpy's max), and so to the whole slice
        find_max = sweep([pick(m, "v", True)], [f"{m} = (-INFINITY);"], [pick("mx[0]", "mx[j]", True)])
        add = "sm[0] += sm[j];"
        if name == "Softmax":
            passes = (find_max,
                      sweep([f"const double e = exp((double)v - {m_});", f"{s} += e;",
                             f"y0[k] = ({t})e;"], [f"{s} = 0.0;"], [add], [f"{s_} = 1.0 / {s_};"]),
                      sweep([f"y0[k] = ({t})((double)y0[k] * {s_});"], reads=False))
        else:
            passes = (find_max,
                      sweep([f"{s} += exp((double)v - {m_});"], [f"{s} = 0.0;"], [add],
                            [f"{s_} = log({s_});"]),
                      sweep([f"y0[k] = ({t})(((double)v - {m_}) - {s_});"]))
        return reduce_kernel(req, plan, name.lower(), (("double", "mx"), ("double", "sm")), passes,
                             comment=f"{name} axis {axis} of {x}")
    return hook


#: Relax's softmax and log_softmax (max-shifted, as the reference)
TVM = {"Softmax": "softmax", "LogSoftmax": "log_softmax"}


def _tvm_rule(name):
    """Relax's op in float64, as the reference computes: a float32 LogSoftmax near 0 (the
    largest entry of a peaked row) is ``-log(sum)`` with the sum's rounding error, 1e-4
    relative, and a float32 sum of a long axis drifts."""
    def rule(req, xs, b):
        t = b.dtype(xs[0])
        x = xs[0] if t == "float64" else b.R.astype(xs[0], "float64")
        y = getattr(b.R.nn, TVM[name])(x, axis=req.attrs["axis"])
        return y if t == "float64" else b.R.astype(y, t)
    return rule


def _import_v1(node, b):
    """Opsets 1-12 coerce the input to 2-D at ``axis`` (default 1) and normalize each row:
    the same as opset 13 along the last axis when ``axis`` is the last one; otherwise
    flatten, normalize and reshape back."""
    shape = b.type(b.input(0)).shape
    axis = node.attrs.get("axis", 1) % max(len(shape), 1)
    if axis == len(shape) - 1:
        return b.generic(attrs={"axis": axis})
    flat = b.op("Flatten", [b.input(0)], {"axis": axis})
    y = b.op(node.op_type, [flat], {"axis": 1})
    return b.op("Reshape", [y], {"shape": shape})


for _name, _finish in FINISH.items():
    register(OpDef(name=_name, inputs=("input",), attrs={"axis": Attr("int", -1)},
                   canonicalize=_canon, infer=_infer, reference=_reference(_finish),
                   onnx=OnnxMap(importers={1: _import_v1, 13: None}), kernels={"c": _c_kernel(_name)},
                   tvm=_tvm_rule(_name),
                   doc=f"{_name} along one axis"))
