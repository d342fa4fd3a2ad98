"""Pictures of a graph and of its memory plan.

Graph pictures: Graphviz DOT text (``to_dot``) and a self-contained SVG (``to_svg``: a
layered layout, no external tool needed), left to right (``rankdir="LR"``) or top to bottom
(``"TB"``, a compact rank per depth; ``"auto"``, the default, takes TB for a deep, narrow
graph such as a chain of layers, else LR).  Each box carries the op, the node's
name and its key attributes (kernel, stride, dilation, padding, group, the fused epilogue:
bias, residual order, activation) and its output type; constants are folded into their
consumer's box ("+k const"); edges have arrowheads.  ``write_pictures`` writes the .dot, the
.svg and, where Graphviz's ``dot`` is installed, a .png beside it (``dot`` then draws the
SVG too).

Memory pictures: ``memory_svg`` draws a memory plan's arena timeline: every buffer a box
over the node positions it is live at (x) and the arena bytes it takes (y), the lower bound
(the most bytes live at once) marked as a line.
"""
from __future__ import annotations

import shutil
import subprocess
from html import escape
from pathlib import Path

import networkx as nx

from ..ir import Graph
from ..ir.naming import comment_safe

#: window attributes as they are shown: name -> short prefix
_WINDOW = (("kernel_shape", "k"), ("strides", "s"), ("dilations", "d"))


def _dims(v) -> str:
    return "x".join(map(str, v))


def describe(g: Graph, name: str) -> list[str]:
    """The lines of a node's box: op and name; key attributes; output type."""
    n = g.node(name)
    if n.op == "Input":
        return [f"Input {comment_safe(n.label, 30)}", ", ".join(map(str, n.types))]
    operands = g.operands(name)
    consts = sum(1 for v in operands if g.node(v.node).op == "Constant")
    head = f"{n.op} {comment_safe(n.label, 30)}" if n.label != n.op else n.op
    attrs = []
    a = n.attrs
    for key, short in _WINDOW:
        v = a.get(key)
        if v and (key == "kernel_shape" or any(x != 1 for x in v)):
            attrs.append(f"{short}{_dims(v)}")
    if a.get("pads") and any(a["pads"]):
        attrs.append(f"p{_dims(a['pads'])}")
    if a.get("group", 1) != 1:
        attrs.append(f"g{a['group']}")
    if n.op == "FusedConv":
        epi = ["bias"]
        if len(operands) > 3:
            epi.append(f"residual {a.get('residual', 'pre')}")
        if a.get("activation"):
            epi.append(str(a["activation"]))
        attrs.append("+" + " +".join(epi))
    elif a.get("activation"):
        attrs.append(str(a["activation"]))
    for key in ("axis", "mode", "perm"):
        if key in a and a[key] is not None:
            attrs.append(f"{key}={_dims(a[key]) if isinstance(a[key], (tuple, list)) else a[key]}")
    if consts:
        attrs.append(f"+{consts} const")
    lines = [head] + ([" ".join(attrs)] if attrs else [])
    return lines + [", ".join(map(str, n.types))]


def _boxes(g: Graph):
    """(name, label lines) of every non-constant node, in topological order."""
    return [(n.name, describe(g, n.name)) for n in g.nodes() if n.op != "Constant"]


def _edges(g: Graph):
    keep = {n.name for n in g.nodes() if n.op != "Constant"}
    return sorted({(u, v) for u, v in g.nx.edges() if u in keep and v in keep})


def _ranks(g: Graph) -> dict[int, list[str]]:
    """The boxed (non-constant) nodes by depth: the longest path from a source, in graph order."""
    names = [n.name for n in g.nodes() if n.op != "Constant"]
    sub = nx.DiGraph()
    sub.add_nodes_from(names)
    sub.add_edges_from(_edges(g))
    depth: dict[str, int] = {}
    for n in nx.topological_sort(sub):
        depth[n] = max((depth[p] + 1 for p in sub.predecessors(n)), default=0)
    ranks: dict[int, list[str]] = {}
    for n in names:
        ranks.setdefault(depth[n], []).append(n)
    return ranks


