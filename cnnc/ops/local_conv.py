"""Convolutions without full weight sharing (Goodfellow et al., *Deep Learning* §9.6).

``LocalConv`` — unshared convolution (a locally connected layer): every output position
has its own kernel.  ``W`` has shape ``(*O, M, C, *K)`` (the 6-D kernel of the book for 2-D:
out-rows, out-cols, out-channels, in-channels, kernel-rows, kernel-cols); optional ``B`` has
shape ``(M, *O)``.  The weight's leading dims must equal the output extent the window
attributes give.

``TiledConv`` — tiled convolution: ``t`` kernels per axis cycle over output positions;
position ``o`` uses kernel ``W[o % T]``.  ``W`` has shape ``(*T, M, C, *K)``; optional ``B``
has shape ``(M,)``.

Both take the usual window attributes (strides, pads, auto_pad, dilations) and share one
reference: tiled convolution is an unshared one whose weights are gathered by position.
Both share Conv's C kernel (``conv.direct_conv``), which picks each position's weight by
its tile (LocalConv: its own position) in the loop nest, and one TVM rule, a TE compute
summing each window against the weight of its position's tile (Relax has no unshared
convolution).
"""
from __future__ import annotations

import numpy as np

from ..ir import OnnxMap, OpDef, ShapeError, register
from . import _spatial as sp
from ._common import require_float, same_dtype
from ._cuda_conv import cuda_conv_impls
from ._precision import wide
from .conv import channel_bias, direct_conv

_LETTERS = "pqrstu"  # spatial subscripts; n, m, c are taken


def _canon(attrs, types):
    nd = sp.spatial_rank(types[0].shape)
    if types[1].rank != 2 * nd + 2:
        raise ShapeError(f"weight must have rank {2 * nd + 2} (*positions, M, C, *kernel) for "
                         f"{nd} spatial axes, got {types[1]}")
    return sp.canonical_window(attrs, nd, types[1].shape[-nd:])


def _infer(kind):
    def infer(types, a):
        x, w = types[0], types[1]
        require_float(x)
        same_dtype(types, ("X", "W", "B"))
        nd = x.rank - 2
        lead, m, c = w.shape[:nd], w.shape[nd], w.shape[nd + 1]
        if c != x.shape[1]:
            raise ShapeError(f"input has {x.shape[1]} channels but weight {w.shape} expects {c}")
        out = sp.output_shape(x.shape[2:], a)
        if kind == "local" and lead != out:
            raise ShapeError(f"unshared weight has positions {lead} but the output extent is "
                             f"{out} (weight must be (*out, M, C, *kernel))")
        if len(types) > 2:
            want = (m, *out) if kind == "local" else (m,)
            if types[2].shape != want:
                raise ShapeError(f"bias must have shape {want}, got {types[2].shape}")
        return (x.with_shape((x.shape[0], m, *out)),)
    return infer


def local_conv(x, w, a):
    """y[n, m, *o] = sum_{c, *k} window[n, c, *o, *k] * w[*o, m, c, *k]."""
    nd = x.ndim - 2
    o, k = _LETTERS[:nd], _LETTERS[nd:2 * nd]
    win = sp.windows(wide(x), a)  # summed in float64, rounded once
    return np.einsum(f"nc{o}{k},{o}mc{k}->nm{o}", win, wide(w), optimize=True).astype(x.dtype)


def _local_ref(inputs, a):
    y = local_conv(inputs[0], inputs[1], a)
    return y + inputs[2][None] if len(inputs) > 2 else y


def _tiled_ref(inputs, a):
    x, w = inputs[0], inputs[1]
    nd = x.ndim - 2
    out = sp.output_shape(x.shape[2:], a)
    tiles = w.shape[:nd]
    index = np.ix_(*[np.arange(n) % t for n, t in zip(out, tiles)])
    y = local_conv(x, w[index], a)
    return y + inputs[2].reshape((1, -1) + (1,) * nd) if len(inputs) > 2 else y


