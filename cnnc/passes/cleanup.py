"""The cleanup passes: constant folding, dead-code elimination, identity elimination and
common-subexpression elimination.

They make no trade-offs — each only removes run-time work — so they run first (and DCE
last) at every optimization level, and every later pass can assume a graph without
constant sub-graphs, pass-through nodes or duplicates.  Each walks the graph once in
topological order, so one run reaches the fixpoint (running a pass twice equals running it
once) and the result is deterministic.

``fold_constants``
    Evaluates every node whose operands are all Constants with the op's numpy reference
    (the same code the reference backend runs, so folding cannot change a result) and
    replaces its used outputs by Constants labelled like the node.  Topological order makes
    whole constant sub-graphs (an ONNX shape computation, weight preprocessing) fold in one
    sweep.  Graph ``Input`` nodes are never folded: they are the model's interface.  The
    Constants a fold leaves unused are dropped right away (they are known without a
    reachability search); Constants that were unused before are DCE's business.  Cost
    model: folding trades run-time FLOPs for constant bytes, which is a win for the
    sub-graphs real CNNs have (shape arithmetic, weight transforms of the size of the
    weights); there is no size cap, so a ``Tile``/``Expand`` of a constant becomes as large
    as its result.

``eliminate_dead_code``
    Removes every node from which no graph output is reachable.  Graph inputs stay even
    when unused (the model keeps its interface); a multi-output node stays whole when any
    of its outputs is used.

``eliminate_identity``
    Removes the nodes that return their operand unchanged and rewires their users — graph
    outputs included, which keep their labels — to the operand.  An op's ``OpDef.no_op``
    trait says when a node of it is such a pass-through: ``Identity`` and inference ``Dropout`` always; a cast,
    reshape or broadcast whose result has the operand's type; a zero ``Pad``; an identity
    ``Transpose``; a one-operand ``Concat``/``Sum``/``Mean``/``Max``/``Min``.  A graph
    output may end up reading a graph input or the same value as another output; the IR
    allows both (the ONNX exporter writes an ``Identity`` for them).

``cse``
    Merges nodes that compute the same value: same op, same operand values, equal
    attributes — a Constant's array is an attribute, so equal Constants merge, and then the
    nodes they feed.  Arrays compare by dtype, shape and bytes (stricter than numeric
    equality: ``-0.0`` and ``0.0`` stay apart, so a merge is always exact); the bytes enter
    a node's key as their SHA-256, so the keys of a model do not hold a second copy of its
    weights.  The first node in topological order is kept and takes over the duplicates'
    users.  Operands are compared by position: ``Add(a, b)`` and ``Add(b, a)`` stay apart.
"""
from __future__ import annotations

import hashlib

import networkx as nx
import numpy as np

from ..ir import CnncError, Graph, Node, Value, get_op
from .manager import graph_pass, graph_property

_SOURCES = ("Input", "Constant")


def _outputs_of(g: Graph, name: str) -> list[Value]:
    return [Value(name, port) for port in range(len(g.node(name).types))]


def _used(g: Graph, v: Value) -> bool:
    return bool(g.users(v)) or g.is_output(v)


def _replace_node(g: Graph, name: str, new: list[Value | None]) -> None:
    """Rewire every use of node ``name``'s outputs to ``new`` (port by port; ``None`` for
    an unused port) and remove the node."""
    for old, v in zip(_outputs_of(g, name), new):
        if v is not None:
            g.replace_all_uses(old, v)
    g.remove_node(name)


# ---------------------------------------------------------------- constant folding
def _foldable(g: Graph, node: Node) -> bool:
    return node.op not in _SOURCES and all(g.constant(v) is not None for v in g.operands(node.name))


@graph_property("constants_folded")
def constants_folded(g: Graph) -> bool:
    """No node but a Constant has only Constant operands."""
    return not any(_foldable(g, n) for n in g.nodes())


