"""Shared pad/stride/window logic of every sliding-window op (conv, transposed conv,
pooling, unshared and tiled conv) — the one place padding arithmetic lives.

Conventions (ONNX's): spatial axes are the trailing ``nd`` axes of an ``N, C, *spatial``
tensor; ``pads`` is ``(begin_1..begin_nd, end_1..end_nd)``; ``auto_pad`` is one of
``NOTSET`` (use ``pads``), ``VALID``, ``SAME_UPPER``, ``SAME_LOWER`` (output extent
``ceil(in / stride)``; odd total padding goes to the end, resp. the beginning) or
``FULL`` (``dilation * (kernel - 1)`` on both sides).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..ir import LIMITS, Attr, ShapeError

AUTO_PAD = ("NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER", "FULL")


def _positive(v):
    return None if all(x >= 1 for x in v) else "every entry must be >= 1"


def _non_negative(v):
    return None if all(x >= 0 for x in v) else "every entry must be >= 0"


def window_attrs(*, dilations: bool = True) -> dict[str, Attr]:
    """Attribute schema shared by the sliding-window ops."""
    attrs = {
        "kernel_shape": Attr("ints", None, check=_positive, doc="window extent per spatial axis"),
        "strides": Attr("ints", None, check=_positive),
        "pads": Attr("ints", None, check=_non_negative, doc="begin..., end..."),
        "auto_pad": Attr("str", "NOTSET", choices=AUTO_PAD),
    }
    if dilations:
        attrs["dilations"] = Attr("ints", None, check=_positive)
    return attrs


def canonical_window(attrs: dict, nd: int, kernel: Sequence[int] | None = None) -> dict:
    """Fill derived defaults: ``kernel_shape`` (from ``kernel`` if given), unit strides and
    dilations, zero pads; check every tuple has one entry per spatial axis."""
    out = dict(attrs)
    if kernel is not None:
        if out.get("kernel_shape") not in (None, tuple(kernel)):
            raise ShapeError(f"kernel_shape {out['kernel_shape']} disagrees with the weight's "
                             f"spatial shape {tuple(kernel)}")
        out["kernel_shape"] = tuple(kernel)
    if out.get("kernel_shape") is None:
        raise ShapeError("kernel_shape is required")
    defaults = {"strides": (1,) * nd, "dilations": (1,) * nd, "pads": (0,) * (2 * nd)}
    for key, dflt in defaults.items():
        if key not in out:
            continue
        if out[key] is None:
            out[key] = dflt
        if len(out[key]) != len(dflt):
            raise ShapeError(f"{key} has {len(out[key])} entries, expected {len(dflt)} for "
                             f"{nd} spatial axes")
    if len(out["kernel_shape"]) != nd:
        raise ShapeError(f"kernel_shape {out['kernel_shape']} has {len(out['kernel_shape'])} "
                         f"entries, expected {nd}")
    return out


def spatial_rank(shape: Sequence[int], what: str = "input", ranks=(1, 2, 3)) -> int:
    nd = len(shape) - 2
    if nd not in ranks:
        raise ShapeError(f"{what} must be N, C, then {' or '.join(map(str, ranks))} spatial "
                         f"axes; got shape {tuple(shape)}")
    return nd


def resolve_pads(in_shape: Sequence[int], kernel: Sequence[int], strides: Sequence[int],
                 dilations: Sequence[int], auto_pad: str, pads: Sequence[int]) -> tuple[int, ...]:
    """Explicit ``(begin..., end...)`` pads for the given spatial extents."""
    nd = len(in_shape)
    dk = [d * (k - 1) + 1 for k, d in zip(kernel, dilations)]
    if auto_pad == "NOTSET":
        return tuple(pads)
    if auto_pad == "VALID":
        return (0,) * (2 * nd)
    if auto_pad == "FULL":
        return tuple(k - 1 for k in dk) * 2
    begin, end = [], []
    for n, k, s in zip(in_shape, dk, strides):
        total = max((math.ceil(n / s) - 1) * s + k - n, 0)
        small, big = total // 2, total - total // 2
        begin.append(small if auto_pad == "SAME_UPPER" else big)
        end.append(big if auto_pad == "SAME_UPPER" else small)
    return tuple(begin + end)


def dims_tag(v) -> str:
    """``(3, 3)`` -> ``3x3`` for kernel names (a negative value -1 is ``n1``)."""
    return "x".join(str(i) if i >= 0 else f"n{-i}" for i in v)


class WindowGeometry(NamedTuple):
    """A window op's node geometry as its C kernels plan it: spatial input and output
    shapes, kernel, strides, dilations, the resolved pads (begins, ends) and the group."""

    ishape: tuple[int, ...]
    oshape: tuple[int, ...]
    kernel: tuple[int, ...]
    strides: tuple[int, ...]
    dilations: tuple[int, ...]
    pads: tuple[int, ...]
    group: int


def window_geometry(req) -> WindowGeometry:
    """The geometry of ``req`` (a KernelRequest of a conv-like node: operand 0 the input,
    result 0 the output, Conv's window attributes)."""
    x, y, a = req.in_types[0], req.out_types[0], req.attrs
    nd = x.rank - 2
    ishape, oshape = x.shape[2:], y.shape[2:]
    k, s = tuple(a["kernel_shape"]), tuple(a["strides"])
    d = tuple(a.get("dilations") or (1,) * nd)
    pads = tuple(resolve_pads(ishape, k, s, d, a["auto_pad"], a["pads"]))
    return WindowGeometry(ishape, oshape, k, s, d, pads, a.get("group", 1))


def weight_meets_padding_nonfinite(req) -> bool:
    """Whether ``req`` (a conv-like KernelRequest) has padding and a constant weight holding
    an Inf or NaN.  Padding taps must not be multiplied (0 * Inf is NaN), so such a node needs
    a kernel that skips them rather than one that multiplies zero-filled padding."""
    w = req.constants[1] if len(req.constants) > 1 else None
    return w is not None and any(window_geometry(req).pads) and not bool(np.isfinite(w).all())


def output_extent(n: int, k: int, s: int, d: int, pb: int, pe: int, *, ceil_mode: bool = False,
                  axis: int = 0) -> int:
    """Output length of one spatial axis (ONNX rule, including ceil_mode's last-window rule)."""
    dk = d * (k - 1) + 1
    span = n + pb + pe - dk
    if span < 0:
        raise ShapeError(f"window of extent {dk} (kernel {k}, dilation {d}) is larger than the "
                         f"padded input ({n} + {pb} + {pe}) on spatial axis {axis}")
    if not ceil_mode:
        return span // s + 1
    out = -(-span // s) + 1
    if (out - 1) * s >= n + pb:  # the last window would start inside the end padding
        out -= 1
    return out


def output_shape(in_spatial: Sequence[int], attrs, *, ceil_mode: bool = False) -> tuple[int, ...]:
    """Spatial output shape of a sliding-window op from its canonical attributes."""
    dil = attrs.get("dilations") or (1,) * len(in_spatial)
    pads = resolve_pads(in_spatial, attrs["kernel_shape"], attrs["strides"], dil,
                        attrs["auto_pad"], attrs["pads"])
    nd = len(in_spatial)
    # the padded plane that the reference (and a padded-planes kernel) fills, in float64
    padded = math.prod(n + pads[i] + pads[i + nd] for i, n in enumerate(in_spatial))
    if (msg := LIMITS.too_big(padded * 8, f"a padded plane of {in_spatial} with pads {pads}")) is not None:
        raise ShapeError(msg)
    return tuple(output_extent(n, k, s, d, pads[i], pads[i + nd], ceil_mode=ceil_mode, axis=i)
                 for i, (n, k, s, d) in enumerate(zip(in_spatial, attrs["kernel_shape"],
                                                      attrs["strides"], dil)))


def buffer_pads(in_spatial: Sequence[int], attrs, *, ceil_mode: bool = False) -> tuple[int, ...]:
    """Explicit ``(begin..., end...)`` pads of the buffer a window op reads: the resolved
    pads, with the end pads grown where a ceil_mode window overhangs them, so that every
    window lies inside the buffer."""
    nd = len(in_spatial)
    dil = attrs.get("dilations") or (1,) * nd
    pads = resolve_pads(in_spatial, attrs["kernel_shape"], attrs["strides"], dil,
                        attrs["auto_pad"], attrs["pads"])
    out = output_shape(in_spatial, attrs, ceil_mode=ceil_mode)
    ends = [max(pads[nd + i], (o - 1) * s + d * (k - 1) + 1 - n - pads[i])
            for i, (n, o, s, k, d) in enumerate(zip(in_spatial, out, attrs["strides"],
                                                    attrs["kernel_shape"], dil))]
    return tuple(pads[:nd]) + tuple(ends)


def windows(x: np.ndarray, attrs, *, pad_value: float = 0.0, ceil_mode: bool = False
            ) -> np.ndarray:
    """The windows of ``x`` (N, C, *spatial) seen by a sliding-window op: a read-only view of
    shape ``(N, C, *out, *kernel)`` over the padded input (padding filled with
    ``pad_value``; ceil_mode's overhang too)."""
    nd = x.ndim - 2
    dil = attrs.get("dilations") or (1,) * nd
    pads = buffer_pads(x.shape[2:], attrs, ceil_mode=ceil_mode)
    out = output_shape(x.shape[2:], attrs, ceil_mode=ceil_mode)
    padded = x.shape[0] * x.shape[1] * math.prod(n + pads[i] + pads[nd + i] for i, n in enumerate(x.shape[2:]))
    if (msg := LIMITS.too_big(padded * x.itemsize, f"the padded input of {list(x.shape)}")) is not None:
        raise ShapeError(msg)
    xp = np.pad(x, [(0, 0), (0, 0)] + [(pads[i], pads[nd + i]) for i in range(nd)],
                constant_values=pad_value)
    dk = [d * (k - 1) + 1 for k, d in zip(attrs["kernel_shape"], dil)]
    view = sliding_window_view(xp, dk, axis=tuple(range(2, 2 + nd)))
    index = ((slice(None),) * 2 + tuple(slice(0, o * s, s) for o, s in zip(out, attrs["strides"]))
             + tuple(slice(None, None, d) for d in dil))
    return view[index]


def valid_mask(x_shape: Sequence[int], attrs, *, ceil_mode: bool = False) -> np.ndarray:
    """Windows of a ones-tensor of spatial shape ``x_shape``: 1 where a window element lies on
    the input, 0 on padding. Shape ``(*out, *kernel)``."""
    ones = np.ones((1, 1, *x_shape), dtype=np.float64)
    return windows(ones, attrs, ceil_mode=ceil_mode)[0, 0]


def check_spatial_match(in_shape, out, what="output"):
    if any(o <= 0 for o in out):
        raise ShapeError(f"{what} would be empty: input spatial shape {tuple(in_shape)} "
                         f"gives {tuple(out)}")


# ---------------------------------------------------------------- ONNX export
def export_explicit_pads(node, operands, b):
    """Export hook of window ops: write the resolved pads and no ``auto_pad`` (cnnc's FULL
    has no ONNX spelling, and onnxruntime rejects ``pads`` beside ``auto_pad``); the
    semantics are the same once shapes are static."""
    spatial = b.type(operands[0]).shape[2:]
    dil = node.attrs.get("dilations") or (1,) * len(spatial)
    pads = resolve_pads(spatial, node.attrs["kernel_shape"], node.attrs["strides"], dil,
                        node.attrs["auto_pad"], node.attrs["pads"])
    return b.generic(attrs={"pads": pads, "auto_pad": "NOTSET"})


def export_patches(b, x: str, in_shape, attrs, *, ceil_mode: bool = False) -> str:
    """ONNX nodes (for function bodies) that extract the windows of ``x`` as an
    ``(N, C, K, *out)`` tensor, ``K = prod(kernel)``: a depthwise Conv with one-hot kernels
    (window offset ``k`` of channel ``c`` lands in channel ``c*K + k``) over the buffer pads
    of ``buffer_pads``, zero padded."""
    n, c, *spatial = in_shape
    nd, kernel = len(spatial), tuple(attrs["kernel_shape"])
    k = int(np.prod(kernel))
    onehot = np.zeros((c * k, 1, *kernel), np.float32)
    for ci in range(c):
        for ki, idx in enumerate(np.ndindex(*kernel)):
            onehot[(ci * k + ki, 0) + idx] = 1.0
    pads = buffer_pads(spatial, attrs, ceil_mode=ceil_mode)
    out = output_shape(spatial, attrs, ceil_mode=ceil_mode)
    (cols,) = b.emit("Conv", [x, b.const(onehot, "onehot")],
                     {"group": c, "kernel_shape": kernel, "strides": attrs["strides"],
                      "dilations": attrs.get("dilations") or (1,) * nd, "pads": pads})
    (patches,) = b.emit("Reshape", [cols, b.const(np.array((n, c, k, *out), np.int64), "shape")])
    return patches


def kernel_major(mask: np.ndarray, nd: int) -> np.ndarray:
    """A ``(*out, *kernel)`` array reordered as ``(K, *out)`` to match export_patches."""
    out, kernel = mask.shape[:nd], mask.shape[nd:]
    flat = mask.reshape(*out, -1)
    return np.moveaxis(flat, -1, 0).reshape(int(np.prod(kernel)), *out)


# ---------------------------------------------------------------- loop bounds
def tap_reach(n_in: int, n_out: int, t: int, s: int, d: int, p: int) -> tuple[int, int]:
    """The outputs ``[lo, hi)`` of ``[0, n_out)`` whose tap ``t`` reads inside the input:
    ``0 <= o*s + t*d - p < n_in`` (one axis; ``p`` the begin pad)."""
    off = t * d - p
    lo = max(0, -(off // s))
    return lo, max(lo, min(n_out, (n_in - 1 - off) // s + 1))


def output_taps(n_in: int, n_out: int, k: int, s: int, d: int, p: int) -> tuple[tuple[int, int], ...]:
    """Per output of one axis, the taps ``[first, end)`` that read inside the input (a
    contiguous range, since the input index grows with the tap; empty ranges start where
    the input would) — the dual of tap_reach."""
    out = []
    for o in range(n_out):
        start = o * s - p
        first = min(k, max(0, -(start // d)))    # the least t with start + t*d >= 0
        end = min(k, (n_in - 1 - start) // d + 1)  # past the last t with start + t*d < n_in
        out.append((first, max(first, end)))
    return tuple(out)


@dataclass(frozen=True)
class AxisPlan:
    """One spatial axis of a window op's loop nest (the stride-aware loop plan the kernels
    consume: ``conv.direct_conv``'s interior blocks and border tables, the CUDA conv's bounds
    tests; ``passes.padding.loop_plan`` gives it per graph node).  Output ``o`` reads input
    index ``starts[o] + k * dilation`` for kernel tap ``k``; the taps ``range(*taps[o])`` lie
    on the input, the others on padding."""

    extent: int                       #: input extent
    out_extent: int
    kernel: int
    stride: int
    dilation: int
    pad_begin: int
    pad_end: int
    starts: tuple[int, ...]           #: o * stride - pad_begin, per output index
    taps: tuple[tuple[int, int], ...]  #: [first, end) kernel taps on the input, per output index
    interior: tuple[int, int]         #: [begin, end) outputs whose taps all lie on the input

    @property
    def border(self) -> tuple[tuple[int, int], ...]:
        """The [begin, end) output ranges outside the interior (at most two)."""
        b, e = self.interior
        return tuple(r for r in ((0, b), (e, self.out_extent)) if r[0] < r[1])

    @property
    def reads_before(self) -> bool:
        """Some output's window starts in the begin padding."""
        return any(t[0] > 0 for t in self.taps)

    @property
    def reads_past(self) -> bool:
        """Some output's window ends in the end padding."""
        return any(t[1] < self.kernel for t in self.taps)


def axis_plan(n: int, out: int, k: int, s: int, d: int, pb: int, pe: int) -> AxisPlan:
    starts = tuple(o * s - pb for o in range(out))
    taps = output_taps(n, out, k, s, d, pb)
    inner = [o for o, t in enumerate(taps) if t == (0, k)]
    interior = (inner[0], inner[-1] + 1) if inner else (0, 0)
    return AxisPlan(n, out, k, s, d, pb, pe, starts, taps, interior)


def loop_axes(geo: WindowGeometry) -> tuple[AxisPlan, ...]:
    """The loop plan of a window op, per spatial axis, from its geometry."""
    nd = len(geo.ishape)
    return tuple(axis_plan(geo.ishape[i], geo.oshape[i], geo.kernel[i], geo.strides[i], geo.dilations[i],
                           geo.pads[i], geo.pads[nd + i]) for i in range(nd))
