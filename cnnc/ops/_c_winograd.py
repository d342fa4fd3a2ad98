"""Winograd convolution F(m x m, 3 x 3) for the C target: the ``winograd_f2`` and
``winograd_f4`` entries of Conv's and FusedConv's implementation tables (2-D, 3x3 kernel,
stride 1, dilation 1, one group, fp32, a constant finite weight).

The output is cut into m x m tiles; tile (ty, tx) reads the alpha x alpha input patch at
``(ty * m - pad_top, tx * m - pad_left)`` (alpha = m + 2, zeros outside the input), and

    Y_tile = A^T [ (G g G^T) (.) (B^T d B) ] A        (Lavin and Gray, 2016)

per output channel, summed over input channels inside the brackets.  With ``T = alpha^2``
transformed positions, the sum over channels is T independent GEMMs, one per position t:
``M_t[M, tiles] = U_t[M, C] . V_t[C, tiles]``.

* **U = G g G^T, at compile time** (in float64, rounded once), packed per position as the
  GEMM's A operand (``_c_gemm.pack_weight``: ``[T][K blocks][MB][kc][MR]``); it replaces
  the weight in the model's weights (T / 9 times its size).
* **V = B^T d B, per task**: a task is a block of ``NT`` tiles (a multiple of the
  microkernel's NR) of one image, and one of ``NS`` splits of the MR-row blocks of M.  It
  transforms its tiles' patches into ``V[T][NT / NR][C][NR]`` in scratch (NR-column
  panels, zeros past the last tile), runs the T GEMMs on the microkernel into
  ``M[T][rows][NT]``, then transforms each channel's tiles back (``A^T M A``), applies the
  epilogue (bias, residual, activation: ``mac.epilogue``) and writes the tile's pixels
  that lie inside Y.  Each Y element is written once, after the same element of Z was
  read, so Y may share Z's buffer.

Accuracy: F(2x2) adds about one rounding per transform; F(4x4)'s larger coefficients
(up to 5 in B, 8 in A) lose about 2-3 more bits.  ``tests/backends/test_c_winograd.py``
measures both against the float64 reference (the README states the figures).  The cost
model takes the transforms, the U stream and the GEMM at the microkernel's rate into
account; ``direct_cost`` and the GEMM plans' estimates are in the same seconds.
"""
from __future__ import annotations

from fractions import Fraction as Fr

import numpy as np

from ..ir import Kernel, KernelRequest
from . import _spatial as sp
from ._c import worker_slots
from ._c_gemm import GEMM_FLOPS_PER_LANE, KC_MAX, SCALAR_GEMM_FLOPS, pack_weight, ukernel_helper

TEMPLATE = "c/kernels/conv_winograd.c.j2"

#: (B^T, G, A^T) of F(m, 3) for m = 2 and 4 (points 0, +-1, +-2 and infinity)
MATRICES = {
    2: ([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]],
        [[1, 0, 0], [Fr(1, 2), Fr(1, 2), Fr(1, 2)], [Fr(1, 2), Fr(-1, 2), Fr(1, 2)], [0, 0, 1]],
        [[1, 1, 1, 0], [0, 1, -1, -1]]),
    4: ([[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0],
         [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]],
        [[Fr(1, 4), 0, 0], [Fr(-1, 6), Fr(-1, 6), Fr(-1, 6)], [Fr(-1, 6), Fr(1, 6), Fr(-1, 6)],
         [Fr(1, 24), Fr(1, 12), Fr(1, 6)], [Fr(1, 24), Fr(-1, 12), Fr(1, 6)], [0, 0, 1]],
        [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]]),
}

#: the budget of one task's scratch (its V and M blocks)
SLOT_BYTES = 2 << 20
#: rough rates of the cost model: elements a second through the input transform (per
#: transformed value written) and the output transform (per transformed sum read), and the
#: bytes a second of U streamed from L3 / memory
IN_ELEMENTS = 1.2e9
OUT_ELEMENTS = 2.0e9
U_BYTES = 25e9


