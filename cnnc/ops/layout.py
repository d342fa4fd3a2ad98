"""``LayoutTransform``: a tensor moved from one memory layout to another, and the layout
strings the layout-assignment pass (``cnnc.passes.layout``) and the blocked ops speak.

A layout string names the axes of a tensor outermost first, as TVM and oneDNN write them:
an upper-case letter is a primal axis (``N``, ``C``, ``H``, ``W``; ``O``, ``I`` for a
conv weight), a number and a lower-case letter a block of that many of the primal axis of
the same letter.  ``NCHW16c`` holds ``(N, C/16, H, W, 16)`` with channel ``c`` at
``[n, c // 16, h, w, c % 16]``; ``OIHW16i16o`` is a conv weight packed as
``(O/16, I/16, KH, KW, 16 inputs, 16 outputs)``: one vector of output channels per input
channel and tap, the order a channel-blocked conv reads it in.

Each primal axis is blocked on at most one side of a transform, by a factor that divides
it (no padding channels), so every transform is a reshape, a permutation and a reshape:
the C kernel is the gather kernel (``shape.gather_kernel``), ONNX export writes those three
standard ops, and the TVM rule the same three Relax ops.  A transform of a constant (a
weight packed for a blocked kernel) is folded at compile time by the constant folding
pass, so the packed array is what the model stores.  The public API is plain NCHW: the
layout pass only places transforms inside the graph.
"""
from __future__ import annotations

import re
from typing import NamedTuple

import numpy as np

from ..ir import ACT, KEEP, Attr, Blocked, Impl, Kernel, OnnxMap, OpDef, ShapeError, register
from ._c import SHORT, parallel_tasks
from .shape import gather_kernel, permuted_tables, tvm_reshape

_TOKEN = re.compile(r"([A-Z])|(\d+)([a-z])")


class Axis(NamedTuple):
    """One axis of a layout: the primal axis ``name`` (upper case) and, for a block axis,
    its ``factor`` (0 for the primal axis itself)."""

    name: str
    factor: int = 0


def parse_layout(text: str) -> tuple[Axis, ...]:
    """The axes of the layout string ``text`` (``"NCHW16c"``), checked: every block names a
    primal axis of the layout, once, with a factor of at least 2."""
    axes, pos = [], 0
    for m in _TOKEN.finditer(text):
        if m.start() != pos:
            break
        pos = m.end()
        axes.append(Axis(m[1]) if m[1] else Axis(m[3].upper(), int(m[2])))
    primal = [a.name for a in axes if not a.factor]
    blocks = [a.name for a in axes if a.factor]
    if (pos != len(text) or not axes or len(set(primal)) != len(primal) or len(set(blocks)) != len(blocks)
            or not set(blocks) <= set(primal) or any(a.factor == 1 for a in axes)):
        raise ShapeError(f"bad layout {text!r}: expected upper-case axes, each blocked at most once by a factor >= 2 "
                         "in a lower-case axis of its letter (e.g. NCHW16c, OIHW16i16o)")
    return tuple(axes)


def blocks_of(layout: str) -> dict[str, int]:
    """The blocked axes of ``layout`` and their factors (``{"C": 16}`` for NCHW16c)."""
    return {a.name: a.factor for a in parse_layout(layout) if a.factor}


def activation_layout(rank: int, block: int = 0) -> str:
    """The layout string of an activation of ``rank`` axes (N, C and the spatial axes),
    channel-blocked by ``block`` (0: plain)."""
    spatial = "DHW"[3 - (rank - 2):] if rank > 2 else ""
    return "NC" + spatial + (f"{block}c" if block else "")


def weight_layout(rank: int, block: int = 0, block_inputs: bool = True) -> str:
    """The layout string of a conv weight of ``rank`` axes (O, I, the kernel axes), blocked
    for a channel-blocked conv: ``OIHW16i16o``, or ``OIHW16o`` where the input channels
    are not blocked (a depthwise conv's one input channel per output, or a conv reading a
    plain input)."""
    spatial = "DHW"[3 - (rank - 2):] if rank > 2 else ""
    if not block:
        return "OI" + spatial
    return "OI" + spatial + (f"{block}i" if block_inputs else "") + f"{block}o"


class Plan(NamedTuple):
    """``y = x.reshape(view).transpose(perm).reshape(shape)``."""

    view: tuple[int, ...]
    perm: tuple[int, ...]
    shape: tuple[int, ...]


