"""The TVM backend: the cnnc graph lowered directly to a Relax module, built by TVM for the
host CPU (LLVM) or for CUDA.

Lowering walks the graph in topological order inside one ``relax.BlockBuilder`` dataflow
block.  Every op carries its own lowering rule, ``OpDef.tvm`` (declared in its file in
``cnnc/ops/``): ``rule(req, xs, b)`` gets the node's :class:`~cnnc.ir.KernelRequest` (types
and constant operands), the Relax expressions of its operands and the :class:`Lowering`
builder ``b``, and returns one Relax expression per output.  Rules reach TVM only through
``b`` (``b.R`` is ``tvm.relax.op``, ``b.topi``, ``b.te``, ``b.tir``, ``b.emit_te``), so the op
files never import TVM, which stays an optional dependency.  Each result is checked
against the node's inferred type, so a wrong rule is caught at the node, not at run time.

Graph constants become parameters of ``main`` bound to their values (``BindParams``),
the graph inputs are the remaining parameters, in order, and ``main`` returns a tuple of
the graph outputs.  Building legalizes to TIR and fuses operators (TVM's pipeline), applies
the MetaSchedule database ``db=`` written by :func:`tune` (``cnnc tune``) if given, and
schedules every other kernel by default rules (``tvm_rules``): cnnc's on the CPU; on CUDA
DLight's, then cnnc's ``GpuThreads`` for what DLight declines.  The build records which
rule took each kernel (``TVMModel.schedules``, the manifest's ``schedules``).
"""
from __future__ import annotations

import contextlib
import functools
import importlib.metadata
import importlib.util
import inspect
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from ..ir import CnncError, Graph, KernelRequest, UnsupportedError, Value, get_op, progress
from ..ir.naming import sanitize
from . import tvm_rules
from .base import CompiledModel, check_threads, default_threads, read_manifest, write_manifest

INSTALL_HINT = "install the extra: pip install 'cnnc[tvm]' (Apache TVM 0.27, import name tvm)"
DEFAULT_ARCH = "sm_80"


def _tvm():
    """The tvm package, or one clear error naming the extra to install."""
    # TVM's thread pool takes at most TVM_NUM_THREADS workers (by default it counts one per
    # physical core, 1 on a 2-vCPU machine); threads= picks fewer per model (_use_threads)
    os.environ.setdefault("TVM_NUM_THREADS", str(default_threads()))
    # and it pins its workers (and the caller's thread) to cores, which would also pin every
    # thread the caller starts later (another runtime's pool on one core): cnnc does not
    os.environ.setdefault("TVM_BIND_THREADS", "0")
    try:
        import tvm
        from tvm import relax  # noqa: F401
    except ImportError as e:
        raise CnncError(f"the tvm targets need Apache TVM, which is not importable ({e}); {INSTALL_HINT}") from None
    return tvm


class Lowering:
    """The builder a lowering rule is given: TVM's namespaces and the block builder.

    ``R`` is ``tvm.relax.op`` (``b.R.nn.conv2d``, ``b.R.add``, ...), ``topi``/``te``/``tir``
    are TVM's operator library, tensor expressions and TIR (``tvm.tirx``) for ops Relax lacks
    (``b.emit_te(fn, *args)`` emits a TE computation as a ``call_tir``).  Shapes are static:
    ``b.shape(x)`` is a tuple of ints.
    """

    def __init__(self, tvm, bb):
        from tvm import relax, te, topi
        from tvm import tirx as tir
        self.tvm, self.relax, self.bb = tvm, relax, bb
        self.R, self.topi, self.te, self.tir = relax.op, topi, te, tir

    def emit(self, expr):
        """Bind ``expr`` to a variable of the current dataflow block."""
        return self.bb.emit(expr)

    def emit_te(self, fn, *args, name: str | None = None, **kwargs):
        """Emit the TE computation ``fn(*te_tensors, **kwargs)`` as a ``call_tir``."""
        if name is not None:
            kwargs["primfunc_name_hint"] = name
        return self.bb.emit_te(fn, *args, **kwargs)

    def const(self, value, dtype: str):
        """A Relax constant of ``dtype`` (a scalar or an array)."""
        return self.relax.const(np.asarray(value, dtype=np.dtype(dtype)), dtype)

    def shape(self, x) -> tuple[int, ...]:
        return tuple(int(d) for d in x.ty.shape)

    def dtype(self, x) -> str:
        return str(x.ty.dtype)


