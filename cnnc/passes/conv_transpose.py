"""Decompose transposed convolutions into stride-1 convolutions, one per stride phase.

Why.  A ConvTranspose scatters each input pixel through the kernel; as a kernel it is a
gather with a divisibility test per tap, and no backend has a GEMM form of it.  Split by
the output's stride phases, it is a set of ordinary convolutions (the "sub-pixel"
equivalence), which every backend runs on its fastest conv path (the C target's GEMM
microkernel).

The construction, per spatial axis (extent ``I`` in, ``O`` out; kernel ``K``, stride ``s``,
dilation ``d``, begin pad ``p``).  Output ``o = i*s + k*d - p``; write ``o = q*s + r`` with
phase ``r`` in ``[0, s)``.  Tap ``k`` reaches phase ``r`` when ``s`` divides ``r + p - k*d``,
from input ``i = q + t`` with ``t = (r + p - k*d) / s``.  So phase ``r`` is a correlation of
X with the taps ``t`` in ``[tmin_r, tmax_r]``: a stride-1 Conv whose kernel has
``L_r = tmax_r - tmin_r + 1`` taps (W's taps reordered, zeros where no ``k`` lands), begin
pad ``-tmin_r`` and an end pad that makes it ``Q`` outputs long, ``Q`` the same for every
phase and at least ``ceil(O / s)``.  In N-D the phases are the products of the axes'
phases.  A grouped ConvTranspose (W ``(C, M/G, *K)``) gives grouped Convs (``(M, C/G, *L)``),
each with the bias.  The phase results are concatenated along the channels (phase-major),
then interleaved: ``(N, s0, s1, M, Q0, Q1) -> (N, M, Q0, s0, Q1, s1)`` by one Transpose
between two Reshapes, and cropped to ``O`` by a Slice where ``Q * s > O``.  A stride-1
ConvTranspose is one Conv and nothing else.

Applies to ConvTranspose nodes with a constant weight, pads that resolve (any
``auto_pad``, ``output_shape``) to non-negative ones, every phase reached by some tap (``K * d`` covers the stride) and no phase needing a negative
begin pad (``tmin_r <= 0``).  Cost: the same multiply-adds where every phase has the
same number of taps per axis (``K`` a multiple of ``s``, dilation 1: the usual 2x2/s2 and
4x4/s2 upsamplers), but for taps that fall in a phase conv's border padding; up to
``prod(ceil(K/s))/prod(K/s)`` times more otherwise; plus one pass over the output for the
interleave.  Exact: each output is the same sum of the same products (in another order).
"""
from __future__ import annotations

import itertools

import numpy as np

from ..ir import Graph, Value
from ..ops.conv import convt_pads
from .manager import graph_pass, graph_property

PROPERTY = "no_decomposable_conv_transpose"