def plan(shape, src: str, dst: str) -> Plan:
    """How a tensor of ``shape`` in layout ``src`` moves to layout ``dst`` (see the module
    docstring for what is supported); a ShapeError says what does not fit."""
    s_axes, d_axes = parse_layout(src), parse_layout(dst)
    primal = [a.name for a in s_axes if not a.factor]
    if sorted(primal) != sorted(a.name for a in d_axes if not a.factor):
        raise ShapeError(f"layouts {src} and {dst} have different axes")
    if len(shape) != len(s_axes):
        raise ShapeError(f"a tensor of shape {tuple(shape)} is not in layout {src} ({len(s_axes)} axes)")
    s_blk, d_blk = blocks_of(src), blocks_of(dst)
    full = {}
    for a, d in zip(s_axes, shape):
        if not a.factor:
            full[a.name] = d * s_blk.get(a.name, 1)
    for name, f in d_blk.items():
        if name in s_blk and s_blk[name] != f:
            raise ShapeError(f"{src} -> {dst}: axis {name} is blocked by {s_blk[name]} and by {f}")
        if full[name] % f:
            raise ShapeError(f"{src} -> {dst}: axis {name} of {full[name]} is not a multiple of the block {f}")
    # atoms: (name, "o") the outer part of an axis (all of it when it is never blocked),
    # (name, "i") its block; the view splits the axes that dst blocks and src does not
    view, atoms = [], []
    for a, d in zip(s_axes, shape):
        if a.factor:
            view.append(d)
            atoms.append((a.name, "i"))
        elif a.name in d_blk and a.name not in s_blk:
            f = d_blk[a.name]
            view += [d // f, f]
            atoms += [(a.name, "o"), (a.name, "i")]
        else:
            view.append(d)
            atoms.append((a.name, "o"))
    order, out = [], []
    for a in d_axes:
        if a.factor:
            order.append(atoms.index((a.name, "i")))
            out.append(a.factor)
        elif a.name in s_blk and a.name not in d_blk:
            order += [atoms.index((a.name, "o")), atoms.index((a.name, "i"))]
            out.append(full[a.name])
        else:
            order.append(atoms.index((a.name, "o")))
            out.append(full[a.name] // d_blk.get(a.name, 1))
    return Plan(tuple(view), tuple(order), tuple(out))


def transform(x: np.ndarray, src: str, dst: str) -> np.ndarray:
    """``x`` (in layout ``src``) in layout ``dst``: a new contiguous array."""
    p = plan(x.shape, src, dst)
    return np.ascontiguousarray(x.reshape(p.view).transpose(p.perm)).reshape(p.shape)


def _canon(a, types):
    if types:
        plan(types[0].shape, a["src"], a["dst"])  # validates the pair against the operand
    return a


def _check(text: str) -> str | None:
    try:
        parse_layout(text)
    except ShapeError as e:
        return str(e)
    return None


def _gather(req):
    a, p = req.attrs, plan(req.in_types[0].shape, req.attrs["src"], req.attrs["dst"])
    view, tables = permuted_tables(p.view, p.perm)
    return gather_kernel(req, view, tables, f"layout_{a['src']}_to_{a['dst']}".lower(),
                         comment=f"LayoutTransform {a['src']} -> {a['dst']}")


def _channel_block(req) -> int:
    """The block of an activation moved between plain and channel-blocked (NCHW <->
    NCHW<b>c), else 0."""
    a, rank = req.attrs, req.in_types[0].rank
    for plain, blocked, r in ((a["src"], a["dst"], rank), (a["dst"], a["src"], rank - 1)):
        b = blocks_of(blocked).get("C", 0)
        if b and plain == activation_layout(r) and blocked == activation_layout(r, b):
            return b
    return 0


#: rough rates of the cost model, elements a second: the gather kernel's table walk, and
#: the blocks entry's (measured 1.6e9 and 3.1e9-5.3e9 on a Zen 4 core; here on the conv
#: tables' scale, whose GEMM estimates run at about 0.7x of measured times, as the layout
#: pass weighs transforms against kernels)
GATHER_ELEMENTS = 2.3e9
BLOCK_ELEMENTS = 6e9
#: pixels a step of the blocks entry
BLOCK_PIXELS = 64


def _blocks(req):
    a, x = req.attrs, req.in_types[0]
    vl = _channel_block(req)
    to_blocked = a["src"] == activation_layout(x.rank)
    spatial = x.shape[2:] if to_blocked else x.shape[2:-1]
    p = int(np.prod(spatial, dtype=np.int64))
    items = x.size // (vl * p)
    tasks = parallel_tasks(items, x.size, req.workers)
    per = -(-items // tasks)
    params = {"VL": vl, "P": p, "PB": BLOCK_PIXELS, "ITEMS": items, "PER": per, "tasks": -(-items // per),
              "to_blocked": to_blocked}
    name = f"cnnc_layout_{'to' if to_blocked else 'from'}_nchw{vl}c_{SHORT[x.dtype]}_{items}x{p}"
    return Kernel("c/kernels/layout_blocks.c.j2", name, params, parallel=params["tasks"] > 1,
                  comment=f"LayoutTransform {a['src']} -> {a['dst']} ({items} runs of {vl} channels)")


C_TABLE = (Impl("gather", _gather, cost=lambda req: req.in_types[0].size / GATHER_ELEMENTS),
           Impl("blocks", _blocks, applies=lambda req: _channel_block(req) > 0 and req.in_types[0].size > 0,
                cost=lambda req: req.in_types[0].size / BLOCK_ELEMENTS, portable=False,
                template="c/kernels/layout_blocks.c.j2"))


def emit_transform(b, x: str, shape, src: str, dst: str, outputs=1) -> list[str]:
    """Emit the transform of ``x`` (of ``shape``, layout ``src``) to ``dst`` into an ONNX
    builder: Reshape, Transpose, Reshape, the plan in standard ops."""
    p = plan(shape, src, dst)
    (r,) = b.emit("Reshape", [x, b.const(np.array(p.view, np.int64))])
    (t,) = b.emit("Transpose", [r], {"perm": list(p.perm)})
    return b.emit("Reshape", [t, b.const(np.array(p.shape, np.int64))], outputs=outputs)


def tvm_transform(b, x, shape, src: str, dst: str):
    """The transform of the Relax expression ``x`` (of ``shape``, layout ``src``) to ``dst``."""
    p = plan(shape, src, dst)
    return tvm_reshape(b, b.emit(b.R.permute_dims(tvm_reshape(b, x, p.view), p.perm)), p.shape)


def _export(node, operands, b):
    return emit_transform(b, operands[0], b.type(operands[0]).shape, node.attrs["src"], node.attrs["dst"],
                          outputs=b.outputs)


def _tvm(req, xs, b):
    return tvm_transform(b, xs[0], req.in_types[0].shape, req.attrs["src"], req.attrs["dst"])


register(OpDef(
    name="LayoutTransform",
    inputs=("X",),
    attrs={"src": Attr("str", check=_check, doc="the operand's layout (e.g. NCHW)"),
           "dst": Attr("str", check=_check, doc="the result's layout (e.g. NCHW16c)")},
    canonicalize=_canon,
    infer=lambda types, a: (types[0].with_shape(plan(types[0].shape, a["src"], a["dst"]).shape),),
    reference=lambda inputs, a: transform(inputs[0], a["src"], a["dst"]),
    onnx=OnnxMap(domain="cnnc", exporter=_export),
    kernels={"c": C_TABLE},
    tvm=_tvm,
    no_op=lambda in_types, a, out_types: a["src"] == a["dst"],
    doc="a tensor moved between memory layouts (NCHW <-> NCHW16c, a weight packed as OIHW16i16o)",
))


def conv_blocked(in_types, a, block, x_plain: bool = False, y_plain: bool = False):
    """``OpDef.blocked`` of Conv and FusedConv: a ``BlockedConv`` (``blocked_conv``) where
    the conv is 1-D or 2-D fp32, group 1 or depthwise with one output per channel.  Its
    input is blocked (channels a multiple of ``block``) or, group 1 only, read plain
    (``x_plain``: any channels); its result is blocked (output channels a multiple of
    ``block``) or written plain (``y_plain``: any channels, the last block partial, its
    weight and bias padded with zeros).  The weight is packed OIHW<b>i<b>o (OIHW<b>o when
    its inputs are not blocked), and a Conv without a bias gets zeros."""
    x, w = in_types[0], in_types[1]
    if x.rank not in (3, 4) or x.dtype != "float32":
        return None
    c, m, g = x.shape[1], w.shape[0], a["group"]
    depthwise = g > 1
    if (depthwise and (g != c or c != m or x_plain or y_plain)) or (not x_plain and c % block) \
            or (not y_plain and m % block):
        return None
    padded = -(-m // block) * block
    pack = (weight_layout(w.rank), weight_layout(w.rank, block, block_inputs=not (depthwise or x_plain)), padded)
    bias = ("O", "O", padded) if padded != m else KEEP
    operands = (KEEP if x_plain else ACT, pack, bias, KEEP if y_plain else ACT)[:len(in_types)]
    extra = (np.zeros(padded, x.dtype),) if len(in_types) == 2 else ()
    attrs = {**a, "block": block, "x_blocked": not x_plain, "y_blocked": not y_plain, "out_channels": m}
    return Blocked("BlockedConv", attrs, operands, extra)
