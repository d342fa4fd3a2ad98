"""The dtype policy: the type sums of products accumulate in, for conv and dense alike.

* The reference (the oracle) sums in float64 and rounds once to the output dtype
  (:func:`wide`), so that it is exact to the last bit of the output wherever float64's
  extra digits suffice, and independent of the BLAS kernel the CPU gets.
* The C and CUDA kernels sum float32 products in float32, and in double beyond
  ``LONG_REDUCTION`` terms (:func:`acc_ctype`); float64 sums in double.
"""
from __future__ import annotations

import numpy as np

from ._c import ctype

#: float32 sums of more terms than this accumulate in double: a running float sum of 4096
#: products was measured to drift from numpy's blocked float32 GEMM beyond rtol 1e-4 /
#: atol 1e-5 (1024 stayed 20x inside)
LONG_REDUCTION = 2048

_ACC_BYTES = {"float": 4, "double": 8}


def wide(a: np.ndarray) -> np.ndarray:
    """``a`` in float64 when it is a float array (else as it is): the reference sums long
    products (conv, Gemm, MatMul) in float64 and rounds once to the output dtype.  A product
    of two float32 (or float16) values is exact in float64, so the result no longer depends
    on the order in which the CPU's BLAS kernel sums -- OpenBLAS rounds different output
    channels differently on AVX2 and AVX-512, which flips a flat softmax over 1e10 logits."""
    return a.astype(np.float64) if a.dtype.kind == "f" else a


def acc_ctype(dtype: str, terms: int) -> str:
    """The C type a kernel sums ``terms`` products of ``dtype`` in."""
    return "double" if dtype == "float64" or terms > LONG_REDUCTION else ctype(dtype)


def acc_bytes(acc: str) -> int:
    """The bytes of one accumulator of the C type ``acc`` (a scratch row's element)."""
    return _ACC_BYTES[acc]
