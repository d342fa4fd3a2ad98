"""Layout assignment: which activations run channel-blocked (``NCHW<b>c``), as Relax's
``ConvertLayout`` and onnxruntime's NCHWc transformer do.

``assign_layouts(g, block, isa=..., workers=...)`` is parameterized by the target's vector
width ``block`` (16 for AVX-512, 8 for AVX2, 4 for NEON; 0 leaves the graph as it is).
The ops say what they can do through their ``OpDef.blocked`` trait (``cnnc.ir.Blocked``):
a conv becomes a ``BlockedConv`` with its weight packed, an activation or a same-shape
Add/Mul/Sum runs on any layout, a channel Concat joins blocked tensors.  The nodes that
can be blocked form regions (connected through the activations they pass each other);
a region is blocked when the C implementation tables' cost model says it gains: the
chosen plain kernels' estimated seconds minus the blocked ones', less the transforms its
boundary needs (one ``LayoutTransform`` per value that enters it, one per value that
leaves it).  ``mode="nchwc"`` blocks every region (tests, and users who measured),
``"nchw"`` none.

Contract: the result computes what ``g`` computes (on the reference: tests run both on
random inputs); graph inputs and outputs keep their plain NCHW types; each packed weight
is a constant (the transform is folded), so the packed array is what the model stores.
"""
from __future__ import annotations

from collections.abc import Mapping

from ..ir import ACT, KEEP, CnncError, Graph, Isa, KernelRequest, Node, TensorType, Value, get_op
from ..ir.kernel import GENERIC
from ..ops.layout import activation_layout, plan, transform
from .cleanup import eliminate_dead_code, fold_constants

#: bytes a second a layout transform moves (read and write), per worker
TRANSFORM_BYTES = 3e9
MODES = ("auto", "nchwc", "nchw")


def blockable(t: TensorType, block: int) -> bool:
    """Whether an activation of type ``t`` can be blocked by ``block``: fp32, 1-D or 2-D
    maps, channels a multiple of the block."""
    return t.dtype == "float32" and t.rank in (3, 4) and t.shape[1] % block == 0 and t.size > 0


def _form(g: Graph, n: Node, block: int):
    op = get_op(n.op)
    if op.blocked is None or len(n.types) != 1:
        return None
    operands = g.operands(n.name)
    types = [g.type_of(v) for v in operands]
    f = op.blocked(types, n.attrs, block)
    if f is None:
        return None
    for v, t, kind in zip(operands, types, f.operands):
        if kind == ACT and not blockable(t, block):
            return None
        if kind not in (ACT, KEEP) and g.constant(v) is None:
            return None
    return f if blockable(n.types[0], block) else None


def _request(node: Node, in_types, constants, isa: Isa, workers: int) -> KernelRequest:
    return KernelRequest(node, list(in_types), list(node.types), list(constants), isa=isa, workers=workers)


def _best_cost(req: KernelRequest) -> float | None:
    """The cheapest applicable C implementation's estimated seconds (None: a kernel without a
    table, whose cost is the same in either layout)."""
    table = get_op(req.node.op).kernels.get("c")
    if table is None or callable(table):
        return None
    costs = [e.cost(req) for e in table if e.applies(req)]
    return min(costs) if costs else None


class _Costs:
    """The cost model's per-node gain of blocking and per-value transform cost."""

    def __init__(self, g: Graph, forms: Mapping, block: int, isa: Isa, workers: int):
        self.g, self.forms, self.block, self.isa, self.workers = g, forms, block, isa, workers

    def gain(self, name: str) -> float:
        g, f, n = self.g, self.forms[name], self.g.node(name)
        operands = g.operands(name)
        types = [g.type_of(v) for v in operands]
        consts = [g.constant(v) for v in operands]
        plain = _best_cost(_request(n, types, consts, self.isa, self.workers))
        if plain is None or f.op is None:
            return 0.0
        btypes, bconsts = [], []
        for t, c, kind in zip(types, consts, f.operands):
            if kind == ACT:
                btypes.append(_blocked_type(t, self.block))
                bconsts.append(None)
            elif kind == KEEP:
                btypes.append(t)
                bconsts.append(c)
            else:
                packed = transform(c, *kind)
                btypes.append(TensorType.of(packed))
                bconsts.append(packed)
        for arr in f.extra:
            btypes.append(TensorType.of(arr))
            bconsts.append(arr)
        op = get_op(f.op)
        attrs = op.make_attrs(f.attrs, btypes)
        node = Node(n.name, f.op, attrs, tuple(op.infer(btypes, attrs)), n.label)
        blocked = _best_cost(_request(node, btypes, bconsts, self.isa, self.workers))
        return -float("inf") if blocked is None else plain - blocked

    def transform(self, v: Value) -> float:
        return 2 * self.g.type_of(v).nbytes / (TRANSFORM_BYTES * max(1, self.workers))


