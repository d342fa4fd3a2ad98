"""cnnc's CPU schedule rules for TVM: what the ``tvm`` target applies to every kernel
(``PrimFunc``) of a model that a MetaSchedule database has not scheduled.

TVM 0.27 has DLight rules for GPUs, but on the CPU only GEMV and reduction rules, so an
untuned LLVM build runs every loop nest as legalization wrote it: scalar, one thread,
the reduction outermost.  These rules are written the way DLight's are
(``tvm.s_tir.dlight``): one small class per rule, ``apply(func, target, tunable)``
returns a schedule, or ``None`` where the rule does not apply, and
:func:`default_schedule` tries them in order, first match wins:

* :class:`RegisterTile`: a reduction whose result's innermost axis is a channel block
  (the NCHW<b>c convs and pools that the layout pass makes: dense, depthwise, reading a
  plain input; 1- or 2-D).  The block is the vector; a register tile of ``rw`` output
  pixels times the block is accumulated with the reduction innermost of the outer loops,
  the epilogue (bias, activation, residual) is applied to the tile before it is stored,
  and the outer loops run in parallel.
* :class:`PixelTile`: a reduction over plain operands whose result row is read by last
  indices only (NCHW convs of any rank and group that stay unblocked: 3-D, grouped;
  the classifier's matmul): the row is the vector, ``rt`` output channels the
  register tile, as :class:`RegisterTile` does it otherwise.
* :class:`Loops`: any other kernel (pools, global pools, softmax, layout transforms,
  elementwise chains): injective intermediate blocks inlined,
  each remaining block's first data-parallel loop of more than one step run in parallel,
  and its innermost loop vectorized where it is a data-parallel loop of whole vectors.

DLight's CPU ``GEMV`` rule is not used: on TVM 0.27 it raises on some kernels and gives
wrong Resize results on others.

On CUDA, :func:`rules` is DLight's GPU rules (TVM's defaults, in its order), then cnnc's
:class:`GpuThreads` for the kernels DLight declines.  :func:`apply_rules` schedules a
module's kernels by a target's rules and returns a :class:`Coverage`: which rule took each
kernel, which a database scheduled, which nothing did.
"""
from __future__ import annotations

from dataclasses import dataclass, field

#: accumulator vector registers a register tile may take, by the vector registers of the
#: target: 32 (AVX-512) leave room for the weight vector and a broadcast; 16 (AVX2, NEON)
_TILE_REGS = {32: 28, 16: 12}
#: a tile narrower than this many pixels, where a divisor of the row gives no wider one,
#: is widened and its last step guarded instead
_MIN_TILE = 5


def _tvm():
    from tvm import s_tir, tirx
    return s_tir, tirx


def vector_registers(target) -> int:
    """The vector registers of an LLVM target: 32 with AVX-512, else 16."""
    keys = " ".join(str(k) for k in target.attrs.get("mattr", []) or [])
    cpu = str(target.attrs.get("mcpu", "") or "")
    if "avx512f" in keys:
        return 32
    try:
        from tvm.target import codegen
        if codegen.target_has_features("avx512f", target):
            return 32
    except Exception:  # an older TVM, or a non-x86 triple
        pass
    return 32 if cpu in ("skylake-avx512", "cascadelake", "icelake-server", "sapphirerapids", "znver4",
                         "znver5") else 16


def vector_lanes(target, dtype_bits: int = 32) -> int:
    """float lanes of one vector register of ``target``: 16 with AVX-512, else 8 (AVX2)."""
    return (512 if vector_registers(target) == 32 else 256) // dtype_bits


def _is_cpu(target) -> bool:
    return target is not None and target.kind.name == "llvm"


def _root_blocks(sch):
    return sch.get_child_blocks(sch.get_sblock("root"))


def _reduces(sch, block) -> bool:
    return any(int(iv.iter_type) == 2 for iv in sch.get(block).iter_vars)


