"""Reductions over axes: ``ReduceMean ReduceSum ReduceMax ReduceMin ReduceL2
ReduceLogSumExp ReduceProd`` — one table, one registration loop, one infer rule.

ONNX semantics of opset 18, with one deviation: ONNX passes ``axes`` as a run-time tensor
operand, cnnc takes it as an **attribute** (ints, default None), because cnnc compiles for
static shapes.  ``keepdims`` (default 1) and ``noop_with_empty_axes`` (default 0) are as in
ONNX: no or empty ``axes`` reduces every axis, unless ``noop_with_empty_axes`` is 1, when the
op is the identity.  ``canonicalize`` stores the reduced axes explicitly (non-negative,
sorted), so a stored node never depends on the empty-axes rule.

Results keep the input's dtype and accumulate in it (as ONNX's reference does).  Integer
``ReduceMean`` truncates toward zero and integer ``ReduceL2`` truncates the float64 root;
``ReduceLogSumExp`` is float only (ONNX drops integers for it in opset 28) and subtracts the
maximum before ``exp`` so that it cannot overflow.  Reducing an empty extent gives the
identity of the reduction: 0 for Sum/L2, 1 for Prod, NaN for Mean, -inf for LogSumExp and
the dtype's lowest (highest) value for Max (Min), as in ONNX.

The C kernels are the shared reduction of :mod:`cnnc.ops._c_reduce` (``C_KIND`` names each
op's reduction there), for every dtype the op takes but float16.  The TVM rules (Relax
``sum``/``prod``, TE for Max/Min) are described before :func:`_tvm_extreme`.
"""
from __future__ import annotations

import numpy as np

from ..ir import Attr, OnnxMap, OpDef, ShapeError, register
from ._c_reduce import reduce_over
from ._common import FLOATS, normalize_axes, tvm_is_nan
from .elementwise import NUMERIC, trunc_divide


def _lowest(dtype):
    return -np.inf if dtype.kind == "f" else np.iinfo(dtype).min


def _highest(dtype):
    return np.inf if dtype.kind == "f" else np.iinfo(dtype).max


def _mean(x, axes):
    s = np.sum(x, axis=axes, keepdims=True, dtype=x.dtype)
    n = int(np.prod([x.shape[i] for i in axes], dtype=np.int64))
    return trunc_divide(s, n) if x.dtype.kind in "iu" else s / n


def _l2(x, axes):
    return np.sqrt(np.sum(np.square(x), axis=axes, keepdims=True, dtype=x.dtype))


def _log_sum_exp(x, axes):
    m = np.max(x, axis=axes, keepdims=True, initial=-np.inf)
    m = np.where(np.isfinite(m), m, 0).astype(x.dtype)
    return np.log(np.sum(np.exp(x - m), axis=axes, keepdims=True)) + m


# name: (fn(x, axes) -> result with the reduced axes kept as 1, accepted dtypes)
REDUCE = {
    "ReduceMean": (_mean, NUMERIC),
    "ReduceSum": (lambda x, axes: np.sum(x, axis=axes, keepdims=True, dtype=x.dtype), NUMERIC),
    "ReduceProd": (lambda x, axes: np.prod(x, axis=axes, keepdims=True, dtype=x.dtype), NUMERIC),
    "ReduceMax": (lambda x, axes: np.max(x, axis=axes, keepdims=True, initial=_lowest(x.dtype)),
                  NUMERIC),
    "ReduceMin": (lambda x, axes: np.min(x, axis=axes, keepdims=True, initial=_highest(x.dtype)),
                  NUMERIC),
    "ReduceL2": (_l2, NUMERIC),
    "ReduceLogSumExp": (_log_sum_exp, FLOATS),
}


C_KIND = {"ReduceMean": "mean", "ReduceSum": "sum", "ReduceProd": "prod", "ReduceMax": "max",
          "ReduceMin": "min", "ReduceL2": "l2", "ReduceLogSumExp": "logsumexp"}


def _c_kernel(name):
    def hook(req):
        a = req.attrs
        return reduce_over(req, C_KIND[name], a["axes"], name.lower(),
                           comment=f"{name} axes {a['axes']} keepdims {a['keepdims']} -> {req.out_types[0]}")
    return hook


# ---------------------------------------------------------------- TVM
# Each rule computes the reduction with the reduced axes kept as 1, then reshapes to the
# output.  Floats accumulate in float64 (at least the reference's precision), integers in
# their own dtype (wrapping as numpy's).  Max and Min are TE reductions: Relax's start from
# the dtype's finite lowest/highest value (the max of a row of -inf would not be -inf, an
# empty extent not the reference's identity) and drop NaN depending on its position.

def _tvm_acc(b, x):
    """``x`` in the dtype reductions accumulate in: float64 for floats, else its own."""
    return b.emit(b.R.astype(x, "float64")) if b.dtype(x).startswith("float") else x


def _tvm_extreme(b, x, axes, kind: str):
    """Max (``kind`` "max") or Min over ``axes``, kept as 1: the identity on an empty extent
    is the reference's ``initial`` (±inf for floats), and a NaN anywhere gives NaN."""
    shape, dtype = b.shape(x), b.dtype(x)
    te, tir = b.te, b.tir
    is_float = dtype.startswith("float")
    init = (_lowest if kind == "max" else _highest)(np.dtype(dtype))
    init = float(init) if is_float else int(init)

    def combine(acc, v):
        better = v > acc if kind == "max" else v < acc
        return tir.Select(tir.Or(better, tvm_is_nan(tir, v)) if is_float else better, v, acc)

    reducer = te.comm_reducer(combine, lambda dt: tir.const(init, dt), name=f"nan_{kind}")

    def compute(t):
        raxes = {a: te.reduce_axis((0, shape[a]), name=f"r{a}") for a in axes}

        def body(*idx):
            return reducer(t[tuple(raxes.get(i, v) for i, v in enumerate(idx))], axis=list(raxes.values()))
        return te.compute(tuple(1 if i in raxes else d for i, d in enumerate(shape)), body, name=f"reduce_{kind}")
    return b.emit_te(compute, x, name=f"reduce_{kind}")


