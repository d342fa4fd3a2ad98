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


def align_at_axis(b, ref, rank: int, axis: int, where: str):
    """ONNX opsets 1-6's broadcast of operand ``ref`` (an import builder's reference) into a
    rank-``rank`` operand with its dims starting at ``axis``: numpy's rule aligns trailing
    dims, so ``ref`` gets trailing unit dims.  ``where`` names the operand in errors."""
    shape = b.type(ref).shape
    axis = axis + rank if axis < 0 else axis
    trailing = rank - axis - len(shape)
    if not 0 <= axis < rank or trailing < 0:
        raise ShapeError(f"{where} {shape} cannot be broadcast at axis {axis} of a rank-{rank} operand")
    return b.op("Reshape", [ref], {"shape": shape + (1,) * trailing}) if trailing else ref


def legacy_binary_import(node, b):
    """Opsets 1-6 of the broadcasting binary ops: ``broadcast=1`` lets B broadcast to A,
    aligned at ``axis`` when given (else at A's trailing dims, numpy's rule);
    ``consumed_inputs`` (opset 1's in-place hint) is dropped; ``broadcast=0`` asks for equal
    shapes, which numpy's rule accepts too."""
    a = node.attrs
    x, y = b.input(0), b.input(1)
    if a.get("broadcast", 0) and a.get("axis") is not None:
        y = align_at_axis(b, y, b.type(x).rank, a["axis"], "B")
    elif not a.get("broadcast", 0) and b.type(x).shape != b.type(y).shape:
        raise ShapeError(f"operands {b.type(x).shape} and {b.type(y).shape} differ, and broadcast=0 "
                         f"(opset {node.opset}) asks for equal shapes")
    return b.op(node.op_type, [x, y])


#: a float type's bits as an integer type, all bits but the sign, and +inf: a value is NaN
#: when its bits past the sign exceed infinity's
_NAN_BITS = {"float16": ("int16", 0x7FFF, 0x7C00), "bfloat16": ("int16", 0x7FFF, 0x7F80),
             "float32": ("int32", 0x7FFF_FFFF, 0x7F80_0000),
             "float64": ("int64", 0x7FFF_FFFF_FFFF_FFFF, 0x7FF0_0000_0000_0000)}


def tvm_is_nan(tir, x):
    """TIR: whether the float ``x`` is NaN, by its bits.  TIR's ``isnan`` makes a loop
    that TVM vectorizes into gathers and scatters (and ``x != x`` is simplified to false),
    so a NaN-propagating max reducer written with it runs lane by lane."""
    bits = _NAN_BITS.get(str(x.ty))
    if bits is None:
        return tir.isnan(x)
    itype, mask, inf = bits
    return (tir.reinterpret(itype, x) & tir.const(mask, itype)) > tir.const(inf, itype)