def _extent(sch, loop) -> int | None:
    e = sch.get(loop).extent
    return int(e) if hasattr(e, "value") else None


def _inline_intermediates(sch) -> None:
    """Inline every injective block whose result only feeds other injective blocks, as
    far as TVM allows.  A product is not inlined into a sum: LLVM would contract the two
    into one fused multiply-add, whose single rounding differs from the reference's two."""
    changed = True
    while changed:
        changed = False
        for block in _root_blocks(sch):
            consumers = sch.get_consumers(block)
            if (_reduces(sch, block) or not consumers
                    or not all(_reads_pointwise(sch, c, sch.get(block)) and not _reduces(sch, c) for c in consumers)):
                continue
            try:
                sch.compute_inline(block)
                changed = True
                break
            except Exception:  # TVM's ScheduleError: not inlinable here
                continue


def _reads_pointwise(sch, consumer, producer) -> bool:
    """Whether ``consumer`` reads what ``producer`` writes at plain iterator variables
    (an elementwise or broadcast read): inlining then adds no index arithmetic.  (Inlined
    reshapes' div/mod indices meet an LLVM miscompile on AVX-512 in TVM 0.27, the one that
    ``Tile``'s rule avoids; see ``cnnc/ops/shape.py``.)"""
    from tvm import tirx
    outs = [w.source for w in producer.writes]
    return all(isinstance(x.min, (tirx.Var, tirx.IntImm)) for r in sch.get(consumer).reads
               if any(r.source.same_as(o) for o in outs) for x in r.region)


def parallel_loops(sch, block, lanes: int) -> None:
    """The data-parallel loops of ``block`` (a child of the root): the first of more than
    one step, other than the innermost, runs in parallel; without a reduction, the
    innermost is vectorized when it has whole float vectors of ``lanes`` (split to
    ``lanes`` when longer).  Reduction loops stay inside, as they are."""
    loops = sch.get_loops(block)
    kinds = [int(iv.iter_type) for iv in sch.get(block).iter_vars]
    n_spatial = 0
    for k in kinds:
        if k != 0:
            break
        n_spatial += 1
    if len(loops) != len(kinds):   # loops not one per block iterator: leave them
        return
    spatial = loops[:n_spatial]
    if not spatial:
        return
    if n_spatial == len(loops):   # no reduction: the innermost data-parallel loop is vectorized
        inner = spatial[-1]
        e = _extent(sch, inner)
        # only float results: LLVM's vector float-to-int conversions round halves otherwise
        floats = all(str(w.source.dtype).startswith(("float", "bfloat")) for w in sch.get(block).writes)
        if floats and e is not None and e % lanes == 0 and e >= lanes:
            if e > lanes:
                _, inner = sch.split(inner, [None, lanes])
            sch.vectorize(inner)
            spatial = sch.get_loops(block)[:n_spatial - 1]
        else:
            spatial = spatial[:-1] if len(spatial) > 1 else spatial
    # the first loop of more than one step runs in parallel (not the loops fused: TVM then
    # mis-indexes some broadcast boolean constants)
    for loop in spatial:
        if (_extent(sch, loop) or 0) > 1:
            sch.parallel(loop)
            break


