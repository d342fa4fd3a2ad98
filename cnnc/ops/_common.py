"""Small checks shared by op definitions."""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ..ir import ShapeError, TensorType

FLOATS = ("float32", "float64", "float16")


def require_float(t: TensorType, what: str = "input") -> None:
    if t.dtype not in FLOATS:
        raise ShapeError(f"{what} must be a float tensor, got {t}")


def same_dtype(types: Sequence[TensorType], names: Sequence[str]) -> str:
    dtypes = {t.dtype for t in types}
    if len(dtypes) > 1:
        raise ShapeError("operands must share one dtype; got "
                         + ", ".join(f"{n}: {t}" for n, t in zip(names, types)))
    return types[0].dtype


def norm_axis(axis: int, rank: int, what: str = "axis") -> int:
    if not -rank <= axis < rank:
        raise ShapeError(f"{what} {axis} is out of range for a rank-{rank} tensor")
    return axis % rank


def normalize_axes(axes, rank: int, what: str = "axes") -> tuple[int, ...]:
    """Normalized axes (negative ones count from the back); duplicates are an error."""
    out = tuple(norm_axis(a, rank) for a in axes)
    if len(set(out)) != len(out):
        raise ShapeError(f"{what} {tuple(axes)} repeat an axis of a rank-{rank} tensor")
    return out


def broadcast_shapes(*shapes: Sequence[int]) -> tuple[int, ...]:
    """numpy/ONNX multidirectional broadcasting, with an error that prints the shapes."""
    rank = max(len(s) for s in shapes)
    out = []
    for i in range(rank):
        dims = {s[len(s) - rank + i] for s in shapes if len(s) - rank + i >= 0} - {1}
        if len(dims) > 1:
            raise ShapeError("shapes " + ", ".join(str(tuple(s)) for s in shapes)
                             + " do not broadcast")
        out.append(dims.pop() if dims else 1)
    return tuple(out)


def erf(x: np.ndarray) -> np.ndarray:
    """Elementwise error function (numpy has none), in the input's dtype."""
    return np.vectorize(math.erf, otypes=[np.float64])(x).astype(x.dtype)
