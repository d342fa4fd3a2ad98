"""Layout assignment: which activations run channel-blocked (``NCHW<b>c``), as Relax's
``ConvertLayout`` and onnxruntime's NCHWc transformer do.

``assign_layouts(g, block, isa=..., workers=...)`` is parameterized by the target's vector
width ``block`` (16 for AVX-512, 8 for AVX2, 4 for NEON; 0 leaves the graph as it is).
The ops say what they can do through their ``OpDef.blocked`` trait (``cnnc.ir.Blocked``):
a conv becomes a ``BlockedConv`` with its weight packed (reading a plain input or writing
a plain result where its region starts or ends), an activation or a same-shape
Add/Mul/Sum runs on any layout, a channel Concat joins blocked tensors.  The nodes that
can be blocked form regions (connected through the blockable activations they pass each
other); a region is blocked when the C implementation tables' cost model says it gains
enough (``worth_it``): the chosen plain kernels' estimated seconds minus the blocked
ones', less the transforms its boundary needs (one ``LayoutTransform`` per value that
enters it other than into a conv, one per blocked value that leaves it), at least MARGIN
of the plain time and more than the transforms.  ``mode="nchwc"`` blocks every region
(tests, and users who measured), ``"nchw"`` none.

Contract: the result computes what ``g`` computes (on the reference: tests run both on
random inputs); graph inputs and outputs keep their plain NCHW types; each packed weight
is a constant (the transform is folded), so the packed array is what the model stores.
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..ir import ACT, KEEP, CnncError, Graph, Isa, KernelRequest, Node, TensorType, Value, get_op
from ..ir.kernel import GENERIC
from ..ops.layout import activation_layout, plan
from .cleanup import eliminate_dead_code, fold_constants

MODES = ("auto", "nchwc", "nchw")


def blockable(t: TensorType, block: int) -> bool:
    """Whether an activation of type ``t`` can be blocked by ``block``: fp32, 1-D or 2-D
    maps, channels a multiple of the block."""
    return t.dtype == "float32" and t.rank in (3, 4) and t.shape[1] % block == 0 and t.size > 0


Variants = dict  # (x_plain, y_plain) -> Blocked


def _variants(g: Graph, n: Node, block: int) -> Variants:
    """The node's blocked forms, by (operand 0 plain, result plain), that this graph allows:
    each activation operand blockable, each packed operand a constant, a blocked result
    blockable."""
    op = get_op(n.op)
    if op.blocked is None or len(n.types) != 1:
        return {}
    operands = g.operands(n.name)
    types = [g.type_of(v) for v in operands]
    out = {}
    for xp in (False, True):
        for yp in (False, True):
            f = op.blocked(types, n.attrs, block, x_plain=xp, y_plain=yp)
            if f is None or (not yp and not blockable(n.types[0], block)):
                continue
            if all((kind != ACT or blockable(t, block)) and (kind in (ACT, KEEP) or g.constant(v) is not None)
                   for v, t, kind in zip(operands, types, f.operands)):
                out[xp, yp] = f
    return out


def _pack_steps(kind, t: TensorType) -> list[tuple[str, dict]]:
    """The nodes that pack a constant of type ``t`` for an operand spec ``(src, dst, pad)``:
    a Pad of axis 0 to ``pad`` entries, then a LayoutTransform, each where needed (the
    rewrite adds them, constant folding folds them; the cost model runs them)."""
    src, dst, pad = kind
    steps = []
    if pad != t.shape[0]:
        steps.append(("Pad", {"pads": (0, pad - t.shape[0]), "axes": (0,)}))
    if src != dst:
        steps.append(("LayoutTransform", {"src": src, "dst": dst}))
    return steps


def _packed(c: np.ndarray, kind) -> np.ndarray:
    """The constant ``c`` packed as the rewrite's nodes pack it."""
    for op, attrs in _pack_steps(kind, TensorType.of(c)):
        opdef = get_op(op)
        (c,) = opdef.run([c], opdef.make_attrs(attrs, [TensorType.of(c)]))
    return c


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