def auto_rankdir(g: Graph) -> str:
    """"TB" (a compact rank per depth, top to bottom) for a deep, narrow graph -- a chain of
    layers reads down the page -- else "LR" (left to right)."""
    ranks = _ranks(g)
    return "TB" if ranks and len(ranks) > 3 * max(len(r) for r in ranks.values()) else "LR"


def _dot_text(s: str) -> str:
    return comment_safe(s, 60).replace("\\", "/").replace('"', "'")


def to_dot(g: Graph, rankdir: str = "auto") -> str:
    rankdir = auto_rankdir(g) if rankdir == "auto" else rankdir
    lines = [f'digraph "{_dot_text(g.name)}" {{', f"  rankdir={rankdir};",
             '  node [shape=box, style="rounded,filled", fillcolor="#eeeeff", fontname=monospace, fontsize=10];',
             "  edge [arrowhead=normal, arrowsize=0.7];"]
    for name, label in _boxes(g):
        lines.append(f'  {name} [label="{chr(92).join("n" + _dot_text(s) for s in label)[1:]}"];')
    lines += [f"  {u} -> {v};" for u, v in _edges(g)]
    for lbl, v in g.outputs:
        lines.append(f'  out_{v.node}_{v.port} [shape=oval, fillcolor="#ffffff", label="{_dot_text(lbl)}"];')
        lines.append(f"  {v.node} -> out_{v.node}_{v.port};")
    return "\n".join(lines + ["}"]) + "\n"


def _text_width(lines) -> int:
    return max(len(s) for s in lines) * 7 + 12


