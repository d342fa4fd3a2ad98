"""The IR: a thin class over one ``networkx.MultiDiGraph``.

* one graph node per op application, per graph input (op ``Input``) and per constant
  (op ``Constant``, its array in ``attrs["value"]``);
* one edge per use of a tensor, from the producer to the consumer, carrying the producer's
  output port and the consumer's input port (a node used twice by one consumer gives two
  parallel edges, hence the multigraph);
* graph inputs and outputs are ordered; outputs carry the user-facing name they are
  returned under;
* every node holds a frozen :class:`Node` record (op, attributes, output types, label,
  source location): a pass rewrites a graph by building new records, never by mutating
  the old ones, so the graph a pass was given stays as it was.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import networkx as nx
import numpy as np

from .errors import CnncError, VerifyError
from .naming import Namespace, comment_safe
from .opdef import Attrs, get_op
from .types import TensorType
from .verify import verify as _verify


@dataclass(frozen=True)
class Value:
    """One tensor of the graph: output ``port`` of node ``node``."""

    node: str
    port: int = 0

    def __str__(self) -> str:
        return f"%{self.node}" if self.port == 0 else f"%{self.node}:{self.port}"


@dataclass(frozen=True)
class Node:
    """The immutable record stored on each graph node."""

    name: str
    op: str
    attrs: Attrs
    types: tuple[TensorType, ...]
    label: str
    source: str | None = None

    def where(self) -> str:
        loc = f"{self.op} '{comment_safe(self.label, 60)}'"
        return f"{loc} ({self.source})" if self.source else loc


def _split_source(source: str) -> tuple[str, str]:
    """``(file name, the rest)`` of a node's source: ``"dir/model.py:14"`` -> ``("model.py",
    "14")``, ``"/abs/m.onnx: node 'x' (Conv, opset 11)"`` -> ``("m.onnx", "node 'x' ...")``;
    a source that names no file is all rest."""
    head, sep, rest = source.partition(":")
    if not sep or not head or not ("/" in head or "." in head):
        return "", source
    return head.replace("\\", "/").rsplit("/", 1)[-1], rest.strip()


class Graph:
    """A typed CNN dataflow graph. Build it with the DSL or ``cnnc.load_onnx``."""

    def __init__(self, name: str = "model"):
        self.name = name
        self._g = nx.MultiDiGraph()
        self._inputs: list[str] = []
        self._outputs: list[tuple[str, Value]] = []
        self._names = Namespace()

    # ------------------------------------------------------------------ building
    def add_input(self, label: str, type_: TensorType, *, source: str | None = None) -> Value:
        if any(self.node(n).label == label for n in self._inputs):
            raise CnncError(f"graph input {label!r} defined twice", where=source)
        v = self._add("Input", [], {"shape": type_.shape, "dtype": type_.dtype}, label, source)
        self._inputs.append(v.node)
        return v

    def add_constant(self, array, label: str = "const", *, source: str | None = None) -> Value:
        return self._add("Constant", [], {"value": np.asarray(array)}, label, source)

    def add_node(self, op: str, inputs: Sequence[Value], attrs: Mapping[str, Any] | None = None,
                 *, label: str | None = None, source: str | None = None) -> tuple[Value, ...]:
        """Apply ``op`` to ``inputs``; infers and returns the output values.

        Raises a :class:`CnncError` located at the new node when the attributes or operand
        types are not what the op accepts.
        """
        node = self._add(op, inputs, attrs, label or op.lower(), source)
        return tuple(Value(node.node, i) for i in range(len(self.node(node.node).types)))

    def _add(self, op, inputs, attrs, label, source) -> Value:
        opdef = get_op(op)
        inputs = list(inputs)
        where = f"{op} '{comment_safe(label, 60)}'" + (f" ({source})" if source else "")
        try:
            opdef.check_arity(len(inputs))
            in_types = [self.type_of(v) for v in inputs]
            canon = opdef.make_attrs(attrs, in_types)
            types = tuple(opdef.infer(in_types, canon))
        except CnncError as e:
            raise e.at(where) from None
        name = self._names.take(label)
        self._g.add_node(name, node=Node(name, op, canon, types, str(label), source))
        for port, v in enumerate(inputs):
            self._g.add_edge(v.node, name, src_port=v.port, dst_port=port)
        return Value(name, 0)

    def add_output(self, value: Value, label: str | None = None) -> None:
        label = label if label is not None else self.node(value.node).label
        if any(lbl == label for lbl, _ in self._outputs):
            raise CnncError(f"graph output {label!r} defined twice")
        self.type_of(value)
        self._outputs.append((label, value))

    # ------------------------------------------------------------------ queries
    def node(self, name: str) -> Node:
        try:
            return self._g.nodes[name]["node"]
        except KeyError:
            raise CnncError(f"no node named {name!r} in graph {self.name!r}") from None

    def __contains__(self, name: str) -> bool:
        return name in self._g

    def __len__(self) -> int:
        return self._g.number_of_nodes()

    @property
    def nx(self) -> nx.MultiDiGraph:
        """The underlying networkx graph (read it; change it only through Graph methods)."""
        return self._g

    @property
    def inputs(self) -> list[Value]:
        return [Value(n) for n in self._inputs]

    @property
    def outputs(self) -> list[tuple[str, Value]]:
        return list(self._outputs)

    def input_types(self) -> dict[str, TensorType]:
        """Graph inputs by their user-facing label, in order."""
        return {self.node(n).label: self.node(n).types[0] for n in self._inputs}

    def output_types(self) -> dict[str, TensorType]:
        return {lbl: self.type_of(v) for lbl, v in self._outputs}

    def type_of(self, value: Value) -> TensorType:
        types = self.node(value.node).types
        if not 0 <= value.port < len(types):
            raise CnncError(f"{value} has no output port {value.port}")
        return types[value.port]

    def operands(self, name: str) -> list[Value]:
        """The values node ``name`` consumes, in input-port order."""
        edges = sorted(self._g.in_edges(name, data=True), key=lambda e: e[2]["dst_port"])
        return [Value(u, d["src_port"]) for u, _, d in edges]

    def users(self, value: Value) -> list[tuple[str, int]]:
        """(consumer node, input port) for every use of ``value``, in a stable order."""
        return sorted((v, d["dst_port"]) for _, v, d in self._g.out_edges(value.node, data=True)
                      if d["src_port"] == value.port)

    def is_output(self, value: Value) -> bool:
        return any(v == value for _, v in self._outputs)

    def topo_order(self) -> list[str]:
        """Node names in a deterministic topological order (ties broken by insertion order,
        so constants appear next to the layer that made them)."""
        rank = {n: i for i, n in enumerate(self._g.nodes)}
        try:
            return list(nx.lexicographical_topological_sort(self._g, key=rank.__getitem__))
        except nx.NetworkXUnfeasible:
            cycle = nx.find_cycle(self._g)
            raise VerifyError("graph has a cycle through "
                              + " -> ".join(u for u, *_ in cycle)) from None

    def nodes(self) -> list[Node]:
        return [self.node(n) for n in self.topo_order()]

    def constant(self, value: Value) -> np.ndarray | None:
        """The array of ``value`` if a Constant produces it, else None."""
        n = self.node(value.node)
        return n.attrs["value"] if n.op == "Constant" else None

    # ------------------------------------------------------------------ rewriting
    def replace_all_uses(self, old: Value, new: Value) -> None:
        """Make every consumer of ``old`` (graph outputs too) read ``new`` instead."""
        if self.type_of(old) != self.type_of(new):
            raise VerifyError(f"cannot replace {old} ({self.type_of(old)}) by {new} "
                              f"({self.type_of(new)}): types differ")
        for u, v, k, d in list(self._g.out_edges(old.node, keys=True, data=True)):
            if d["src_port"] == old.port:
                self._g.remove_edge(u, v, k)
                self._g.add_edge(new.node, v, src_port=new.port, dst_port=d["dst_port"])
        self._outputs = [(lbl, new if v == old else v) for lbl, v in self._outputs]

    def replace_attrs(self, name: str, **changes) -> None:
        """Swap node ``name``'s record for one with changed attributes (types re-inferred)."""
        n = self.node(name)
        opdef = get_op(n.op)
        in_types = [self.type_of(v) for v in self.operands(name)]
        attrs = opdef.make_attrs({**n.attrs, **changes}, in_types)
        self._g.nodes[name]["node"] = replace(n, attrs=attrs, types=tuple(opdef.infer(in_types, attrs)))

    def remove_node(self, name: str) -> None:
        """Remove a node that nothing uses any more."""
        if self._g.out_degree(name) or any(v.node == name for _, v in self._outputs):
            raise VerifyError(f"cannot remove {name!r}: it still has users")
        if name in self._inputs:
            raise VerifyError(f"cannot remove graph input {name!r}")
        self._g.remove_node(name)
        self._names.release(name)

    def copy(self, name: str | None = None) -> "Graph":
        """A structural copy; node records are immutable and shared."""
        g = Graph(name or self.name)
        g._g = self._g.copy()
        g._inputs = list(self._inputs)
        g._outputs = list(self._outputs)
        g._names = self._names.copy()
        return g

    def verify(self) -> "Graph":
        _verify(self)
        return self

    # ------------------------------------------------------------------ display
    def dump(self) -> str:
        """A readable text form, one line per node, in topological order.  Where a node came
        from is shown by file name and line (a DSL model), not by the full path; nodes imported
        from one ONNX file name it once, in the header."""
        files = {_split_source(n.source)[0] for n in self.nodes() if n.source and n.op != "Input"}
        onnx_file = files.pop() if len(files) == 1 and next(iter(files)).endswith(".onnx") else None
        lines = [f"graph {self.name}("
                 + ", ".join(f"%{n}: {self.node(n).types[0]}" for n in self._inputs) + ") {"
                 + (f"  # from {comment_safe(onnx_file, 60)}" if onnx_file else "")]
        for n in self.nodes():
            if n.op == "Input":
                continue
            lhs = ", ".join(str(Value(n.name, i)) for i in range(len(n.types)))
            types = ", ".join(map(str, n.types))
            if n.op == "Constant":
                rhs = f"Constant {types}"
            else:
                args = ", ".join(map(str, self.operands(n.name)))
                attrs = ", ".join(f"{k}={_fmt(v)}" for k, v in n.attrs.items())
                rhs = f"{n.op}({args})" + (f" {{{attrs}}}" if attrs else "") + f" : {types}"
            extra = []
            if n.label != n.name:
                extra.append(repr(comment_safe(n.label, 40)))
            if n.source:
                file, rest = _split_source(n.source)
                if file != onnx_file:
                    extra.append(comment_safe(f"{file}:{rest}" if rest else file, 60))
            lines.append(f"  {lhs} = {rhs}" + (f"  # {' '.join(extra)}" if extra else ""))
        outs = ", ".join(f"{v} as {comment_safe(lbl, 40)!r}" for lbl, v in self._outputs)
        lines += [f"  return {outs}", "}"]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.dump()

    def __repr__(self) -> str:
        return (f"<cnnc.Graph {self.name!r}: {len(self)} nodes, inputs "
                f"{dict((k, str(t)) for k, t in self.input_types().items())}>")


def _fmt(v) -> str:
    if isinstance(v, np.ndarray):
        return f"array<{TensorType.of(v)}>"
    if isinstance(v, tuple):
        return "(" + ",".join(_fmt(x) for x in v) + ")"
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, str):
        return repr(v)
    return str(v)
