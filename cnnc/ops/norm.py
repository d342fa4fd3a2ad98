"""Normalization layers (inference semantics): batch, instance, layer and group norm.

All four compute ``(x - mean) / sqrt(var + epsilon) * scale + bias``; they differ only in
where ``mean``/``var`` come from and the shape ``scale``/``bias`` broadcast from:

* ``BatchNormalization`` — ``X (N, C, *S)`` with 0..3 spatial axes; ``scale, B,
  input_mean, input_var`` of shape ``(C,)``.  Inference mode only: the running statistics
  are operands, so ``momentum`` (which only updates them in training) is accepted for
  ONNX compatibility and ignored, and ``training_mode=1`` (batch statistics, three extra
  outputs) is rejected — cnnc compiles inference graphs.  ONNX lets ``scale``/``B`` and
  ``input_mean``/``input_var`` have float types other than ``X``'s; so does cnnc.
* ``InstanceNormalization`` — statistics per ``(n, c)`` over the 1..3 spatial axes;
  ``scale, B`` of shape ``(C,)``.
* ``LayerNormalization`` — statistics over axes ``axis..rank-1``; ``Scale`` and optional
  ``B`` must broadcast to the normalized shape ``X.shape[axis:]``.  ONNX's optional
  ``Mean`` and ``InvStdDev`` outputs (float32, shape ``X.shape[:axis] + (1,) * (rank -
  axis)``) exist when ``stats_outputs=1``, which the importer sets when a model reads them;
  ``stash_type`` is accepted for ONNX compatibility, but the statistics are always kept in
  float64 (at least as precise as any stash type ONNX allows).
* ``GroupNormalization`` — ONNX opset-21 semantics: the ``C`` channels are split into
  ``num_groups`` groups, statistics per ``(n, group)`` over the group's channels and all
  spatial axes, then ``scale``/``bias`` of shape ``(C,)`` apply per channel (opset 18's
  per-group scale is not supported).

One helper, :func:`_standardize`, normalizes over given axes (or with given statistics, for
batch norm); it computes in float64 and the result is cast back to ``X``'s dtype.

C kernels, float32 and float64, computing in double as the reference does:
``BatchNormalization`` with constant parameters folds them here into ``y = x * mul[c] +
add[c]`` (``channel_affine.c.j2``); with run-time ones it is an ``elementwise`` kernel of
the parameters broadcast as ``(C, 1, ..)``.  Instance, group and layer norm are
``normalize.c.j2``: each of their statistics is over a contiguous row of ``X`` (the spatial
axes, a group's channels and spatial axes, the axes from ``axis`` on), so a kernel is rows
x (mean, variance, write), the parameters indexed per row and per element within the row
(:func:`_c_normalize`).

TVM (``cnnc.backends.tvm``): one Relax composition, :func:`_tvm_standardize`, mirrors
:func:`_standardize` (float64 statistics and arithmetic, cast back at the end) for all four;
Relax's ``nn.batch_norm``/``layer_norm``/``group_norm`` compute in the input dtype (float32
statistics are off by ~1e-3 for a large offset) and take ``Scale`` only in the normalized
shape, so they are not used.
"""
from __future__ import annotations

import math

import numpy as np

from ..ir import (Attr, Kernel, KernelRequest, OnnxMap, OpDef, ShapeError, TensorType,
                  UnsupportedError, register)
from . import _spatial as sp
from ._c import SHORT, broadcast_strides, collapse, contiguous_strides, ctype, elementwise, num, parallel_tasks
from ._common import norm_axis, require_float, same_dtype
from .shape import tvm_reshape

_EPS = Attr("float", 1e-5, check=lambda e: None if e >= 0 else "must be >= 0")


