"""Pictures of a graph: Graphviz DOT text, and a self-contained SVG (layered layout, no
external tool needed).  Constants are folded into their consumer's box ("+k const")."""
from __future__ import annotations

from html import escape

import networkx as nx

from ..ir import Graph
from ..ir.naming import comment_safe


def _boxes(g: Graph):
    """(name, label lines) of every non-constant node, in topological order."""
    out = []
    for n in g.nodes():
        if n.op == "Constant":
            continue
        consts = sum(1 for v in g.operands(n.name) if g.node(v.node).op == "Constant")
        head = n.op if n.op != "Input" else f"Input {comment_safe(n.label, 24)}"
        lines = [head, ", ".join(map(str, n.types))]
        if consts:
            lines[0] += f"  (+{consts} const)"
        out.append((n.name, lines))
    return out


def _edges(g: Graph):
    keep = {n.name for n in g.nodes() if n.op != "Constant"}
    return sorted({(u, v) for u, v in g.nx.edges() if u in keep and v in keep})


def to_dot(g: Graph) -> str:
    lines = [f'digraph "{comment_safe(g.name, 40)}" {{', "  node [shape=box, fontname=monospace];"]
    for name, label in _boxes(g):
        text = "\\n".join(comment_safe(s, 60).replace('"', "'") for s in label)
        lines.append(f'  {name} [label="{text}"];')
    lines += [f"  {u} -> {v};" for u, v in _edges(g)]
    for lbl, v in g.outputs:
        lines.append(f'  out_{v.node}_{v.port} [shape=oval, label="{comment_safe(lbl, 30).replace(chr(34), chr(39))}"];')
        lines.append(f"  {v.node} -> out_{v.node}_{v.port};")
    return "\n".join(lines + ["}"]) + "\n"


def to_svg(g: Graph, box_w: int = 220, box_h: int = 40, gap_x: int = 30, gap_y: int = 36) -> str:
    boxes = dict(_boxes(g))
    sub = nx.DiGraph()
    sub.add_nodes_from(boxes)
    sub.add_edges_from(_edges(g))
    depth: dict[str, int] = {}
    for n in nx.topological_sort(sub):
        depth[n] = max((depth[p] + 1 for p in sub.predecessors(n)), default=0)
    rows: dict[int, list[str]] = {}
    for n in boxes:
        rows.setdefault(depth[n], []).append(n)
    pos = {n: (gap_x + i * (box_w + gap_x), gap_y + d * (box_h + gap_y))
           for d, names in rows.items() for i, n in enumerate(names)}
    width = gap_x + max(len(r) for r in rows.values()) * (box_w + gap_x) if rows else 100
    height = gap_y + (max(rows) + 1 if rows else 1) * (box_h + gap_y)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'font-family="monospace" font-size="11">',
           f"<title>{escape(comment_safe(g.name, 60))}</title>"]
    for u, v in _edges(g):
        (x1, y1), (x2, y2) = pos[u], pos[v]
        out.append(f'<line x1="{x1 + box_w // 2}" y1="{y1 + box_h}" x2="{x2 + box_w // 2}" '
                   f'y2="{y2}" stroke="#555"/>')
    for n, lines in boxes.items():
        x, y = pos[n]
        out.append(f'<rect x="{x}" y="{y}" width="{box_w}" height="{box_h}" rx="4" '
                   f'fill="#eef" stroke="#336"/>')
        for i, text in enumerate(lines):
            out.append(f'<text x="{x + 6}" y="{y + 15 + 14 * i}">{escape(comment_safe(text, 34))}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"
