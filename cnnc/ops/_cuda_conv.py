"""The implementation table of the conv family (Conv, FusedConv, LocalConv, TiledConv) for
the CUDA target.  The algorithm is chosen here, per layer, by cost; each entry renders a
template of its own (``templates/cuda/kernels/conv_direct.cu.j2``, ``conv_igemm.cu.j2``) from
parameters made for the GPU, not from the C kernels' plan.

* ``direct``: one thread per output element, summing its channels x taps in registers; a
  tap in the padding is skipped, not multiplied.  Applies to every conv of the family:
  depthwise (one channel per group), per-position weights (LocalConv, TiledConv), and a
  padded conv with an Inf or NaN weight (0 * Inf would be NaN).
* ``implicit_gemm``: per group, ``Y[pixels, channels] = im2col(X)[pixels, K] . W[K, channels]``
  on the shared-memory tiles of ``cuda/kernels/_gemm_tile.j2`` (the Gemm/MatMul kernel's),
  the im2col elements gathered on the fly (a padding tap is a predicated load of 0, so it is
  multiplied: not for an Inf or NaN weight).  Shared weights only.

Costs are work estimates in one unit (multiply-adds at the direct kernel's rate): the tiled
GEMM does the multiply-adds of its padded tiles (``GEMM_TILE``) ``GEMM_SPEEDUP`` times
faster.  They are not calibrated on a GPU (no GPU run has timed them yet); the ratio is
the usual one of a register- and shared-memory-tiled GEMM over one sum per thread.
"""
from __future__ import annotations

import numpy as np

from ..ir import Impl, Kernel, KernelRequest
from . import _spatial as sp
from ._c import SHORT, contiguous_strides, ctype
from ._precision import acc_ctype

#: the output tile (pixels, channels, reduction step) of ``cuda/kernels/_gemm_tile.j2``
GEMM_TILE = (64, 64, 16)
#: how many times faster the tiled GEMM does a multiply-add than the direct kernel
GEMM_SPEEDUP = 8.0


def _ceil_to(n: int, m: int) -> int:
    return -(-n // m) * m


def _tiles(req: KernelRequest, positional: bool) -> tuple[int, ...]:
    """The weight's position dims (LocalConv, TiledConv: ``(*T, M, C, *K)``), else ones."""
    nd = req.in_types[0].rank - 2
    return tuple(req.in_types[1].shape[:nd]) if positional else (1,) * nd


def _geometry(req: KernelRequest, geo: sp.WindowGeometry) -> dict:
    """What both templates take: sizes, per-axis geometry, strides, and per axis (from the
    loop plan, ``_spatial.loop_axes``) whether a tap can land before the input
    (``lo_check``) or past its end (``hi_check``)."""
    x, y = req.in_types[0], req.out_types[0]
    ishape, oshape, k, s, d, pads, group = geo
    axes = sp.loop_axes(geo)
    nd = len(ishape)
    c, m = x.shape[1], y.shape[1]
    cg, ksize = c // group, int(np.prod(k))
    return {"ctype": ctype(y.dtype), "acc_ctype": acc_ctype(y.dtype, cg * ksize), "N": x.shape[0], "C": c,
            "CG": cg, "G": group, "M": m, "MG": m // group, "KG": cg * ksize, "ishape": ishape, "oshape": oshape,
            "kshape": k, "strides": s, "dilations": d, "pads": pads[:nd],
            "lo_check": [ax.reads_before for ax in axes], "hi_check": [ax.reads_past for ax in axes],
            "isize": int(np.prod(ishape)), "osize": int(np.prod(oshape)), "ksize": ksize,
            "istrides": tuple(contiguous_strides(ishape)), "ostrides": tuple(contiguous_strides(oshape)),
            "kstrides": tuple(contiguous_strides(k)), "total": x.shape[0] * m * int(np.prod(oshape))}


def _gemm_sizes(req: KernelRequest) -> tuple[int, int, int, int]:
    """``(groups, rows, columns, K)`` of the conv as per-group GEMMs: output pixels of every
    image, the group's output channels, and its channels times the kernel's taps."""
    x, y = req.in_types[0], req.out_types[0]
    group = req.attrs.get("group", 1)
    return group, y.size // y.shape[1], y.shape[1] // group, x.shape[1] // group * int(np.prod(req.attrs["kernel_shape"]))


def direct_cost(req: KernelRequest) -> float:
    g, rows, cols, k = _gemm_sizes(req)
    return float(g * rows * cols * k)


def gemm_cost(req: KernelRequest) -> float:
    g, rows, cols, k = _gemm_sizes(req)
    tm, tn, tk = GEMM_TILE
    return g * _ceil_to(rows, tm) * _ceil_to(cols, tn) * _ceil_to(k, tk) / GEMM_SPEEDUP


def gemm_applies(req: KernelRequest) -> bool:
    """Shared weights whose padding taps may be multiplied by zero."""
    return not sp.weight_meets_padding_nonfinite(req)


def cuda_conv_impls(tag: str, epilogue, *, positional: bool = False, position_bias: bool = False) -> tuple[Impl, ...]:
    """The CUDA table of a conv op.  ``epilogue(req) -> {"bias": bool, "residual", "act",
    "act_name"}`` (the C table's); ``positional``: the weight has position dims (LocalConv,
    TiledConv; only ``direct`` applies), ``position_bias``: its bias is ``(M, *O)``."""

    def plan(algo: str):
        def make(req: KernelRequest) -> Kernel:
            e = epilogue(req)
            geo = sp.window_geometry(req)
            p = _geometry(req, geo)
            tiles = _tiles(req, positional)
            bias = ("position" if position_bias else "channel") if e.get("bias") else ""
            act, act_name, residual = e.get("act", ""), e.get("act_name", ""), e.get("residual", "")
            # the weight's position offset per axis: (axis, tiles, stride, whether o wraps)
            tstrides = contiguous_strides(tiles)
            p.update(bias=bias, residual=residual, act=act, mck=p["M"] * p["KG"],
                     wpos=[(a, tiles[a], tstrides[a], tiles[a] < p["oshape"][a])
                           for a in range(len(tiles)) if tiles[a] > 1])
            nd = len(p["oshape"])
            y = req.out_types[0]
            name = (f"cnnc_cuda_{tag}{nd}d_{algo}_{SHORT[y.dtype]}_k{sp.dims_tag(p['kshape'])}"
                    f"_s{sp.dims_tag(p['strides'])}_d{sp.dims_tag(p['dilations'])}_p{sp.dims_tag(geo.pads)}"
                    f"_g{p['G']}" + (f"_t{sp.dims_tag(tiles)}" if positional else "") + ("_b" if bias else "")
                    + (f"_z{residual}" if residual else "") + (f"_{act_name.lower()}" if act else "")
                    + f"_{sp.dims_tag(req.in_types[0].shape)}_m{p['M']}")
            comment = (f"{req.node.op} {nd}-D {algo} kernel {p['kshape']} strides {p['strides']} "
                       f"dilations {p['dilations']} group {p['G']}" + (f" {act_name}" if act else "")
                       + (f" residual {residual}" if residual else "") + f" -> {y}")
            return Kernel(f"cuda/kernels/conv_{'direct' if algo == 'direct' else 'igemm'}.cu.j2", name, p,
                          comment=comment)
        return make

    entries = [Impl("direct", plan("direct"), cost=direct_cost)]
    if not positional:
        entries.append(Impl("implicit_gemm", plan("implicit_gemm"), applies=gemm_applies, cost=gemm_cost))
    return tuple(entries)