def _standardize(x: np.ndarray, axes: tuple[int, ...], eps: float, mean=None, var=None
                 ) -> np.ndarray:
    """``(x - mean) / sqrt(var + eps)`` in float64, with statistics over ``axes`` unless
    ``mean`` and ``var`` are given."""
    x = x.astype(np.float64)
    if mean is None:
        mean = x.mean(axis=axes, keepdims=True)
        var = np.square(x - mean).mean(axis=axes, keepdims=True)
    return (x - mean) / np.sqrt(var + eps)


def _per_channel(v: np.ndarray, rank: int) -> np.ndarray:
    """A ``(C,)`` vector shaped to broadcast against an ``(N, C, *S)`` tensor of ``rank``."""
    return v.astype(np.float64).reshape((-1,) + (1,) * (rank - 2))


def _scale_shift(y: np.ndarray, scale: np.ndarray, b: np.ndarray, dtype) -> np.ndarray:
    """``y * scale + b`` with per-channel ``scale`` and ``b``, cast to ``dtype``."""
    return (y * _per_channel(scale, y.ndim) + _per_channel(b, y.ndim)).astype(dtype)


def _tvm_standardize(b, x, axes, eps: float, mean=None, var=None):
    """:func:`_standardize` in Relax: float64 throughout, statistics over ``axes`` unless
    ``mean`` and ``var`` (float64, broadcastable) are given; also returns them."""
    R = b.R
    x = b.emit(R.astype(x, "float64"))
    if mean is None:
        mean = b.emit(R.mean(x, axes, keepdims=True))
        var = b.emit(R.mean(R.square(R.subtract(x, mean)), axes, keepdims=True))
    y = b.emit(R.divide(R.subtract(x, mean), R.sqrt(R.add(var, b.const(eps, "float64")))))
    return y, mean, var


def _tvm_per_channel(b, v, rank: int):
    """:func:`_per_channel` in Relax (float64)."""
    return b.emit(b.R.reshape(b.emit(b.R.astype(v, "float64")), (-1,) + (1,) * (rank - 2)))


def _tvm_scale_shift(b, y, scale, bias, rank: int, dtype: str):
    """:func:`_scale_shift` in Relax."""
    R = b.R
    return R.astype(R.add(R.multiply(y, _tvm_per_channel(b, scale, rank)), _tvm_per_channel(b, bias, rank)), dtype)


def _channel_norm_infer(names, ranks, same_type):
    """Infer rule of the ops whose parameters are all ``(C,)`` vectors."""
    def infer(types, a):
        x = types[0]
        require_float(x, "X")
        sp.spatial_rank(x.shape, "X", ranks)
        if same_type:
            same_dtype(types, ("X",) + names)
        for t, name in zip(types[1:], names):
            require_float(t, name)
            if t.shape != (x.shape[1],):
                raise ShapeError(f"{name} must have shape ({x.shape[1]},) for input {x.shape}, "
                                 f"got {t.shape}")
        return (x,)
    return infer


def _c_normalize(req, tag: str, rows: int, row_shape, pmod: int, pstride: int,
                 param_strides, comment: str) -> Kernel:
    """``normalize.c.j2``: ``rows`` contiguous rows of ``row_shape``; the parameters (scale,
    optional bias) at ``(row % pmod) * pstride`` plus their ``param_strides`` over the row."""
    x = req.in_types[0]
    extents, per = collapse(row_shape, [contiguous_strides(row_shape), *param_strides])
    count = math.prod(row_shape)
    params = {"outer": rows, "count": count, "extents": extents, "scale_strides": per[1],
              "bias_strides": per[2] if len(per) > 2 else None, "pmod": pmod,
              "pstride": pstride, "eps": num(req.attrs["epsilon"], "float64"),
              "stats": len(req.out_types) > 1, "ctype": ctype(x.dtype)}
    name = f"cnnc_{tag}_{SHORT[x.dtype]}_{rows}x{'x'.join(map(str, extents))}"
    return Kernel("c/kernels/normalize.c.j2", name, params, comment=comment)


