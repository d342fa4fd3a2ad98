"""Tensor types: a static shape and an element type on every value of the IR."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import CnncError

#: Element types the IR carries, by their numpy name.
DTYPES = ("float32", "float64", "float16", "int64", "int32", "int8", "uint8", "bool")

_SHORT = {"float32": "f32", "float64": "f64", "float16": "f16", "int64": "i64",
          "int32": "i32", "int8": "i8", "uint8": "u8", "bool": "bool"}


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
        return f"{_SHORT[self.dtype]}[{','.join(map(str, self.shape))}]"
