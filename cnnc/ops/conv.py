"""Convolution (cross-correlation) and transposed convolution, 1-D/2-D/3-D.

``Conv``: ``X (N, C, *S)``, ``W (M, C/group, *K)``, optional ``B (M)``; stride, dilation,
groups (depthwise is ``group == C``), and every padding mode of ``_spatial``.

``ConvTranspose``: ``X (N, C, *S)``, ``W (C, M/group, *K)``, optional ``B (M)``; output
extent ``s*(in-1) + output_padding + d*(k-1) + 1 - pad_begin - pad_end``, or pads derived
from ``output_shape`` when that is given (ONNX semantics).

C kernels.  ``direct_conv`` (``c/kernels/conv.c.j2``; FusedConv, LocalConv and TiledConv
use it too) is a direct convolution: per output row, the columns whose every tap lies
inside the input (the interior, computed here) are summed in blocks of ``CONV_BLOCK``
columns held in registers, with no bounds checks -- a fixed-length inner loop the
compiler turns into vector code; the remaining (border) columns each get their range of
in-bounds taps from a table.  There is no padded copy of the input and no scratch; an
outer-axis tap landing in the padding skips the row.  ``_convt_c``
(``c/kernels/conv_transpose.c.j2``) is the gather form of ConvTranspose: each output row
sums the input positions that reach it into a row of accumulators (scratch), so no two
iterations write one element.  Sums accumulate as ``_precision`` says (float32 in float,
in double beyond ``LONG_REDUCTION`` terms).
"""
from __future__ import annotations

import numpy as np

from ..ir import Attr, Kernel, OnnxMap, OpDef, ShapeError, register
from . import _spatial as sp
from ._c import SHORT, contiguous_strides, ctype
from ._common import require_float, same_dtype
from .layout import conv_blocked
from ._c_conv import DIRECT_TEMPLATE, conv_impls
from ._cuda_conv import cuda_conv_impls
from ._precision import acc_bytes, acc_ctype, wide


def _check_group(attrs, c_in, w_shape, m, *, transposed=False):
    g = attrs["group"]
    if transposed:
        if c_in != w_shape[0]:
            raise ShapeError(f"input has {c_in} channels but weight {tuple(w_shape)} expects "
                             f"{w_shape[0]} (weight is C_in, C_out/group, *kernel)")
        if c_in % g:
            raise ShapeError(f"input channels {c_in} not divisible by group {g}")
        return
    if c_in != w_shape[1] * g:
        raise ShapeError(f"input has {c_in} channels but weight {tuple(w_shape)} with group "
                         f"{g} expects {w_shape[1] * g}")
    if m % g:
        raise ShapeError(f"output channels {m} not divisible by group {g}")


def _check_bias(types, m):
    if len(types) > 2 and types[2].shape != (m,):
        raise ShapeError(f"bias must have shape ({m},), got {types[2].shape}")


def _conv_canon(attrs, types):
    nd = sp.spatial_rank(types[0].shape)
    if types[1].rank != nd + 2:
        raise ShapeError(f"weight must have rank {nd + 2} for a {nd}-D convolution, got "
                         f"{types[1]}")
    return sp.canonical_window(attrs, nd, types[1].shape[2:])


def _conv_infer(types, a):
    x, w = types[0], types[1]
    require_float(x)
    same_dtype(types, ("X", "W", "B"))
    m = w.shape[0]
    _check_group(a, x.shape[1], w.shape, m)
    _check_bias(types, m)
    out = sp.output_shape(x.shape[2:], a)
    return (x.with_shape((x.shape[0], m, *out)),)