def _tvm_reduce(b, x, axes, kind: str):
    """``sum``/``prod``/``max``/``min`` of ``x`` over ``axes`` (kept as 1; none: ``x``)."""
    if not axes:
        return x
    shape, dtype = b.shape(x), np.dtype(b.dtype(x))
    if any(shape[a] == 0 for a in axes):  # TIR initializes inside the (empty) reduction loop
        identity = {"sum": 0, "prod": 1, "max": _lowest(dtype), "min": _highest(dtype)}[kind]
        return b.emit(b.R.broadcast_to(b.const(identity, b.dtype(x)),
                                       tuple(1 if i in axes else d for i, d in enumerate(shape))))
    if kind in ("max", "min"):
        return _tvm_extreme(b, x, axes, kind)
    return b.emit((b.R.sum if kind == "sum" else b.R.prod)(x, list(axes), keepdims=True))


def _tvm_mean(b, x, axes):
    s = _tvm_reduce(b, _tvm_acc(b, x), axes, "sum")
    n = int(np.prod([b.shape(x)[i] for i in axes], dtype=np.int64))
    dtype, is_float = b.dtype(x), b.dtype(x).startswith("float")
    if n == 0:  # the empty sum 0 over 0: NaN, and 0 for integers (numpy's division by zero)
        return b.R.broadcast_to(b.const(np.nan if is_float else 0, b.dtype(s)), b.shape(s))
    if is_float:
        return b.R.divide(s, b.const(float(n), "float64"))
    return b.R.divide(s, b.const(n, dtype))  # TIR's integer division truncates toward zero


def _tvm_l2(b, x, axes):
    x = _tvm_acc(b, x)
    s = b.emit(b.R.astype(_tvm_reduce(b, b.emit(b.R.multiply(x, x)), axes, "sum"), "float64"))
    return b.R.sqrt(s)  # cast to an integer dtype truncates, as numpy's astype


def _tvm_log_sum_exp(b, x, axes):
    R = b.R
    x = _tvm_acc(b, x)
    m = _tvm_reduce(b, x, axes, "max")
    m = b.emit(R.where(R.isfinite(m), m, b.const(0.0, "float64")))
    return R.add(R.log(_tvm_reduce(b, b.emit(R.exp(R.subtract(x, m))), axes, "sum")), m)


TVM_REDUCE = {
    "ReduceMean": _tvm_mean,
    "ReduceSum": lambda b, x, axes: _tvm_reduce(b, _tvm_acc(b, x), axes, "sum"),
    "ReduceProd": lambda b, x, axes: _tvm_reduce(b, _tvm_acc(b, x), axes, "prod"),
    "ReduceMax": lambda b, x, axes: _tvm_reduce(b, x, axes, "max"),
    "ReduceMin": lambda b, x, axes: _tvm_reduce(b, x, axes, "min"),
    "ReduceL2": _tvm_l2,
    "ReduceLogSumExp": _tvm_log_sum_exp,
}


def _tvm_rule(name):
    def rule(req, xs, b):
        y = b.emit(TVM_REDUCE[name](b, xs[0], req.attrs["axes"]))
        y = b.emit(b.R.astype(y, req.out_types[0].dtype))
        return b.R.reshape(y, req.out_types[0].shape)
    return rule


def _canon(attrs, types):
    rank = types[0].rank
    given = attrs["axes"] or ()
    axes = tuple(sorted(normalize_axes(given, rank, "reduction axes")))
    if not axes and not attrs["noop_with_empty_axes"]:
        axes = tuple(range(rank))
    return {**attrs, "axes": axes}


def _reduced_shape(shape, a):
    return tuple(1 if i in a["axes"] else d for i, d in enumerate(shape)
                 if a["keepdims"] or i not in a["axes"])


def _make_infer(name, allowed):
    def infer(types, a):
        x = types[0]
        if x.dtype not in allowed:
            raise ShapeError(f"{name} needs a {' or '.join(allowed)} input; got {x}")
        return (x.with_shape(_reduced_shape(x.shape, a)),)
    return infer


def _make_reference(fn):
    def reference(arrays, a):
        x = arrays[0]
        y = np.asarray(fn(x, a["axes"])).astype(x.dtype, copy=False)
        return y.reshape(_reduced_shape(x.shape, a))
    return reference


for _name, (_fn, _allowed) in REDUCE.items():
    register(OpDef(
        name=_name,
        inputs=("data",),
        attrs={"axes": Attr("ints", None,
                            doc="axes to reduce; None or () = all (see noop_with_empty_axes)"),
               "keepdims": Attr("int", 1, choices=(0, 1)),
               "noop_with_empty_axes": Attr("int", 0, choices=(0, 1))},
        canonicalize=_canon,
        infer=_make_infer(_name, _allowed),
        reference=_make_reference(_fn),
        onnx=OnnxMap(const_inputs={1: ("axes", "int64")}),
        kernels={"c": _c_kernel(_name)},
        tvm=_tvm_rule(_name),
        doc=f"{_name} over the `axes` attribute",
    ))