def _transform_cost(t: TensorType, block: int, to_blocked: bool, isa: Isa, workers: int) -> float:
    """LayoutTransform's estimated seconds (its C table) for an activation of plain type
    ``t`` to NCHW<block>c (or back)."""
    b = _blocked_type(t, block)
    src, dst = activation_layout(t.rank), activation_layout(t.rank, block)
    if not to_blocked:
        t, b, src, dst = b, t, dst, src
    node = Node("layout", "LayoutTransform", get_op("LayoutTransform").make_attrs({"src": src, "dst": dst}, [t]),
                (b,), "layout")
    return _best_cost(_request(node, [t], [None], isa, workers)) or 0.0


def _blocked_type(t: TensorType, block: int) -> TensorType:
    return t.with_shape(plan(t.shape, activation_layout(t.rank), activation_layout(t.rank, block)).shape)


class _Plan:
    """One region's layouts: the blocked values, each node's form, the transforms."""

    def __init__(self, g: Graph, region: list[str], variants: Mapping[str, Variants], block: int):
        self.region, inside = region, set(region)
        self.blocked: set[Value] = set()
        for p in region:
            v = Value(p, 0)
            if not blockable(g.type_of(v), block):
                continue
            if any(u in inside for u, _ in g.users(v)) or not any(yp for _, yp in variants[p]):
                self.blocked.add(v)
        self.forms, self.enter, self.leave = {}, set(), set()
        for n in region:
            yp = Value(n, 0) not in self.blocked
            v0 = g.operands(n)[0]
            xp = v0 not in self.blocked and (True, yp) in variants[n]
            f = variants[n].get((xp, yp))
            if f is None:
                self.forms = None
                return
            self.forms[n] = f
            for v, kind in zip(g.operands(n), f.operands):
                if kind == ACT and v not in self.blocked:
                    self.enter.add(v)
        for v in self.blocked:
            if g.is_output(v) or any(u not in inside or self.forms[u].operands[port] != ACT
                                     for u, port in g.users(v)):
                self.leave.add(v)

    def gain(self, g: Graph, block: int, isa: Isa, workers: int) -> float:
        """The estimated seconds blocking saves, net of its transforms (``self.transforms``);
        also sets ``self.plain``, the plain kernels' estimated seconds."""
        self.plain = 0.0
        if self.forms is None:
            return -float("inf")
        self.transforms = (sum(_transform_cost(g.type_of(v), block, True, isa, workers) for v in self.enter)
                           + sum(_transform_cost(g.type_of(v), block, False, isa, workers) for v in self.leave))
        total = -self.transforms
        for name, f in self.forms.items():
            n = g.node(name)
            operands = g.operands(name)
            types = [g.type_of(v) for v in operands]
            consts = [g.constant(v) for v in operands]
            plain = _best_cost(_request(n, types, consts, isa, workers))
            if plain is None or f.op is None:
                continue
            self.plain += plain
            btypes, bconsts = [], []
            for t, c, kind in zip(types, consts, f.operands):
                if kind == ACT:
                    btypes.append(_blocked_type(t, block))
                    bconsts.append(None)
                elif kind == KEEP:
                    btypes.append(t)
                    bconsts.append(c)
                else:
                    packed = _packed(c, kind)
                    btypes.append(TensorType.of(packed))
                    bconsts.append(packed)
            for arr in f.extra:
                btypes.append(TensorType.of(arr))
                bconsts.append(arr)
            op = get_op(f.op)
            attrs = op.make_attrs(f.attrs, btypes)
            node = Node(n.name, f.op, attrs, tuple(op.infer(btypes, attrs)), n.label)
            blocked = _best_cost(_request(node, btypes, bconsts, isa, workers))
            if blocked is None:
                return -float("inf")
            total += plain - blocked
        return total


