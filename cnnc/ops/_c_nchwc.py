"""The channel-blocked convolution for the C target: the ``nchwc`` entry of BlockedConv's
implementation table (the template is ``c/kernels/conv_nchwc.c.j2``).

Activations are ``NCHW<VL>c`` and the weight is packed ``OIHW<VL>i<VL>o`` (depthwise:
``OIHW<VL>o``) by the layout pass, with ``VL`` the ISA's float lanes, as MLAS's NCHWc
kernels take them (``SconvKernelFma3.S``, ``SconvKernelAvx512F.S``).  The register tile
is ``RO`` output blocks by ``RW`` pixels of one output row (MLAS: 4 x 3 on AVX2, 4 x 6 on
AVX-512): per input lane, ``RW`` broadcast inputs and ``RO`` weight vectors feed
``RO * RW`` FMAs.  A 1x1 stride-1 unpadded conv sees its whole map as one row, so its
tiles never break at a row's end.  Tasks are runs of output rows of one image and one
group of output blocks.
"""
from __future__ import annotations

import math

from ..ir import Kernel, KernelRequest
from . import _spatial as sp
from ._c import parallel_tasks

TEMPLATE = "c/kernels/conv_nchwc.c.j2"
#: rough rates of the cost model: the tile's flops a second per vector lane at a full tile
#: (``RO * RW`` accumulators), by ISA kind, depthwise flops a second per lane, and a tile's
#: fixed cost.  They are on the GEMM model's scale (``_c_gemm``: the layout pass weighs this
#: kernel against the plain ones), fitted to ``bench/bench_conv.py`` on a Zen 4 core, whose
#: 512-bit FMAs run as two 256-bit halves: the AVX-512 4x6 tile measured 6.2e9 a lane (the
#: GEMM model's estimates there run at about 0.7x of measured times), the AVX2 4x3 tile
#: about 12e9 (the GEMM model's AVX2 estimates at about 1.3x); NEON is not measured
TILE_FLOPS_PER_LANE = {"avx512": 9e9, "avx2": 12e9}
DEFAULT_TILE_FLOPS_PER_LANE = 9e9
DEPTHWISE_FLOPS_PER_LANE = 6e9
TILE_SECONDS = 4e-9
#: output elements a second written to a plain Y (lane by lane, plane by plane)
PLAIN_STORE_ELEMENTS = 2.5e9
TASK_SECONDS = 2e-7


def registers(isa) -> int:
    """The ISA's vector registers."""
    return 16 if isa.kind == "avx2" else 32


