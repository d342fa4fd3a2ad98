"""Size limits on what a model may ask for, so that a hostile or broken file is refused with
a clear error instead of making cnnc allocate terabytes.

``tensor_bytes`` bounds every tensor the IR types (graph inputs and outputs, every value,
every constant and initializer, every result folded at import time): a type above it is a
ShapeError naming the shape and the limit.  ``constant_bytes`` bounds the constants of one
import together (initializers, and what folding makes: ConstantOfShape, Expand, ...), each
checked before it is made, so that a small file cannot make many large ones.  External
tensor data is also never read past the end of its file.  The defaults, 2 GiB and 8 GiB,
are far above any CNN's activations and weights (VGG-19's largest weight is 0.4 GB, all of
its weights 0.55 GB); set them with the environment variables ``CNNC_MAX_TENSOR_BYTES`` and
``CNNC_MAX_CONSTANT_BYTES`` (bytes, read at import) or at run time with
``cnnc.LIMITS.tensor_bytes = ...`` and ``cnnc.LIMITS.constant_bytes = ...``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from .errors import CnncError

DEFAULT_TENSOR_BYTES = 2 << 30
DEFAULT_CONSTANT_BYTES = 8 << 30
ENV = "CNNC_MAX_TENSOR_BYTES"
CONSTANT_ENV = "CNNC_MAX_CONSTANT_BYTES"


def _from_env(var: str, default: int) -> int:
    text = os.environ.get(var, "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value <= 0:
        raise CnncError(f"{var}={text!r}: expected a positive number of bytes")
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
    constant_bytes: int = DEFAULT_CONSTANT_BYTES

    def too_big(self, nbytes: int, what: str) -> str | None:
        """An error message if ``nbytes`` of ``what`` is above ``tensor_bytes``, else None."""
        if nbytes <= self.tensor_bytes:
            return None
        return (f"{what} would take {human_bytes(nbytes)}, above cnnc's limit of {human_bytes(self.tensor_bytes)} "
                f"per tensor; raise it with {ENV}=BYTES or cnnc.LIMITS.tensor_bytes")


class ConstantBudget:
    """The bytes of constants one import has made so far, against ``LIMITS.constant_bytes``."""

    def __init__(self):
        self.used = 0

    def reserve(self, nbytes: int, what: str) -> None:
        """Count ``nbytes`` more (before they are allocated); a CnncError past the limit."""
        self.used += nbytes
        if self.used > LIMITS.constant_bytes:
            raise CnncError(f"{what} would bring the model's constants to {human_bytes(self.used)}, above cnnc's "
                            f"limit of {human_bytes(LIMITS.constant_bytes)}; raise it with {CONSTANT_ENV}=BYTES or "
                            "cnnc.LIMITS.constant_bytes")


LIMITS = Limits(_from_env(ENV, DEFAULT_TENSOR_BYTES), _from_env(CONSTANT_ENV, DEFAULT_CONSTANT_BYTES))
