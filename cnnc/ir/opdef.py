"""The op registry: one :class:`OpDef` per op, declared in one file of ``cnnc/ops/``.

An OpDef is a record of hooks, in the spirit of TVM's per-op attribute records but kept in
one place: the attribute schema (defaults, validation), shape/type inference, the numpy
reference semantics, the ONNX mapping, the backend kernels, and the **traits** the passes
read (as TVM attaches ``TOpPattern`` to an op): whether the result is a view of the
operand, which operands it may overwrite, whether its own zero padding means the same as
a Pad's zeros, when a node of it is a no-op, whether it is a convolution the fusion and
decomposition passes rewrite.  The passes keep no lists of op names, so adding an op
touches one file plus its templates.  The registry lives at the bottom layer so that the
IR's verifier can check inferred types without importing the ops package.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import AttributeError_, CnncError, UnsupportedError
from .types import TensorType

REQUIRED = object()

_KINDS = ("int", "float", "str", "bool", "ints", "floats", "strs", "tensor")


@dataclass(frozen=True)
class Attr:
    """Schema of one attribute.

    ``kind`` is one of ``int, float, str, bool, ints, floats, strs, tensor``; ``default``
    is :data:`REQUIRED` or a value, where ``None`` means "derived from the operand types by
    the op's ``canonicalize`` hook".  ``choices`` restricts a ``str``; ``check`` returns an
    error text for a bad value or ``None``.
    """

    kind: str
    default: Any = REQUIRED
    choices: tuple | None = None
    check: Callable[[Any], str | None] | None = None
    doc: str = ""

    def __post_init__(self):
        assert self.kind in _KINDS, self.kind

    def convert(self, name: str, value: Any) -> Any:
        if value is None:
            return None
        try:
            v = _CONVERT[self.kind](value)
        except (TypeError, ValueError) as exc:
            raise AttributeError_(f"attribute {name!r} expects {self.kind}, got {value!r}") from exc
        if self.choices is not None and v not in self.choices:
            raise AttributeError_(f"attribute {name!r} must be one of "
                                  f"{', '.join(map(repr, self.choices))}; got {v!r}")
        if self.check is not None and (msg := self.check(v)):
            raise AttributeError_(f"attribute {name!r}={v!r}: {msg}")
        return v


def _int(v) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        raise TypeError(v)
    return int(v)


def _float(v) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
        raise TypeError(v)
    return float(v)


def _str(v) -> str:
    if not isinstance(v, str):
        raise TypeError(v)
    return v


def _bool(v) -> bool:
    if isinstance(v, (bool, np.bool_)) or (isinstance(v, (int, np.integer)) and v in (0, 1)):
        return bool(v)
    raise TypeError(v)


def _seq(conv):
    def f(v):
        if isinstance(v, (str, bytes)) or not isinstance(v, (Sequence, np.ndarray)):
            raise TypeError(v)
        return tuple(conv(x) for x in v)
    return f


def _tensor(v) -> np.ndarray:
    a = np.array(v, copy=True)
    if a.dtype == object:
        raise TypeError(v)
    a.setflags(write=False)
    return a


_CONVERT = {"int": _int, "float": _float, "str": _str, "bool": _bool, "ints": _seq(_int),
            "floats": _seq(_float), "strs": _seq(_str), "tensor": _tensor}


class Attrs(Mapping):
    """Immutable attribute mapping (tuples and read-only arrays inside)."""

    __slots__ = ("_d",)

    def __init__(self, d: Mapping[str, Any] = ()):
        object.__setattr__(self, "_d", dict(d))

    def __getitem__(self, k):
        return self._d[k]

    def __iter__(self):
        return iter(self._d)

    def __len__(self):
        return len(self._d)

    def __setattr__(self, k, v):
        raise TypeError("Attrs is immutable; use .replace(...)")

    def __getattr__(self, k):
        try:
            return self._d[k]
        except KeyError:
            raise AttributeError(k) from None

    def replace(self, **changes) -> "Attrs":
        return Attrs({**self._d, **changes})

    def __eq__(self, other):
        if not isinstance(other, Mapping) or set(self) != set(other):
            return False
        return all(_attr_equal(self[k], other[k]) for k in self)

    def __repr__(self):
        return f"Attrs({self._d!r})"


def _attr_equal(a, b) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        return a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True)
    return a == b


@dataclass(frozen=True)
class OnnxMap:
    """How an op maps to ONNX and back; declared beside the op, applied by ``cnnc/onnx/``.

    The generic rule, which serves most ops: the ONNX op ``op_type`` (default: the op's own
    name) in ``domain``; ONNX attributes are the op's attributes of the same names; the ONNX
    inputs at the positions in ``const_inputs`` are the attributes named there (folded from
    constants at import, written as initializers at export, of ONNX element type ``dtype``
    — ``"int64"``, ``"float"``, or ``"like:K"`` for input K's type); the other ONNX inputs
    are the operands, in order.

    ``importers`` maps an opset version to a hook ``(node, builder) -> outputs`` that
    replaces the generic rule from that version on (up to the next key; a ``None`` value
    restores the generic rule); ``exporter`` is a hook ``(node, operands, builder) ->
    outputs`` replacing the generic export.  Hooks only call methods of the builder they
    are given, so an op file never imports the ONNX layer.  ``export_opset`` is the least
    opset the generic export needs (the exporter raises its model's opset to the largest).
    """

    op_type: str | None = None
    domain: str = ""
    const_inputs: Mapping[int, tuple[str, str]] = field(default_factory=dict)
    importers: Mapping[int, Callable | None] = field(default_factory=dict)
    exporter: Callable | None = None
    cnnc_only: tuple[str, ...] = ()

    def importer_for(self, opset: int) -> Callable | None:
        since = [v for v in self.importers if v <= opset]
        return self.importers[max(since)] if since else None


InferFn = Callable[[Sequence[TensorType], Attrs], Sequence[TensorType]]
RefFn = Callable[[Sequence[np.ndarray], Attrs], "np.ndarray | tuple[np.ndarray, ...]"]
CanonFn = Callable[[dict, Sequence[TensorType]], dict]
#: ``(operand types, attrs, result types) -> bool``: whether a node returns its first operand
NoOpFn = Callable[[Sequence[TensorType], Attrs, Sequence[TensorType]], bool]

#: ``OpDef.in_place`` value: the result may overwrite any operand
ANY_OPERAND = "any"


def always(in_types, attrs, out_types) -> bool:
    """``OpDef.no_op``: every node of the op returns its operand (Identity, Dropout)."""
    return True


def if_same_type(in_types, attrs, out_types) -> bool:
    """``OpDef.no_op``: a node whose result has its operand's type (a reshape to the same
    shape, a cast to the same dtype)."""
    return tuple(out_types) == tuple(in_types)


def if_one_operand(in_types, attrs, out_types) -> bool:
    """``OpDef.no_op``: a variadic node of one operand (Concat, Sum, Max...)."""
    return len(in_types) == 1


#: ``Blocked.operands`` entries: the operand is an activation in the blocked layout, or it
#: is kept as it is
ACT, KEEP = "act", "keep"


@dataclass(frozen=True)
class Blocked:
    """An op's channel-blocked form, the answer of its ``OpDef.blocked`` trait: the node
    becomes ``op`` (None: the same op) with ``attrs`` (None: the same), each operand is
    :data:`ACT` (an activation, given in the blocked layout), :data:`KEEP` (unchanged) or
    ``(src, dst, pad)`` (a constant zero-padded to ``pad`` entries on axis 0, then moved
    from layout ``src`` to ``dst``: a weight packed), then ``extra`` constants are
    appended as operands; the result is in the blocked layout (or plain, for the form
    asked for with ``y_plain``)."""

    op: str | None = None
    attrs: Mapping[str, Any] | None = None
    operands: tuple = ()
    extra: tuple = ()


def any_layout(in_types, attrs, block, x_plain: bool = False, y_plain: bool = False) -> Blocked | None:
    """``OpDef.blocked`` of an elementwise op of one operand: any layout is its own (and it
    has no form that changes layout)."""
    return None if x_plain or y_plain else Blocked(operands=(ACT,) * len(in_types))


def same_shapes(in_types, attrs, block, x_plain: bool = False, y_plain: bool = False) -> Blocked | None:
    """``OpDef.blocked`` of an elementwise op: blocked when its operands have one shape (no
    broadcasting across the channel blocks)."""
    return any_layout(in_types, attrs, block, x_plain, y_plain) if len({t.shape for t in in_types}) == 1 else None


@dataclass(frozen=True)
class OpDef:
    """One op of the IR.

    ``inputs`` names the operands in order; a trailing ``?`` marks an optional one (only
    trailing operands may be omitted), a trailing ``*`` a variadic last operand (one or
    more).  ``infer`` maps operand types and canonical attributes to the output types;
    ``reference`` is the numpy semantics, the oracle every backend is checked against.
    ``onnx`` says how the op maps to ONNX (see :class:`OnnxMap`); ``None`` for ops that
    never appear in an ONNX file (graph inputs).  ``flops(in_types, attrs, out_types)``
    counts the op's floating-point operations (a multiply-add is 2) for the passes' cost
    model and statistics; without it an op costs one operation per output element.
    ``kernels`` maps a code-generating backend (``"c"``, ``"cuda"``) to the hook that
    specializes the op's kernel for a node (see ``cnnc.ir.kernel``).  ``tvm`` is the op's
    lowering rule to TVM Relax, ``tvm(req, xs, b) -> expr | tuple of exprs``: ``req`` the
    node's :class:`~cnnc.ir.kernel.KernelRequest`, ``xs`` the Relax expressions of its
    operands, ``b`` the backend's builder (see ``cnnc.backends.tvm.Lowering``); rules reach
    TVM only through ``b``, so op files never import it.

    Traits, read by the passes:

    * ``view``: the result is operand 0's bytes unchanged (a reshape): the memory plan
      gives it the operand's buffer.
    * ``in_place``: the operand ports whose buffer the result may take over once that
      operand is dead (``Y[i]`` depends on the operands' element ``i`` alone), or
      :data:`ANY_OPERAND`.
    * ``zero_padded(attrs)``: whether the node's own zero padding means the same as zeros
      a Pad wrote before it, so a zero Pad folds into it (given finite constant weights:
      its own padding taps are skipped, a Pad's zeros are multiplied).
    * ``no_op(in_types, attrs, out_types)``: whether a node returns its operand unchanged
      (:func:`always`, :func:`if_same_type`, :func:`if_one_operand`).
    * ``conv``: a convolution with Conv's operands and attributes (``X, W (M, C/group,
      *K), B``): the fusion pass folds norms and epilogues into it, the separable pass
      decomposes its kernel.
    * ``blocked(in_types, attrs, block, x_plain=False, y_plain=False) -> Blocked | None``:
      the node's form on channel-blocked activations (``NCHW<block>c``), for the layout
      pass; with ``x_plain`` the form that reads operand 0 plain, with ``y_plain`` the one
      that writes its result plain; None where the node has no such form (``any_layout``,
      ``same_shapes``).
    """

    name: str
    inputs: tuple[str, ...]
    infer: InferFn
    reference: RefFn
    attrs: Mapping[str, Attr] = field(default_factory=dict)
    outputs: tuple[str, ...] = ("Y",)
    canonicalize: CanonFn | None = None
    doc: str = ""
    onnx: OnnxMap | None = field(default_factory=OnnxMap)
    flops: Callable[[Sequence[TensorType], Attrs, Sequence[TensorType]], int] | None = None
    kernels: Mapping[str, Callable] = field(default_factory=dict)
    tvm: Callable | None = None
    view: bool = False
    in_place: tuple[int, ...] | str = ()
    zero_padded: Callable[[Attrs], bool] | None = None
    no_op: NoOpFn | None = None
    conv: bool = False
    blocked: Callable[[Sequence[TensorType], Attrs, int], Blocked | None] | None = None

    def __post_init__(self):
        assert self.in_place == ANY_OPERAND or isinstance(self.in_place, tuple), self.in_place

    @property
    def arity(self) -> tuple[int, float]:
        required = sum(1 for i in self.inputs if not i.endswith(("?", "*")))
        if self.inputs and self.inputs[-1].endswith("*"):
            return required + 1, float("inf")
        return required, len(self.inputs)

    def make_attrs(self, given: Mapping[str, Any] | None, in_types: Sequence[TensorType]) -> Attrs:
        """Validate ``given`` attributes, fill defaults and canonicalize them."""
        given = dict(given or {})
        unknown = sorted(set(given) - set(self.attrs))
        if unknown:
            known = ", ".join(self.attrs) or "none"
            raise AttributeError_(f"unknown attribute(s) {', '.join(unknown)}; {self.name} takes {known}")
        out = {}
        for name, spec in self.attrs.items():
            if name in given:
                out[name] = spec.convert(name, given[name])
            elif spec.default is REQUIRED:
                raise AttributeError_(f"missing required attribute {name!r}")
            else:
                out[name] = spec.default
        if self.canonicalize is not None:
            out = self.canonicalize(out, in_types)
        return Attrs(out)

    def check_arity(self, n: int) -> None:
        lo, hi = self.arity
        if not lo <= n <= hi:
            want = f"{lo}" if lo == hi else (f"at least {lo}" if hi == float("inf") else f"{lo} to {hi}")
            raise CnncError(f"{self.name} takes {want} operand(s) ({', '.join(self.inputs)}), got {n}")

    def cost(self, in_types: Sequence[TensorType], attrs: Attrs, out_types: Sequence[TensorType]) -> int:
        if self.flops is not None:
            return int(self.flops(in_types, attrs, out_types))
        return sum(t.size for t in out_types) if self.inputs else 0

    def run(self, arrays: Sequence[np.ndarray], attrs: Attrs) -> tuple[np.ndarray, ...]:
        out = self.reference(arrays, attrs)
        return out if isinstance(out, tuple) else (out,)


_REGISTRY: dict[str, OpDef] = {}


def register(op: OpDef) -> OpDef:
    if op.name in _REGISTRY:
        raise ValueError(f"op {op.name!r} registered twice")
    _REGISTRY[op.name] = op
    return op


def unregister(name: str) -> None:
    """Remove op ``name`` (a test's or plugin's own op, registered for a while)."""
    del _REGISTRY[name]


def get_op(name: str) -> OpDef:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnsupportedError(f"unknown op {name!r}") from None


def all_ops() -> dict[str, OpDef]:
    return dict(_REGISTRY)