def lower(graph: Graph):
    """The Relax ``IRModule`` of ``graph`` (function ``main``), constants bound as parameters.
    Every op without a TVM lowering rule is reported in one error."""
    tvm = _tvm()
    from tvm import relax
    graph.verify()
    missing = sorted({n.op for n in graph.nodes() if n.op not in ("Input", "Constant") and get_op(n.op).tvm is None})
    if missing:
        raise UnsupportedError(f"no TVM lowering for op{'s' * (len(missing) > 1)} {', '.join(missing)}")

    def var(name, t):
        return relax.Var(sanitize(name), relax.TensorType(t.shape, t.dtype))

    exprs: dict[Value, object] = {}
    params, bound = [], {}
    for v in graph.inputs:
        n = graph.node(v.node)
        exprs[v] = var(n.name, n.types[0])
        params.append(exprs[v])
    for n in graph.nodes():
        if n.op == "Constant":
            exprs[Value(n.name)] = p = var(f"w_{n.name}", n.types[0])
            params.append(p)
            bound[p] = np.require(n.attrs["value"], requirements="C")  # keeps 0-d arrays 0-d

    bb = relax.BlockBuilder()
    b = Lowering(tvm, bb)
    with bb.function("main", params):
        with bb.dataflow():
            for n in map(graph.node, graph.topo_order()):
                if n.op in ("Input", "Constant"):
                    continue
                ins = graph.operands(n.name)
                req = KernelRequest(n, [graph.type_of(v) for v in ins], list(n.types),
                                    [graph.constant(v) for v in ins])
                try:
                    result = get_op(n.op).tvm(req, [exprs[v] for v in ins], b)
                except CnncError as e:
                    raise e.at(n.where()) from None
                results = list(result) if isinstance(result, (list, tuple)) else [result]
                if len(results) != len(n.types):
                    raise CnncError(f"TVM lowering of {n.op} gave {len(results)} result(s), "
                                    f"expected {len(n.types)}").at(n.where())
                for i, (r, t) in enumerate(zip(results, n.types)):
                    r = r if isinstance(r, relax.Var) else bb.emit(r)
                    got = (b.shape(r), b.dtype(r))
                    if got != (tuple(t.shape), t.dtype):
                        raise CnncError(f"TVM lowering of {n.op} output {i} is {got[1]}{list(got[0])}, "
                                        f"expected {t.dtype}{list(t.shape)}").at(n.where())
                    exprs[Value(n.name, i)] = r
            out = bb.emit_output(relax.Tuple([exprs[v] for _, v in graph.outputs]))
        bb.emit_func_output(out)
    mod = bb.get()
    if bound:
        mod = relax.transform.BindParams("main", {p: tvm.runtime.tensor(a) for p, a in bound.items()})(mod)
    return mod


#: LLVM options of every CPU build.  LLVM's SLP vectorizer is off: with some CPUs' cost
#: models (``znver3``) it emits invalid IR for small fully unrolled loops -- for the fused
#: pad + conv1d + bias of x (1, 3, 9), w (4, 3, 4), SAME_UPPER a ``shufflevector`` placed
#: before the instruction defining its operand, which TVM's module verifier rejects
#: ("Instruction does not dominate all uses").  The loop vectorizer stays on.
#: tests/backends/test_tvm_cpus.py builds the conv grid for several ``-mcpu`` values.
LLVM_OPTIONS = ("-vectorize-slp=false",)


def host_target(cpu: str | None = "native"):
    """LLVM for the CPU ``cpu``: ``native`` (this machine's, its features detected by LLVM)
    or an LLVM CPU name (``znver3``, ``x86-64-v3``, ``skylake-avx512``, ``generic``...)."""
    tvm = _tvm()
    from tvm.target import codegen
    triple = str(codegen.llvm_get_system_triple())
    if cpu in (None, "native"):
        cpu = str(codegen.llvm_get_system_cpu())
    elif not isinstance(cpu, str) or not codegen.llvm_is_valid_cpu(cpu, triple):
        raise CnncError(f"cpu={cpu!r} is not a CPU that LLVM knows for {triple}; use native, or a name such as "
                        "x86-64-v3, znver3 or skylake-avx512 (llc -mcpu=help lists them)")
    return tvm.target.Target({"kind": "llvm", "mcpu": cpu,
                              "num-cores": max(os.cpu_count() or 1, 1), "cl-opt": list(LLVM_OPTIONS)})


def cuda_target(arch: str | None = None):
    """CUDA for ``arch`` (``sm_80``, ``sm_90``, ...) with the host CPU as host."""
    tvm = _tvm()
    arch = arch or DEFAULT_ARCH
    if not (arch.startswith("sm_") and arch[3:].rstrip("a").isdigit()):
        raise CnncError(f"--arch expects a CUDA architecture such as sm_80 or sm_90, got {arch!r}")
    # the shared memory a block may use without opting in, on every arch since sm_20 (DLight
    # reads it, and warns once per kernel where the target lacks it)
    return tvm.target.Target({"kind": "cuda", "arch": arch, "max_shared_memory_per_block": 48 * 1024},
                             host=host_target())


