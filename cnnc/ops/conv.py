"""Convolution (cross-correlation) and transposed convolution, 1-D/2-D/3-D.

``Conv``: ``X (N, C, *S)``, ``W (M, C/group, *K)``, optional ``B (M)``; stride, dilation,
groups (depthwise is ``group == C``), and every padding mode of ``_spatial``.

``ConvTranspose``: ``X (N, C, *S)``, ``W (C, M/group, *K)``, optional ``B (M)``; output
extent ``s*(in-1) + output_padding + d*(k-1) + 1 - pad_begin - pad_end``, or pads derived
from ``output_shape`` when that is given (ONNX semantics).
"""
from __future__ import annotations

import numpy as np

from ..ir import Attr, OnnxMap, OpDef, ShapeError, register
from . import _spatial as sp
from ._common import require_float, same_dtype


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
    """Grouped N-D cross-correlation as one GEMM per group over the window view."""
    nd = x.ndim - 2
    g = a["group"]
    win = sp.windows(x, a)  # N, C, *O, *K
    n, out = x.shape[0], win.shape[2:2 + nd]
    m, cg = w.shape[0], w.shape[1]
    mg = m // g
    y = np.empty((n, m, *out), dtype=np.result_type(x, w))
    axes = (0, *range(2, 2 + nd), 1, *range(2 + nd, 2 + 2 * nd))  # N, *O, C, *K
    for gi in range(g):
        cols = win[:, gi * cg:(gi + 1) * cg].transpose(axes).reshape(n * int(np.prod(out)), -1)
        wg = w[gi * mg:(gi + 1) * mg].reshape(mg, -1)
        yg = (cols @ wg.T).reshape(n, *out, mg)
        y[:, gi * mg:(gi + 1) * mg] = np.moveaxis(yg, -1, 1)
    if b is not None:
        y += b.reshape((1, m) + (1,) * nd)
    return y


def conv_flops(types, a, outs) -> int:
    """2 * output elements * (C/group) * prod(kernel), plus the bias adds."""
    w = types[1]
    macs = outs[0].size * w.shape[1] * int(np.prod(w.shape[2:]))
    return 2 * macs + (outs[0].size if len(types) > 2 else 0)


def _conv_ref(inputs, a):
    x, w = inputs[0], inputs[1]
    return conv_nd(x, w, inputs[2] if len(inputs) > 2 else None, a)


register(OpDef(
    name="Conv",
    inputs=("X", "W", "B?"),
    attrs={**sp.window_attrs(), "group": Attr("int", 1, check=lambda g: None if g >= 1 else "must be >= 1")},
    canonicalize=_conv_canon,
    infer=_conv_infer,
    reference=_conv_ref,
    onnx=OnnxMap(exporter=sp.export_explicit_pads),
    flops=conv_flops,
    doc="N-D cross-correlation with stride, dilation, groups and padding modes",
))


# ---------------------------------------------------------------- transposed convolution
def _convt_pads(in_spatial, a):
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
    pads = _convt_pads(in_spatial, a)
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
    x, w = inputs[0], inputs[1]
    nd = x.ndim - 2
    g = a["group"]
    n, c, ins = x.shape[0], x.shape[1], x.shape[2:]
    cg, mg = c // g, w.shape[1]
    k, s, d = a["kernel_shape"], a["strides"], a["dilations"]
    out, pads = _convt_out(ins, a)
    # scatter every input pixel's kernel-weighted contribution into an uncropped buffer
    full = [si * (ni - 1) + di * (ki - 1) + 1 + pi
            for ni, ki, si, di, pi in zip(ins, k, s, d, a["output_padding"])]
    y = np.zeros((n, g * mg, *full), dtype=np.result_type(x, w))
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
    return np.ascontiguousarray(y)


def _convt_export(node, operands, b):
    """Explicit pads when they are non-negative; an output_shape larger than the natural
    extent (negative pads, which ONNX cannot spell) is written as output_shape."""
    pads = _convt_pads(b.type(operands[0]).shape[2:], node.attrs)
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
    doc="N-D transposed convolution (the gradient of Conv w.r.t. its input)",
))
