"""What an op tells a code-generating backend: which template renders its kernel, under
which specialized name, with which final numbers.

An op's ``OpDef.kernels[backend]`` hook maps a node (with its operand and result types and
any constant operands) to a :class:`Kernel`.  All index and shape arithmetic happens in that
hook, in Python: the template only sees integers, tuples and names, and asserts its
preconditions.  Two nodes with equal kernels share one generated function, whose name says
what it is (``cnnc_conv2d_f32_k3x3_s2_p1``), as XNNPACK names its micro-kernels.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .graph import Node
from .types import TensorType


def _freeze(v):
    if isinstance(v, Mapping):
        return tuple(sorted((k, _freeze(x)) for k, x in v.items()))
    if isinstance(v, (list, tuple)):
        return tuple(_freeze(x) for x in v)
    if isinstance(v, np.ndarray):
        return (v.dtype.str, v.shape, v.tobytes())
    return v


@dataclass(frozen=True)
class Kernel:
    """A specialized kernel: ``template`` renders one C function named ``name`` taking the
    node's operands then its results (pointers, in order), plus a ``scratch`` pointer when
    ``scratch_bytes`` > 0.  ``params`` are the template's final values; ``tables`` are
    constant arrays (index maps, weights of a resize, divisors) emitted beside the
    function; ``comment`` is the one-line description placed at the call."""

    template: str
    name: str
    params: Mapping[str, Any] = field(default_factory=dict)
    tables: Mapping[str, np.ndarray] = field(default_factory=dict)
    scratch_bytes: int = 0
    comment: str = ""

    @property
    def key(self):
        """Identity of the generated function (equal keys share one function)."""
        return (self.template, self.name, _freeze(self.params), _freeze(self.tables), self.scratch_bytes)


@dataclass(frozen=True)
class KernelRequest:
    """What a kernel hook is given: the node, its operand and result types, and the
    constant value of each operand that is a Constant (else None)."""

    node: Node
    in_types: Sequence[TensorType]
    out_types: Sequence[TensorType]
    constants: Sequence[np.ndarray | None]

    @property
    def attrs(self):
        return self.node.attrs