def _target(kind: str, arch: str | None, cpu: str | None = None):
    if kind == "tvm":
        if arch is not None:
            raise CnncError("--arch applies to GPU targets (tvm-cuda, cuda), not to tvm")
        return host_target(cpu)
    if kind == "tvm-cuda":
        if cpu is not None:
            raise CnncError("--cpu applies to CPU targets (tvm, c), not to tvm-cuda")
        return cuda_target(arch)
    raise CnncError(f"unknown TVM target {kind!r}; use tvm or tvm-cuda")


def _prepare(mod, target, db: str | os.PathLike | None):
    """Decompose, legalize and fuse; apply the MetaSchedule database ``db`` if given (the
    kernels it schedules are marked scheduled; :func:`_schedule` does the rest)."""
    tvm = _tvm()
    from tvm import relax
    passes = [relax.transform.DecomposeOpsForInference(), relax.transform.CanonicalizeBindings(),
              relax.get_pipeline("zero")]
    if db is not None and not (Path(db) / "database_workload.json").is_file():
        raise CnncError(f"{db}: not a MetaSchedule database (no database_workload.json); "
                        "write one with `cnnc tune`")
    with target, contextlib.ExitStack() as scope:  # the pass reads the current target when made
        if db is not None:
            # the database made here and current: given only a path, the pass makes it itself
            # and warns on the terminal that it did
            from tvm.s_tir import meta_schedule as ms
            scope.enter_context(ms.database.JSONDatabase(work_dir=str(db), module_equality="structural"))
            passes.append(relax.transform.MetaScheduleApplyDatabase())
        return tvm.transform.Sequential(passes)(mod)


def _schedule(mod, target, name: str):
    """``(mod, coverage)``: the kernels of a prepared ``mod`` that no database scheduled,
    scheduled by the target's default rules (:func:`tvm_rules.rules`: cnnc's on the CPU,
    DLight's and then cnnc's on a GPU), and which rule took each.  A GPU kernel that no
    rule schedules would run as host code on device memory: that is an error naming it."""
    with target:
        mod, cover = tvm_rules.apply_rules(mod, target)
    if cover.unscheduled and target.kind.name == "cuda":
        raise CnncError(f"tvm-cuda: no schedule rule binds kernel(s) {', '.join(cover.unscheduled)} of {name!r} "
                        "to GPU threads (DLight's rules and cnnc's GpuThreads all declined them)")
    return mod, cover


def blocked_graph(graph: Graph, target, layout: str = "auto") -> Graph:
    """``graph`` with the layout pass run for the LLVM ``target``: its conv regions
    channel-blocked by the target's float lanes (16 with AVX-512, else 8), the layout
    :class:`~cnnc.backends.tvm_rules.RegisterTile` vectorizes.  CUDA targets and
    ``layout="nchw"`` keep the graph plain; TVM's CPU rules tile channel-blocked convs, so
    ``auto`` blocks every region that can be, as ``nchwc`` does.  Batch norms that no conv
    folded (DenseNet's pre-activation ones), on maps it can block, first become depthwise
    1x1 convs (``fuse.norms_as_depthwise``), which have a blocked form: on DenseNet-121
    they were 62 kernels of unblock, float64 normalization and reblock, 30 % of its kernel
    time."""
    from . import isa as isa_mod
    from ..passes.layout import MODES, assign_layouts
    if layout not in MODES:
        raise CnncError(f"layout must be one of {', '.join(MODES)}; got {layout!r}")
    if target.kind.name != "llvm" or layout == "nchw":
        return graph
    from ..passes.fuse import norms_as_depthwise
    lanes = tvm_rules.vector_lanes(target)
    # the pass asks the C tables which convs have a blocked form; the ISA of these lanes says
    like = isa_mod.CPUS["x86-64-v4" if lanes == 16 else "x86-64-v3"]
    return assign_layouts(norms_as_depthwise(graph, lanes), lanes, isa=like, mode="nchwc")