def to_svg(g: Graph, rankdir: str = "auto", gap: int = 36) -> str:
    """The graph as SVG, laid out by depth (columns for LR, rows for TB) without external
    tools; boxes are as wide as their longest line, edges end in arrowheads."""
    rankdir = auto_rankdir(g) if rankdir == "auto" else rankdir
    boxes = dict(_boxes(g))
    ranks = _ranks(g)
    size = {n: (min(_text_width(lines), 320), 16 + 14 * len(lines)) for n, lines in boxes.items()}
    pos, extent = {}, [0, 0]
    along = gap                                   # the axis the ranks advance on
    for d in sorted(ranks):
        across = gap
        thick = max((size[n][0] if rankdir == "LR" else size[n][1]) for n in ranks[d])
        for n in ranks[d]:
            w, h = size[n]
            pos[n] = (along, across) if rankdir == "LR" else (across, along)
            across += (h if rankdir == "LR" else w) + gap // 2
        extent[1] = max(extent[1], across)
        along += thick + gap
    width, height = (along, extent[1]) if rankdir == "LR" else (extent[1], along)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{max(width, 100)}" height="{max(height, 60)}" '
           'font-family="monospace" font-size="11">',
           f"<title>{escape(comment_safe(g.name, 60))}</title>",
           '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
           'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#555"/></marker></defs>']
    for u, v in _edges(g):
        (x1, y1), (w1, h1) = pos[u], size[u]
        (x2, y2), (w2, h2) = pos[v], size[v]
        if rankdir == "LR":
            a, b = (x1 + w1, y1 + h1 // 2), (x2, y2 + h2 // 2)
        else:
            a, b = (x1 + w1 // 2, y1 + h1), (x2 + w2 // 2, y2)
        out.append(f'<line x1="{a[0]}" y1="{a[1]}" x2="{b[0]}" y2="{b[1]}" stroke="#555" marker-end="url(#arrow)"/>')
    for n, lines in boxes.items():
        (x, y), (w, h) = pos[n], size[n]
        out.append(f'<rect x="{x}" y="{y}" width="{w}" height="{h}" rx="4" fill="#eef" stroke="#336"/>')
        for i, text in enumerate(lines):
            weight = ' font-weight="bold"' if i == 0 else ""
            out.append(f'<text x="{x + 6}" y="{y + 15 + 14 * i}"{weight}>{escape(comment_safe(text, (w - 12) // 7))}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def write_pictures(g: Graph, stem: Path, rankdir: str = "auto") -> list[Path]:
    """``stem``.dot, .svg and, with Graphviz's ``dot`` installed, .png (``dot`` then draws
    the SVG as well); returns the files written."""
    dot_file = stem.with_suffix(".dot")
    dot_file.write_text(to_dot(g, rankdir))
    written = [dot_file]
    dot = shutil.which("dot")
    if dot is not None:
        ok = True
        for fmt in ("svg", "png"):
            res = subprocess.run([dot, f"-T{fmt}", str(dot_file), "-o", str(stem.with_suffix(f".{fmt}"))],
                                 capture_output=True)
            ok = ok and res.returncode == 0
            if res.returncode == 0:
                written.append(stem.with_suffix(f".{fmt}"))
        if ok:
            return written
    stem.with_suffix(".svg").write_text(to_svg(g, rankdir))
    return written + [stem.with_suffix(".svg")]


def memory_svg(plan, g: Graph | None = None, width: int = 900, height: int = 420) -> str:
    """The arena timeline of a ``passes.memory.MemoryPlan``: a box per buffer from its first
    to its last live position (x) at its offset and size (y); the lower bound (the most bytes
    live at once) and the arena size marked."""
    margin_l, margin_b, margin_t = 70, 40, 30
    positions = max(len(plan.order), 1)
    top = max(plan.arena_bytes, plan.lower_bound_bytes, 1)
    plot_w, plot_h = width - margin_l - 20, height - margin_b - margin_t

    def x(pos: float) -> float:
        return margin_l + plot_w * pos / positions

    def y(nbytes: float) -> float:
        return margin_t + plot_h * (1 - nbytes / top)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="monospace" '
           'font-size="10">', f"<title>{escape(comment_safe(plan.name, 60))}: arena timeline</title>",
           f'<text x="{margin_l}" y="16" font-size="12">{escape(comment_safe(plan.name, 40))}: arena '
           f'{plan.arena_bytes:,} B, lower bound {plan.lower_bound_bytes:,} B, {len(plan.buffers)} buffers over '
           f'{len(plan.order)} nodes</text>',
           f'<rect x="{margin_l}" y="{margin_t}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#999"/>']
    palette = ("#8db3e2", "#f4b183", "#a9d18e", "#ffd966", "#c9a0dc", "#9dc3e6", "#f8cbad")
    for i, b in enumerate(sorted(plan.buffers, key=lambda b: (b.start, b.offset))):
        if b.nbytes <= 0:
            continue
        x0, x1 = x(b.start), x(b.end + 1)
        y0, y1 = y(b.offset + b.nbytes), y(b.offset)
        names = ", ".join(comment_safe(g.node(v.node).label if g is not None else v.node, 20) for v in b.values)
        out.append(f'<rect x="{x0:.1f}" y="{y0:.1f}" width="{max(x1 - x0, 1):.1f}" height="{max(y1 - y0, 1):.1f}" '
                   f'fill="{palette[i % len(palette)]}" stroke="#333" stroke-width="0.5">'
                   f"<title>{escape(names)}: {b.nbytes:,} B at {b.offset:,}, nodes {b.start}-{b.end}</title></rect>")
        if x1 - x0 > 60 and y1 - y0 > 12:
            out.append(f'<text x="{x0 + 3:.1f}" y="{y0 + 11:.1f}">{escape(comment_safe(names, int((x1 - x0) // 6)))}</text>')
    lb = y(plan.lower_bound_bytes)
    out.append(f'<line x1="{margin_l}" y1="{lb:.1f}" x2="{margin_l + plot_w}" y2="{lb:.1f}" stroke="#c00" '
               'stroke-dasharray="6 3"/>')
    out.append(f'<text x="{margin_l + plot_w - 4}" y="{lb - 4:.1f}" text-anchor="end" fill="#c00">lower bound '
               f'{plan.lower_bound_bytes:,} B</text>')
    out.append(f'<text x="4" y="{margin_t + 10}">{plan.arena_bytes:,} B</text>')
    out.append(f'<text x="4" y="{margin_t + plot_h}">0</text>')
    out.append(f'<text x="{margin_l}" y="{height - 12}">node 0</text>')
    out.append(f'<text x="{margin_l + plot_w}" y="{height - 12}" text-anchor="end">node {positions - 1}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"
