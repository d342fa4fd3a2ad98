"""Memory planning: one arena for every intermediate value, sized before anything runs.

``plan_memory(g)`` is an analysis, not a pass: it leaves the graph as it is and returns a
:class:`MemoryPlan` that the C and CUDA backends lay their arena out from (TFLite Micro's
"plan first, run second").

**What is planned.**  Every value a node computes, in the order ``g.topo_order()`` gives
(the order the backends run the nodes in, kept as ``plan.order``).  Graph inputs and
constants (weights) live outside the arena.  Graph outputs do too by default: the C
runtime takes caller-provided output buffers and the node producing an output writes
straight into its caller's buffer (``outputs_in_arena=True`` plans them as well, live
until the end of the run).

**Liveness.**  Positions are indices into ``plan.order``.  A value is live from its
producer's position to its last consumer's (an unused value only at its producer's; an
output planned in the arena until ``len(order)``, after the last node).  Two values live
at one position need disjoint bytes -- in particular an op's result never shares its
operands' bytes, unless it runs in place.

**In place and views.**  A result may take over the buffer of one operand instead of a
buffer of its own.  Views (ops with the ``OpDef.view`` trait: reshapes, identity) have
the operand's bytes unchanged: the result always shares its operand's buffer, even while
the operand is still used later, so the op costs neither bytes nor a copy.  An op's
``OpDef.in_place`` trait lists the operand ports an elementwise op may overwrite: legal when that operand
has the result's type, its buffer is read by no other operand port of the node, and no
value in that buffer is used after the node (the buffer dies there).  Values sharing a
buffer are recorded in ``plan.aliases`` (result -> the operand whose buffer it took); the
buffer then lives as long as the longest-lived of its values.  A backend's kernel for an
op with these traits must therefore be correct when its output pointer equals that
operand's pointer: for a view it is a no-op (a memmove, never a memcpy, if it copies at
all); for ``FusedConv`` the residual ``Z[i]`` must be read only to produce ``Y[i]`` (an
epilogue that adds Z to a finished accumulator does; a GEMM that writes Y before the
epilogue reads Z does not).  Ops whose result at i reads other positions of the operand
(convolution's X, pooling, Softmax, the other normalizations) or changes its type have
neither trait.  ``in_place=False`` turns both off.

**Placement.**  Offline first-fit placement (TFLite Micro's GreedyMemoryPlanner, Pisarchyk
& Lee 2020, "Efficient Memory Management for Deep Neural Net Inference"): take the buffers
in some order and put each at the lowest ``alignment``-aligned offset where it overlaps
no already placed buffer whose lifetime overlaps its own.  Reuse follows from it.  The
order matters and no single one wins everywhere, so the planner tries a few
(``_ORDERS``: largest first; largest size x lifetime first; longest-lived first) and keeps
the smallest arena; each is O(n^2) in the number of buffers, milliseconds for ResNet-50.

**What the plan holds.**  ``offsets`` (value -> byte offset in the arena), ``buffers``
(each block with its values, size, lifetime and offset), ``aliases``, ``order``.
``arena_bytes``: the end of the highest placed buffer.
``naive_bytes``: what placing every planned value after the previous one would take
(their sizes rounded up to the alignment, summed: no reuse, no in place); the arena is
never larger.
``lower_bound_bytes``: the largest total of buffers live at one position (a buffer
shared in place counted once) -- no placement of these buffers in this order can be
smaller, so ``arena_bytes / lower_bound_bytes`` measures the placement alone.

**Concat in place** (``concat_slices=True``).  A Concat whose rows are one contiguous
block (every dim before its axis is 1) and whose result is planned may have its operands
written straight into their slices of its result: an operand that is planned, produced by
no view op, used once by the node, and whose slice starts on the alignment becomes a
*slice* (``plan.slices``: value -> (the Concat's result, byte offset)).  An op with the
in-place trait (every FusedConv, for its residual port) then writes its slice instead of
taking over an operand's buffer: the copy saved is worth more than the bytes.  Nested
Concats (DenseNet's) nest their slices.  The result's buffer then lives from the first
slice's producer to the last use of any of them; a slice is never taken over in place; the
Concat kernel skips a part whose operand already is its slice (the same pointer).  Kernels
must take outputs at any aligned offset, which every C kernel does.

Left out: reordering the nodes to lower the peak (the order is the graph's).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from ..ir import ANY_OPERAND, CnncError, Graph, Value, VerifyError, get_op

#: the alignment of every planned buffer, the arena and the weights, in bytes (the C
#: runtime's ``CNNC_ARENA_ALIGN``; every generated model checks the two agree)
ALIGN = 64

_OUTSIDE = ("Input", "Constant")


@dataclass(frozen=True)
class Buffer:
    """A block of the arena: the value that allocates it first, then the values that
    share it (views, in-place results) in the order they are defined; live from
    position ``start`` to ``end`` of the plan's order, both included."""

    values: tuple[Value, ...]
    nbytes: int
    start: int
    end: int
    offset: int = 0

    def meets(self, other: Buffer) -> bool:
        """Whether both hold bytes at some position (so they must not overlap in the arena)."""
        return (self.nbytes > 0 and other.nbytes > 0
                and self.start <= other.end and other.start <= self.end)

    def collides(self, other: Buffer) -> bool:
        """Whether their bytes overlap in the arena."""
        return (self.offset < other.offset + other.nbytes
                and other.offset < self.offset + self.nbytes)


