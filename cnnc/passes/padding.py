"""Plan zero-padding and strides: two passes and the loop plan the kernels consume.

Passes
------
``resolve_pads`` (ensures ``explicit_pads``): every window op (a node with an ``auto_pad``
attribute: Conv, FusedConv, ConvTranspose, the pools, LocalConv, TiledConv) gets explicit
per-axis, possibly asymmetric ``pads`` and ``auto_pad="NOTSET"``; a ConvTranspose also
loses its ``output_shape``.  Shapes are static, so VALID/SAME_UPPER/SAME_LOWER/FULL are
functions of the input extent (``_spatial.resolve_pads``; ConvTranspose's own rule in
``ops/conv.py``).  A ConvTranspose whose ``output_shape`` asks for more than the natural
extent resolves to *negative* pads, which ``pads`` cannot hold: it keeps its
``output_shape`` (the property allows exactly that case).  Backends then never see
``auto_pad``.

``fold_pad`` (ensures ``no_foldable_pad``): exporters often write "same" padding as an
explicit ``Pad`` followed by a valid Conv.  A Pad that adds zeros (mode ``constant``, value
0) on spatial axes only, without cropping, folds into a consumer for which zeros from a Pad
and zeros from its own pads are the same thing (the ``OpDef.zero_padded`` trait): Conv, FusedConv,
LocalConv and TiledConv (the output extent, hence their position-indexed weights, does not
change), LpPool, and AveragePool with ``count_include_pad=1``.  Not MaxPool or LSEPool (they
pad with ``-inf``), nor AveragePool without ``count_include_pad`` or WeightedAvgPool (they
do not count padding taps), nor ConvTranspose (its pads crop the output).  The consumer's
pads become its resolved pads plus the Pad's.  A window op's own padding taps are skipped,
not multiplied, while a Pad's zeros are multiplied like any input, so a consumer whose
other operands (a weight, a bias) are not all finite constants is left alone: an Inf
weight times a Pad's zero is NaN, as ONNX says.  A pool is left alone where the sum would put
a whole window in the padding (the op rejects that) or, with ``ceil_mode``, change the
output extent (a last window that starts on the Pad's zeros is kept, one that starts in the
pool's own end padding is dropped).  Each foldable use is folded; the Pad goes when its
last use does.  Cost: the Pad's copy of the tensor (its output's bytes written and read
once more) disappears; FLOPs are unchanged.

Analysis
--------
``loop_plan(g, node)``: per spatial axis of a window op, the output extent, the input index
where each output's window starts (``o * stride - pad_begin``), the dilation step, the
range of kernel taps of each output that lie on the input, and the output range whose taps
all do (the *interior*: no bounds checks; the rest is the *border*).  It is
``_spatial.loop_axes`` of the node's geometry, the plan the kernels consume: the C direct
conv's blocked interior columns and border tap tables, the CUDA conv kernels' bounds tests.

**No halo-padded arena buffers.**  The kernels that read a padded input without bounds
checks copy it into zero-padded scratch of their own: the GEMM convolution packs im2col
panels (or runs of padded planes, ``gemm_padded``), Winograd transforms input tiles, and
the depthwise conv and the row pools copy each plane into padded phase planes that stay in
L1/L2 (``ops/_c_rows.py``).  A halo buffer placed by the memory plan (producers writing the
interior of a padded array) was planned here and measured, then removed: on this project's
Zen 4 bench machine (1 thread) the same kernels reading an input that is already padded
gain -20 to +3 % on the GEMM and Winograd convs (no gain), and the copy that a halo buffer could
remove (at stride 1 only; a strided window still deals its input out to phase planes) is
2 % of a 14x14 5x5 depthwise layer, 12 % of a 56x56 one and 28 % of a 112x112 one, and
2-4 % of MobileNetV2 (medians 8.7 against 9.0 ms with the stride-1 copies compiled out).
Every producer kernel would have had to write strided interiors, and
the arena to re-zero halos of reused storage, for that.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from ..ir import CnncError, Graph, Node, ShapeError, Value, get_op
from ..ops import _spatial as sp
from ..ops.conv import convt_pads
from ..ops.pad import pad_widths
from .manager import graph_pass, graph_property

#: attribute values of a window op whose padding is explicit (those its op has)
_EXPLICIT = {"auto_pad": "NOTSET", "output_shape": None}


def _in_spatial(g: Graph, node: Node) -> tuple[int, ...]:
    return g.type_of(g.operands(node.name)[0]).shape[2:]


def window_pads(g: Graph, node: Node) -> tuple[int, ...]:
    """The explicit ``(begin..., end...)`` pads of a window op (auto_pad and a
    ConvTranspose's output_shape resolved; negative only for such an output_shape)."""
    spatial, a = _in_spatial(g, node), node.attrs
    if node.op == "ConvTranspose":
        return tuple(convt_pads(spatial, a))
    dil = a.get("dilations") or (1,) * len(spatial)
    return sp.resolve_pads(spatial, a["kernel_shape"], a["strides"], dil, a["auto_pad"], a["pads"])


def _is_zero_padded(node: Node) -> bool:
    accepts = get_op(node.op).zero_padded
    return accepts is not None and accepts(node.attrs)


# ---------------------------------------------------------------- resolve_pads
def _unresolved(g: Graph) -> Iterator[tuple[Node, dict]]:
    """(window op, attribute changes) for each node whose padding can be made explicit."""
    for node in g.nodes():
        if "auto_pad" not in node.attrs:
            continue
        explicit = {k: v for k, v in _EXPLICIT.items() if k in node.attrs}
        if all(node.attrs[k] == v for k, v in explicit.items()):
            continue
        pads = window_pads(g, node)
        if min(pads, default=0) >= 0:
            yield node, {**explicit, "pads": pads}


@graph_property("explicit_pads")
def has_explicit_pads(g: Graph) -> bool:
    """No window op has auto_pad (or an output_shape) that explicit pads could replace."""
    return next(_unresolved(g), None) is None


@graph_pass("resolve_pads", ensures=("explicit_pads",))
def resolve_pads(g: Graph) -> Graph:
    """Give every window op explicit per-axis pads and auto_pad NOTSET."""
    g = g.copy()
    for node, changes in list(_unresolved(g)):
        g.replace_attrs(node.name, **changes)
    return g


# ---------------------------------------------------------------- fold_pad
def _zero_pad_amounts(g: Graph, node: Node) -> tuple[int, ...] | None:
    """A Pad's spatial ``(begin..., end...)`` amounts when it only adds zeros around the
    spatial axes of an ``N, C, *spatial`` tensor; else None."""
    a = node.attrs
    if node.op != "Pad" or a["mode"] != "constant" or a["value"] != 0:
        return None
    widths = pad_widths(g.type_of(g.operands(node.name)[0]).shape, a)
    if any(cb or ce for cb, ce, _, _ in widths) or any(pb or pe for _, _, pb, pe in widths[:2]):
        return None
    return tuple(w[2] for w in widths[2:]) + tuple(w[3] for w in widths[2:])


def _finite_constant(g: Graph, v: Value) -> bool:
    """Whether ``v`` is a constant without Inf or NaN (a weight the fold cannot change)."""
    a = g.constant(v)
    return a is not None and (a.dtype.kind not in "fc" or bool(np.isfinite(a).all()))


def _bypass(g: Graph, pad: str, user: str) -> list[Value]:
    """The consumer's operands with the Pad's input in place of the Pad."""
    return [g.operands(pad)[0], *g.operands(user)[1:]]


def _folds(g: Graph) -> Iterator[tuple[str, str, dict]]:
    """(Pad, consumer, the consumer's new attributes) for every use of a zero Pad that its
    consumer can absorb."""
    for pad in g.nodes():
        amounts = _zero_pad_amounts(g, pad)
        if amounts is None:
            continue
        for user, port in g.users(Value(pad.name)):
            c = g.node(user)
            if port != 0 or not _is_zero_padded(c) or Value(pad.name) in g.operands(user)[1:]:
                continue
            if not all(_finite_constant(g, v) for v in g.operands(user)[1:]):
                continue  # its own padding taps are skipped, a Pad's zeros are multiplied: 0 * Inf
            attrs = {**c.attrs, "auto_pad": "NOTSET",
                     "pads": tuple(p + q for p, q in zip(window_pads(g, c), amounts))}
            op, types = get_op(c.op), [g.type_of(v) for v in _bypass(g, pad.name, user)]
            try:
                if tuple(op.infer(types, op.make_attrs(attrs, types))) == c.types:
                    yield pad.name, user, attrs
            except ShapeError:  # a pool window would lie entirely in the padding
                continue


@graph_property("no_foldable_pad")
def has_no_foldable_pad(g: Graph) -> bool:
    """No zero Pad feeds a consumer that could pad by itself."""
    return next(_folds(g), None) is None


@graph_pass("fold_pad", ensures=("no_foldable_pad",))
def fold_pad(g: Graph) -> Graph:
    """Fold zero Pad nodes into the pads of their zero-padding window consumers."""
    g = g.copy()
    while folds := list(_folds(g)):  # again: a fold may expose a Pad feeding a Pad
        for pad, user, attrs in folds:
            c = g.node(user)  # operands now: an earlier fold may have replaced a producer
            (y,) = g.add_node(c.op, _bypass(g, pad, user), attrs, label=c.label, source=c.source)
            g.replace_all_uses(Value(user), y)
            g.remove_node(user)
            if not g.users(Value(pad)) and not g.is_output(Value(pad)):
                g.remove_node(pad)
    return g


# ---------------------------------------------------------------- loop plan
@dataclass(frozen=True)
class LoopPlan:
    """Stride-aware loop plan of one window op; ``axes`` follow the spatial axes."""

    node: str
    op: str
    axes: tuple[sp.AxisPlan, ...]

    @property
    def out_shape(self) -> tuple[int, ...]:
        return tuple(a.out_extent for a in self.axes)

    @property
    def checks_free(self) -> bool:
        """True when every output is interior: the op needs no bounds checks at all."""
        return not any(a.border for a in self.axes)


def loop_plan(g: Graph, node_name: str) -> LoopPlan:
    """The loop plan of window op ``node_name`` (any op with window attributes but
    ConvTranspose, whose loops scatter)."""
    node = g.node(node_name)
    if "auto_pad" not in node.attrs or node.op == "ConvTranspose":
        raise CnncError(f"loop_plan needs a sliding-window op (Conv, FusedConv, a pool, "
                        f"LocalConv, TiledConv); {node.where()} is not one")
    a, spatial, out = node.attrs, _in_spatial(g, node), node.types[0].shape[2:]
    nd = len(spatial)
    pads, dil = window_pads(g, node), a.get("dilations") or (1,) * nd
    return LoopPlan(node.name, node.op, sp.loop_axes(sp.WindowGeometry(
        tuple(spatial), tuple(out), tuple(a["kernel_shape"]), tuple(a["strides"]), tuple(dil), tuple(pads),
        a.get("group", 1))))