# ---------------------------------------------------------------- BatchNormalization
def _bn_canon(attrs, types):
    if attrs["training_mode"]:
        raise UnsupportedError("BatchNormalization training mode (training_mode=1) is not "
                               "supported: cnnc compiles inference graphs only")
    return attrs


def bn_affine(scale, bias, mean, var, eps: float) -> tuple[np.ndarray, np.ndarray]:
    """Inference batch norm as ``y = x * mul + add`` per channel: ``mul = scale / sqrt(var +
    eps)``, ``add = bias - mean * mul``, in float64 (the C kernel's tables, and what the
    conv fusion folds into a conv's weights)."""
    scale, bias, mean, var = (np.asarray(v, np.float64) for v in (scale, bias, mean, var))
    mul = scale / np.sqrt(var + eps)
    return mul, bias - mean * mul


def _bn_ref(inputs, a):
    x, scale, b, mean, var = inputs
    y = _standardize(x, (), a["epsilon"], _per_channel(mean, x.ndim), _per_channel(var, x.ndim))
    return _scale_shift(y, scale, b, x.dtype)


def _bn_tvm(req, xs, b):
    x = req.in_types[0]
    mean, var = (_tvm_per_channel(b, v, x.rank) for v in xs[3:])
    y, _, _ = _tvm_standardize(b, xs[0], (), req.attrs["epsilon"], mean, var)
    return _tvm_scale_shift(b, y, xs[1], xs[2], x.rank, x.dtype)


