"""Row kernels over padded phase planes, for the C target: the layout shared by the
depthwise conv (``_c_depthwise``) and the 2-D max and average pools' ``rows`` plan
(``pool.py``), whose outputs each read one input plane.

A task takes a run of the N*C input planes.  It copies each into its scratch slot as
zero-padded (or ``fill``-padded) planes, one per stride phase: phase ``(r0, r1)`` holds at
``(e0, e1)`` the input ``(e0 * s0 + r0 - p0, e1 * s1 + r1 - p1)``.  Output row ``o0`` under
tap ``(k0, k1)`` then reads the contiguous run at ``koff[tap] + o0 * E1`` of the slot:
strided and dilated windows alike, with no bounds checks.  The rows of a chunk (``RB`` of
them) are one virtual grid of ``E1`` columns: the ``E1 - OW`` columns past a row's end are
computed and dropped, so that a map narrower than a vector still fills the lanes, and the
grid is cut into blocks of ``NV`` vectors of ``VL`` lanes whose results go to a row of
results in the slot, which the kernel's epilogue reads.  Reads past the last block's
spare lanes stay inside the slot (``SLACK`` floats, zeroed).  1-D windows are 2-D ones of
one row.  The slot stays in L1/L2 while every output of its plane is made.
"""
from __future__ import annotations

import numpy as np

from ..ir import KernelRequest
from . import _spatial as sp
from ._c import parallel_tasks, worker_slots

#: floats of one chunk's row of results (the rows of a chunk: about this many grid columns)
ROW_FLOATS = 1024
#: the most taps a kernel unrolls (the depthwise conv; larger windows take other plans)
MAX_TAPS = 64


def lifted_geometry(req: KernelRequest):
    """``(ishape, oshape, kernel, strides, dilations, begin pads)`` of a window op, lifted
    to 2-D (a 1-D window is one row)."""
    geo = sp.window_geometry(req)
    nd = len(geo.ishape)
    lift = (lambda v, one: (one,) + tuple(v)) if nd == 1 else (lambda v, one: tuple(v))
    return (lift(geo.ishape, 1), lift(geo.oshape, 1), lift(geo.kernel, 1), lift(geo.strides, 1),
            lift(geo.dilations, 1), lift(geo.pads[:nd], 0))


def fits(req: KernelRequest, max_taps: int | None = MAX_TAPS) -> bool:
    """A 1-D or 2-D window (of at most ``max_taps`` taps, for a kernel that unrolls them)
    over a non-empty fp32 input and output."""
    x, y = req.in_types[0], req.out_types[0]
    return (y.dtype == "float32" and x.dtype == "float32" and x.rank in (3, 4) and x.size > 0 and y.size > 0
            and (max_taps is None or int(np.prod(sp.window_geometry(req).kernel)) <= max_taps))


def _inside(n: int, s: int, r: int, pad: int, e: int) -> tuple[int, int]:
    """The plane positions ``[lo, hi)`` of phase ``r`` whose input ``i * s + r - pad``
    lies in ``[0, n)``, within ``[0, e)``."""
    lo = min(e, max(0, -(-(pad - r) // s)))
    hi = min(e, max(0, -(-(n + pad - r) // s)))
    return lo, max(lo, hi)


class RowPlanes:
    """The planes, vector blocks, slot and tasks of one row kernel (see the module
    docstring); ``outputs_per_plane`` outputs are made from each input plane (a depthwise
    conv's channel multiplier), ``ops_per_tap`` operations per output and tap (the
    split's work estimate)."""

    def __init__(self, req: KernelRequest, outputs_per_plane: int = 1, ops_per_tap: int = 2):
        x = req.in_types[0]
        self.ishape, self.oshape, self.k, self.s, self.d, self.p = lifted_geometry(req)
        (ih, iw), (oh, ow), (s0, s1), (p0, p1) = self.ishape, self.oshape, self.s, self.p
        self.n, self.c = x.shape[0], x.shape[1]
        self.vl = req.isa.vector
        self.lanes = self.vl or 1
        self.e0 = oh + (self.k[0] - 1) * self.d[0] // s0
        self.e1 = ow + (self.k[1] - 1) * self.d[1] // s1
        self.phases, self.psize = s0 * s1, self.e0 * self.e1
        self.nv = max(1, min(4 if self.vl else 8, -(-(oh * self.e1) // self.lanes)))
        self.vb = self.nv * self.lanes
        self.rb = max(1, min(oh, ROW_FLOATS // self.e1))
        self.grid = -(-self.rb * self.e1 // self.vb) * self.vb
        taps = [(k0 * self.d[0], k1 * self.d[1]) for k0 in range(self.k[0]) for k1 in range(self.k[1])]
        self.koff = [((a0 % s0) * s1 + a1 % s1) * self.psize + a0 // s0 * self.e1 + a1 // s1 for a0, a1 in taps]
        # per row phase r0: its rows on the input, each column phase's columns on it, and
        # the columns all of them have (copied in one loop: the row read once, its
        # elements dealt out to the column phases, a pattern compilers vectorize)
        self.copies = []
        for r0 in range(s0):
            rlo, rhi = _inside(ih, s0, r0, p0, self.e0)
            cols = [dict(zip(("lo", "hi"), _inside(iw, s1, r1, p1, self.e1)), r1=r1) for r1 in range(s1)]
            jlo, jhi = max(c["lo"] for c in cols), min(c["hi"] for c in cols)
            self.copies.append({"r0": r0, "rlo": rlo, "rhi": rhi, "cols": cols, "jlo": jlo, "jhi": max(jlo, jhi)})
        self.planes = self.phases * self.psize
        reach = max(self.koff) + oh * self.e1 + self.vb            # past every block's last lane
        self.slack = -(-max(0, reach - self.planes) // 16) * 16
        self.row_off = -(-(self.planes + self.slack) // 16) * 16
        self.slot = -(-4 * (self.row_off + self.grid) // 64) * 64
        self.items = self.n * self.c
        work = ops_per_tap * self.items * outputs_per_plane * oh * self.e1 * len(taps)
        per = parallel_tasks(self.items, work, req.workers)
        self.cpt = -(-self.items // per)
        self.tasks = -(-self.items // self.cpt)
        self.scratch = self.slot * worker_slots(self.tasks, req.workers)

    @property
    def taps(self) -> int:
        return len(self.koff)

    def grid_columns(self) -> int:
        """Columns computed per output plane (the grid's, in whole blocks)."""
        return -(-self.oshape[0] * self.e1 // self.vb) * self.vb

    def params(self) -> dict:
        """The template parameters of the layout (``c/kernels/_rows.j2``)."""
        (ih, iw), (oh, ow) = self.ishape, self.oshape
        return {"C": self.c, "ITEMS": self.items, "IW": iw, "OH": oh, "OW": ow, "isize": ih * iw, "osize": oh * ow,
                "E0": self.e0, "E1": self.e1, "S0": self.s[0], "S1": self.s[1], "P0": self.p[0], "P1": self.p[1],
                "psize": self.psize, "PLANES": self.planes, "SLACK": self.slack, "ROW_OFF": self.row_off,
                "RB": self.rb, "T": self.taps, "koff": self.koff, "copies": self.copies, "VL": self.vl,
                "NV": self.nv, "CPT": self.cpt, "tasks": self.tasks, "slot_bytes": self.slot}
