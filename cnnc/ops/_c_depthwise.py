"""Depthwise convolution on vector rows for the C target: the ``depthwise`` entry of Conv's
and FusedConv's implementation tables (``_c_conv.conv_impls``).

A depthwise conv (one input channel per group, ``M / C`` outputs per channel) has no
reduction over channels, so a GEMM tile is mostly zeros (one row of an MR-row block) and
the direct kernel sums one output at a time.  Here each channel's plane is copied into
zero-padded planes, one per stride phase (as the ``gemm_padded`` plan does for a whole
input), into the task's scratch slot, where it stays in L1/L2 for every output channel of
that input channel.  Output row ``o0`` under tap ``(k0, k1)`` then reads one contiguous
run of a plane, at ``koff[tap] + o0 * E1``: strided and dilated convs alike, with no
bounds checks.  The rows of a chunk are one virtual grid of ``E1`` columns each (the
``E1 - OW`` columns past a row's end are computed and dropped), so a map narrower than a
vector still fills its lanes.

The sums of a block of ``NV`` vectors stay in registers over every tap, in tap order (so
every worker count gives the same bits), and go to a row of sums in the slot; the
epilogue (bias, residual, activation: ``mac.epilogue``) reads it and Z, then writes Y.
1-D convs are 2-D ones of one row.  Padding taps are multiplied as zeros, so a padded
conv whose weight holds an Inf or NaN is left to the direct kernel (``applies``).
"""
from __future__ import annotations

import numpy as np

from ..ir import Kernel, KernelRequest
from . import _spatial as sp
from ._c import parallel_tasks, worker_slots

TEMPLATE = "c/kernels/conv_dw.c.j2"
#: floats of one chunk's row of sums (the rows of a chunk: about this many grid columns)
ROW_FLOATS = 1024
#: the most taps a kernel unrolls (larger windows take the direct kernel)
MAX_TAPS = 64
#: rough rates of the cost model: flops a second per vector lane, and elements a second
#: copied into the padded planes and through the epilogue
FLOPS_PER_LANE = 2.5e9
SCALAR_FLOPS = 3e9
COPY_ELEMENTS = 3e9
EPILOGUE_ELEMENTS = 3e9


def _geometry(req: KernelRequest):
    """``(ishape, oshape, kernel, strides, dilations, begin pads)`` lifted to 2-D (a 1-D
    conv is one row)."""
    geo = sp.window_geometry(req)
    nd = len(geo.ishape)
    lift = (lambda v, one: (one,) + tuple(v)) if nd == 1 else (lambda v, one: tuple(v))
    return (lift(geo.ishape, 1), lift(geo.oshape, 1), lift(geo.kernel, 1), lift(geo.strides, 1),
            lift(geo.dilations, 1), lift(geo.pads[:nd], 0))


def applies(req: KernelRequest) -> bool:
    """fp32, 1-D or 2-D, one input channel per group, a constant weight (no Inf or NaN
    where padding is multiplied), at most ``MAX_TAPS`` taps, a non-empty input and output."""
    x, y = req.in_types[0], req.out_types[0]
    if y.dtype != "float32" or req.constants[1] is None or x.rank not in (3, 4) or x.size == 0 or y.size == 0:
        return False
    geo = sp.window_geometry(req)
    return (geo.group == x.shape[1] and int(np.prod(geo.kernel)) <= MAX_TAPS
            and not sp.weight_meets_padding_nonfinite(req))