def _bn_c(req):
    x = req.in_types[0]
    c = x.shape[1]
    eps = num(req.attrs["epsilon"], "float64")
    comment = f"BatchNormalization epsilon {req.attrs['epsilon']} on {x}"
    if all(v is not None for v in req.constants[1:]):
        mul, add = bn_affine(*req.constants[1:], req.attrs["epsilon"])
        n = x.shape[0]
        spatial = math.prod(x.shape[2:])
        tasks = parallel_tasks(n * c, x.size, req.workers)
        return Kernel("c/kernels/channel_affine.c.j2",
                      f"cnnc_batchnorm_{SHORT[x.dtype]}_{n}x{c}x{spatial}",
                      {"n": n, "c": c, "s": spatial, "size": x.size, "ctype": ctype(x.dtype),
                       "tasks": tasks, "chunk": -(-(n * c) // tasks)},
                      tables={"mul": mul, "add": add}, comment=comment + " (folded)",
                      parallel=tasks > 1)
    per_channel = [t.with_shape((c,) + (1,) * (x.rank - 2)) for t in req.in_types[1:]]
    shaped = KernelRequest(req.node, [x, *per_channel], req.out_types, req.constants)
    return elementwise(shaped, f"((double)a0 - (double)a3) / sqrt((double)a4 + {eps}) "
                       "* (double)a1 + (double)a2", "batchnorm", comment)


def _bn_import_v1(node, b):
    """Opsets 1-6 also carry ``is_test`` (0: training, with running-statistics outputs, not
    supported; 1: inference) and ``consumed_inputs`` (an in-place hint, dropped)."""
    if not node.attrs.get("is_test", 0):
        raise UnsupportedError("BatchNormalization with is_test=0 (training: batch statistics and "
                               "running-statistics outputs) is not supported; cnnc compiles inference")
    return _bn_import_v7(node, b, drop=("is_test", "consumed_inputs"))


def _bn_import_v7(node, b, drop=()):
    """Opsets 7-8 carry ``spatial`` (1: statistics per channel, the only form cnnc has);
    training was a different node type then (its extra outputs), refused by the importer."""
    if node.attrs.get("spatial", 1) != 1:
        raise UnsupportedError("BatchNormalization with spatial=0 (statistics per element, "
                               "not per channel) is not supported")
    return b.generic(attrs={"spatial": None, **{k: None for k in drop}})


register(OpDef(
    name="BatchNormalization",
    inputs=("X", "scale", "B", "input_mean", "input_var"),
    attrs={"epsilon": _EPS,
           "momentum": Attr("float", 0.9, doc="ignored: running statistics are operands"),
           "training_mode": Attr("int", 0, choices=(0, 1), doc="must be 0 (inference)")},
    canonicalize=_bn_canon,
    infer=_channel_norm_infer(("scale", "B", "input_mean", "input_var"), (0, 1, 2, 3), False),
    reference=_bn_ref,
    onnx=OnnxMap(importers={1: _bn_import_v1, 7: _bn_import_v7, 9: None}),
    kernels={"c": _bn_c},
    tvm=_bn_tvm,
    in_place=(0,),  # Y[i] = f(X[i], per-channel parameters)
    doc="inference batch norm with given running mean and variance",
))


# ---------------------------------------------------------------- InstanceNormalization
def _in_ref(inputs, a):
    x, scale, b = inputs
    return _scale_shift(_standardize(x, tuple(range(2, x.ndim)), a["epsilon"]), scale, b, x.dtype)


def _in_tvm(req, xs, b):
    x = req.in_types[0]
    y, _, _ = _tvm_standardize(b, xs[0], tuple(range(2, x.rank)), req.attrs["epsilon"])
    return _tvm_scale_shift(b, y, xs[1], xs[2], x.rank, x.dtype)


def _in_c(req):
    x = req.in_types[0]
    n, c = x.shape[:2]
    spatial = math.prod(x.shape[2:])
    return _c_normalize(req, "instancenorm", n * c, (spatial,), c, 1, [(0,), (0,)],
                        f"InstanceNormalization epsilon {req.attrs['epsilon']} on {x}")


register(OpDef(
    name="InstanceNormalization",
    inputs=("input", "scale", "B"),
    attrs={"epsilon": _EPS},
    infer=_channel_norm_infer(("scale", "B"), (1, 2, 3), True),
    reference=_in_ref,
    kernels={"c": _in_c},
    tvm=_in_tvm,
    doc="normalization per sample and channel over the spatial axes",
))


# ---------------------------------------------------------------- GroupNormalization
_gn_params_infer = _channel_norm_infer(("scale", "bias"), (0, 1, 2, 3), True)


def _gn_infer(types, a):
    (x,) = _gn_params_infer(types, a)
    if x.shape[1] % a["num_groups"]:
        raise ShapeError(f"channels {x.shape[1]} of input {x.shape} are not divisible by "
                         f"num_groups {a['num_groups']}")
    return (x,)


def _gn_ref(inputs, a):
    x, scale, b = inputs
    grouped = x.reshape(x.shape[0], a["num_groups"], -1)
    y = _standardize(grouped, (2,), a["epsilon"]).reshape(x.shape)
    return _scale_shift(y, scale, b, x.dtype)


def _gn_tvm(req, xs, b):
    x = req.in_types[0]
    g = req.attrs["num_groups"]
    grouped = tvm_reshape(b, xs[0], (x.shape[0], g, x.size // max(x.shape[0] * g, 1)))
    y, _, _ = _tvm_standardize(b, grouped, (2,), req.attrs["epsilon"])
    return _tvm_scale_shift(b, tvm_reshape(b, y, x.shape), xs[1], xs[2], x.rank, x.dtype)


def _gn_c(req):
    x = req.in_types[0]
    n, c = x.shape[:2]
    g = req.attrs["num_groups"]
    spatial = math.prod(x.shape[2:])
    return _c_normalize(req, f"groupnorm_g{g}", n * g, (c // g, spatial), g, c // g,
                        [(1, 0), (1, 0)],
                        f"GroupNormalization num_groups {g} epsilon {req.attrs['epsilon']} on {x}")


register(OpDef(
    name="GroupNormalization",
    inputs=("X", "scale", "bias"),
    attrs={"num_groups": Attr("int", check=lambda g: None if g >= 1 else "must be >= 1"),
           "epsilon": _EPS,
           "stash_type": Attr("int", 1, doc="accepted; statistics are always float64")},
    infer=_gn_infer,
    reference=_gn_ref,
    kernels={"c": _gn_c},
    tvm=_gn_tvm,
    doc="normalization over groups of channels (ONNX opset 21), per-channel scale and bias",
))


# ---------------------------------------------------------------- LayerNormalization
def _ln_canon(attrs, types):
    return {**attrs, "axis": norm_axis(attrs["axis"], types[0].rank)}


def _ln_infer(types, a):
    x = types[0]
    require_float(x, "X")
    names = ("X", "Scale", "B")
    same_dtype(types, names)
    normalized = x.shape[a["axis"]:]
    for t, name in zip(types[1:], names[1:]):
        if t.rank > len(normalized) or any(d not in (1, n) for d, n in
                                           zip(t.shape[::-1], normalized[::-1])):
            raise ShapeError(f"{name} {t.shape} must broadcast to the normalized shape "
                             f"{normalized} (X {x.shape}, axis {a['axis']})")
    if not a["stats_outputs"]:
        return (x,)
    stats = TensorType(x.shape[:a["axis"]] + (1,) * len(normalized), "float32")
    return (x, stats, stats)


def _ln_ref(inputs, a):
    x = inputs[0]
    axes = tuple(range(a["axis"], x.ndim))
    y = _standardize(x, axes, a["epsilon"]) * inputs[1]
    if len(inputs) > 2:
        y = y + inputs[2]
    y = y.astype(x.dtype)
    if not a["stats_outputs"]:
        return y
    x64 = x.astype(np.float64)
    mean = x64.mean(axis=axes, keepdims=True)
    inv_std = 1 / np.sqrt(x64.var(axis=axes, keepdims=True) + a["epsilon"])
    return y, mean.astype(np.float32), inv_std.astype(np.float32)


def _ln_tvm(req, xs, b):
    R, x, a = b.R, req.in_types[0], req.attrs
    y, mean, var = _tvm_standardize(b, xs[0], tuple(range(a["axis"], x.rank)), a["epsilon"])
    y = R.multiply(y, R.astype(xs[1], "float64"))
    if len(xs) > 2:
        y = R.add(y, R.astype(xs[2], "float64"))
    y = R.astype(y, x.dtype)
    if not a["stats_outputs"]:
        return y
    inv_std = R.divide(b.const(1.0, "float64"), R.sqrt(R.add(var, b.const(a["epsilon"], "float64"))))
    return y, R.astype(mean, "float32"), R.astype(inv_std, "float32")


def _ln_c(req):
    x, axis = req.in_types[0], req.attrs["axis"]
    row = x.shape[axis:]
    strides = [broadcast_strides(t.shape, row) for t in req.in_types[1:]]
    return _c_normalize(req, "layernorm", math.prod(x.shape[:axis]), row,
                        1, 0, strides,
                        f"LayerNormalization axis {axis} epsilon {req.attrs['epsilon']} on {x}"
                        + (" with Mean, InvStdDev" if req.attrs["stats_outputs"] else ""))


def _ln_import(node, b):
    """Keep ONNX's Mean/InvStdDev outputs when the model names them."""
    return b.generic(attrs={"stats_outputs": int(any(node.outputs[1:]))})


register(OpDef(
    name="LayerNormalization",
    inputs=("X", "Scale", "B?"),
    attrs={"axis": Attr("int", -1), "epsilon": _EPS,
           "stash_type": Attr("int", 1, doc="accepted; statistics are always float64"),
           "stats_outputs": Attr("int", 0, choices=(0, 1), doc="also output Mean, InvStdDev")},
    canonicalize=_ln_canon,
    infer=_ln_infer,
    reference=_ln_ref,
    outputs=("Y", "Mean?", "InvStdDev?"),
    kernels={"c": _ln_c},
    tvm=_ln_tvm,
    onnx=OnnxMap(importers={1: _ln_import}, cnnc_only=("stats_outputs",)),
    doc="normalization over the trailing axes from `axis` on",
))
