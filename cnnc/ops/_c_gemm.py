"""Convolution as a packed GEMM for the C target: the ``gemm*`` entries of Conv's and
FusedConv's implementation tables (``_c_conv.conv_impls``; ``direct`` is
``conv.direct_conv``, ``winograd_*`` is ``_c_winograd``).

Per image and group, ``Y[M/G, P] = W[M/G, K] . im2col(X)[K, P]`` with ``K = C/G * prod(kernel)``
and ``P`` the output pixels (any spatial rank: 1-D, 2-D and 3-D alike).

* **A = W, packed at compile time** (``Kernel.packed``): ``[G][K blocks][MB][kc][MR]``,
  the rows of one MR-row block side by side for each reduction index, zero rows past
  ``M/G``, and one reduction block of all row blocks contiguous (a sequential stream when
  the weights come from memory).  The packed array replaces the weight in the model's
  weights.  Transposed tiles (``gemm_t``, ``gemm_padded_t``: MR pixels by NR channels, for
  maps of few pixels) pack W the same way in NR-channel panels, and the pixels in MR-wide
  panels.
* **B = im2col(X), packed per cache block** in scratch: ``KC`` reduction rows by ``NC``
  columns as NR-column panels, zeros for padding taps (see the note below) and past the
  last column.
* **The microkernel** ``cnnc_f32_gemm_<MR>x<NR>__<isa>`` (``templates/c/ukernels/``),
  one per model and register tile, accumulates an MR x NR tile in registers; its tile
  comes from the target's :class:`~cnnc.ir.Isa` (6x16 AVX2, 8x32 AVX-512, 8x8 NEON, 4x8
  scalar C99).
* **The epilogue** (bias, residual before or after, activation) runs over each finished
  block of sums, reading Z before writing Y, so Y may share Z's buffer.

Block sizes: ``KC`` up to ``KC_MAX`` reduction rows, ``NC`` columns so that the packed
panel (``KC * NC`` floats) stays within ``PANEL_BYTES`` (an L2 share of one core), and few
enough columns that every worker gets a block.

Padding taps are packed as 0.0 and multiplied like the others, so a weight of +-inf or NaN
at a padding tap gives NaN there, as the reference's zero-padded windows do (onnxruntime
and the direct kernel skip padding taps and stay finite).  The cost model prefers the
direct kernel for depthwise and narrow groups.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..ir import Kernel, KernelRequest
from . import _spatial as sp
from ._c import contiguous_strides, num, parallel_tasks, worker_slots
from .activation import epilogue_steps

TEMPLATE = "c/kernels/conv_gemm.c.j2"
#: the packed im2col panel's budget in bytes (KC x NC floats)
PANEL_BYTES = 512 << 10
KC_MAX = 256
KC_INDIRECT = 512
#: the budget of one block of packed W rows (MC x KC floats), kept in L2 while the
#: panels of B pass through L1
A_BYTES = 256 << 10
#: rough rates of the cost model, per second: GEMM flops per vector lane at the
#: microkernel's tile, im2col elements packed, and the direct kernel's flops
GEMM_FLOPS_PER_LANE = 11e9
SCALAR_GEMM_FLOPS = 8e9
PACK_ELEMENTS = 1.2e9
#: elements a second packed from contiguous plane runs, and copied into padded planes
RUN_PACK_ELEMENTS = 6e9
PLANE_ELEMENTS = 1.5e9
#: output elements a second through the tile epilogue after the microkernel, and through
#: the epilogue in its store
TILE_ELEMENTS = 1.5e9
STORE_ELEMENTS = 8e9
DIRECT_FLOPS = 6e9
#: a task's fixed cost (dispatch, loop set-up) in the task-grid model
TASK_SECONDS = 2e-6


def store_spec(req: KernelRequest, bias: bool, residual: str) -> dict | None:
    """The epilogue in the microkernel's store for a conv node: bias, residual, and its
    activation's steps (``activation.epilogue_steps``) with their constants as float32
    values; None where the activation has no store form."""
    steps = epilogue_steps(req.attrs)
    if steps is None:
        return None
    return {"bias": bias, "residual": residual,
            "steps": tuple((op, None if c is None else float(np.float32(c))) for op, c in steps)}


def _bits(v: float) -> str:
    return f"{int(np.float32(v).view(np.uint32)):08x}"


def ukernel_helper(isa, mr: int = 0, store: dict | None = None, indirect: bool = False) -> tuple[str, str, dict]:
    """The microkernel of ``isa``'s fp32 GEMM tile (``mr`` rows instead of the ISA's, for
    operands of fewer rows): ``(template, name, params)``.  ``indirect``: B's rows through a
    table of row pointers instead of packed.  ``store``: the variant with the
    epilogue in its store (``store_spec``: ``{"bias": bool, "residual": "" | "pre" | "post",
    "steps": the activation's}``)."""
    mr, nr = mr or isa.gemm_mr, isa.gemm_nr
    name = f"cnnc_f32_gemm_{mr}x{nr}__{isa.kind}" + "_ind" * indirect
    params = {"mr": mr, "nv": isa.gemm_nv, "vl": isa.vector, "nr": nr, "store": store is not None,
              "indirect": indirect}
    if store is not None:
        name += ("_st" + "_b" * store["bias"] + (f"_z{store['residual']}" if store["residual"] else "")
                 + "".join(f"_{op}" + ("" if c is None else _bits(c)) for op, c in store["steps"]))
        params.update(bias=store["bias"], residual=store["residual"],
                      steps=tuple((op, None if c is None else num(c, "float32")) for op, c in store["steps"]))
    return ("c/ukernels/f32_gemm.c.j2", name, params)


def pixel_tile(cols: int, isa) -> int:
    """The pixel panel width of transposed tiles for ``cols`` columns: the microkernel's
    rows, at most the ISA's, fewest padded pixels for the rows' fixed cost (one more
    row's worth per tile: its B loads and loop), so a 7x7 map takes 7 rows, not 8 with a
    tile of 7 padded pixels."""
    top = isa.gemm_mr
    return min(range(max(2, top - 3), top + 1), key=lambda r: (-(-cols // r) * (r + 1), -r))


def applies(req: KernelRequest) -> bool:
    """fp32 with the weight a constant (packed at compile time).  A padded conv whose weight
    holds an Inf or NaN is left to the direct kernel, which skips padding taps: the GEMM
    plans multiply zero-filled padding, and 0 * Inf is NaN."""
    return (req.out_types[0].dtype == "float32" and req.constants[1] is not None
            and req.in_types[0].size > 0 and req.out_types[0].size > 0
            and not sp.weight_meets_padding_nonfinite(req))


class Planes(NamedTuple):
    """The virtual output grid of the ``gemm_padded`` plan: X as zero-padded planes, one per
    stride phase (``phases``), of extents ``E``; the grid has ``oshape[0]`` rows of E's
    pitches (``cols`` columns, ``cols / prod(oshape)`` of them pixels); ``copy`` is false
    where X itself is the plane (stride 1, no padding, one tap on every axis but the first)."""
    E: tuple
    phases: int
    psize: int
    cols: int
    copy: bool


def planes(geo) -> Planes:
    oshape, k, s, d, pads = geo.oshape, geo.kernel, geo.strides, geo.dilations, geo.pads
    E = tuple(o + (ki - 1) * di // si for o, ki, di, si in zip(oshape, k, d, s))
    copy = not (all(si == 1 for si in s) and not any(pads) and all(ki == 1 for ki in k[1:]))
    if not copy:
        E = tuple(geo.ishape)
    return Planes(E, int(np.prod(s)), int(np.prod(E)), oshape[0] * int(np.prod(E[1:])), copy)


def indirect(pl: Planes | None, transposed: bool) -> bool:
    """Whether the plan reads B's rows straight from copied padded planes (no packing)."""
    return pl is not None and pl.copy and not transposed


def estimate(req: KernelRequest, padded: bool, transposed: bool = False) -> float:
    x, w, y = req.in_types[0], req.in_types[1], req.out_types[0]
    geo = sp.window_geometry(req)
    g, isa = geo.group, req.isa
    mg, kk = y.shape[1] // g, w.shape[1] * int(np.prod(geo.kernel))
    p = int(np.prod(geo.oshape))
    pl = planes(geo) if padded else None
    cols = pl.cols if padded else p
    mr, nr = pixel_tile(cols, isa) if transposed else isa.gemm_mr, isa.gemm_nr
    rows, pw = (nr, mr) if transposed else (mr, nr)
    rate = GEMM_FLOPS_PER_LANE * isa.vector if isa.vector else SCALAR_GEMM_FLOPS
    store = epilogue_steps(req.attrs) is not None and isa.vector and not transposed
    compute = 2.0 * -(-mg // rows) * rows * kk * -(-cols // pw) * pw / rate
    if padded:
        copy = x.shape[1] * pl.phases * pl.psize / PLANE_ELEMENTS / g if pl.copy else 0.0
        pack = copy if indirect(pl, transposed) else kk * cols / RUN_PACK_ELEMENTS + copy
    else:
        pack = kk * cols / PACK_ELEMENTS
    epi = STORE_ELEMENTS if store and cols == p else TILE_ELEMENTS
    return x.shape[0] * g * (compute + pack + mg * cols / epi)


def direct_cost(req: KernelRequest) -> float:
    """The direct kernel's estimate, for the same table."""
    y, w = req.out_types[0], req.in_types[1]
    return 2.0 * y.size * w.shape[1] * int(np.prod(w.shape[2:])) / DIRECT_FLOPS


def split(p: int, mb: int, kk: int, work: int, workers: int, mr: int, nr: int, kc: int,
          pack_rate: float = 0.0) -> tuple[int, int]:
    """The task grid of one conv: ``(nc, ns)``, columns per block and the number of row
    splits (of ``mb`` MR-row blocks), for ``work`` (image, group) pairs of ``p`` output
    columns and ``kk`` reduction rows on ``workers`` workers.  One worker takes the widest
    block the panel budget allows; more take the grid with the least estimated makespan
    (rounds of tasks times a task's compute and packing at ``pack_rate`` elements a
    second), preferring fewer tasks."""
    pack_rate = pack_rate or PACK_ELEMENTS
    widest = min(max(nr, (PANEL_BYTES // (4 * kc)) // nr * nr), -(-p // nr) * nr)
    if workers <= 1:
        return widest, 1
    best = None
    for nc in range(nr, widest + 1, nr):
        nj = -(-p // nc)
        cols = [nc] * (nj - 1) + [p - (nj - 1) * nc]
        for ns in range(1, min(mb, 2 * workers) + 1):
            sb = -(-mb // ns)
            if -(-mb // sb) != ns:
                continue
            rows = [sb] * (ns - 1) + [mb - (ns - 1) * sb]
            costs = sorted((2.0 * r * mr * -(-c // nr) * nr * kk / (GEMM_FLOPS_PER_LANE * 16)
                            + kk * c / pack_rate + TASK_SECONDS for c in cols for r in rows), reverse=True)
            load = [0.0] * workers
            for c in costs * work:            # dynamic scheduling: the next task to the first idle worker
                load[load.index(min(load))] += c
            key = (max(load), len(costs) * work)
            if best is None or key < best[0]:
                best = (key, nc, ns)
    return best[1], best[2]


def k_blocked(panels: np.ndarray, kc: int) -> np.ndarray:
    """``[..., MB][K][R]`` panels as ``[...][K blocks of kc][MB][kc][R]`` (the last block
    shorter): a reduction block of every panel is one sequential run, as the GEMMs read it."""
    *lead, mb, kk, r = panels.shape
    parts = [panels[..., :, pc:pc + kc, :].reshape(*lead, -1) for pc in range(0, kk, kc)]
    return np.ascontiguousarray(np.concatenate(parts, axis=-1)).reshape(panels.shape)


def pack_weight(w: np.ndarray, group: int, mr: int, kc: int) -> np.ndarray:
    """``W (M, C/G, *K)`` as ``[G][K blocks of kc][MB][kc][MR]`` (zero rows past M/G): the
    MR-row blocks of the A operand, or (transposed tiles, MR = NR) the NR-channel panels of
    the B one."""
    m = w.shape[0]
    mg, kk = m // group, int(np.prod(w.shape[1:]))
    mb = -(-mg // mr)
    a = np.zeros((group, mb * mr, kk), np.float32)
    a[:, :mg] = w.reshape(group, mg, kk)
    return k_blocked(a.reshape(group, mb, mr, kk).transpose(0, 1, 3, 2), kc)


def conv_gemm(req: KernelRequest, tag: str, *, bias: bool, residual: str = "", act: str = "",
              act_name: str = "", padded: bool = False, transposed: bool = False) -> Kernel:
    """The GEMM plan of a conv: im2col packing, or (``padded``) runs of padded phase planes;
    ``transposed``: tiles of MR pixels by NR channels (W packed as NR-channel panels), for
    maps of few pixels and many channels."""
    x, y = req.in_types[0], req.out_types[0]
    nd = x.rank - 2
    geo = sp.window_geometry(req)
    ishape, oshape, k, s, d, pads, g = geo
    isa = req.isa
    n, c, m = x.shape[0], x.shape[1], y.shape[1]
    cg, mg = c // g, m // g
    kk, p = cg * int(np.prod(k)), int(np.prod(oshape))
    pl = planes(geo) if padded else None
    cols = pl.cols if padded else p
    mr, nr = pixel_tile(cols, isa) if transposed else isa.gemm_mr, isa.gemm_nr
    rows, pw = (nr, mr) if transposed else (mr, nr)   # W's block height, the pixel panel width
    mb = -(-mg // rows)
    ind = indirect(pl, transposed)            # B's rows read from the planes
    # reduction blocks: KC_MAX rows, or with no packed panel to keep in L1 (indirect) even
    # blocks of at most KC_INDIRECT (fewer passes over the sums)
    kc = -(-kk // -(-kk // KC_INDIRECT)) if ind else min(kk, KC_MAX)
    lanes = max(16, nr)                       # a row of the sums block stays vector-aligned
    nc, ns = split(cols, mb, kk, n * g, req.workers, rows, pw, kc, RUN_PACK_ELEMENTS if padded else PACK_ELEMENTS)
    sb = -(-mb // ns)
    ncb = -(-nc // lanes) * lanes
    tasks = n * g * -(-cols // nc) * ns
    istrides = contiguous_strides(ishape)
    # reduction index q = (channel, taps)
    taps = np.stack(np.meshgrid(*[np.arange(ki) * di for ki, di in zip(k, d)], indexing="ij"),
                    axis=-1).reshape(-1, nd).astype(np.int64)
    chan = np.repeat(np.arange(cg, dtype=np.int64), len(taps))
    tq = np.tile(taps, (cg, 1))
    params = {"N": n, "C": c, "CG": cg, "G": g, "M": m, "MG": mg, "MB": mb, "K": kk,
              "isize": int(np.prod(ishape)), "osize": p, "ishape": ishape, "oshape": oshape,
              "ostrides": tuple(contiguous_strides(oshape)), "strides": s, "istrides": tuple(istrides),
              "KC": kc, "NC": nc, "NCB": ncb, "MR": mr, "NR": nr, "NS": ns, "SB": sb,
              "MCB": max(1, A_BYTES // (4 * mr * kc)), "cols": cols, "planes": padded, "transposed": transposed,
              "ACC_LD": sb * nr, "indirect": ind,
              "ukernel": ukernel_helper(isa, mr, indirect=ind)[1], "bias": bias, "residual": residual, "act": act, "tasks": tasks}
    planes_bytes = 0
    if padded:
        # run q starts at: channel plane, stride phase of each tap, tap // stride in E's pitches
        pitch = np.asarray(contiguous_strides(pl.E), np.int64)
        st = np.asarray(s, np.int64)
        phase = (tq % st) @ np.asarray(contiguous_strides(s), np.int64)
        csize = pl.phases * pl.psize
        koff = chan * csize + phase * pl.psize + (tq // st) @ pitch
        tail = 0
        if pl.copy:  # garbage columns of the last plane read up to koff + cols (+ a panel: indirect)
            tail = -(-max(0, int(koff.max()) + cols + nr * ind - cg * csize) // 16) * 16
            planes_bytes = -(-4 * (n * c * csize + tail) // 64) * 64
        tables = {"koff": koff}
        grid = (oshape[0],) + tuple(pl.E[1:])
        params.update(E=pl.E, grid=grid, gpitch=tuple(contiguous_strides(grid)), phases=pl.phases, psize=pl.psize, csize=csize, copy_x=pl.copy,
                      plo=tuple(pads[:nd]), tail=tail, tail_off=4 * n * c * csize)
    else:
        tq = tq - np.asarray(pads[:nd], np.int64)
        koff = chan * int(np.prod(ishape)) + tq @ np.asarray(istrides, np.int64)
        tables = {"koff": koff}
        for i in range(nd):  # outputs o with 0 <= o * s + t < n: o in [ceil(-t / s), ceil((n - t) / s))
            t = tq[:, i]
            tables[f"olo{i}"] = np.clip(-((t) // s[i]), 0, oshape[i])
            tables[f"ohi{i}"] = np.clip(-((t - ishape[i]) // s[i]), 0, oshape[i])
    helpers = [ukernel_helper(isa, mr, indirect=ind)]
    # the epilogue in the microkernel's store, for full tiles of columns that are all
    # output pixels, contiguous in Y (im2col; planes whose virtual grid is the output's, or
    # a tile within one output row of a grid whose rows are at least a tile wide)
    runs = not padded or tuple(params["grid"]) == tuple(oshape) or oshape[-1] >= nr
    spec = store_spec(req, bias, residual)
    if spec is not None and runs and not transposed:
        helpers.append(ukernel_helper(isa, store=spec, indirect=ind))
    params["ukernel_st"] = helpers[1][1] if len(helpers) > 1 else ""
    params["planes_bytes"] = planes_bytes
    sums = -(-nc // mr) * mr * sb * nr if transposed else sb * mr * ncb
    params["slot_bytes"] = slot = -(-4 * (kc * ncb + sums) // 64) * 64
    scratch = planes_bytes + slot * worker_slots(tasks, req.workers)
    dims = lambda v: "x".join(str(i) if i >= 0 else f"n{-i}" for i in v)  # noqa: E731
    name = (f"cnnc_{tag}gemm{'p' if padded else ''}{'t' if transposed else ''}{nd}d_f32_{mr}x{nr}_k{dims(k)}_s{dims(s)}_d{dims(d)}"
            f"_p{dims(pads)}_g{g}" + ("_b" if bias else "") + (f"_z{residual}" if residual else "")
            + (f"_{act_name.lower()}" if act else "") + f"_{dims(x.shape)}_m{m}")
    comment = (f"{req.node.op} as GEMM ({'padded planes' if padded else 'im2col'}, {mr}x{nr} "
               f"{'pixel x channel ' if transposed else ''}tiles, KC {kc}, "
               f"NC {nc}) {nd}-D kernel {k} strides {s} dilations {d} pads {pads} group {g}"
               + (f" {act_name}" if act else "") + (f" residual {residual}" if residual else "") + f" -> {y}")
    return Kernel(TEMPLATE, name, params, tables=tables, scratch_bytes=scratch,
                  comment=comment, helpers=tuple(helpers),
                  packed={1: pack_weight(req.constants[1], g, rows, kc)},
                  parallel=True)


DENSE_TEMPLATE = "c/kernels/gemm_packed.c.j2"


def dense_applies(req: KernelRequest) -> bool:
    """fp32, non-empty (B constant or not, batched or not)."""
    return (req.out_types[0].dtype == "float32" and req.out_types[0].size > 0 and req.in_types[0].size > 0
            and req.in_types[1].size > 0)


#: B packed at run time: the budget of one task's packed panels (all of K), in bytes
B_RUN_BYTES = 512 << 10


def dense_cost(req: KernelRequest, m: int, k: int, n: int) -> float:
    """``m`` counts every batch's rows; a B that is not constant is packed at run time, once
    per batch (``PACK_ELEMENTS``) when batched."""
    isa = req.isa
    rate = GEMM_FLOPS_PER_LANE * isa.vector if isa.vector else SCALAR_GEMM_FLOPS
    mr = min(isa.gemm_mr, m)
    b = req.in_types[1]
    packing = b.size / PACK_ELEMENTS if req.constants[1] is None else 0.0
    return 2.0 * -(-m // mr) * mr * k * -(-n // isa.gemm_nr) * isa.gemm_nr / rate + 4.0 * k * n / 8e9 + packing


def dense_gemm(req: KernelRequest, tag: str, *, m: int, k: int, n: int, a_strides, b: np.ndarray | None,
               b_strides=(0, 0), offsets: dict | None = None, alpha=1.0, beta=1.0, c_strides=None) -> Kernel:
    """``Y (m, n) = alpha * A'(m, k) . B'(k, n) (+ beta * C)`` on the GEMM microkernel, per
    batch when ``offsets`` gives each batch's A and B element offsets (``aoff``, ``boff``;
    Y's batches are contiguous).  B' is a constant ``b`` packed at compile time as NR-column
    panels ``[K blocks][NB][kc][NR]``, or, with ``b`` None, read at run time
    (``B'(k, j) = x1[boff + k * b_strides[0] + j * b_strides[1]]``) and packed by each task,
    once, as its own panels in the same layout (at most ``B_RUN_BYTES``).  The rows of A'
    (``A'(i, k) = x0[aoff + i * a_strides[0] + k * a_strides[1]]``) are packed per MR-row
    and KC-reduction block.  Tasks are (batch, run of B's panels); sums are fp32, the
    reduction blocked (``KC``) through a block of sums per task, the same blocks whatever
    the tasks, so every thread count gives the same bits."""
    isa = req.isa
    mr, nr = min(isa.gemm_mr, m), isa.gemm_nr
    nb = -(-n // nr)
    kc = min(k, KC_MAX)
    batch = len(offsets["aoff"]) if offsets else 1
    runtime_b = b is None
    mb = -(-m // mr)
    # tasks: (batch, run of panels), a few per worker when the work is worth splitting
    want = parallel_tasks(batch * nb, 2.0 * batch * m * k * n, req.workers, min_work=1 << 20)
    per = max(1, min(nb, -(-batch * nb // want)))
    if runtime_b:
        per = max(1, min(per, B_RUN_BYTES // (4 * k * nr)))
    chunks = -(-nb // per)
    tasks = batch * chunks
    lanes = max(16, nr)
    ncb = -(-per * nr // lanes) * lanes
    apack = -(-kc * mr // 16) * 16             # the sums after it stay 64-byte aligned
    bpack = per * nr * k if runtime_b else 0
    slot = -(-4 * (apack + mr * ncb + bpack) // 64) * 64
    helper = ukernel_helper(isa, mr)
    params = {"M": m, "N": n, "K": k, "MR": mr, "NR": nr, "NB": nb, "MB": mb, "KC": kc, "PER": per,
              "CHUNKS": chunks, "batch": batch, "runtime_b": runtime_b, "bsk": b_strides[0], "bsj": b_strides[1],
              "NCB": ncb, "tasks": tasks, "slot_bytes": slot, "APACK": apack, "asi": a_strides[0], "ask": a_strides[1],
              "alpha": "" if alpha == 1 else num(alpha, "float32"), "c": c_strides is not None,
              "beta": "" if beta == 1 else num(beta, "float32"),
              "csi": (c_strides or (0, 0))[0], "csj": (c_strides or (0, 0))[1], "ukernel": helper[1]}
    name = (f"cnnc_{tag}{'r' if runtime_b else 'p'}_f32_{mr}x{nr}_" + (f"{batch}x" if batch > 1 else "")
            + f"{m}x{k}x{n}")
    comment = (f"{req.node.op} on the {mr}x{nr} microkernel (B packed {'per task' if runtime_b else 'at compile time'}, "
               f"KC {kc}, {tasks} tasks) {', '.join(map(str, req.in_types))} -> {req.out_types[0]}")
    tables = {key: np.asarray(v, np.int64) for key, v in (offsets or {}).items()} if batch > 1 else {}
    return Kernel(DENSE_TEMPLATE, name, params, tables=tables, scratch_bytes=slot * worker_slots(tasks, req.workers),
                  comment=comment, helpers=(helper,), packed={} if runtime_b else {1: pack_weight(b.T, 1, nr, kc)},
                  parallel=tasks > 1)
