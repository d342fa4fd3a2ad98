"""Size limits on what a model may ask for, so that a hostile or broken file is refused with
a clear error instead of making cnnc allocate terabytes.

``tensor_bytes`` bounds every tensor the IR types (graph inputs and outputs, every value,
every constant and initializer, every result folded at import time): a type above it is a
ShapeError naming the shape and the limit.  External tensor data is also never read past
the end of its file.  The default, 4 GiB, is far above any CNN's activation or weight; raise
it with the environment variable ``CNNC_MAX_TENSOR_BYTES`` (bytes, read at import) or at
run time with ``cnnc.LIMITS.tensor_bytes = ...``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from .errors import CnncError

DEFAULT_TENSOR_BYTES = 4 << 30
ENV = "CNNC_MAX_TENSOR_BYTES"


def _from_env() -> int:
    text = os.environ.get(ENV, "").strip()
    if not text:
        return DEFAULT_TENSOR_BYTES
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value <= 0:
        raise CnncError(f"{ENV}={text!r}: expected a positive number of bytes")
    return value


def human_bytes(n: int) -> str:
    for unit, size in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n} bytes"


@dataclass
class Limits:
    """The limits in force (``cnnc.LIMITS``)."""

    tensor_bytes: int = DEFAULT_TENSOR_BYTES

    def too_big(self, nbytes: int, what: str) -> str | None:
        """An error message if ``nbytes`` of ``what`` is above ``tensor_bytes``, else None."""
        if nbytes <= self.tensor_bytes:
            return None
        return (f"{what} would take {human_bytes(nbytes)}, above cnnc's limit of {human_bytes(self.tensor_bytes)} "
                f"per tensor; raise it with {ENV}=BYTES or cnnc.LIMITS.tensor_bytes")


LIMITS = Limits(_from_env())