def _export(kind):
    """As a model-local function (ONNX lacks both ops): the windows as an (N, 1, C*K, *O)
    tensor (``_spatial.export_patches``), times the weight rearranged to (M, C*K, *O)
    (tiled: first tiled out to every position), summed over C*K, plus the bias."""
    def hook(node, operands, b):
        a, t, wt = node.attrs, b.type(operands[0]), b.type(operands[1])
        nd = t.rank - 2
        out = sp.output_shape(t.shape[2:], a)
        m, c = wt.shape[nd], wt.shape[nd + 1]
        k = int(np.prod(a["kernel_shape"]))
        has_bias = len(operands) > 2

        def body(fb, params):
            x, w = params[0], params[1]
            patches = sp.export_patches(fb, x, t.shape, a)                      # N, C, K, *O
            (cols,) = fb.emit("Reshape", [patches, fb.const(np.array((t.shape[0], 1, c * k, *out), np.int64))])
            if kind == "tiled":
                reps = [-(-o // ti) for o, ti in zip(out, wt.shape[:nd])] + [1] * (nd + 2)
                (w,) = fb.emit("Tile", [w, fb.const(np.array(reps, np.int64))])
                (w,) = fb.emit("Slice", [w, fb.const(np.zeros(nd, np.int64)),
                                         fb.const(np.array(out, np.int64)),
                                         fb.const(np.arange(nd, dtype=np.int64))])
            # (*O, M, C, *K) -> (M, C, *K, *O) -> (M, C*K, *O)
            perm = [nd, nd + 1, *range(nd + 2, 2 * nd + 2), *range(nd)]
            (wt_,) = fb.emit("Transpose", [w], {"perm": perm})
            (wr,) = fb.emit("Reshape", [wt_, fb.const(np.array((m, c * k, *out), np.int64))])
            (prod,) = fb.emit("Mul", [cols, wr])
            (y,) = fb.emit("ReduceSum", [prod, fb.const(np.array([2], np.int64))], {"keepdims": 0})
            if has_bias:
                bias = params[2]
                if kind == "tiled":
                    (bias,) = fb.emit("Reshape", [bias, fb.const(np.array((m,) + (1,) * nd, np.int64))])
                (y,) = fb.emit("Add", [y, bias])
            return [y]
        name = f"{node.op}_{b.digest(t.shape, wt.shape, has_bias, t.dtype, sorted(a.items()))}"
        return b.function(name, operands, body)
    return hook


def _c_kernel(kind):
    def hook(req):
        nd = req.in_types[0].rank - 2
        bias = "" if len(req.in_types) < 3 else "position" if kind == "local" else "channel"
        return direct_conv(req, f"{kind[0]}conv", tiles=req.in_types[1].shape[:nd], bias=bias)
    return hook


def _tvm(kind):
    """``y[n, m, *o] = sum_{c, *k} xpad[n, c, *(o*s + k*d)] * w[*(o % T), m, c, *k]`` as one
    TE compute over the zero-padded input (topi's ``pad``); the bias added in Relax."""
    def rule(req, xs, b):
        x, w, a = req.in_types[0], req.in_types[1], req.attrs
        nd = x.rank - 2
        k, s, d = a["kernel_shape"], a["strides"], a["dilations"]
        pads = sp.resolve_pads(x.shape[2:], k, s, d, a["auto_pad"], a["pads"])
        out = req.out_types[0].shape
        tiles = w.shape[:nd]
        te = b.te

        def compute(xt, wt):
            xp = b.topi.nn.pad(xt, (0, 0, *pads[:nd]), (0, 0, *pads[nd:]))
            rc = te.reduce_axis((0, x.shape[1]), name="rc")
            rk = [te.reduce_axis((0, ki), name=f"rk{i}") for i, ki in enumerate(k)]

            def f(n, m, *o):
                tile = [oi if t >= on else oi % t for oi, t, on in zip(o, tiles, out[2:])]
                pos = [oi * si + ri * di for oi, si, ri, di in zip(o, s, rk, d)]
                return te.sum(xp[(n, rc, *pos)] * wt[(*tile, m, rc, *rk)], axis=[rc, *rk])
            return te.compute(out, f, name=f"{kind}_conv")

        y = b.emit_te(compute, xs[0], xs[1], name=f"{kind}_conv{nd}d")
        if len(xs) < 3:
            return y
        return b.R.add(y, b.R.expand_dims(xs[2], 0)) if kind == "local" else channel_bias(y, xs[2], b)
    return rule


for _name, _kind, _ref, _doc in (
        ("LocalConv", "local", _local_ref, "unshared convolution: one kernel per output position"),
        ("TiledConv", "tiled", _tiled_ref, "tiled convolution: T kernels cycling over positions")):
    register(OpDef(name=_name, inputs=("X", "W", "B?"), attrs=sp.window_attrs(),
                   canonicalize=_canon, infer=_infer(_kind), reference=_ref,
                   onnx=OnnxMap(domain="cnnc", exporter=_export(_kind)),
                   kernels={"c": _c_kernel(_kind), "cuda": cuda_conv_impls(
                       f"{_kind[0]}conv", lambda req: {"bias": len(req.in_types) > 2}, positional=True,
                       position_bias=_kind == "local")}, tvm=_tvm(_kind), zero_padded=lambda a: True, doc=_doc))