def build(graph: Graph, kind: str = "tvm", *, arch: str | None = None, db: str | os.PathLike | None = None,
          cpu: str | None = None, layout: str = "auto"):
    """Lower and build ``graph`` (for the CPU ``cpu``, see :func:`host_target`; ``layout``:
    see :func:`blocked_graph`); returns ``(executable, target, coverage)``, the last a
    :class:`tvm_rules.Coverage` (which rule scheduled each kernel)."""
    tvm = _tvm()
    target = _target(kind, arch, cpu)
    mod, cover = _schedule(_prepare(lower(blocked_graph(graph, target, layout)), target, db), target, graph.name)
    try:
        with progress.step(f"TVM: building {graph.name} for {target.kind.name}"):
            return tvm.compile(mod, target=target), target, cover
    except Exception as e:  # TVM raises its own error types from C++; keep one cnnc error
        raise CnncError(f"TVM failed to build {graph.name!r} for {kind}: {str(e).strip()[-2000:]}") from None


def tune(graph: Graph, db: str | os.PathLike, *, kind: str = "tvm", trials: int | None = None,
         arch: str | None = None, trials_per_task: int | None = None, trials_per_iter: int = 64,
         workers: int | None = None, layout: str = "auto", minutes: float | None = None,
         threads: int | None = None) -> Path:
    """Run MetaSchedule on every fused kernel of ``graph`` and store its JSON database
    (``database_workload.json``, ``database_tuning_record.json``, ``logs/``) in ``db``;
    later builds apply it with ``db=``.

    The search starts from cnnc's rules: every kernel without a record in ``db`` is first
    scheduled by :func:`tvm_rules.default_schedule`'s rule and that schedule measured and
    recorded, so a build with the database is never slower than one without.  Then the
    evolutionary search runs until ``trials`` candidates are measured (at most
    ``trials_per_task`` a kernel, ``trials_per_iter`` a round) or ``minutes`` of wall
    clock have passed, whichever comes first (``minutes`` alone: as many trials as fit).
    With ``minutes`` the kernels take rounds in turn (MetaSchedule's round-robin scheduler),
    so the budget is checked after every round; without, the gradient scheduler gives
    more rounds to the kernels that weigh most.
    Progress shows the kernels done and the model's estimated latency (the sum of each
    kernel's best time by its calls).  Running it again on the same ``db`` resumes: the
    recorded kernels are not re-seeded and the search goes on from the best records.

    Candidates are built and timed on this machine by MetaSchedule's local builder and
    runner (``workers`` build processes: one per CPU by default); the tvm target times them
    on ``threads`` workers (default: this machine's cores), which should be the ``threads``
    the model will run on: the fastest schedule of a kernel at 1 thread is not always the
    fastest at 16.  tvm-cuda times them on the GPU, so it needs one.  The search's cost
    model is XGBoost where the xgboost package is installed, else MetaSchedule's random
    model."""
    tvm = _tvm()
    if trials is None and minutes is None:
        trials = 64
    for name, n in (("--trials", trials), ("--trials-per-task", trials_per_task), ("trials_per_iter", trials_per_iter),
                    ("workers", workers)):
        if n is not None and (not isinstance(n, int) or isinstance(n, bool) or n < 1):
            raise CnncError(f"{name} must be a positive integer, got {n!r}")
    if minutes is not None and (isinstance(minutes, bool) or not isinstance(minutes, (int, float)) or not minutes > 0):
        raise CnncError(f"--minutes must be a positive number, got {minutes!r}")
    if threads is not None and kind != "tvm":
        raise CnncError("--threads applies to the tvm target (CPU workers), not to tvm-cuda")
    threads = check_threads(threads)
    trials = trials or 1_000_000   # a time budget alone
    target = _target(kind, arch)
    if kind == "tvm-cuda" and not _device(kind).exist:
        raise CnncError("tuning for tvm-cuda times every candidate on a CUDA GPU, and this machine has none; "
                        "tune on the machine that will run the model (`cnnc compile --db DIR` applies the "
                        "database anywhere)")
    _require_tuning_support()
    from tvm.s_tir import meta_schedule as ms
    deadline = None if minutes is None else time.monotonic() + 60 * minutes
    mod = _prepare(lower(blocked_graph(graph, target, layout)), target, None)
    db = Path(db)
    if db.exists() and not db.is_dir():
        raise CnncError(f"{db}: exists and is not a directory (the MetaSchedule database is a folder)")
    db.mkdir(parents=True, exist_ok=True)
    with _memoized_getmodule():
        import tvm.s_tir.tensor_intrin  # noqa: F401  (TuneContext imports it: pay its cost once, quickly)
    cost_model = "xgb" if importlib.util.find_spec("xgboost") is not None else "random"
    workers = workers or max(os.cpu_count() or 1, 1)
    per_task = min(trials_per_task or trials, trials)
    # the evolutionary population scales with the budget: MetaSchedule's 512 (its default) from
    # 64 trials a task, so that a few-trial run does not spend minutes evolving candidates
    population = min(512, max(32, 8 * per_task))
    strategy = ms.search_strategy.EvolutionarySearch(population_size=population,
                                                     init_min_unmeasured=min(50, population // 2))
    builder = ms.builder.LocalBuilder(max_workers=workers, timeout_sec=_TUNE_TIMEOUT_S, f_build=_ms_build)
    runner = ms.runner.LocalRunner(timeout_sec=_TUNE_TIMEOUT_S,
                                   initializer=functools.partial(_use_threads, threads) if kind == "tvm" else None)
    shown = progress.Progress(f"TVM: tuning {graph.name} for {kind}",
                              total=None if minutes is not None else trials)
    state = None
    try:
        tasks = ms.relax_integration.extract_tasks(mod, target)
        database = ms.database.JSONDatabase(work_dir=str(db), module_equality="structural")
        state = _TuneState(tasks, database, deadline, shown)
        state.seed(target, builder, runner)
        shown.update(done=0, note=state.note())
        if not state.out_of_time():
            with _meta_schedule_logging():
                ms.relax_integration.tune_relax(
                    mod, params={}, target=target, work_dir=str(db), max_trials_global=trials,
                    max_trials_per_task=per_task, num_trials_per_iter=min(trials_per_iter, per_task),
                    builder=builder, runner=runner, database=database,
                    measure_callbacks=[*ms.measure_callback.MeasureCallback.create("default"), state.callback()],
                    strategy=strategy, cost_model=cost_model, seed=0,
                    # the gradient scheduler starts with a round per kernel and joins none of
                    # their results (so runs no callback: no deadline check) before the
                    # last: 33 kernels' rounds ran 16 minutes past a 2-minute budget
                    task_scheduler="gradient" if deadline is None else "round-robin")
    except CnncError:
        shown.finish("failed")
        raise
    except Exception as e:  # TVM's own error types, from C++ or the worker pools
        if state is None or not state.stopped:   # else --minutes ran out: the search ends there
            shown.finish("failed")
            raise CnncError(f"MetaSchedule tuning of {graph.name!r} for {kind} failed: "
                            f"{str(e).strip()[-2000:]}") from None
    kernels, measured, failed = tuning_summary(db)
    shown.finish(f"{measured} candidates measured, {failed} failed, {kernels} kernels; {state.note()}")
    if not measured:
        raise CnncError(f"MetaSchedule tuning of {graph.name!r} for {kind}: none of the {failed} candidates built and "
                        f"ran (their errors are in {db / 'logs'})")
    return db


class _TuneState:
    """What ``tune`` tracks: each task's best time so far, the wall-clock deadline, the
    progress line."""

    def __init__(self, tasks, database, deadline, shown):
        self.tasks, self.database, self.deadline, self.shown = tasks, database, deadline, shown
        self.best: list[float | None] = [None] * len(tasks)
        self.workloads = [database.commit_workload(t.dispatched[0]) for t in tasks]
        for i, w in enumerate(self.workloads):
            top = database.get_top_k(w, 1)
            if top:
                self.best[i] = _mean_secs(top[0].run_secs)
        self.done: set[int] = set()
        self.measured = 0
        self.stopped = False

    def out_of_time(self) -> bool:
        return self.deadline is not None and time.monotonic() > self.deadline

    def note(self) -> str:
        known = [b * t.weight for b, t in zip(self.best, self.tasks) if b is not None]
        latency = f"estimated {sum(known) * 1e3:.2f} ms" + ("" if len(known) == len(self.tasks) else
                                                            f" over {len(known)} kernels")
        return f"{len(self.done)}/{len(self.tasks)} kernels done, {latency}"

    def seed(self, target, builder, runner) -> None:
        """Measure and record cnnc's rule schedule of every kernel the database lacks."""
        from tvm.s_tir import meta_schedule as ms
        rules = tvm_rules.rules(target)
        todo = []
        for i, task in enumerate(self.tasks):
            if self.best[i] is not None:
                continue
            with target:
                _, sch = tvm_rules.schedule(task.dispatched[0]["main"], target, rules)
            if sch is not None:
                todo.append((i, sch))
        if not todo:
            return
        built = builder.build([ms.builder.BuilderInput(sch.mod, target) for _, sch in todo])
        ok = [(i, sch, b) for (i, sch), b in zip(todo, built) if b.error_msg is None]
        device = "cpu" if target.kind.name == "llvm" else target.kind.name
        futures = runner.run([ms.runner.RunnerInput(b.artifact_path, device,
                                                    ms.arg_info.ArgInfo.from_prim_func(sch.mod["main"]))
                              for _, sch, b in ok])
        for (i, sch, b), fut in zip(ok, futures):
            res = fut.result()
            if res.error_msg is None and res.run_secs:
                self.database.commit_tuning_record(ms.database.TuningRecord(
                    sch.trace, self.workloads[i], [float(t) for t in res.run_secs], target,
                    ms.arg_info.ArgInfo.from_prim_func(sch.mod["main"])))
                self.best[i] = _mean_secs(res.run_secs)

    def callback(self):
        from tvm.s_tir import meta_schedule as ms
        from tvm.ir.utils import derived_object
        state = self

        @derived_object
        class Progress(ms.measure_callback.PyMeasureCallback):
            def apply(self, task_scheduler, task_id, measure_candidates, builder_results, runner_results):
                state.measured += len(runner_results)
                for r in runner_results:
                    if r.error_msg is None and r.run_secs:
                        t = _mean_secs(r.run_secs)
                        if state.best[task_id] is None or t < state.best[task_id]:
                            state.best[task_id] = t
                for i, rec in enumerate(task_scheduler.tasks_):
                    if rec.is_terminated:
                        state.done.add(i)
                state.shown.update(done=state.measured, note=state.note())
                if state.out_of_time():
                    # stop the search here: this round's records are in the database (its
                    # callback ran first).  Terminating the tasks instead fails TVM's
                    # scheduler, which picks tasks round-robin at first without checking.
                    state.stopped = True
                    raise _OutOfTime()
        return Progress()


@contextlib.contextmanager
def _meta_schedule_logging():
    """MetaSchedule's loggers configured for ``tune``: its console handler, which prints the
    task tables and every round on stdout, takes the level its logger has when they are
    configured: WARNING here (the configuration sets the logger back to DEBUG for the log
    files in ``db/logs``).  Handlers others put on that logger (pytest's capture) are set
    aside meanwhile: MetaSchedule's configuration names every handler there as its own."""
    log = logging.getLogger("tvm.s_tir.meta_schedule")
    foreign = [h for h in log.handlers if not (h.get_name() or "").startswith("tvm.s_tir.meta_schedule")]
    for h in foreign:
        log.removeHandler(h)
    log.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for h in foreign:
            log.addHandler(h)


class _OutOfTime(Exception):
    """``tune``'s wall-clock budget is spent (raised through MetaSchedule's loop)."""


def _mean_secs(run_secs) -> float:
    vals = [float(t) for t in run_secs]
    return sum(vals) / len(vals)


# MetaSchedule records a candidate that failed to build or run with this run time (seconds)
_FAILED_RUN_S = 1e9


def tuning_summary(db: str | os.PathLike) -> tuple[int, int, int]:
    """``(kernels, measured, failed)`` of the MetaSchedule database ``db``: its workloads
    and its tuning records that ran and that failed."""
    db = Path(db)
    try:
        kernels = sum(1 for line in (db / "database_workload.json").read_text().splitlines() if line.strip())
        records = [json.loads(line) for line in (db / "database_tuning_record.json").read_text().splitlines()
                   if line.strip()]
    except (OSError, ValueError) as e:
        raise CnncError(f"{db}: not a readable MetaSchedule database ({e})") from None
    secs = [min(r[1][1] or [_FAILED_RUN_S]) for r in records]
    measured = sum(1 for t in secs if t < _FAILED_RUN_S)
    return kernels, measured, len(secs) - measured


# MetaSchedule builds and times each candidate in a worker process; a worker's first job also
# imports TVM, so its limit is generous (MetaSchedule's default of 30 s is not on a busy machine).
_TUNE_TIMEOUT_S = 120.0


def _ms_build(mod, target, _params):
    """MetaSchedule's ``default_build`` for a candidate, run in a builder worker, without its
    ``import tvm.s_tir.tensor_intrin``: that registry (hundreds of TVMScript prim_funcs) is
    only read while scheduling, in this process, and importing it costs every fresh worker
    (the builder starts new ones each round) tens of seconds."""
    from tvm.driver import build as tvm_build
    from tvm.s_tir.transform import RemoveWeightLayoutRewriteBlock
    return tvm_build(RemoveWeightLayoutRewriteBlock(skip_tensor_rewrite=True)(mod), target=target)


@functools.lru_cache(maxsize=None)
def _require_tuning_support() -> None:
    """One clear error where MetaSchedule cannot run here, instead of a crash mid-search."""
    missing = [m for m in ("psutil", "cloudpickle") if importlib.util.find_spec(m) is None]
    if missing:
        raise CnncError(f"tuning needs {' and '.join(missing)} (MetaSchedule's worker pools); {INSTALL_HINT}")
    # MetaSchedule serializes every workload and candidate with tvm_ffi's ToJSONGraph; with an
    # apache-tvm-ffi whose ABI differs from the one TVM was built against (0.1.15 under TVM
    # 0.27.0.post1) that segfaults, so probe it in a child process rather than crash this one.
    probe = subprocess.run([sys.executable, "-c", "import tvm; tvm.ir.save_json(tvm.ir.PrimType('int32'))"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        versions = ", ".join(f"{d} {_dist_version(d)}" for d in ("apache-tvm", "apache-tvm-ffi"))
        raise CnncError(f"MetaSchedule cannot serialize TVM IR here: tvm.ir.save_json fails (exit status "
                        f"{probe.returncode}) with {versions}; TVM 0.27.0.post1 needs apache-tvm-ffi "
                        f"0.1.14.post1 ({INSTALL_HINT})")


def _dist_version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "(not installed)"


@contextlib.contextmanager
def _memoized_getmodule():
    """``inspect.getmodule`` memoized by file name for objects without ``__module__``.

    TVMScript's ``prim_func`` calls ``inspect.stack()``, and for every frame whose file is no
    module's (importlib's ``<frozen ...>`` frames) ``getmodule`` scans all of ``sys.modules``:
    importing ``tvm.s_tir.tensor_intrin`` (hundreds of prim_funcs, which every MetaSchedule
    ``TuneContext`` does) then takes 45 s instead of 8 on a 2-core machine.  For such an
    object the answer depends only on the file name, so the memo changes no result.
    """
    original, memo = inspect.getmodule, {}

    def getmodule(obj, _filename=None):
        if _filename is None or inspect.ismodule(obj) or hasattr(obj, "__module__"):
            return original(obj, _filename)
        if _filename not in memo:
            memo[_filename] = original(obj, _filename)
        return memo[_filename]

    inspect.getmodule = getmodule
    try:
        yield
    finally:
        inspect.getmodule = original


def _device(kind: str):
    tvm = _tvm()
    return tvm.cpu(0) if kind == "tvm" else tvm.cuda(0)


def _require_device(kind: str):
    if not _device(kind).exist:
        raise CnncError(f"target {kind} needs a CUDA GPU to run, and this machine has none "
                        "(building works without one: `cnnc compile --target tvm-cuda -o DIR`)")


_pool = threading.local()


def _use_threads(n: int) -> None:
    """Run this thread's next TVM calls on ``n`` workers of TVM's pool (each calling thread
    has its own pool; it is reconfigured only when ``n`` changes)."""
    if getattr(_pool, "threads", None) != n:
        _tvm().get_global_func("runtime.config_threadpool")(1, n)
        _pool.threads = n


class TVMModel(CompiledModel):
    """A built TVM module run by the Relax virtual machine; ``run`` is every backend's."""

    def __init__(self, folder: str | os.PathLike | None = None, *, executable=None, kind: str = "tvm",
                 graph: Graph | None = None, threads: int | None = None, schedules: dict | None = None):
        """Load a model folder written by :func:`write_folder`, or wrap a fresh ``executable``
        of ``graph``.  ``threads``: the CPU workers its parallel loops run on (default: the
        folder's ``threads``, else this machine's cores; TVM_NUM_THREADS caps them).
        ``schedules``: the build's kernels by the rule that scheduled them
        (:meth:`tvm_rules.Coverage.counts`; a folder's manifest holds them)."""
        tvm = _tvm()
        if folder is not None:
            folder = Path(folder)
            manifest, inputs, outputs = read_manifest(folder)
            kind = manifest["target"]
            if kind not in ("tvm", "tvm-cuda"):
                raise CnncError(f"{folder}: a model folder for target {kind!r}, not a TVM one")
            lib = folder / manifest["library"]
            if not lib.is_file():
                raise CnncError(f"{folder}: {manifest['library']} is missing")
            try:
                executable = tvm.runtime.load_module(str(lib))
            except Exception as e:  # e.g. a CUDA library where TVM's runtime lacks CUDA
                hint = (" (a tvm-cuda library loads where TVM's runtime has CUDA support, on a GPU machine)"
                        if kind == "tvm-cuda" else "")
                raise CnncError(f"{folder}: TVM cannot load {lib.name}{hint}: {str(e).strip()[-500:]}") from None
            name = manifest["model"]
            threads = manifest.get("threads") if threads is None else threads
            schedules = manifest.get("schedules")
        else:
            name, inputs, outputs = self.signature_of(graph)
        self.threads = check_threads(threads)
        super().__init__(name, inputs, outputs)
        self.target = kind
        self.schedules = dict(schedules or {})
        self.executable = executable
        self._vm = None

    def _run(self, arrays):
        tvm = _tvm()
        from tvm import relax
        if self._vm is None:
            _require_device(self.target)
            self._vm = relax.VirtualMachine(self.executable, _device(self.target))
        dev = _device(self.target)
        if self.target == "tvm":
            _use_threads(self.threads)
        res = self._vm["main"](*[tvm.runtime.tensor(a, dev) for a in arrays])
        return [np.asarray(r.numpy()) for r in res]


def compile_tvm(graph: Graph, *, db: str | os.PathLike | None = None, cpu: str = "native",
                threads: int | None = None, layout: str = "auto") -> TVMModel:
    """``cnnc.compile(g, target="tvm")``: LLVM for the host CPU, or for ``cpu`` (an LLVM CPU
    name; such a build runs only on a CPU with its features), run on ``threads`` workers
    (default: this machine's cores); ``layout``: see :func:`blocked_graph`."""
    threads = check_threads(threads)
    ex, _, cover = build(graph, "tvm", db=db, cpu=cpu, layout=layout)
    return TVMModel(executable=ex, kind="tvm", graph=graph, threads=threads, schedules=cover.counts())


def compile_tvm_cuda(graph: Graph, *, arch: str | None = None, db: str | os.PathLike | None = None) -> TVMModel:
    """``cnnc.compile(g, target="tvm-cuda")``: CUDA with DLight's schedules (cnnc's
    ``GpuThreads`` where DLight declines).  Building needs no GPU; ``run`` does."""
    ex, _, cover = build(graph, "tvm-cuda", arch=arch, db=db)
    return TVMModel(executable=ex, kind="tvm-cuda", graph=graph, schedules=cover.counts())


def export(graph: Graph, out_dir: str | os.PathLike, kind: str = "tvm", *, arch: str | None = None,
           db: str | os.PathLike | None = None, cpu: str | None = None, source: str | None = None,
           threads: int | None = None, layout: str = "auto") -> Path:
    """Build ``graph`` and write ``<m>.so`` (``export_library``) and the manifest (with
    ``threads``, the workers a load runs on) into ``out_dir``; nothing is left there if
    the build fails."""
    if threads is not None:
        check_threads(threads)
    ex, target, cover = build(graph, kind, arch=arch, db=db, cpu=cpu, layout=layout)
    m = sanitize(graph.name).lower()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    lib = f"{m}.so"
    with tempfile.TemporaryDirectory(prefix="cnnc_tvm_", dir=out) as tmp:
        (Path(tmp) / "work").mkdir()
        failure = None
        try:  # TVM's intermediate objects go to a folder of ours, removed whatever happens
            ex.export_library(str(Path(tmp) / lib), workspace_dir=str(Path(tmp) / "work"))
        except Exception as e:
            failure = str(e).strip()[-2000:]
        if failure is not None:
            raise CnncError(f"TVM failed to export {lib}: {failure}")
        shutil.move(str(Path(tmp) / lib), str(out / lib))
    extra = {"library": lib, "tvm_target": str(target), "schedules": cover.counts(),
             **({"source": Path(source).name} if source else {}),
             **({"threads": threads} if threads is not None else {})}
    if kind == "tvm-cuda":
        extra["arch"] = arch or DEFAULT_ARCH
    write_manifest(out, graph, kind, m, **extra)
    return out


def write_folder(graph: Graph, out_dir: str | os.PathLike, *, source: str | None = None, db=None, cpu=None,
                 threads: int | None = None, layout: str = "auto", build: bool = True) -> tuple[Path, str]:
    """``cnnc compile --target tvm``: the folder always holds the built library (``build``
    is accepted for the CLI's sake; ``source`` is recorded in the manifest)."""
    folder = export(graph, out_dir, "tvm", db=db, cpu=cpu, source=source, threads=threads, layout=layout)
    manifest = read_manifest(folder)[0]
    return folder, (f"built {manifest['library']} for {'the host CPU' if cpu in (None, 'native') else cpu}; "
                    f"{tvm_rules.describe(manifest['schedules'])}")


def write_folder_cuda(graph: Graph, out_dir: str | os.PathLike, *, source: str | None = None, arch=None, db=None,
                      build: bool = True) -> tuple[Path, str]:
    """``cnnc compile --target tvm-cuda`` (as :func:`write_folder`)."""
    folder = export(graph, out_dir, "tvm-cuda", arch=arch, db=db, source=source)
    manifest = read_manifest(folder)[0]
    return folder, f"built {manifest['library']} for CUDA {arch or DEFAULT_ARCH}; {tvm_rules.describe(manifest['schedules'])}"