@graph_pass("fold_constants", ensures=("constants_folded",))
def fold_constants(g: Graph) -> Graph:
    """Evaluate the nodes whose operands are all Constants and replace them by Constants."""
    g = g.copy()
    for name in g.topo_order():
        node = g.node(name)
        if not _foldable(g, node):
            continue
        operands = g.operands(name)
        with np.errstate(all="ignore"):
            try:
                arrays = get_op(node.op).run([g.constant(v) for v in operands], node.attrs)
            except CnncError as e:
                raise e.at(f"folding {node.where()}") from None
        _replace_node(g, name, [g.add_constant(a, node.label, source=node.source)
                                if _used(g, v) else None
                                for a, v in zip(arrays, _outputs_of(g, name))])
        for c in dict.fromkeys(v.node for v in operands):
            if not _used(g, Value(c)):
                g.remove_node(c)
    return g


# ---------------------------------------------------------------- dead code
def _live(g: Graph) -> set[str]:
    """Graph inputs, and every node some graph output depends on."""
    roots = {v.node for _, v in g.outputs}
    return set().union(roots, (v.node for v in g.inputs), *(nx.ancestors(g.nx, r) for r in roots))


@graph_property("no_dead_code")
def no_dead_code(g: Graph) -> bool:
    """Every node but a graph input reaches a graph output."""
    return len(_live(g)) == len(g)


@graph_pass("eliminate_dead_code", ensures=("no_dead_code",))
def eliminate_dead_code(g: Graph) -> Graph:
    """Remove the nodes no graph output depends on."""
    g = g.copy()
    live = _live(g)
    for name in reversed(g.topo_order()):
        if name not in live:
            g.remove_node(name)
    return g


# ---------------------------------------------------------------- identities
def _is_no_op(g: Graph, n: Node) -> bool:
    no_op = get_op(n.op).no_op
    return no_op is not None and no_op([g.type_of(v) for v in g.operands(n.name)], n.attrs, n.types)


@graph_property("no_identity")
def no_identity(g: Graph) -> bool:
    """No node returns its operand unchanged (the ops' ``OpDef.no_op`` traits)."""
    return not any(_is_no_op(g, n) for n in g.nodes())


@graph_pass("eliminate_identity", ensures=("no_identity",))
def eliminate_identity(g: Graph) -> Graph:
    """Remove Identity, Dropout and the other pass-through nodes, rewiring their users."""
    g = g.copy()
    for name in g.topo_order():
        if _is_no_op(g, g.node(name)):
            _replace_node(g, name, g.operands(name)[:1])
    return g


# ---------------------------------------------------------------- common subexpressions
def _hashable(v):
    if isinstance(v, np.ndarray):
        return v.dtype.str, v.shape, hashlib.sha256(np.ascontiguousarray(v)).digest()
    if isinstance(v, tuple):
        return tuple(map(_hashable, v))
    return v


def _key(g: Graph, n: Node) -> tuple:
    """What a node computes: equal keys, equal values."""
    return (n.op, tuple(g.operands(n.name)), tuple((k, _hashable(v)) for k, v in n.attrs.items()))


def _mergeable(g: Graph):
    return (n for n in g.nodes() if n.op != "Input")


@graph_property("no_common_subexpressions")
def no_common_subexpressions(g: Graph) -> bool:
    """No two nodes compute the same value."""
    keys = [_key(g, n) for n in _mergeable(g)]
    return len(set(keys)) == len(keys)


@graph_pass("cse", ensures=("no_common_subexpressions",))
def cse(g: Graph) -> Graph:
    """Merge nodes with the same op, operands and attributes (equal Constants included)."""
    g = g.copy()
    first: dict[tuple, str] = {}
    for n in _mergeable(g):
        kept = first.setdefault(_key(g, n), n.name)
        if kept != n.name:
            _replace_node(g, n.name, _outputs_of(g, kept))
    return g