def _axis_phases(i: int, o: int, k: int, s: int, d: int, p: int):
    """Per phase of one axis: ``(taps [(j, k)], L, begin pad)`` with ``j = t - tmin``, and
    the common length ``Q``; None where the construction does not apply."""
    phases = []
    for r in range(s):
        taps = [((r + p - kk * d) // s, kk) for kk in range(k) if (r + p - kk * d) % s == 0]
        if not taps:
            return None
        tmin, tmax = min(t for t, _ in taps), max(t for t, _ in taps)
        if tmin > 0:
            return None
        phases.append(([(t - tmin, kk) for t, kk in taps], tmax - tmin + 1, -tmin))
    q = max([-(-o // s)] + [i + pb - length + 1 for _, length, pb in phases])
    return [(taps, length, pb, q + length - 1 - i - pb) for taps, length, pb in phases], q


def _plan(g: Graph, name: str):
    """The per-axis phases of ConvTranspose ``name``, or None where it stays."""
    n = g.node(name)
    if n.op != "ConvTranspose":
        return None
    ops = g.operands(name)
    if g.constant(ops[1]) is None:
        return None
    x, y = g.type_of(ops[0]), n.types[0]
    a = n.attrs
    nd = x.rank - 2
    pads = convt_pads(x.shape[2:], a)
    if min(pads) < 0:
        return None
    axes = []
    for ax in range(nd):
        plan = _axis_phases(x.shape[2 + ax], y.shape[2 + ax], a["kernel_shape"][ax], a["strides"][ax],
                            a["dilations"][ax], pads[ax])
        if plan is None:
            return None
        axes.append(plan)
    return axes


def _decompose_one(g: Graph, name: str, axes) -> None:
    n = g.node(name)
    x, w, *bias = g.operands(name)
    wv = g.constant(w)
    a = n.attrs
    group = a["group"]
    c, mg = wv.shape[0], wv.shape[1]
    cg, m = c // group, mg * group
    nd = len(axes)
    y = n.types[0]
    # W (C, M/G, *K) as (M, C/G, *K): output channel g*MG + mm reads input channels g*CG..
    wt = wv.reshape(group, cg, mg, *wv.shape[2:]).swapaxes(1, 2).reshape(m, cg, *wv.shape[2:])
    parts = []
    for combo in itertools.product(*[phases for phases, _ in axes]):
        lengths = tuple(length for _, length, _, _ in combo)
        v = np.zeros((m, cg, *lengths), wv.dtype)
        for taps in itertools.product(*[t for t, _, _, _ in combo]):
            v[(slice(None), slice(None), *(j for j, _ in taps))] = wt[(slice(None), slice(None), *(kk for _, kk in taps))]
        label = f"{n.label}_phase{len(parts)}"
        vc = g.add_constant(v, f"{label}_w", source=n.source)
        pads = tuple(pb for _, _, pb, _ in combo) + tuple(pe for _, _, _, pe in combo)
        (z,) = g.add_node("Conv", [x, vc, *bias], {"kernel_shape": lengths, "pads": pads, "group": group},
                          label=label, source=n.source)
        parts.append(z)
    strides, qs = tuple(a["strides"]), tuple(q for _, q in axes)
    if len(parts) == 1:
        out = parts[0]
    else:
        (cat,) = g.add_node("Concat", parts, {"axis": 1}, label=f"{n.label}_phases", source=n.source)
        batch = y.shape[0]
        (r,) = g.add_node("Reshape", [cat], {"shape": (batch, *strides, m, *qs)}, label=f"{n.label}_split",
                          source=n.source)
        perm = (0, nd + 1) + tuple(p for ax in range(nd) for p in (nd + 2 + ax, 1 + ax))
        (t,) = g.add_node("Transpose", [r], {"perm": perm}, label=f"{n.label}_interleave", source=n.source)
        (out,) = g.add_node("Reshape", [t], {"shape": (batch, m, *(q * s for q, s in zip(qs, strides)))},
                            label=f"{n.label}_merge", source=n.source)
    if tuple(g.type_of(out).shape) != tuple(y.shape):
        (out,) = g.add_node("Slice", [out], {"starts": (0,) * nd, "ends": tuple(y.shape[2:]),
                                             "axes": tuple(range(2, 2 + nd))}, label=f"{n.label}_crop",
                            source=n.source)
    assert tuple(g.type_of(out).shape) == tuple(y.shape), (g.type_of(out).shape, y.shape)
    g.replace_all_uses(Value(name), out)
    g.remove_node(name)
    if not g.users(w) and not g.is_output(w):
        g.remove_node(w.node)


@graph_property(PROPERTY)
def no_decomposable_conv_transpose(g: Graph) -> bool:
    """No ConvTranspose is left that the phase decomposition applies to."""
    return not any(_plan(g, n.name) is not None for n in g.nodes())


@graph_pass("decompose_conv_transpose", ensures=(PROPERTY,))
def decompose_conv_transpose(g: Graph) -> Graph:
    """Replace each ConvTranspose with a constant weight by one stride-1 Conv per stride
    phase, interleaved (see the module docstring)."""
    g = g.copy()
    for n in list(g.nodes()):
        axes = _plan(g, n.name)
        if axes is not None:
            _decompose_one(g, n.name, axes)
    return g
