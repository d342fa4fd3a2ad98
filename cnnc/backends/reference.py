"""The numpy interpreter: the oracle every pass and backend is checked against.

It evaluates each node's ``OpDef.reference`` in topological order, freeing a value once its
last consumer has run, and checks that every result has the type the IR inferred (a
mismatch is a bug in the op, reported with the node's name).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..ir import CnncError, Graph, Value, get_op
from .base import CompiledModel


class ReferenceModel(CompiledModel):
    target = "reference"

    def __init__(self, graph: Graph):
        graph.verify()
        super().__init__(*self.signature_of(graph))
        self.graph = graph
        self._order = [n for n in graph.topo_order() if graph.node(n).op != "Input"]
        self._operands = {n: graph.operands(n) for n in self._order}
        keep = {v for _, v in graph.outputs}
        last_use: dict[Value, str] = {}
        for n in self._order:
            for v in self._operands[n]:
                last_use[v] = n
        self._free_after: dict[str, list[Value]] = {}
        for v, n in last_use.items():
            if v not in keep:
                self._free_after.setdefault(n, []).append(v)

    def _run(self, arrays: Sequence[np.ndarray]) -> list[np.ndarray]:
        env = self.evaluate(arrays)
        return [env[v] for _, v in self.graph.outputs]

    def evaluate(self, arrays: Sequence[np.ndarray], *, keep_all: bool = False) -> dict[Value, np.ndarray]:
        """Run the graph; returns the environment of live values (all of them with keep_all)."""
        g = self.graph
        env: dict[Value, np.ndarray] = {v: a for v, a in zip(g.inputs, arrays)}
        for name in self._order:
            node = g.node(name)
            args = [env[v] for v in self._operands[name]]
            with np.errstate(all="ignore"):
                try:
                    outs = get_op(node.op).run(args, node.attrs)
                except CnncError as e:
                    raise e.at(node.where()) from None
            for port, (out, t) in enumerate(zip(outs, node.types)):
                out = np.asarray(out)
                if out.shape != t.shape or out.dtype.name != t.dtype:
                    raise CnncError(f"reference produced {out.dtype.name}{list(out.shape)} for "
                                    f"output {port}, but the IR inferred {t}", where=node.where())
                env[Value(name, port)] = out
            if not keep_all:
                for v in self._free_after.get(name, ()):
                    env.pop(v, None)
        return env


def compile_reference(graph: Graph) -> ReferenceModel:
    return ReferenceModel(graph)