def matrices(m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(B^T, G, A^T)`` of F(m, 3) in float64."""
    return tuple(np.array([[float(v) for v in row] for row in mat]) for mat in MATRICES[m])


def transform_weight(w: np.ndarray, m: int) -> np.ndarray:
    """``U[T][M][C]`` (T = alpha^2, position t = i * alpha + j): ``G g G^T`` of every
    (M, C) filter, in float64 rounded once to float32."""
    _, g, _ = matrices(m)
    u = np.einsum("ik,mckl,jl->ijmc", g, w.astype(np.float64), g)
    a = g.shape[0]
    return u.reshape(a * a, w.shape[0], w.shape[1]).astype(np.float32)


def _lincomb(coefs, terms) -> str:
    """``sum coefs[i] * terms[i]`` as a C expression (zeros skipped, +-1 as signs)."""
    out = []
    for c, t in zip(coefs, terms):
        c = Fr(c)
        if c == 0:
            continue
        sign = "-" if c < 0 else "+"
        mag = abs(c)
        term = t if mag == 1 else f"{float(mag)!r}f * {t}"
        out.append((sign, term))
    if not out:
        return "0.0f"
    expr = ("-" if out[0][0] == "-" else "") + out[0][1]
    for sign, term in out[1:]:
        expr += f" {sign} {term}"
    return expr


def transform_code(m: int) -> dict:
    """C statements of the two transforms over local arrays (``d[alpha][alpha]`` in, ``v``
    out; ``s[alpha][alpha]`` in, ``o[m][m]`` out), row pass then column pass."""
    bt, _, at = MATRICES[m]
    a = len(bt)
    fin = [f"r[{i}][{k}] = {_lincomb(bt[i], [f'd[{j}][{k}]' for j in range(a)])};" for i in range(a) for k in range(a)]
    fin += [f"v[{i}][{k}] = {_lincomb(bt[k], [f'r[{i}][{j}]' for j in range(a)])};" for i in range(a) for k in range(a)]
    fout = [f"q[{i}][{k}] = {_lincomb(at[i], [f's[{j}][{k}]' for j in range(a)])};" for i in range(m) for k in range(a)]
    fout += [f"o[{i}][{k}] = {_lincomb(at[k], [f'q[{i}][{j}]' for j in range(a)])};" for i in range(m) for k in range(m)]
    return {"in": fin, "out": fout}


def applies(req: KernelRequest) -> bool:
    """2-D 3x3, stride 1, dilation 1, one group, fp32, the weight a constant with finite
    values (the transform mixes every tap of a filter: one Inf or NaN would reach the whole
    output plane), and a non-empty input and output."""
    x, y = req.in_types[0], req.out_types[0]
    w = req.constants[1]
    if y.dtype != "float32" or w is None or x.rank != 4 or x.size == 0 or y.size == 0:
        return False
    geo = sp.window_geometry(req)
    return (tuple(geo.kernel) == (3, 3) and tuple(geo.strides) == (1, 1) and tuple(geo.dilations) == (1, 1)
            and geo.group == 1 and bool(np.isfinite(w).all()))


class Plan:
    """The blocking of one Winograd conv: tiles, their blocks (``nt`` tiles, ``nj`` per
    image), the row splits (``ns`` of ``sb`` MR-row blocks) and the reduction block."""

    def __init__(self, req: KernelRequest, m: int):
        x, y = req.in_types[0], req.out_types[0]
        isa = req.isa
        self.m, self.alpha = m, m + 2
        self.t = self.alpha ** 2
        self.n, self.c, self.mo = x.shape[0], x.shape[1], y.shape[1]
        self.oh, self.ow = y.shape[2:]
        self.th, self.tw = -(-self.oh // m), -(-self.ow // m)
        self.tiles = self.th * self.tw
        self.mr, self.nr = isa.gemm_mr, isa.gemm_nr
        self.mb = -(-self.mo // self.mr)
        self.kc = min(self.c, KC_MAX)
        per_tile = 4 * self.t * (self.c + self.mb * self.mr)   # V and M bytes of one tile
        widest = max(self.nr, (SLOT_BYTES // per_tile) // self.nr * self.nr)
        self.nt = min(widest, -(-self.tiles // self.nr) * self.nr)
        self.nj = -(-self.tiles // self.nt)
        # row splits: enough tasks for every worker when the tiles alone are too few
        work = self.n * self.nj
        self.ns = 1 if work >= req.workers else min(self.mb, -(-req.workers // work))
        self.sb = -(-self.mb // self.ns)
        self.ns = -(-self.mb // self.sb)
        self.tasks = work * self.ns
        # one task's scratch slot: V[T][C][nt], then M[T][rows][nt]
        self.rows = self.sb * self.mr
        self.vfloats = self.t * self.c * self.nt
        self.slot = -(-4 * (self.vfloats + self.t * self.rows * self.nt) // 64) * 64

    def cost(self, req: KernelRequest) -> float:
        isa = req.isa
        rate = GEMM_FLOPS_PER_LANE * isa.vector if isa.vector else SCALAR_GEMM_FLOPS
        cols = self.nj * self.nt
        gemm = 2.0 * self.t * self.mb * self.mr * self.c * cols / rate
        vin = self.t * self.c * cols * self.ns / IN_ELEMENTS
        vout = self.t * self.mo * self.tiles / OUT_ELEMENTS
        stream = 4.0 * self.t * self.mb * self.mr * self.c * self.nj / U_BYTES
        serial = self.n * (gemm + vin + vout + stream)
        # the makespan's share when the tasks are fewer than the workers
        return serial * req.workers / min(req.workers, self.tasks)


def cost(req: KernelRequest, m: int) -> float:
    return Plan(req, m).cost(req)


def conv_winograd(req: KernelRequest, tag: str, *, m: int, bias: bool, residual: str = "", act: str = "",
                  act_name: str = "") -> Kernel:
    """The F(m x m, 3 x 3) plan of a conv (see the module docstring)."""
    x, y = req.in_types[0], req.out_types[0]
    geo = sp.window_geometry(req)
    pl = Plan(req, m)
    ukernel = ukernel_helper(req.isa)
    u = transform_weight(req.constants[1], m)
    packed = np.stack([pack_weight(u[t], 1, pl.mr, pl.kc) for t in range(pl.t)])
    params = {"N": pl.n, "C": pl.c, "M": pl.mo, "IH": x.shape[2], "IW": x.shape[3], "OH": pl.oh, "OW": pl.ow,
              "PT": geo.pads[0], "PL": geo.pads[1], "m": m, "A": pl.alpha, "T": pl.t, "TW": pl.tw,
              "TILES": pl.tiles, "NT": pl.nt, "NJ": pl.nj, "NS": pl.ns, "SB": pl.sb, "MB": pl.mb, "MR": pl.mr,
              "NR": pl.nr, "KC": pl.kc, "ROWS": pl.rows, "VFLOATS": pl.vfloats, "slot_bytes": pl.slot, "tasks": pl.tasks,
              "ukernel": ukernel[1], "code": transform_code(m), "bias": bias, "residual": residual, "act": act}
    name = (f"cnnc_{tag}wino{m}_f32_{pl.mr}x{pl.nr}_p{'x'.join(map(str, geo.pads))}" + ("_b" if bias else "")
            + (f"_z{residual}" if residual else "") + (f"_{act_name.lower()}" if act else "")
            + f"_{'x'.join(map(str, x.shape))}_m{pl.mo}")
    comment = (f"{req.node.op} as Winograd F({m}x{m}, 3x3) ({pl.tiles} tiles in blocks of {pl.nt}, {pl.t} GEMMs on "
               f"the {pl.mr}x{pl.nr} microkernel, KC {pl.kc}) pads {geo.pads}" + (f" {act_name}" if act else "")
               + (f" residual {residual}" if residual else "") + f" -> {y}")
    return Kernel(TEMPLATE, name, params, scratch_bytes=pl.slot * worker_slots(pl.tasks, req.workers),
                  comment=comment, helpers=(ukernel,), packed={1: packed}, parallel=True)