@dataclass(frozen=True)
class MemoryPlan:
    """Where every planned value lives in the arena; see the module docstring."""

    name: str
    order: tuple[str, ...]
    buffers: tuple[Buffer, ...]
    aliases: Mapping[Value, Value]
    alignment: int
    arena_bytes: int
    naive_bytes: int
    lower_bound_bytes: int
    slices: Mapping[Value, tuple[Value, int]] = field(default_factory=dict)
    offsets: Mapping[Value, int] = field(init=False, repr=False)

    def __post_init__(self):
        offsets = {v: b.offset for b in self.buffers for v in b.values}

        def at(v: Value) -> int:      # a slice sits inside its Concat's result, an alias at its donor
            if v in self.slices:
                whole, delta = self.slices[v]
                return at(whole) + delta
            if v in self.aliases:
                return at(self.aliases[v])
            return offsets[v]
        object.__setattr__(self, "offsets", {v: at(v) for v in offsets})

    def validate(self) -> MemoryPlan:
        """Check that buffers live at one time never overlap, offsets are aligned, every
        buffer fits in the arena and aliases share their buffer; raises VerifyError."""
        problems = [f"{b.values[0]} at {b.offset} is not aligned to {self.alignment}"
                    for b in self.buffers if b.offset % self.alignment]
        problems += [f"{b.values[0]} ends at {b.offset + b.nbytes}, past the arena "
                     f"({self.arena_bytes} bytes)"
                     for b in self.buffers if b.offset + b.nbytes > self.arena_bytes]
        problems += [f"{v} aliases {a} but is not in its buffer" for v, a in self.aliases.items()
                     if v not in self.offsets or self.offsets.get(a) != self.offsets[v]]
        problems += [f"slice {v} of {w} at +{d} is not aligned to {self.alignment}"
                     for v, (w, d) in self.slices.items() if d % self.alignment]
        for i, a in enumerate(self.buffers):
            problems += [f"{a.values[0]} [{a.offset}, {a.offset + a.nbytes}) and {b.values[0]} "
                         f"[{b.offset}, {b.offset + b.nbytes}) overlap while both are live"
                         for b in self.buffers[i + 1:] if a.meets(b) and a.collides(b)]
        if problems:
            raise VerifyError(f"memory plan of {self.name!r} is broken: " + "; ".join(problems[:5])
                              + (f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""))
        return self

    def summary(self) -> str:
        def mb(n):
            return f"{n / 2 ** 20:10.3f} MiB"
        ratio = self.arena_bytes / self.lower_bound_bytes if self.lower_bound_bytes else 1.0
        saved = 1 - self.arena_bytes / self.naive_bytes if self.naive_bytes else 0.0
        return "\n".join([
            f"memory plan of {self.name!r}: {len(self.offsets)} values in "
            + f"{len(self.buffers)} buffers ({len(self.aliases)} in place or views), "
            + f"alignment {self.alignment}",
            f"  arena       {mb(self.arena_bytes)}  ({self.arena_bytes} bytes)",
            f"  lower bound {mb(self.lower_bound_bytes)}  (arena = {ratio:.3f} x bound)",
            f"  naive sum   {mb(self.naive_bytes)}  (arena saves {saved:.1%})"])