def conv_nd(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, a) -> np.ndarray:
    """Grouped N-D cross-correlation as one GEMM per group over the window view, summed
    in float64 (bias included) and rounded once to the operands' dtype (``wide``).

    Padding taps are not multiplied at all (as onnxruntime does): an Inf or NaN weight
    reaches only the outputs whose window puts it on the input.  The GEMM runs over
    zero-filled windows, so such weights are left out of it and added over the valid taps
    alone."""
    nd = x.ndim - 2
    g = a["group"]
    dtype = np.result_type(x, w)
    x, w = wide(x), wide(w)
    win = sp.windows(x, a)  # N, C, *O, *K
    n, out = x.shape[0], win.shape[2:2 + nd]
    m, cg = w.shape[0], w.shape[1]
    mg = m // g
    full, bad = w, ~np.isfinite(w)
    if bad.any() and any(sp.buffer_pads(x.shape[2:], a)):
        w = np.where(bad, 0.0, w)
    else:
        bad = None
    y = np.empty((n, m, *out), dtype=x.dtype)
    axes = (0, *range(2, 2 + nd), 1, *range(2 + nd, 2 + 2 * nd))  # N, *O, C, *K
    for gi in range(g):
        cols = win[:, gi * cg:(gi + 1) * cg].transpose(axes).reshape(n * int(np.prod(out)), -1)
        wg = w[gi * mg:(gi + 1) * mg].reshape(mg, -1)
        yg = (cols @ wg.T).reshape(n, *out, mg)
        y[:, gi * mg:(gi + 1) * mg] = np.moveaxis(yg, -1, 1)
    if bad is not None:
        valid = sp.valid_mask(x.shape[2:], a).astype(bool)  # *O, *K
        with np.errstate(all="ignore"):
            for mi, ci, *k in zip(*np.nonzero(bad)):
                c, k = (mi // mg) * cg + ci, tuple(k)
                taps = win[(slice(None), c, *([slice(None)] * nd), *k)]  # N, *O
                y[:, mi] += np.where(valid[(Ellipsis, *k)], taps * full[(mi, ci, *k)], 0.0)
    if b is not None:
        y += b.reshape((1, m) + (1,) * nd)
    return y.astype(dtype, copy=False)


def conv_flops(types, a, outs) -> int:
    """2 * output elements * (C/group) * prod(kernel), plus the bias adds."""
    w = types[1]
    macs = outs[0].size * w.shape[1] * int(np.prod(w.shape[2:]))
    return 2 * macs + (outs[0].size if len(types) > 2 else 0)


def _conv_ref(inputs, a):
    x, w = inputs[0], inputs[1]
    return conv_nd(x, w, inputs[2] if len(inputs) > 2 else None, a)


# ---------------------------------------------------------------- C kernels
#: output columns a conv kernel sums at once in registers (vector code at -O2)
CONV_BLOCK = 8


def direct_conv(req, tag: str, *, tiles=None, bias: str = "", residual: str = "",
                act: str = "", act_name: str = "") -> Kernel:
    """The conv.c.j2 kernel of a node with Conv's window attributes.  ``tiles``: the
    weight's position dims (``(*T, M, C, *K)`` weights, LocalConv/TiledConv), else the
    weight is ``(M, C/group, *K)``.  ``bias``: "" | "channel" (B (M,)) | "position"
    (B (M, *O)); ``residual``: "" | "pre" | "post" (Z is operand 3); ``act``: a C
    expression of ``a0`` applied in the epilogue, named ``act_name``."""
    x, y = req.in_types[0], req.out_types[0]
    nd = x.rank - 2
    ishape, oshape, k, s, d, pads, group = sp.window_geometry(req)
    c, m = x.shape[1], y.shape[1]
    cg, ksize = c // group, int(np.prod(k))
    tiles = tuple(tiles) if tiles is not None else (1,) * nd
    # the loop plan: outer axes with a border check their taps; the innermost axis's
    # interior columns (every tap on the input) go in blocks when the weight is shared,
    # the others each with their range of taps on the input
    axes = sp.loop_axes(sp.window_geometry(req))
    check = tuple(bool(ax.border) for ax in axes[:-1])
    ow = oshape[-1]
    lo, hi = axes[-1].interior
    nblocks = (hi - lo) // CONV_BLOCK if all(t == 1 for t in tiles) else 0
    blocked = range(lo, lo + nblocks * CONV_BLOCK)
    edge = [o for o in range(ow) if o not in blocked]
    taps = [axes[-1].taps[o] for o in edge]
    acc = acc_ctype(y.dtype, cg * ksize)
    params = {"ctype": ctype(y.dtype), "acc_ctype": acc,
              "N": x.shape[0], "C": c, "CG": cg, "G": group, "M": m, "MG": m // group,
              "ishape": ishape, "oshape": oshape, "kshape": k, "strides": s, "dilations": d,
              "pads": pads[:nd], "check": check, "block": CONV_BLOCK, "nblocks": nblocks,
              "interior": lo, "nedge": len(edge),
              "isize": int(np.prod(ishape)), "osize": int(np.prod(oshape)), "ksize": ksize,
              "istrides": tuple(contiguous_strides(ishape)), "ostrides": tuple(contiguous_strides(oshape)),
              "kstrides": tuple(contiguous_strides(k)),
              "tiles": tiles, "tstrides": tuple(contiguous_strides(tiles)), "mck": m * cg * ksize,
              "bias": bias, "residual": residual, "act": act}
    # a tap range is contiguous: the input column grows with the tap
    tables = {"col": np.array(edge, np.int64),
              "klo": np.array([t[0] for t in taps], np.int64),
              "khi": np.array([t[1] for t in taps], np.int64)} if edge else {}
    name = (f"cnnc_{tag}{nd}d_{SHORT[y.dtype]}_k{sp.dims_tag(k)}_s{sp.dims_tag(s)}_d{sp.dims_tag(d)}_p{sp.dims_tag(pads)}"
            f"_g{group}" + (f"_t{sp.dims_tag(tiles)}" if any(t > 1 for t in tiles) else "")
            + ("_b" if bias else "") + (f"_z{residual}" if residual else "")
            + (f"_{act_name.lower()}" if act else "") + f"_{sp.dims_tag(x.shape)}_m{m}")
    comment = (f"{req.node.op} {nd}-D kernel {k} strides {s} dilations {d} pads {pads} group {group}"
               + (f" {act_name}" if act else "") + (f" residual {residual}" if residual else "")
               + f" -> {y}")
    return Kernel(DIRECT_TEMPLATE, name, params, tables=tables, comment=comment)


def channel_bias(y, bias, b):
    """Relax: ``y`` (N, M, *S) plus the per-channel bias (M,)."""
    return b.R.add(y, b.R.reshape(bias, (1, -1) + (1,) * (len(b.shape(y)) - 2)))


def conv_tvm(req, xs, b):
    """Relax's conv1d/2d/3d (its padding order is ONNX's: begins, then ends; every auto_pad
    resolved here), bias added per channel."""
    x, a = req.in_types[0], req.attrs
    nd = x.rank - 2
    pads = sp.resolve_pads(x.shape[2:], a["kernel_shape"], a["strides"], a["dilations"], a["auto_pad"], a["pads"])
    if sp.weight_meets_padding_nonfinite(req):
        y = _conv_tvm_skipping_padding(req, xs, b, pads)
    else:
        conv = (b.R.nn.conv1d, b.R.nn.conv2d, b.R.nn.conv3d)[nd - 1]
        y = b.emit(conv(xs[0], xs[1], strides=a["strides"], padding=pads, dilation=a["dilations"],
                        groups=a["group"]))
    return channel_bias(y, xs[2], b) if len(xs) > 2 else y


def _conv_tvm_skipping_padding(req, xs, b, pads):
    """A padded conv with an Inf or NaN weight: one TE sum whose padding taps add 0 instead
    of multiplying (Relax's conv multiplies zero padding, and 0 * Inf is NaN).  Rare, so
    plain; the clamped index keeps every load inside the input."""
    x, a, out = req.in_types[0], req.attrs, req.out_types[0].shape
    nd, te, tir = x.rank - 2, b.te, b.tir
    k, s, d, g = a["kernel_shape"], a["strides"], a["dilations"], a["group"]
    cg, mg = x.shape[1] // g, out[1] // g

    def compute(xt, wt):
        rc = te.reduce_axis((0, cg), name="rc")
        rk = [te.reduce_axis((0, ki), name=f"rk{i}") for i, ki in enumerate(k)]

        def f(n, m, *o):
            pos = [oi * si + ri * di - pi for oi, si, ri, di, pi in zip(o, s, rk, d, pads)]
            inside = tir.all(*[tir.all(p >= 0, p < e) for p, e in zip(pos, x.shape[2:])])
            at = [tir.max(tir.min(p, e - 1), 0) for p, e in zip(pos, x.shape[2:])]
            tap = xt[(n, m // mg * cg + rc, *at)] * wt[(m, rc, *rk)]
            return te.sum(tir.if_then_else(inside, tap, tir.const(0, xt.dtype)), axis=[rc, *rk])
        return te.compute(out, f, name="conv_skipping_padding")
    return b.emit_te(compute, xs[0], xs[1], name=f"conv{nd}d_skipping_padding")


def _conv_c(req):
    return direct_conv(req, "conv", bias="channel" if len(req.in_types) > 2 else "")


def _conv_epilogue(req) -> dict:
    return {"bias": len(req.in_types) > 2}


def _convt_c(req):
    """The conv_transpose.c.j2 kernel (gather form, one row of accumulators in scratch)."""
    x, w, y = req.in_types[0], req.in_types[1], req.out_types[0]
    a = req.attrs
    nd = x.rank - 2
    ishape, oshape = x.shape[2:], y.shape[2:]
    k, s, d = tuple(a["kernel_shape"]), tuple(a["strides"]), tuple(a["dilations"])
    pads = convt_pads(ishape, a)
    group, mg = a["group"], w.shape[1]
    # inputs i of tap t that land inside the row (output i*s + t*d - p), innermost axis
    lo, hi = zip(*(sp.tap_reach(oshape[-1], ishape[-1], t, s[-1], d[-1], pads[nd - 1]) for t in range(k[-1])))
    # unit-stride outer axes: whether some output row reaches outside the input
    # (input o - t*d + p, i.e. the tap range with stride 1, dilation -d, pad -p)
    check = tuple(s[i] == 1 and any(sp.tap_reach(ishape[i], oshape[i], t, 1, -d[i], -pads[i]) != (0, oshape[i])
                                    for t in range(k[i])) for i in range(nd - 1))
    acc = acc_ctype(y.dtype, x.shape[1] // group * int(np.prod(k)))
    params = {"ctype": ctype(y.dtype), "acc_ctype": acc, "N": x.shape[0], "C": x.shape[1],
              "CG": x.shape[1] // group, "G": group, "M": y.shape[1], "MG": mg,
              "ishape": ishape, "oshape": oshape, "kshape": k, "strides": s, "dilations": d,
              "pads": pads[:nd], "check": check, "bias": len(req.in_types) > 2,
              "isize": int(np.prod(ishape)), "osize": int(np.prod(oshape)), "ksize": int(np.prod(k)),
              "istrides": tuple(contiguous_strides(ishape)), "ostrides": tuple(contiguous_strides(oshape)),
              "kstrides": tuple(contiguous_strides(k))}
    name = (f"cnnc_convt{nd}d_{SHORT[y.dtype]}_k{sp.dims_tag(k)}_s{sp.dims_tag(s)}_d{sp.dims_tag(d)}_p{sp.dims_tag(pads)}"
            f"_g{group}" + ("_b" if params["bias"] else "") + f"_{sp.dims_tag(x.shape)}_m{y.shape[1]}")
    comment = (f"ConvTranspose {nd}-D kernel {k} strides {s} dilations {d} pads {pads} group {group}"
               f" -> {y}")
    return Kernel("c/kernels/conv_transpose.c.j2", name, params,
                  tables={"lo": np.array(lo, np.int64), "hi": np.array(hi, np.int64)},
                  scratch_bytes=oshape[-1] * acc_bytes(acc), comment=comment)


register(OpDef(
    name="Conv",
    inputs=("X", "W", "B?"),
    attrs={**sp.window_attrs(), "group": Attr("int", 1, check=lambda g: None if g >= 1 else "must be >= 1")},
    canonicalize=_conv_canon,
    infer=_conv_infer,
    reference=_conv_ref,
    onnx=OnnxMap(exporter=sp.export_explicit_pads),
    flops=conv_flops,
    kernels={"c": conv_impls(_conv_c, "conv", _conv_epilogue), "cuda": cuda_conv_impls("conv", _conv_epilogue)},
    tvm=conv_tvm,
    zero_padded=lambda a: True,
    conv=True,
    blocked=conv_blocked,
    doc="N-D cross-correlation with stride, dilation, groups and padding modes",
))


# ---------------------------------------------------------------- transposed convolution
def convt_pads(in_spatial, a):
    """Explicit pads of a transposed conv (ONNX: from output_shape when it is given)."""
    nd = len(in_spatial)
    k, s, d, op = a["kernel_shape"], a["strides"], a["dilations"], a["output_padding"]
    if a["output_shape"] is None and a["auto_pad"] in ("NOTSET", "VALID"):
        return a["pads"] if a["auto_pad"] == "NOTSET" else (0,) * (2 * nd)
    if a["output_shape"] is not None:
        target = a["output_shape"][-nd:]
    else:
        target = [n * st for n, st in zip(in_spatial, s)]
    begin, end = [], []
    for i in range(nd):
        # negative total padding (an output_shape larger than the natural extent) extends
        # the output with positions no input reaches (ONNX's reference does the same)
        total = s[i] * (in_spatial[i] - 1) + op[i] + d[i] * (k[i] - 1) + 1 - target[i]
        # ONNX: SAME_UPPER puts the odd unit at the end; SAME_LOWER and an explicit
        # output_shape put it at the beginning
        if a["auto_pad"] == "SAME_UPPER":
            begin.append(total // 2)
        else:
            begin.append(total - total // 2)
        end.append(total - begin[-1])
    return tuple(begin + end)


def _convt_canon(attrs, types):
    nd = sp.spatial_rank(types[0].shape)
    if types[1].rank != nd + 2:
        raise ShapeError(f"weight must have rank {nd + 2}, got {types[1]}")
    a = sp.canonical_window(attrs, nd, types[1].shape[2:])
    if a["output_padding"] is None:
        a["output_padding"] = (0,) * nd
    if len(a["output_padding"]) != nd:
        raise ShapeError(f"output_padding needs {nd} entries, got {a['output_padding']}")
    if a["auto_pad"] == "FULL":
        raise ShapeError("auto_pad FULL is not defined for ConvTranspose")
    for i, (p, s, d) in enumerate(zip(a["output_padding"], a["strides"], a["dilations"])):
        if p >= max(s, d):
            raise ShapeError(f"output_padding {p} on axis {i} must be smaller than the stride "
                             f"{s} or the dilation {d}")
    return a


def _convt_out(in_spatial, a):
    pads = convt_pads(in_spatial, a)
    nd = len(in_spatial)
    out = tuple(s * (n - 1) + p + d * (k - 1) + 1 - pads[i] - pads[nd + i]
                for i, (n, k, s, d, p) in enumerate(zip(in_spatial, a["kernel_shape"], a["strides"],
                                                        a["dilations"], a["output_padding"])))
    sp.check_spatial_match(in_spatial, out)
    return out, pads


def _convt_infer(types, a):
    x, w = types[0], types[1]
    require_float(x)
    same_dtype(types, ("X", "W", "B"))
    _check_group(a, x.shape[1], w.shape, None, transposed=True)
    m = w.shape[1] * a["group"]
    _check_bias(types, m)
    out, _ = _convt_out(x.shape[2:], a)
    return (x.with_shape((x.shape[0], m, *out)),)


def _convt_ref(inputs, a):
    """The scatter form, summed in float64 (bias included) and rounded once (``wide``)."""
    dtype = np.result_type(inputs[0], inputs[1])
    x, w = wide(inputs[0]), wide(inputs[1])
    nd = x.ndim - 2
    g = a["group"]
    n, c, ins = x.shape[0], x.shape[1], x.shape[2:]
    cg, mg = c // g, w.shape[1]
    k, s, d = a["kernel_shape"], a["strides"], a["dilations"]
    out, pads = _convt_out(ins, a)
    # scatter every input pixel's kernel-weighted contribution into an uncropped buffer
    full = [si * (ni - 1) + di * (ki - 1) + 1 + pi
            for ni, ki, si, di, pi in zip(ins, k, s, d, a["output_padding"])]
    y = np.zeros((n, g * mg, *full), dtype=x.dtype)
    for gi in range(g):
        xg = np.moveaxis(x[:, gi * cg:(gi + 1) * cg], 1, -1)              # N, *I, Cg
        cols = np.tensordot(xg, w[gi * cg:(gi + 1) * cg], axes=([nd + 1], [0]))  # N, *I, Mg, *K
        cols = np.moveaxis(cols, nd + 1, 1)                               # N, Mg, *I, *K
        for kidx in np.ndindex(*k):
            dst = tuple(slice(ki * di, ki * di + si * (ni - 1) + 1, si)
                        for ki, di, si, ni in zip(kidx, d, s, ins))
            y[(slice(None), slice(gi * mg, (gi + 1) * mg)) + dst] += cols[(Ellipsis,) + kidx]
    # negative pads extend the buffer with zeros, positive ones crop it
    y = np.pad(y, [(0, 0), (0, 0)] + [(max(-pads[i], 0), max(-pads[nd + i], 0)) for i in range(nd)])
    crop = tuple(slice(max(pads[i], 0), max(pads[i], 0) + out[i]) for i in range(nd))
    y = y[(slice(None), slice(None)) + crop]
    if len(inputs) > 2:
        y = y + inputs[2].reshape((1, -1) + (1,) * nd)
    return np.ascontiguousarray(y, dtype=dtype)


def _convt_tvm(req, xs, b):
    """Composed as a Conv (Relax conv1d/2d/3d): the input dilated by the strides (zeros
    between its elements, topi's ``dilate``), the weight (C, M/g, *K) regrouped to
    (M, C/g, *K) and flipped, stride 1 and the transposed conv's dilation, padded by
    ``d*(k-1) - pad_begin`` and ``d*(k-1) - pad_end + output_padding``; a negative one (pads
    beyond the kernel's reach) crops the result instead.  Relax's own conv*_transpose is
    not used: its lowering asserts output_padding < stride (ONNX allows < max(stride,
    dilation)) and takes no negative pads (an output_shape beyond the natural extent)."""
    x, w, a = req.in_types[0], req.in_types[1], req.attrs
    nd = x.rank - 2
    k, s, d, g = a["kernel_shape"], a["strides"], a["dilations"], a["group"]
    pads = convt_pads(x.shape[2:], a)
    c, mg = x.shape[1], w.shape[1]
    xd = xs[0]
    if any(si > 1 for si in s):
        xd = b.emit_te(b.topi.nn.dilate, xd, (1, 1, *s), name="convt_dilate")
    lo = [d[i] * (k[i] - 1) - pads[i] for i in range(nd)]
    hi = [d[i] * (k[i] - 1) - pads[nd + i] + a["output_padding"][i] for i in range(nd)]
    wt = b.R.permute_dims(b.R.reshape(xs[1], (g, c // g, mg, *k)), (0, 2, 1, *range(3, 3 + nd)))
    wt = b.R.reshape(wt, (g * mg, c // g, *k))
    for axis in range(2, 2 + nd):
        wt = b.R.flip(wt, axis)
    conv = (b.R.nn.conv1d, b.R.nn.conv2d, b.R.nn.conv3d)[nd - 1]
    y = b.emit(conv(xd, b.emit(wt), padding=[max(p, 0) for p in lo + hi], dilation=d, groups=g))
    if min(lo + hi) < 0:
        full = b.shape(y)[2:]
        y = b.emit(b.R.strided_slice(y, list(range(2, 2 + nd)), [max(-p, 0) for p in lo],
                                     [n - max(-p, 0) for n, p in zip(full, hi)]))
    return channel_bias(y, xs[2], b) if len(xs) > 2 else y


def _convt_export(node, operands, b):
    """Explicit pads when they are non-negative; an output_shape larger than the natural
    extent (negative pads, which ONNX cannot spell) is written as output_shape."""
    pads = convt_pads(b.type(operands[0]).shape[2:], node.attrs)
    if min(pads, default=0) >= 0:
        return b.generic(attrs={"pads": pads, "auto_pad": "NOTSET", "output_shape": None})
    return b.generic(attrs={"pads": None})


register(OpDef(
    name="ConvTranspose",
    inputs=("X", "W", "B?"),
    attrs={**sp.window_attrs(),
           "group": Attr("int", 1, check=lambda g: None if g >= 1 else "must be >= 1"),
           "output_padding": Attr("ints", None),
           "output_shape": Attr("ints", None)},
    canonicalize=_convt_canon,
    infer=_convt_infer,
    reference=_convt_ref,
    onnx=OnnxMap(exporter=_convt_export),
    # every input element is scattered through a (M/group, *K) slice of the weight
    flops=lambda types, a, outs: 2 * types[0].size * int(np.prod(types[1].shape[1:])),
    kernels={"c": _convt_c},
    tvm=_convt_tvm,
    doc="N-D transposed convolution (the gradient of Conv w.r.t. its input)",
))