class _Rule:
    """A DLight-style CPU rule (``tvm.s_tir.dlight.ScheduleRule``'s interface; the base
    class is made when TVM is imported, so that this module imports without TVM)."""

    def __init__(self, lanes: int | None = None):
        self.lanes = lanes

    def is_target_available(self, target) -> bool:
        return _is_cpu(target)

    def _lanes(self, target) -> int:
        return self.lanes or vector_lanes(target)

    def _start(self, func, target):
        """A schedule of ``func``, or None where ``func`` is not a PrimFunc or the rule is
        not for ``target``."""
        s_tir, tirx = _tvm()
        if not isinstance(func, tirx.PrimFunc) or not self.is_target_available(target):
            return None
        return s_tir.Schedule(func)

    def _one_reduction(self, func, target):
        """``(schedule, block, self._shape(block))`` where ``func`` has one reduction block,
        which the rule's ``_shape`` accepts, its injective intermediates inlined; else None."""
        sch = self._start(func, target)
        if sch is None:
            return None
        reductions = [b for b in _root_blocks(sch) if _reduces(sch, b)]
        if len(reductions) != 1:
            return None
        shape = self._shape(sch, reductions[0])
        if shape is None:
            return None
        _inline_intermediates(sch)
        return sch, reductions[0], shape

    def _inlined(self, func, target):
        """A schedule of ``func`` with its injective intermediates inlined, or None where
        ``func`` is not a PrimFunc or the rule is not for ``target``."""
        sch = self._start(func, target)
        if sch is not None:
            _inline_intermediates(sch)
        return sch


def _register_tile(sch, block, outer, mid, reduce, unrolled, vector, lanes: int, parallel_mid: bool = False) -> None:
    """The register tile both tiling rules make of ``block``: loops ordered ``outer... mid |
    reduce... | unrolled, vector``; the ``unrolled`` x ``vector`` tile accumulated in a
    ``local`` buffer (LLVM keeps it in registers) whose store runs the epilogue blocks
    inlined into it; the ``outer`` loops (and ``mid`` with ``parallel_mid``) fused and
    parallel; the init decomposed out and vectorized; the kernel's other blocks (padding,
    transforms after the store) as :func:`parallel_loops` schedules them."""
    sch.reorder(*outer, mid, *reduce, unrolled, vector)
    local = sch.cache_write(block, 0, "local")
    # the epilogue: the consumer chain inlined into the tile's store
    for _ in range(16):
        consumers = sch.get_consumers(local)
        if len(consumers) != 1:
            break
        try:
            sch.reverse_compute_inline(consumers[0])
        except Exception:  # not a pointwise consumer: it keeps its own loops
            break
    sch.reverse_compute_at(local, mid, preserve_unit_loops=True)
    shared = [*outer, mid] if parallel_mid else list(outer)
    if shared:
        sch.parallel(sch.fuse(*shared) if len(shared) > 1 else shared[0])
    sch.unroll(unrolled)
    sch.vectorize(vector)
    init = sch.decompose_reduction(block, reduce[0])
    _, tirx = _tvm()
    for b in (local, init):     # the store and the init: the tile's row unrolled, the vector vectorized
        loops = sch.get_loops(b)
        sch.vectorize(loops[-1])
        # a unit tile row is not copied: then the loop before the vector is an outer one
        if len(loops) > 1 and sch.get(loops[-2]).kind == tirx.ForKind.SERIAL and _extent(sch, loops[-2]) == \
                _extent(sch, unrolled):
            sch.unroll(loops[-2])
    mine = [sch.get(b) for b in (block, local, init)]
    for other in _root_blocks(sch):
        if not any(sch.get(other).same_as(m) for m in mine):
            parallel_loops(sch, other, lanes)