def plan_memory(g: Graph, *, alignment: int = ALIGN, in_place: bool = True,
                outputs_in_arena: bool = False, concat_slices: bool = False) -> MemoryPlan:
    """Plan one arena for the intermediate values of ``g``; see the module docstring."""
    if isinstance(alignment, bool) or not isinstance(alignment, int) or alignment < 1:
        raise CnncError("memory plan alignment must be a positive number of bytes, "
                        f"got {alignment!r}")
    order = tuple(n for n in g.topo_order() if g.node(n).op not in _OUTSIDE)
    pos = {n: t for t, n in enumerate(order)}
    outputs = {v for _, v in g.outputs}
    values = [v for n in order for v in (Value(n, p) for p in range(len(g.node(n).types)))
              if outputs_in_arena or v not in outputs]
    last = {v: max(pos[u] for u in (v.node, *(u for u, _ in g.users(v)))) for v in values}
    last.update(dict.fromkeys(outputs & last.keys(), len(order)))   # returned after the run

    slices = _concat_slices(g, set(values), alignment) if in_place and concat_slices else {}

    def top(v: Value) -> Value:           # the outermost Concat result a slice lies in
        while v in slices:
            v = slices[v][0]
        return v
    sliced = {top(v) for v in slices}     # buffers holding slices: never taken over in place

    root: dict[Value, Value] = {}        # value -> the first value of its buffer
    members: dict[Value, list[Value]] = {}
    end: dict[Value, int] = {}           # buffer (by root) -> last position any member is used
    start: dict[Value, int] = {}
    aliases: dict[Value, Value] = {}
    for v in values:
        donor = _donor(g, v, pos[v.node], root, end, sliced) if in_place and v not in slices else None
        if donor is not None:
            aliases[v] = donor
        r = root[v] = top(v) if v in slices else root[donor] if donor is not None else v
        members.setdefault(r, []).append(v)
        end[r] = max(end.get(r, 0), last[v])
        start[r] = min(start.get(r, pos[v.node]), pos[v.node])

    buffers = [Buffer(tuple(sorted(vs, key=lambda v: v != r)), g.type_of(r).nbytes, start[r], end[r])
               for r, vs in members.items()]
    placed = min((_place(buffers, key, alignment) for key in _ORDERS), key=_arena_bytes)
    naive = sum(_align(g.type_of(v).nbytes, alignment) for v in values)
    return MemoryPlan(g.name, order, tuple(placed), aliases, alignment, _arena_bytes(placed),
                      naive, _lower_bound(buffers, len(order)), slices)


def _concat_slices(g: Graph, planned: set[Value], alignment: int) -> dict[Value, tuple[Value, int]]:
    """The operands of Concats that can be written in place: value -> (result, byte offset)."""
    out: dict[Value, tuple[Value, int]] = {}
    for name in g.topo_order():
        node = g.node(name)
        if node.op != "Concat" or Value(name) not in planned:
            continue
        t, axis = node.types[0], node.attrs["axis"]
        if any(d != 1 for d in t.shape[:axis]):
            continue
        operands = g.operands(name)
        delta = 0
        for x in operands:
            nbytes = g.type_of(x).nbytes
            op = get_op(g.node(x.node).op) if x in planned else None
            if (op is not None and not op.view and x not in out and nbytes
                    and operands.count(x) == 1 and delta % alignment == 0):
                out[x] = (Value(name), delta)
            delta += nbytes
    return out


def _donor(g: Graph, v: Value, t: int, root: Mapping[Value, Value],
           end: Mapping[Value, int], sliced: set[Value]) -> Value | None:
    """The operand whose buffer ``v`` (computed at position ``t``) may take over, if any
    (never a Concat's slice: a view of one shares its bytes, nothing overwrites it)."""
    op = get_op(g.node(v.node).op)
    operands = g.operands(v.node)
    if op.view:
        x = operands[0]
        return x if x in root and g.type_of(x).nbytes == g.type_of(v).nbytes else None
    if not op.in_place or v.port != 0:
        return None
    ports = op.in_place
    for x in operands if ports == ANY_OPERAND else [operands[p] for p in ports if p < len(operands)]:
        if (x in root and root[x] not in sliced and g.type_of(x) == g.type_of(v) and end[root[x]] == t
                and sum(root.get(o) == root[x] for o in operands) == 1):
            return x
    return None


#: placement orders tried; the smallest arena wins
_ORDERS: tuple[Callable[[Buffer], tuple], ...] = (
    lambda b: (-b.nbytes, b.start),
    lambda b: (-b.nbytes * (b.end - b.start + 1), b.start),
    lambda b: (b.start - b.end, -b.nbytes, b.start),
)


def _place(buffers: list[Buffer], key, alignment: int) -> list[Buffer]:
    """First fit in the order ``key`` gives: each buffer at the lowest aligned offset clear
    of every placed buffer it meets.  Returns the buffers in their original order."""
    placed: list[Buffer] = []
    for b in sorted(buffers, key=key):
        offset = 0
        for lo, hi in sorted((p.offset, p.offset + p.nbytes) for p in placed if p.meets(b)):
            if lo >= offset + b.nbytes:
                break
            offset = max(offset, _align(hi, alignment))
        placed.append(replace(b, offset=offset))
    where = {p.values[0]: p for p in placed}
    return [where[b.values[0]] for b in buffers]


def _align(n: int, alignment: int) -> int:
    return -(-n // alignment) * alignment


def _arena_bytes(buffers: list[Buffer]) -> int:
    return max((b.offset + b.nbytes for b in buffers), default=0)


def _lower_bound(buffers: list[Buffer], positions: int) -> int:
    """The most bytes live at any one position (a sweep over start/end events)."""
    delta = [0] * (positions + 2)
    for b in buffers:
        delta[b.start] += b.nbytes
        delta[b.end + 1] -= b.nbytes
    live = peak = 0
    for d in delta:
        live += d
        peak = max(peak, live)
    return peak
