"""The model-building core of the DSL: :class:`Model`, :class:`Tensor` and the
``layer`` decorator every layer function is written with.

A layer function receives a :class:`LayerContext` that knows the layer's name and the
user's source line; every node it adds is labelled from the layer name and located at that
line, and any :class:`CnncError` raised while building it (an op's shape inference, a bad
padding string, an initializer) is re-raised naming the layer and the line — so shape
errors surface where the user wrote the layer, not later.
"""
from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from ..ir import CnncError, Graph, TensorType, Value

_PKG_DIR = str(Path(__file__).resolve().parent.parent)


def user_source() -> str | None:
    """``file:line`` of the innermost stack frame outside the cnnc package."""
    frame = sys._getframe(1)
    while frame is not None:
        path = frame.f_code.co_filename
        if not os.path.abspath(path).startswith(_PKG_DIR):
            try:
                shown = os.path.relpath(path)
                if shown.startswith(".."):
                    shown = path
            except ValueError:
                shown = path
            return f"{shown}:{frame.f_lineno}"
        frame = frame.f_back
    return None


class Tensor:
    """A value of the model being built. Arithmetic operators add nodes (``a + b`` is Add)."""

    __slots__ = ("model", "value")

    def __init__(self, model: "Model", value: Value):
        self.model = model
        self.value = value

    @property
    def type(self) -> TensorType:
        return self.model.graph.type_of(self.value)

    @property
    def shape(self) -> tuple[int, ...]:
        return self.type.shape

    @property
    def dtype(self) -> str:
        return self.type.dtype

    @property
    def name(self) -> str:
        return self.value.node

    def __repr__(self) -> str:
        return f"<Tensor {self.name}: {self.type}>"

    def _binary(self, op, other, swap=False):
        return elementwise((other, self) if swap else (self, other), op)

    def __add__(self, other):
        return self._binary("Add", other)

    def __radd__(self, other):
        return self._binary("Add", other, swap=True)

    def __sub__(self, other):
        return self._binary("Sub", other)

    def __rsub__(self, other):
        return self._binary("Sub", other, swap=True)

    def __mul__(self, other):
        return self._binary("Mul", other)

    def __rmul__(self, other):
        return self._binary("Mul", other, swap=True)

    def __truediv__(self, other):
        return self._binary("Div", other)


class Model:
    """A model under construction: inputs, layers, outputs; ``.graph`` is the cnnc.Graph.

    ``seed`` makes every random initializer of the model deterministic.
    """

    def __init__(self, name: str = "model", *, seed: int = 0):
        self.graph = Graph(name)
        self.rng = np.random.default_rng(seed)
        self._counts: dict[str, int] = {}
        self._layer_names: set[str] = set()

    def input(self, name: str, shape: Sequence[int], dtype: str = "float32") -> Tensor:
        src = user_source()
        try:
            return Tensor(self, self.graph.add_input(name, TensorType(tuple(shape), dtype), source=src))
        except CnncError as e:
            raise e.at(f"input {name!r} ({src})") from None

    def output(self, t: "Tensor", name: str | None = None) -> None:
        if not isinstance(t, Tensor) or t.model is not self:
            raise CnncError(f"output {name!r}: expected a Tensor of model {self.graph.name!r}",
                            where=user_source())
        self.graph.add_output(t.value, name)

    def build(self) -> Graph:
        """The finished, verified graph."""
        return self.graph.verify()

    def _layer_name(self, kind: str, name: str | None) -> str:
        if name is None:
            self._counts[kind] = self._counts.get(kind, 0) + 1
            name = f"{kind}{self._counts[kind]}"
        if name in self._layer_names:
            raise CnncError(f"layer name {name!r} is used twice", where=user_source())
        self._layer_names.add(name)
        return name


class LayerContext:
    """What a layer function builds with: ``op`` adds a node, ``const`` a constant."""

    def __init__(self, model: Model, kind: str, name: str, source: str | None):
        self.model, self.kind, self.name, self.source = model, kind, name, source

    @property
    def rng(self) -> np.random.Generator:
        return self.model.rng

    @property
    def where(self) -> str:
        return f"layer {self.name!r}" + (f" at {self.source}" if self.source else "")

    def op(self, op: str, inputs: Sequence["Tensor | Value"], attrs=None, *, suffix: str = "",
           outputs: int | None = None):
        vals = [t.value if isinstance(t, Tensor) else t for t in inputs]
        label = self.name + (f"_{suffix}" if suffix else "")
        try:
            outs = self.model.graph.add_node(op, vals, attrs, label=label, source=self.source)
        except CnncError as e:
            raise type(e)(e.detail, where=f"layer {self.name!r} ({op})"
                          + (f" at {self.source}" if self.source else "")) from None
        tensors = [Tensor(self.model, v) for v in outs]
        return tensors if outputs is not None or len(tensors) != 1 else tensors[0]

    def const(self, array, suffix: str, dtype="float32") -> Tensor:
        arr = np.asarray(array, dtype=dtype)
        v = self.model.graph.add_constant(arr, f"{self.name}_{suffix}", source=self.source)
        return Tensor(self.model, v)


def layer(kind: str) -> Callable:
    """Decorator: ``fn(ctx, x, ...)`` becomes the layer function ``f(x, ..., name=None)``.

    The model is taken from the first Tensor argument (or a list of them).
    """
    def deco(fn):
        @functools.wraps(fn)
        def wrapper(x, *args, name: str | None = None, **kwargs):
            model = _model_of(x)
            src = user_source()
            try:
                ctx = LayerContext(model, kind, model._layer_name(kind, name), src)
            except CnncError as e:
                raise e.at(f"layer {name!r} at {src}") from None
            try:
                return fn(ctx, x, *args, **kwargs)
            except CnncError as e:
                raise e.at(ctx.where) from None
        return wrapper
    return deco


def _model_of(x) -> Model:
    """The model of ``x``, or of the first Tensor in a list/tuple ``x``."""
    items = x if isinstance(x, (list, tuple)) else [x]
    first = next((t for t in items if isinstance(t, Tensor)), None)
    if first is None:
        raise CnncError(f"a layer's first argument must be a Tensor (from Model.input or "
                        f"another layer), got {type(x).__name__}", where=user_source())
    if any(isinstance(t, Tensor) and t.model is not first.model for t in items):
        raise CnncError("tensors of different models cannot be combined", where=user_source())
    return first.model


@layer("ew")
def elementwise(ctx, operands, op: str):
    """``op`` (Add, Sub, Mul, Div) of ``operands = (a, b)``; a plain number becomes a
    constant.  The Tensor operators (``a + b``) call it; it lives here, beside them."""
    a, b = operands
    dtype = (a if isinstance(a, Tensor) else b).dtype

    def operand(v, k):
        return v if isinstance(v, Tensor) else ctx.const(np.asarray(v, dtype), k)
    return ctx.op(op, [operand(a, "a"), operand(b, "b")])