def _blocked_type(t: TensorType, block: int) -> TensorType:
    return t.with_shape(plan(t.shape, activation_layout(t.rank), activation_layout(t.rank, block)).shape)


def _regions(g: Graph, forms: Mapping) -> list[list[str]]:
    """The connected groups of blockable nodes (joined where one passes an activation to
    another), each in topological order."""
    parent = {n: n for n in forms}

    def find(n):
        while parent[n] != n:
            parent[n] = parent[parent[n]]
            n = parent[n]
        return n
    for name in forms:
        for v, kind in zip(g.operands(name), forms[name].operands):
            if kind == ACT and v.node in forms:
                parent[find(v.node)] = find(name)
    groups: dict[str, list[str]] = {}
    for name in g.topo_order():
        if name in forms:
            groups.setdefault(find(name), []).append(name)
    return list(groups.values())


def _boundary(g: Graph, region: set[str], forms: Mapping) -> tuple[set[Value], set[Value]]:
    """(values that enter the region as activations, values that leave it)."""
    enter, leave = set(), set()
    for name in region:
        for v, kind in zip(g.operands(name), forms[name].operands):
            if kind == ACT and v.node not in region:
                enter.add(v)
        v = Value(name, 0)
        if g.is_output(v) or any(u not in region or forms[u].operands[port] != ACT
                                 for u, port in g.users(v)):
            leave.add(v)
    return enter, leave


def choose(g: Graph, block: int, *, isa: Isa = GENERIC, workers: int = 1, mode: str = "auto",
           keep: frozenset[str] = frozenset()) -> list[tuple[list[str], float]]:
    """The regions of ``g`` and each one's estimated gain in seconds (what ``assign_layouts``
    blocks: every region in mode "nchwc", those that gain in mode "auto"); nodes of the ops
    in ``keep`` stay plain."""
    forms = {n.name: f for n in g.nodes() if n.op not in keep and (f := _form(g, n, block)) is not None}
    costs = _Costs(g, forms, block, isa, workers)
    out = []
    for region in _regions(g, forms):
        enter, leave = _boundary(g, set(region), forms)
        gain = sum(costs.gain(n) for n in region) - sum(costs.transform(v) for v in enter | leave)
        out.append((region, gain))
    return out


def assign_layouts(g: Graph, block: int, *, isa: Isa = GENERIC, workers: int = 1, mode: str = "auto",
                   keep: frozenset[str] = frozenset()) -> Graph:
    """``g`` with its chosen regions channel-blocked by ``block`` (see the module docstring);
    ``g`` is left unchanged."""
    if mode not in MODES:
        raise CnncError(f"layout must be one of {', '.join(MODES)}; got {mode!r}")
    if not block or mode == "nchw":
        return g
    chosen = [r for r, gain in choose(g, block, isa=isa, workers=workers, mode=mode, keep=keep)
              if mode == "nchwc" or gain > 0]
    if not chosen:
        return g
    forms = {n.name: _form(g, n, block) for n in g.nodes()}
    out = g.copy()
    blocked_of: dict[Value, Value] = {}

    def to_blocked(v: Value) -> Value:
        if v not in blocked_of:
            t = out.type_of(v)
            node = out.node(v.node)
            (blocked_of[v],) = out.add_node("LayoutTransform", [v], {"src": activation_layout(t.rank),
                                            "dst": activation_layout(t.rank, block)},
                                            label=f"{node.label}.nchw{block}c", source=node.source)
        return blocked_of[v]

    names = {n for r in chosen for n in r}
    for name in g.topo_order():
        if name not in names:
            continue
        n, f = out.node(name), forms[name]
        operands = []
        for v, kind in zip(out.operands(name), f.operands):
            if kind == ACT:
                operands.append(to_blocked(v))
            elif kind == KEEP:
                operands.append(v)
            else:
                (p,) = out.add_node("LayoutTransform", [v], {"src": kind[0], "dst": kind[1]},
                                    label=f"{n.label}.packed", source=n.source)
                operands.append(p)
        operands += [out.add_constant(arr, f"{n.label}.extra") for arr in f.extra]
        (y,) = out.add_node(f.op or n.op, operands, f.attrs if f.attrs is not None else n.attrs,
                            label=n.label, source=n.source)
        t = n.types[0]
        (u,) = out.add_node("LayoutTransform", [y], {"src": activation_layout(t.rank, block),
                            "dst": activation_layout(t.rank)}, label=f"{n.label}.nchw", source=n.source)
        out.replace_all_uses(Value(name, 0), u)
        out.remove_node(name)
        blocked_of[u] = y
    return eliminate_dead_code(fold_constants(out))
