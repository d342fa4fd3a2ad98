"""What an op tells a code-generating backend: which template renders its kernel, under
which specialized name, with which final numbers.

An op's ``OpDef.kernels[backend]`` is a hook mapping a node (with its operand and result
types and any constant operands) to a :class:`Kernel`, or an *implementation table*: a
sequence of :class:`Impl` entries, each with ``applies(req)``, ``plan(req) -> Kernel`` and
a ``cost(req)``; the backend plans the cheapest entry that applies, unless the user forces
one (``cnnc.compile(g, target="c", impl={"Conv": "gemm"})``).  All index and shape
arithmetic happens in Python: the template only sees integers, tuples and names, and
asserts its preconditions.  Two nodes with equal kernels share one generated function,
whose name says what it is (``cnnc_conv2d_f32_k3x3_s2_p1``), as XNNPACK names its
micro-kernels; a kernel's ``helpers`` (microkernels such as ``cnnc_f32_gemm_6x16__avx2``)
are rendered once for every kernel that calls them.  The request carries the target's
:class:`Isa`: the vector width and register tiles the plan is made for.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
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
    #: functions the kernel calls, each rendered once per model: ``(template, name, params)``
    helpers: tuple[tuple[str, str, Mapping[str, Any]], ...] = ()
    #: operand index -> the array passed instead of that constant operand (weights packed
    #: at compile time; the backend stores it with the weights)
    packed: Mapping[int, np.ndarray] = field(default_factory=dict)
    #: the function also takes the parallel-for hook (``const cnnc_parallel *par``, last);
    #: the template may then put definitions before the function, ended by the line
    #: ``/* cnnc: function body */``
    parallel: bool = False

    @property
    def key(self):
        """Identity of the generated function (equal keys share one function)."""
        return (self.template, self.name, _freeze(self.params), _freeze(self.tables), self.scratch_bytes,
                _freeze(self.helpers), self.parallel)


@dataclass(frozen=True)
class Isa:
    """What a CPU build may use: ``kind`` names it in microkernel names (``scalar``,
    ``avx2``, ``avx512``, ``neon``), ``cflags`` for the compiler, ``vector`` float lanes of a
    vector register (0: plain C99, no vector extensions), and the register tile of the
    fp32 GEMM microkernel, ``gemm_mr`` rows x ``gemm_nv`` vectors of ``vector`` lanes
    (``gemm_nr`` columns; the generic build uses ``gemm_nr`` scalar lanes)."""

    name: str
    kind: str = "scalar"
    cflags: tuple[str, ...] = ()
    vector: int = 0
    gemm_mr: int = 4
    gemm_nv: int = 1
    scalar_nr: int = 8

    @property
    def gemm_nr(self) -> int:
        return self.gemm_nv * self.vector if self.vector else self.scalar_nr


#: the ISA a plan is made for when the backend names none: plain C99
GENERIC = Isa("generic")


@dataclass(frozen=True)
class Impl:
    """One implementation of an op for a backend: ``plan(req) -> Kernel`` where
    ``applies(req)``, at ``cost(req)`` (estimated seconds, comparable across the entries of
    one table).  ``portable``: its Kernel's template has a CUDA twin (the CUDA backend
    renders C-hook kernels with CUDA templates, so it only takes portable entries);
    ``template`` names the template a non-portable entry renders (it has no CUDA twin)."""

    name: str
    plan: Callable[["KernelRequest"], Kernel]
    applies: Callable[["KernelRequest"], bool] = lambda req: True
    cost: Callable[["KernelRequest"], float] = lambda req: 1.0
    portable: bool = True
    template: str = ""


@dataclass(frozen=True)
class KernelRequest:
    """What a kernel hook is given: the node, its operand and result types, and the
    constant value of each operand that is a Constant (else None)."""

    node: Node
    in_types: Sequence[TensorType]
    out_types: Sequence[TensorType]
    constants: Sequence[np.ndarray | None]
    isa: Isa = GENERIC
    #: the most workers the parallel-for hook may run at once (scratch is per worker)
    workers: int = 1

    @property
    def attrs(self):
        return self.node.attrs