def _regions(g: Graph, variants: Mapping[str, Variants], block: int) -> list[list[str]]:
    """The connected groups of blockable nodes (joined where one passes another a blockable
    activation), each in topological order."""
    parent = {n: n for n in variants}

    def find(n):
        while parent[n] != n:
            parent[n] = parent[parent[n]]
            n = parent[n]
        return n
    for name in variants:
        for v in g.operands(name):
            if v.node in variants and blockable(g.type_of(v), block):
                parent[find(v.node)] = find(name)
    groups: dict[str, list[str]] = {}
    for name in g.topo_order():
        if name in variants:
            groups.setdefault(find(name), []).append(name)
    return list(groups.values())


def choose(g: Graph, block: int, *, isa: Isa = GENERIC, workers: int = 1,
           keep: frozenset[str] = frozenset()) -> list[tuple[_Plan, float]]:
    """The regions of ``g``, each's plan and its estimated gain in seconds; nodes of the ops
    in ``keep`` stay plain."""
    variants = {n.name: v for n in g.nodes() if n.op not in keep and (v := _variants(g, n, block))}
    out = []
    for region in _regions(g, variants, block):
        p = _Plan(g, region, variants, block)
        out.append((p, p.gain(g, block, isa, workers)))
    return out


#: the least share of a region's estimated plain seconds that blocking must save
MARGIN = 0.05


def worth_it(p: _Plan, gain: float) -> bool:
    """Mode "auto"'s rule: block a region that keeps some value blocked (one conv reading
    and writing plain tensors changes no layout: choosing its kernel is its table's job)
    when the estimated saving, net of its transforms, is at least MARGIN of its plain
    kernels' estimated time and more than its transforms cost (the estimates of near ties
    and of transforms are the least sure)."""
    return bool(p.blocked) and gain > MARGIN * p.plain and gain > p.transforms


def assign_layouts(g: Graph, block: int, *, isa: Isa = GENERIC, workers: int = 1, mode: str = "auto",
                   keep: frozenset[str] = frozenset()) -> Graph:
    """``g`` with its chosen regions channel-blocked by ``block`` (see the module docstring);
    ``g`` is left unchanged."""
    if mode not in MODES:
        raise CnncError(f"layout must be one of {', '.join(MODES)}; got {mode!r}")
    if not block or mode == "nchw":
        return g
    chosen = [p for p, gain in choose(g, block, isa=isa, workers=workers, keep=keep)
              if p.forms is not None and (mode == "nchwc" or worth_it(p, gain))]
    if not chosen:
        return g
    forms = {n: f for p in chosen for n, f in p.forms.items()}
    blocked_out = {v for p in chosen for v in p.blocked}
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

    for name in g.topo_order():
        if name not in forms:
            continue
        n, f = out.node(name), forms[name]
        operands = []
        for v, kind in zip(out.operands(name), f.operands):
            if kind == ACT:
                operands.append(to_blocked(v))
            elif kind == KEEP:
                operands.append(v)
            else:
                for op, attrs in _pack_steps(kind, out.type_of(v)):
                    (v,) = out.add_node(op, [v], attrs, label=f"{n.label}.packed", source=n.source)
                operands.append(v)
        operands += [out.add_constant(arr, f"{n.label}.extra") for arr in f.extra]
        (y,) = out.add_node(f.op or n.op, operands, f.attrs if f.attrs is not None else n.attrs,
                            label=n.label, source=n.source)
        if Value(name, 0) in blocked_out:
            t = n.types[0]
            (u,) = out.add_node("LayoutTransform", [y], {"src": activation_layout(t.rank, block),
                                "dst": activation_layout(t.rank)}, label=f"{n.label}.nchw", source=n.source)
            blocked_of[u] = y
        else:
            u = y
        out.replace_all_uses(Value(name, 0), u)
        out.remove_node(name)
    return eliminate_dead_code(fold_constants(out))
