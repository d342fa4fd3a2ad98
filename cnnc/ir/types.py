"""Tensor types: a static shape and an element type on every value of the IR."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .errors import CnncError, ShapeError
from .limits import LIMITS

@dataclass(frozen=True)
class DType:
    """One element type the IR carries, in every spelling cnnc uses: ``name`` (numpy's),
    ``short`` (type strings such as ``f32[1,3]`` and kernel names), ``c`` (the C element
    type; ``None`` where the C and CUDA kernels have none) and ``onnx`` (the TensorProto
    element-type code)."""

    name: str
    short: str
    c: str | None
    onnx: int


#: the one table of element types, by numpy name
DTYPE_INFO: dict[str, DType] = {d.name: d for d in (
    DType("float32", "f32", "float", 1),
    DType("float64", "f64", "double", 11),
    DType("float16", "f16", None, 10),
    DType("int64", "i64", "int64_t", 7),
    DType("int32", "i32", "int32_t", 6),
    DType("int8", "i8", "int8_t", 3),
    DType("uint8", "u8", "uint8_t", 2),
    DType("bool", "bool", "uint8_t", 9),
)}

#: Element types the IR carries, by their numpy name.
DTYPES = tuple(DTYPE_INFO)


@dataclass(frozen=True)
class TensorType:
    """A fully static tensor type. ``shape`` is a tuple of non-negative ints."""

    shape: tuple[int, ...]
    dtype: str = "float32"

    def __post_init__(self):
        shape = tuple(self.shape)
        if not all(isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d >= 0
                   for d in shape):
            raise CnncError(f"tensor shape must be non-negative integers, got {self.shape!r}")
        object.__setattr__(self, "shape", tuple(int(d) for d in shape))
        dtype = np.dtype(self.dtype).name
        if dtype not in DTYPES:
            raise CnncError(f"unsupported dtype {dtype!r}; expected one of {', '.join(DTYPES)}")
        object.__setattr__(self, "dtype", dtype)
        nbytes = math.prod(self.shape) * np.dtype(dtype).itemsize
        if (msg := LIMITS.too_big(nbytes, f"a tensor {self}")) is not None:
            raise ShapeError(msg)

    @classmethod
    def of(cls, array: np.ndarray) -> "TensorType":
        return cls(tuple(array.shape), array.dtype.name)

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def nbytes(self) -> int:
        return self.size * np.dtype(self.dtype).itemsize

    def with_shape(self, shape) -> "TensorType":
        return TensorType(tuple(shape), self.dtype)

    def __str__(self) -> str:
        return f"{DTYPE_INFO[self.dtype].short}[{','.join(map(str, self.shape))}]"
