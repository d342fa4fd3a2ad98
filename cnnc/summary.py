"""``cnnc show MODEL --summary``: one row per layer of the graph as the C target compiles it
(op, key attributes, output shape, parameters, FLOPs, the kernel chosen for it), and the
totals: parameters, FLOPs, weights bytes and arena bytes (the memory plan's)."""
from __future__ import annotations

from dataclasses import dataclass

from .backends import isa as isas
from .backends.base import check_threads
from .backends.codegen import prepare
from .passes.layout import assign_layouts
from .ir import Graph, get_op
from .ir.limits import human_bytes
from .ir.naming import comment_safe

#: the attributes a row shows, where a node has them (the rest is `cnnc show`'s)
KEY_ATTRS = ("kernel_shape", "strides", "dilations", "pads", "group", "activation", "residual", "axis", "mode", "perm")


@dataclass
class Row:
    name: str
    op: str
    attrs: str
    shape: str
    params: int
    flops: int
    kernel: str


@dataclass
class Summary:
    model: str
    cpu: str
    workers: int
    rows: list[Row]
    params: int
    flops: int
    weights_bytes: int
    arena_bytes: int

    def table(self) -> str:
        heads = ("layer", "op", "attributes", "output", "params", "FLOPs", "kernel")
        cells = [(r.name, r.op, r.attrs, r.shape, f"{r.params:,}" if r.params else "-", _flops(r.flops), r.kernel)
                 for r in self.rows]
        widths = [max(len(h), *(len(c[i]) for c in cells)) if cells else len(h) for i, h in enumerate(heads)]
        right = {4, 5}

        def line(vals):
            return "  ".join(v.rjust(w) if i in right else v.ljust(w) for i, (v, w) in enumerate(zip(vals, widths))).rstrip()
        out = [f"{self.model}: {len(self.rows)} layers, planned for the c target ({self.cpu}, {self.workers} "
               f"worker{'s' * (self.workers > 1)})", line(heads), line(["-" * w for w in widths])]
        out += [line(c) for c in cells]
        out.append(f"total: {self.params:,} parameters, {_flops(self.flops)} FLOPs, weights {human_bytes(self.weights_bytes)}, "
                   f"arena {human_bytes(self.arena_bytes)}")
        return "\n".join(out)


def _flops(n: int) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= scale:
            return f"{n / scale:.2f}{unit}"
    return str(n)


def _shown(k: str, v, operands: int) -> bool:
    """Whether a row shows attribute ``k`` (not at its do-nothing value; a residual order
    only where there is a residual operand)."""
    if v is None or v == "" or (k == "group" and v == 1) or (k == "residual" and operands < 4):
        return False
    if k == "pads":
        return any(v)
    if k in ("strides", "dilations"):
        return any(x != 1 for x in v)
    return True


def _fmt(v) -> str:
    if isinstance(v, (tuple, list)):
        return "x".join(map(str, v))
    return str(v)


def summarize(graph: Graph, *, cpu: str = "native", threads: int | None = None, layout: str = "auto") -> Summary:
    """The summary of ``graph`` as the C target plans it for ``cpu`` and ``threads``
    workers, after its layout pass (``layout``; pass an optimized graph to see what is
    compiled)."""
    target = isas.resolve(cpu)
    workers = check_threads(threads)
    graph = assign_layouts(graph, target.vector, isa=target, workers=workers, mode=layout)
    p = prepare(graph, "c", weights="blob", isa=target, workers=workers)
    rows, counted, params = [], set(), 0
    for node_name, fn, _ in p.per_node:
        node = graph.node(node_name)
        operands = graph.operands(node_name)
        consts = [v for v in operands if graph.node(v.node).op == "Constant"]
        n_params = sum(graph.type_of(v).size for v in consts)
        params += sum(graph.type_of(v).size for v in consts if v not in counted)
        counted.update(consts)
        ins = [graph.type_of(v) for v in operands]
        attrs = ", ".join(f"{k}={_fmt(node.attrs[k])}" for k in KEY_ATTRS if k in node.attrs and _shown(k, node.attrs[k], len(operands)))
        rows.append(Row(comment_safe(node.label, 40), node.op, attrs,
                        " | ".join("x".join(map(str, t.shape)) or "scalar" for t in node.types), n_params,
                        int(get_op(node.op).cost(ins, node.attrs, node.types)), fn.name))
    return Summary(graph.name, cpu, workers, rows, params, sum(r.flops for r in rows), p.storage.weights_bytes,
                   p.storage.arena_bytes)
