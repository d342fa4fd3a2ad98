"""The IR verifier: the invariants every pass must keep.

1. the graph is acyclic;
2. every node's op is registered, and its input ports are exactly ``0..k-1`` with ``k``
   within the op's arity; every edge reads an output port its producer has;
3. every node's output types equal what the op's inference gives for its operands;
4. node names are unique C-safe identifiers (see ``naming``);
5. graph inputs are exactly the ``Input`` nodes, and outputs name existing values under
   unique labels.

All violations are collected and reported in one :class:`VerifyError`.
"""
from __future__ import annotations

import networkx as nx

from .errors import CnncError, VerifyError
from .naming import is_c_safe
from .opdef import get_op


def verify(graph) -> None:
    """Check ``graph`` (a :class:`~cnnc.ir.graph.Graph`; this module imports no graph, so
    that graph.py can import it) and raise one VerifyError listing every violation."""
    g = graph.nx
    problems: list[str] = []
    if not nx.is_directed_acyclic_graph(g):
        cycle = nx.find_cycle(g)
        problems.append("cycle: " + " -> ".join([u for u, *_ in cycle] + [cycle[0][0]]))

    for name in g.nodes:
        data = g.nodes[name]
        node = data.get("node")
        if node is None:
            problems.append(f"{name!r}: node has no record")
            continue
        where = node.where()
        if node.name != name:
            problems.append(f"{where}: record names {node.name!r} but node is keyed {name!r}")
        if not is_c_safe(name):
            problems.append(f"{where}: node name {name!r} is not a C-safe identifier")
        try:
            opdef = get_op(node.op)
        except CnncError as e:
            problems.append(f"{where}: {e.detail}")
            continue
        ports = sorted(d["dst_port"] for _, _, d in g.in_edges(name, data=True))
        if ports != list(range(len(ports))):
            problems.append(f"{where}: input ports {ports} are not 0..{len(ports) - 1} "
                            "(a dangling or doubly connected port)")
            continue
        lo, hi = opdef.arity
        if not lo <= len(ports) <= hi:
            problems.append(f"{where}: has {len(ports)} operands, {node.op} takes {lo}..{hi}")
            continue
        bad_src = [(u, d["src_port"]) for u, _, d in g.in_edges(name, data=True)
                   if d["src_port"] >= len(g.nodes[u]["node"].types)]
        if bad_src:
            problems.append(f"{where}: reads missing output port(s) {bad_src}")
            continue
        in_types = [graph.type_of(v) for v in graph.operands(name)]
        try:
            expected = tuple(opdef.infer(in_types, node.attrs))
        except CnncError as e:
            problems.append(f"{where}: type inference fails: {e.detail}")
            continue
        if expected != node.types:
            problems.append(f"{where}: output types {', '.join(map(str, node.types))} differ "
                            f"from inferred {', '.join(map(str, expected))}")

    input_nodes = sorted(n for n in g.nodes if getattr(g.nodes[n].get("node"), "op", None) == "Input")
    declared = [v.node for v in graph.inputs]
    if sorted(declared) != input_nodes or len(set(declared)) != len(declared):
        problems.append(f"graph inputs {declared} differ from the Input nodes {input_nodes}")
    labels = [lbl for lbl, _ in graph.outputs]
    if len(set(labels)) != len(labels):
        problems.append(f"graph output labels are not unique: {labels}")
    if not graph.outputs:
        problems.append("graph has no outputs")
    for lbl, v in graph.outputs:
        if v.node not in g or v.port >= len(g.nodes[v.node]["node"].types):
            problems.append(f"graph output {lbl!r} reads missing value {v}")

    if problems:
        raise VerifyError(f"graph {graph.name!r} fails verification:\n  " + "\n  ".join(problems))