class RegisterTile(_Rule):
    """A reduction ``Y[..., p, c] += ...`` whose innermost result axis ``c`` is a vector
    block (its extent a multiple of 4 lanes) that every operand reading it reads
    innermost and alone, ``p`` the data-parallel axis before it.  The NCHW<b>c conv is
    ``Y[n, m, *o, c] += X[n, rc, *(o*s + k*d), rb] * W[m, rc, *k, rb, c]`` (``p`` a pixel
    axis, which the weight does not read: the tile reuses each weight vector ``rw``
    times); the pool on NCHW<b>c is ``Y[n, cb, *o, c] max= X[n, cb, *(o*s + k*d), c]`` (no
    reuse, but ``rw`` independent accumulators and the epilogue in registers).

    Schedule: the last pixel axis split by ``rw`` (a divisor of its extent that fills the
    accumulator registers, else the widest tile with a guarded last step); loops ordered
    ``(outer..., pixel_outer | reduction... | pixel_inner, c)``; the tile accumulated in a
    local buffer (LLVM keeps it in registers: ``pixel_inner`` unrolled, ``c``
    vectorized) whose store runs the epilogue blocks inlined into it; the outer loops
    fused and parallel.  Producers (padding) and unfusable consumers get :func:`parallel_loops`."""

    def apply(self, func, target, tunable=False):
        found = self._one_reduction(func, target)
        if found is None:
            return None
        sch, block, (n_spatial, vector_extent) = found
        lanes = self._lanes(target)
        loops = sch.get_loops(block)
        spatial, reduce = loops[:n_spatial], loops[n_spatial:]
        vec = spatial[-1]
        last_pixel = spatial[n_spatial - 2]
        width = _extent(sch, last_pixel)
        regs = _TILE_REGS.get(vector_registers(target), 12)
        rw = tile_width(width, max(1, regs // max(1, vector_extent // lanes)))
        po, pi = sch.split(last_pixel, [None, rw])
        _register_tile(sch, block, spatial[:n_spatial - 2], po, reduce, pi, vec, lanes)
        return sch

    @staticmethod
    def _shape(sch, block):
        """(data-parallel axes, vector extent) of a block this rule tiles, or None."""
        nest = _reduction_nest(sch, block, 3)
        if nest is None:
            return None
        blk, ivs, n_spatial = nest
        c = ivs[n_spatial - 1].var
        extent = int(ivs[n_spatial - 1].dom.extent)
        if extent % 4 or extent > 64:
            return None
        readers_c = []
        for r in blk.reads:
            used = [_uses(x.min, c) for x in r.region]
            if any(used):
                if not (used[-1] and not any(used[:-1]) and r.region[-1].min.same_as(c)):
                    return None        # the block axis read other than innermost and alone
                readers_c.append(r)
        if not readers_c:
            return None
        return n_spatial, extent


def _reduction_nest(sch, block, min_spatial: int):
    """``(block, iterators, data-parallel count)`` where ``block`` is a reduction
    ``Y[s...] op= ...`` of at least ``min_spatial`` data-parallel iterators, then only
    reduction ones, each with one loop of its extent in that order, writing one buffer at
    exactly its data-parallel iterators; else None."""
    blk = sch.get(block)
    ivs = list(blk.iter_vars)
    kinds = [int(iv.iter_type) for iv in ivs]
    n_spatial = kinds.index(2) if 2 in kinds else len(kinds)
    if (any(k != 0 for k in kinds[:n_spatial]) or any(k != 2 for k in kinds[n_spatial:])
            or n_spatial < min_spatial or n_spatial == len(kinds)):
        return None
    loops = sch.get_loops(block)
    if len(loops) != len(ivs):
        return None
    for loop, iv in zip(loops, ivs):    # one loop per iterator, bound to it
        if _extent(sch, loop) != (int(iv.dom.extent) if hasattr(iv.dom.extent, "value") else -1):
            return None
    if len(blk.writes) != 1:
        return None
    out = blk.writes[0].region
    if len(out) != n_spatial or any(not r.min.same_as(iv.var) for r, iv in zip(out, ivs[:n_spatial])):
        return None
    return blk, ivs, n_spatial


def _vector_width(width: int, lanes: int) -> int:
    """Lanes of the vector along a row of ``width``: the whole row where it fits one
    register, else the widest divisor of ``width`` from half a register up (no guarded
    tail), else 1."""
    if width <= lanes:
        return width
    fits = [d for d in range(lanes // 2, lanes + 1) if width % d == 0]
    return max(fits) if fits else 1


class PixelTile(_Rule):
    """A reduction over plain (not channel-blocked) operands whose result's innermost axis
    ``x`` is read only by last indices: the NCHW conv of any rank and group (the 3-D,
    grouped and plain convs the layout pass leaves unblocked) and the classifier's
    ``Y[i, j] += X[i, k] * W[k, j]``.  The row ``x`` is the vector; the tile's other side is
    the last data-parallel axis ``t`` that an operand not reading ``x`` uses (the output
    channel: the weight's), ``rt`` of them, so a vector of inputs serves ``rt`` weights.

    Schedule: ``x`` split by a vector width that divides it (or the whole row, up to a
    register), ``t`` by ``rt`` (a divisor that fills the accumulator registers, else the
    widest tile guarded); loops ``(outer..., t_outer, x_outer | reduction... | t_inner,
    x_inner)`` with the outer ones fused and parallel, and the rest as :class:`RegisterTile`
    does it (``_register_tile``).  Declines rows of fewer than 4, kernels of more than one
    reduction, and those whose every operand reads the row (pools: no weight to reuse;
    they take :class:`Loops`)."""

    def apply(self, func, target, tunable=False):
        found = self._one_reduction(func, target)
        if found is None:
            return None
        sch, block, (n_spatial, t) = found
        lanes = self._lanes(target)
        loops = sch.get_loops(block)
        spatial, reduce = loops[:n_spatial], loops[n_spatial:]
        width = _extent(sch, spatial[-1])
        vw = _vector_width(width, lanes)
        xo, xi = sch.split(spatial[-1], [None, vw])
        regs = _TILE_REGS.get(vector_registers(target), 12)
        outer = list(spatial[:-1])
        if t is None:     # a one-row tile
            ti = sch.add_unit_loop(xi)
        else:
            outer[t], ti = sch.split(spatial[t], [None, tile_width(_extent(sch, spatial[t]), regs)])
        _register_tile(sch, block, outer, xo, reduce, ti, xi, lanes, parallel_mid=True)
        return sch

    @staticmethod
    def _shape(sch, block):
        """(data-parallel axes, the index of the tile's other axis or None), or None."""
        nest = _reduction_nest(sch, block, 2)
        if nest is None:
            return None
        blk, ivs, n_spatial = nest
        x = ivs[n_spatial - 1].var
        if int(ivs[n_spatial - 1].dom.extent) < 4:
            return None
        others = []
        for r in blk.reads:
            used = [_uses(e.min, x) for e in r.region]
            if any(used[:-1]):
                return None        # the row read other than by the last index
            if not used[-1]:
                others.append(r)
        if not others:
            # a pool: no weight to reuse, and a strided row read as a vector is a gather;
            # the Loops rule's scalar rows ran 10 % faster on SqueezeNet's pools
            return None
        for i in range(n_spatial - 2, -1, -1):
            v = ivs[i].var
            if int(ivs[i].dom.extent) > 1 and any(_uses(e.min, v) for r in others for e in r.region):
                return n_spatial, i
        return n_spatial, None     # a one-row tile: a matrix-vector product


def _uses(expr, var) -> bool:
    from tvm.s_tir.dlight.analysis.common_analysis import collect_vars_used_in_prim_expr
    return any(v.same_as(var) for v in collect_vars_used_in_prim_expr(expr))


def tile_width(width: int | None, most: int) -> int:
    """Pixels in a register tile over a row of ``width``: the widest divisor of ``width``
    up to ``most``, or ``most`` itself (the last tile guarded) where the divisors give
    fewer than ``_MIN_TILE``."""
    if not width:
        return 1
    most = max(1, min(most, width))
    best = max(d for d in range(1, most + 1) if width % d == 0)
    return best if best >= min(_MIN_TILE, most) else most


class Loops(_Rule):
    """Any kernel: injective intermediates inlined, then every remaining root block's
    loops as :func:`parallel_loops` schedules them."""

    def apply(self, func, target, tunable=False):
        sch = self._inlined(func, target)
        if sch is None:
            return None
        lanes = self._lanes(target)
        for block in _root_blocks(sch):
            parallel_loops(sch, block, lanes)
        return sch


class GpuThreads(_Rule):
    """cnnc's GPU rule, for the kernels no DLight rule schedules (DLight declines a kernel
    whose loops it cannot normalize: gathers and scatters written as opaque loops, RoiAlign,
    long fused slice chains, zero-size tensors).  Left unscheduled, such a kernel would be
    compiled as host code reading device memory.

    Schedule: injective intermediates inlined (as on the CPU); then each remaining block's
    longest run of leading loops that may run in parallel (the data-parallel ones, as TVM's
    ``bind`` checks them) fused, split by ``threads`` and bound to ``blockIdx.x`` and
    ``threadIdx.x``; the loops after them run serially in each thread.  A block with no
    such loop runs in one thread of one GPU block.  No shared memory and no cross-thread
    step, so it is correct wherever the serial loops are."""

    def __init__(self, threads: int = 256):
        super().__init__()
        self.threads = threads

    def is_target_available(self, target) -> bool:
        return target is not None and target.kind.name == "cuda"

    def apply(self, func, target, tunable=False):
        sch = self._inlined(func, target)
        if sch is None:
            return None
        threads = min(self.threads, int(target.attrs.get("max_num_threads", 1024)))
        blocks = _root_blocks(sch)
        if not blocks:
            return None
        for block in blocks:
            sch = self._bind(sch, block, threads)
        return sch

    @staticmethod
    def _bind(sch, block, threads: int):
        """``sch`` (or a copy) with ``block``'s loops bound to GPU blocks and threads."""
        loops = sch.get_loops(block)
        for k in range(len(loops), 0, -1):
            trial = sch.copy()
            try:
                fused = trial.fuse(*loops[:k]) if k > 1 else loops[0]
                extent = _extent(trial, fused)
                if not extent:      # zero steps, or not a constant: one thread instead
                    continue
                bx, tx = trial.split(fused, [None, min(threads, extent)])
                trial.bind(bx, "blockIdx.x")
                trial.bind(tx, "threadIdx.x")
                return trial
            except Exception:  # TVM's ScheduleError: these loops do not run in parallel
                continue
        top = loops[0] if loops else block
        thread = sch.add_unit_loop(top)
        sch.bind(sch.add_unit_loop(thread), "blockIdx.x")
        sch.bind(thread, "threadIdx.x")
        return sch


class _Guarded:
    """A rule that cannot schedule a kernel (it raises, or on a GPU its schedule holds a
    cross-thread reduction TVM cannot lower, such as one with the pools' NaN-keeping max)
    passes it on to the next rule."""

    def __init__(self, rule):
        self.rule = rule

    def apply(self, func, target, tunable=False):
        try:
            sch = self.rule.apply(func, target, tunable)
            if sch is not None and target.kind.name == "cuda":
                from tvm.s_tir.transform import LowerCrossThreadReduction
                for one in sch if isinstance(sch, list) else [sch]:
                    LowerCrossThreadReduction()(one.mod)
            return sch
        except Exception:
            return None


def rules(target=None) -> list[tuple[str, object]]:
    """The rules tried, in order, on a kernel for ``target``, by name: on a CPU (the
    default) cnnc's; on a GPU DLight's defaults (those of TVM's CUDA pipeline, in its
    order), then cnnc's :class:`GpuThreads` for what they leave."""
    if target is not None and target.kind.name == "cuda":
        from tvm.s_tir import dlight as dl
        dlight = [dl.gpu.Matmul(), dl.gpu.GEMV(), dl.gpu.Reduction(), dl.gpu.GeneralReduction(), dl.gpu.Fallback()]
        return [(f"dlight.{type(r).__name__}", _Guarded(r)) for r in dlight] + [("cnnc.GpuThreads", _Guarded(GpuThreads()))]
    return [(f"cnnc.{type(r).__name__}", _Guarded(r)) for r in (RegisterTile(), PixelTile(), Loops())]


def schedule(func, target, tried=None):
    """``(rule name, schedule)`` of the first of ``tried`` (default: :func:`rules`) that
    schedules ``func`` for ``target``, or ``(None, None)``."""
    for name, rule in tried if tried is not None else rules(target):
        sch = rule.apply(func, target, False)
        if sch is not None:
            return name, sch[0] if isinstance(sch, list) else sch
    return None, None


#: :class:`Coverage`'s name for GPU kernels that their op's TOPI compute already wrote with
#: thread launches (``scatter_elements_gpu``...): no rule schedules them again
OWN_THREADS = "topi.gpu"


def launches_threads(func) -> bool:
    """Whether ``func`` already launches GPU threads (a ``thread_extent`` or a loop bound
    to a thread)."""
    import tvm_ffi
    _, tirx = _tvm()
    found = []
    tvm_ffi.structural_walk(func.body, [
        (tirx.AttrStmt, lambda n: found.append(n) if n.attr_key in ("thread_extent", "virtual_thread") else None),
        (tirx.For, lambda n: found.append(n) if n.kind == tirx.ForKind.THREAD_BINDING else None)], order="post")
    return bool(found)


@dataclass
class Coverage:
    """Which rule scheduled each kernel of a build: ``by_rule`` maps a rule's name to its
    kernels (in the order the rules are tried), ``database`` lists the kernels a
    MetaSchedule database scheduled, ``unscheduled`` those nothing scheduled."""
    by_rule: dict[str, list[str]] = field(default_factory=dict)
    database: list[str] = field(default_factory=list)
    unscheduled: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """Kernels by what scheduled them (``database``, each rule, ``unscheduled``)."""
        return {**({"database": len(self.database)} if self.database else {}),
                **{k: len(v) for k, v in self.by_rule.items()}, "unscheduled": len(self.unscheduled)}

    def line(self) -> str:
        return describe(self.counts())


def describe(counts: dict[str, int]) -> str:
    """One line of :meth:`Coverage.counts` (a manifest's ``schedules``):
    ``33 kernels: dlight.Matmul 28, dlight.Fallback 5; 0 unscheduled``."""
    counts = dict(counts)
    left = counts.pop("unscheduled", 0)
    total = sum(counts.values()) + left
    return f"{total} kernel{'s' * (total != 1)}: " + ", ".join(f"{k} {v}" for k, v in counts.items()) + f"; {left} unscheduled"


def apply_rules(mod, target, tried=None):
    """``(mod, coverage)``: every kernel of ``mod`` that no database scheduled, scheduled by
    the first of ``tried`` (default: :func:`rules`) that applies, and a :class:`Coverage`
    saying which did.  Call it with ``target`` current (DLight's rules read it)."""
    _, tirx = _tvm()
    tried = rules(target) if tried is None else tried
    cover = Coverage()
    updated = {}
    for gv, func in mod.functions_items():
        if not isinstance(func, tirx.PrimFunc):
            continue
        if func.attrs is not None and int(func.attrs.get("tirx.is_scheduled", 0)) == 1:
            cover.database.append(gv.name_hint)
            continue
        if target.kind.name == "cuda" and launches_threads(func):
            cover.by_rule.setdefault(OWN_THREADS, []).append(gv.name_hint)
            continue
        name, sch = schedule(func, target, tried)
        if sch is None:
            cover.unscheduled.append(gv.name_hint)
            continue
        cover.by_rule.setdefault(name, []).append(gv.name_hint)
        updated[gv] = sch.mod["main"].with_attr("tirx.is_scheduled", True)
    order = [OWN_THREADS] + [n for n, _ in tried]
    cover.by_rule = {n: cover.by_rule[n] for n in order if n in cover.by_rule}
    for gv, func in updated.items():
        mod[gv] = func
    return mod, cover