class Plan:
    """The planes, the vector blocks and the tasks of one depthwise conv."""

    def __init__(self, req: KernelRequest):
        x, y = req.in_types[0], req.out_types[0]
        self.ishape, self.oshape, self.k, self.s, self.d, self.p = _geometry(req)
        (ih, iw), (oh, ow), (s0, s1), (p0, p1) = self.ishape, self.oshape, self.s, self.p
        self.n, self.c, self.m = x.shape[0], x.shape[1], y.shape[1]
        self.vl = req.isa.vector
        lanes = self.vl or 1
        self.e0 = oh + (self.k[0] - 1) * self.d[0] // s0
        self.e1 = ow + (self.k[1] - 1) * self.d[1] // s1
        self.phases, self.psize = s0 * s1, self.e0 * self.e1
        # blocks of nv vectors, no wider than a chunk needs
        self.nv = max(1, min(4 if self.vl else 8, -(-(oh * self.e1) // lanes)))
        self.vb = self.nv * lanes
        self.rb = max(1, min(oh, ROW_FLOATS // self.e1))          # grid rows per chunk
        self.grid = -(-self.rb * self.e1 // self.vb) * self.vb      # a chunk's row of sums
        self.taps = [(k0 * self.d[0], k1 * self.d[1]) for k0 in range(self.k[0]) for k1 in range(self.k[1])]
        self.koff = [((a0 % s0) * s1 + a1 % s1) * self.psize + a0 // s0 * self.e1 + a1 // s1 for a0, a1 in self.taps]
        self.copies = []
        for r0 in range(s0):
            for r1 in range(s1):
                rlo, rhi = self._inside(ih, s0, r0, p0, self.e0)
                lo, hi = self._inside(iw, s1, r1, p1, self.e1)
                self.copies.append({"r0": r0, "r1": r1, "rlo": rlo, "rhi": rhi, "lo": lo, "hi": hi})
        self.planes = self.phases * self.psize
        reach = max(self.koff) + oh * self.e1 + self.vb            # past every block's last lane
        self.slack = -(-max(0, reach - self.planes) // 16) * 16
        self.row_off = -(-(self.planes + self.slack) // 16) * 16
        self.slot = -(-4 * (self.row_off + self.grid) // 64) * 64
        flops = 2.0 * self.n * self.m * oh * self.e1 * len(self.taps)
        per = parallel_tasks(self.c, flops, req.workers)
        self.cpt = -(-self.c // per)
        self.ctasks = -(-self.c // self.cpt)
        self.tasks = self.n * self.ctasks

    @staticmethod
    def _inside(n: int, s: int, r: int, pad: int, e: int) -> tuple[int, int]:
        """The plane positions ``[lo, hi)`` of phase ``r`` whose input ``i * s + r - pad``
        lies in ``[0, n)``, within ``[0, e)``."""
        lo = min(e, max(0, -(-(pad - r) // s)))
        hi = min(e, max(0, -(-(n + pad - r) // s)))
        return lo, max(lo, hi)

    def cost(self, req: KernelRequest) -> float:
        (oh, ow) = self.oshape
        rate = FLOPS_PER_LANE * self.vl if self.vl else SCALAR_FLOPS
        cols = -(-oh * self.e1 // self.vb) * self.vb
        compute = 2.0 * self.m * cols * len(self.taps) / rate
        copy = self.c * self.planes / COPY_ELEMENTS
        epilogue = self.m * oh * ow / EPILOGUE_ELEMENTS
        serial = self.n * (compute + copy + epilogue)
        return serial * req.workers / min(req.workers, self.tasks)


def cost(req: KernelRequest) -> float:
    return Plan(req).cost(req)


def conv_depthwise(req: KernelRequest, tag: str, *, bias: bool, residual: str = "", act: str = "",
                   act_name: str = "") -> Kernel:
    """The depthwise plan of a conv (see the module docstring)."""
    x, y = req.in_types[0], req.out_types[0]
    pl = Plan(req)
    geo = sp.window_geometry(req)
    nd = x.rank - 2
    (ih, iw), (oh, ow) = pl.ishape, pl.oshape
    params = {"N": pl.n, "C": pl.c, "M": pl.m, "MG": pl.m // pl.c, "IW": iw, "OH": oh, "OW": ow,
              "isize": ih * iw, "osize": oh * ow, "E0": pl.e0, "E1": pl.e1, "S0": pl.s[0], "S1": pl.s[1],
              "P0": pl.p[0], "P1": pl.p[1], "psize": pl.psize, "PLANES": pl.planes, "SLACK": pl.slack,
              "ROW_OFF": pl.row_off, "RB": pl.rb, "T": len(pl.taps), "koff": pl.koff, "copies": pl.copies,
              "VL": pl.vl, "NV": pl.nv, "CPT": pl.cpt, "CTASKS": pl.ctasks, "tasks": pl.tasks,
              "slot_bytes": pl.slot, "bias": bias, "residual": residual, "act": act}
    dims = lambda v: "x".join(str(i) if i >= 0 else f"n{-i}" for i in v)  # noqa: E731
    name = (f"cnnc_{tag}dw{nd}d_f32_{pl.nv}x{pl.vl or 1}_k{dims(geo.kernel)}_s{dims(geo.strides)}"
            f"_d{dims(geo.dilations)}_p{dims(geo.pads)}" + ("_b" if bias else "")
            + (f"_z{residual}" if residual else "") + (f"_{act_name.lower()}" if act else "")
            + f"_{dims(x.shape)}_m{pl.m}")
    comment = (f"{req.node.op} depthwise on vector rows ({pl.nv} x {pl.vl or 1} lanes, {pl.phases} padded "
               f"phase plane(s) of {pl.e0}x{pl.e1} per channel) {nd}-D kernel {geo.kernel} strides {geo.strides} "
               f"dilations {geo.dilations} pads {geo.pads}" + (f" {act_name}" if act else "")
               + (f" residual {residual}" if residual else "") + f" -> {y}")
    return Kernel(TEMPLATE, name, params, scratch_bytes=pl.slot * worker_slots(pl.tasks, req.workers),
                  comment=comment, parallel=True)