class Geometry:
    """A blocked conv's sizes, as the template reads them."""

    def __init__(self, req: KernelRequest):
        x, y, w = req.in_types[0], req.out_types[0], req.in_types[1]
        a = req.attrs
        vl = a["block"]
        self.x_plain, self.y_plain = not a["x_blocked"], not a["y_blocked"]
        xs = x.shape[2:] if self.x_plain else x.shape[2:-1]
        ys = y.shape[2:] if self.y_plain else y.shape[2:-1]
        nd = len(xs)
        k, s, d = tuple(a["kernel_shape"]), tuple(a["strides"]), tuple(a["dilations"])
        pads = tuple(sp.resolve_pads(xs, k, s, d, a["auto_pad"], a["pads"]))
        if nd == 1:
            k, s, d, pads, xs, ys = (1, *k), (1, *s), (1, *d), (0, pads[0], 0, pads[1]), (1, *xs), (1, *ys)
        self.vl, self.n, self.m = vl, x.shape[0], a["out_channels"]
        self.cb, self.ob = x.shape[1], w.shape[0]
        (self.h, self.w), (self.oh, self.ow) = xs, ys
        (self.kh, self.kw), (self.sh, self.sw), (self.dh, self.dw) = k, s, d
        self.pt, self.pl = pads[0], pads[1]
        self.depthwise = a["group"] > 1
        if (self.kh, self.kw, self.sh, self.sw) == (1, 1, 1, 1) and not any(pads) and (
                req.workers == 1 or self.n * self.ob >= 16 * req.workers):
            # a pointwise conv: the map is one row of pixels (its rows stay where the
            # workers need them to split the work)
            self.w, self.ow, self.h, self.oh = self.h * self.w, self.oh * self.ow, 1, 1
        regs = registers(req.isa)
        if self.depthwise:
            self.ro, self.rw = 1, min(8, regs - 4)
        else:
            self.ro = max(r for r in range(1, 5) if self.ob % r == 0)
            self.rw = max(1, min(6, (regs - 4) // self.ro))
        self.rw = min(self.rw, max(1, self.ow))
        # columns whose every tap is inside the input
        iw0 = -(-self.pl // self.sw)
        iw1 = (self.w - 1 + self.pl - (self.kw - 1) * self.dw) // self.sw + 1
        self.iw0 = min(max(iw0, 0), self.ow)
        self.iw1 = min(max(iw1, self.iw0), self.ow)
        self.rem = (self.iw1 - self.iw0) % self.rw

    @property
    def flops(self) -> float:
        per_output = 2.0 * self.kh * self.kw * (1 if self.depthwise else self.cb * (1 if self.x_plain else self.vl))
        return per_output * self.n * self.ob * self.vl * self.oh * self.ow

    def tiles(self) -> int:
        inner = self.iw1 - self.iw0
        per_row = self.ow - inner + inner // self.rw + (self.rem > 0)
        return self.n * (self.ob // self.ro) * self.oh * per_row

    def efficiency(self) -> float:
        """The share of the full tile's rate: the pixels that run in full tiles, and a tile's
        loads (one weight vector per block, one broadcast per pixel) against its FMAs."""
        inner = self.iw1 - self.iw0
        full = (inner - self.rem) / max(1, self.ow)
        ops = lambda ro, rw: ro * rw / (ro * rw + 0.5 * (ro + rw))  # noqa: E731
        best = ops(4, 6)
        return (full * ops(self.ro, self.rw) + (1 - full) * ops(self.ro, 1)) / best


def applies(req: KernelRequest) -> bool:
    """fp32, 1-D or 2-D, on an ISA with vectors (the template's ``VL``-lane vectors are GNU C
    vector extensions; the layout pass blocks by the ISA's lanes, and other blocks work too:
    a 16-lane vector is two AVX2 registers)."""
    x = req.in_types[0]
    return (x.dtype == "float32" and x.rank - req.attrs["x_blocked"] in (3, 4) and req.isa.vector > 0
            and x.size > 0 and req.out_types[0].size > 0)


def cost(req: KernelRequest) -> float:
    g = Geometry(req)
    tile = TILE_FLOPS_PER_LANE.get(req.isa.kind, DEFAULT_TILE_FLOPS_PER_LANE)
    rate = (DEPTHWISE_FLOPS_PER_LANE if g.depthwise else tile * g.efficiency()) * g.vl
    tasks = _tasks(g, req.workers)[0]
    seconds = g.flops / rate + g.tiles() * TILE_SECONDS + (tasks * TASK_SECONDS if tasks > 1 else 0.0)
    if g.y_plain:
        seconds += g.n * g.m * g.oh * g.ow / PLAIN_STORE_ELEMENTS
    return seconds * req.workers / min(req.workers, tasks)  # work, as the other tables count it


def _tasks(g: Geometry, workers: int) -> tuple[int, int, int, int]:
    """(tasks, items per task, row chunks, rows per chunk): an item is a chunk of output
    rows of one image and one group of output blocks; a task a run of items."""
    groups = g.n * (g.ob // g.ro)
    want = parallel_tasks(groups * g.oh, g.flops, workers)
    chunks = min(g.oh, max(1, -(-want // groups)))
    rows = -(-g.oh // chunks)
    chunks = -(-g.oh // rows)
    items = groups * chunks
    per = -(-items // want)
    return -(-items // per), per, chunks, rows


def conv_nchwc(req: KernelRequest, tag: str, *, bias: bool, residual: str = "", act: str = "",
               act_name: str = "") -> Kernel:
    """The plan (see the module docstring)."""
    g = Geometry(req)
    tasks, per, chunks, rows = _tasks(g, req.workers)
    vl = g.vl
    ws_kw = vl if g.depthwise or g.x_plain else vl * vl
    xpix = 1 if g.x_plain else vl
    plane = g.oh * g.ow
    params = {
        "VL": vl, "CB": g.cb, "H": g.h, "W": g.w, "OH": g.oh, "OW": g.ow, "KH": g.kh, "KW": g.kw,
        "SH": g.sh, "SW": g.sw, "DH": g.dh, "DW": g.dw, "PT": g.pt, "PL": g.pl,
        "depthwise": g.depthwise, "RO": g.ro, "RW": g.rw, "REM": g.rem, "IW0": g.iw0, "IW1": g.iw1,
        "OG": g.ob // g.ro, "RC": chunks, "ROWS": rows, "tasks": tasks, "PER": per,
        "ITEMS": g.n * (g.ob // g.ro) * chunks,
        "row_test": g.pt > 0 or (g.oh - 1) * g.sh - g.pt + (g.kh - 1) * g.dh >= g.h,
        "x_plain": g.x_plain, "y_plain": g.y_plain, "M": g.m, "LANES": xpix, "XPIX": xpix,
        "XS_H": g.w * xpix, "XS_CB": g.h * g.w * xpix, "XS_N": g.cb * g.h * g.w * xpix,
        "YPIX": 1 if g.y_plain else vl, "YLANE": plane if g.y_plain else 1,
        "YS_H": g.ow * (1 if g.y_plain else vl), "YS_OB": plane * vl,
        "YS_N": (g.m if g.y_plain else g.ob * vl) * plane,
        "WS_KW": ws_kw, "WS_KH": g.kw * ws_kw, "WS_CB": g.kh * g.kw * ws_kw,
        "WS_OB": g.kh * g.kw * ws_kw * (1 if g.depthwise else g.cb),
        "bias": bias, "residual": residual, "act": act,
    }
    kind = ("dw" if g.depthwise else f"{g.ro}x{g.rw}") + "_xp" * g.x_plain + "_yp" * g.y_plain
    name = (f"cnnc_{tag}_nchw{vl}c_{kind}_f32_k{g.kh}x{g.kw}_s{g.sh}x{g.sw}_d{g.dh}x{g.dw}_p{g.pt}x{g.pl}"
            + ("_b" if bias else "") + (f"_z{residual}" if residual else "")
            + (f"_{act_name.lower()}" if act else "")
            + f"_{g.n}x{g.cb}x{g.h}x{g.w}_o{g.m}x{g.oh}x{g.ow}")
    comment = (f"{req.node.op} on NCHW{vl}c ({'depthwise' if g.depthwise else f'{g.ro} blocks x {g.rw} pixels'} "
               + ("tiles, X plain" if g.x_plain else "tiles") + (", Y plain" if g.y_plain else "") + ") "
               f"kernel {g.kh}x{g.kw} strides {g.sh}x{g.sw} dilations {g.dh}x{g.dw} pads {g.pt},{g.pl}"
               + (f" {act_name}" if act else "") + (f" residual {residual}" if residual else "")
               + f" -> {req.out_types[0]}")
    assert math.prod((g.n, g.m if g.y_plain else g.ob * vl, g.oh, g.ow)) == req.out_types[0].size
    return Kernel(TEMPLATE, name, params, comment=comment, parallel=True)
