"""ONNX ops that exist only at import time: they are constants once shapes are static.

``Constant``, ``ConstantOfShape``, ``Shape``, ``Size`` and ``Range`` never become IR ops —
cnnc is an ahead-of-time compiler with static shapes, so their results are known when the
model is imported (``Range`` and ``ConstantOfShape`` need constant operands; the importer
says so when they are not).
"""
from __future__ import annotations

import numpy as np

from ..ir import TensorType, UnsupportedError


def _constant(node, b):
    a = node.attrs
    if len(a) != 1:
        raise UnsupportedError(f"Constant needs exactly one value attribute, got {sorted(a)}")
    key, v = next(iter(a.items()))
    values = {"value": lambda: np.asarray(v), "value_float": lambda: np.float32(v),
              "value_floats": lambda: np.asarray(v, np.float32), "value_int": lambda: np.int64(v),
              "value_ints": lambda: np.asarray(v, np.int64)}
    if key not in values:
        raise UnsupportedError(f"Constant attribute {key} is not supported")
    return b.const(np.asarray(values[key]()))


def _constant_of_shape(node, b):
    shape = b.const_input(0, "shape").astype(np.int64).reshape(-1)
    value = np.asarray(node.attrs.get("value", np.zeros(1, np.float32)))
    if value.size != 1:
        raise UnsupportedError(f"ConstantOfShape's value must hold one element, got shape {list(value.shape)}")
    t = TensorType(tuple(int(d) for d in shape), value.dtype.name)  # non-negative, within the limits
    b.reserve(t)
    return b.const(np.full(t.shape, value.reshape(-1)[0], dtype=value.dtype))


def _shape(node, b):
    shape = np.asarray(b.type(b.input(0)).shape, np.int64)
    rank = len(shape)
    start = node.attrs.get("start", 0)
    end = node.attrs.get("end", rank)
    start = min(max(start + rank if start < 0 else start, 0), rank)
    end = min(max(end + rank if end < 0 else end, 0), rank)
    return b.const(shape[start:end])


def _size(node, b):
    return b.const(np.int64(b.type(b.input(0)).size))


def _range(node, b):
    start, limit, delta = (b.const_input(i, n).reshape(()) for i, n in enumerate(("start", "limit", "delta")))
    with np.errstate(all="ignore"):
        steps = np.ceil((limit - start) / delta) if delta != 0 else np.inf
    if not np.isfinite(steps):
        raise UnsupportedError(f"Range({start}, {limit}, {delta}) has no finite length")
    n = max(int(steps), 0)
    b.reserve(TensorType((n,), start.dtype.name))  # within the limits
    return b.const((start + np.arange(n, dtype=start.dtype) * delta).astype(start.dtype))


FOLDERS = {"Constant": _constant, "ConstantOfShape": _constant_of_shape, "Shape": _shape,
           "Size": _size, "Range": _range}
