"""``cnnc bench``: the latency of a model on the C target, beside onnxruntime's in the same
run, and with ``profile=True`` the time, GFLOP/s and share of this machine's fp32 FMA peak
of every layer.

The two are timed alternately (one cnnc run, one onnxruntime run, repeated), so that a
change of clock or load during the run affects both; each side reports its median and
minimum.  The peak comes from a probe built with the model's ISA flags: independent FMA
chains over registers, on one thread (``peak_gflops``).  The per-layer times come from
the model built with ``-DCNNC_PROFILE`` (``<m>_profile_seconds``, summed per call).
"""
from __future__ import annotations

import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .backends import c as cb
from .backends import isa as isas
from .backends.base import read_manifest
from .ir import CnncError, Graph

#: independent FMA chains (named registers, unrolled) over VL-lane vectors
_CHAINS = 16


def _probe_source() -> str:
    decl = ", ".join(f"s{i} = a * {i}.0f" for i in range(_CHAINS))
    body = " ".join(f"s{i} = s{i} * a + b;" for i in range(_CHAINS))
    total = " + ".join(f"((float *)&s{i})[0]" for i in range(_CHAINS))
    return f"""#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <time.h>
#if VL
typedef float v __attribute__((vector_size(VL * 4)));
#else
typedef float v;
#endif
static double now(void) {{ struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + 1e-9 * t.tv_nsec; }}
int main(void) {{
    volatile float seed = 1.0f;
    v a, b;
    for (int j = 0; j < (VL ? VL : 1); ++j) {{ ((float *)&a)[j] = 0.999999f * seed; ((float *)&b)[j] = 1e-7f * seed; }}
    v {decl};
    const long n = 20000000L;
    double t0 = now();
    for (long k = 0; k < n; ++k) {{ {body} }}
    double t = now() - t0;
    printf("%f %g\\n", 2.0 * {_CHAINS} * (VL ? VL : 1) * n / t / 1e9, (double)({total}));
    return 0;
}}
"""


def peak_gflops(cpu: str = "native", cc: str = "cc") -> float:
    """This core's fp32 FMA rate (GFLOP/s) with ``cpu``'s vectors, measured now."""
    target = isas.resolve(cpu)
    with tempfile.TemporaryDirectory(prefix="cnnc_peak_") as tmp:
        src, exe = Path(tmp) / "peak.c", Path(tmp) / "peak"
        src.write_text(_probe_source())
        flags = [*target.cflags, "-ffp-contract=fast"] if target.vector else []
        res = subprocess.run([cc, "-O2", f"-DVL={target.vector}", *flags, str(src), "-o", str(exe)],
                             capture_output=True, text=True)
        if res.returncode != 0:
            raise CnncError(f"the peak probe did not build: {res.stderr.strip()[-500:]}")
        return float(subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.split()[0])


@dataclass
class Layer:
    node: str
    op: str
    kernel: str
    flops: int
    seconds: float


@dataclass
class BenchResult:
    model: str
    threads: int
    cnnc_ms: list[float]
    ort_ms: list[float] = field(default_factory=list)
    layers: list[Layer] = field(default_factory=list)
    peak: float | None = None

    def report(self) -> str:
        med, lo = statistics.median(self.cnnc_ms), min(self.cnnc_ms)
        lines = [f"{self.model}: cnnc-c {med:.2f} ms median, {lo:.2f} ms min ({len(self.cnnc_ms)} runs, "
                 f"{self.threads} thread{'s' * (self.threads > 1)})"]
        if self.ort_ms:
            om = statistics.median(self.ort_ms)
            lines.append(f"  onnxruntime {om:.2f} ms median, {min(self.ort_ms):.2f} ms min; "
                         f"cnnc / onnxruntime = {med / om:.2f}x")
        if self.layers:
            total = sum(la.seconds for la in self.layers) or 1.0
            lines.append(f"  per layer (peak {self.peak:.1f} GFLOP/s per core):" if self.peak else "  per layer:")
            lines.append(f"  {'ms':>8} {'share':>6} {'GFLOP/s':>8} {'% peak':>7}  op / node / kernel")
            for la in sorted(self.layers, key=lambda la: -la.seconds):
                gf = la.flops / la.seconds / 1e9 if la.seconds > 0 else 0.0
                pk = f"{100 * gf / (self.peak * self.threads):6.1f}%" if self.peak and la.flops else "      -"
                lines.append(f"  {la.seconds * 1e3:8.3f} {100 * la.seconds / total:5.1f}% {gf:8.1f} {pk}  "
                             f"{la.op} {la.node} {la.kernel}")
        return "\n".join(lines)


def bench(graph: Graph, *, onnx_model=None, threads: int | None = None, repeat: int = 20, profile: bool = False,
          cpu: str = "native", folder: str | Path | None = None, impl: dict | None = None,
          layout: str = "auto") -> BenchResult:
    """Time ``graph`` on the C target (``threads`` workers), alternating with onnxruntime on
    ``onnx_model`` (a path or ModelProto; skipped where onnxruntime is not installed): each
    turn of an engine is untimed runs for SETTLE_SECONDS, then the timed one."""
    if folder is None:
        with tempfile.TemporaryDirectory(prefix="cnnc_bench_") as tmp:
            return bench(graph, onnx_model=onnx_model, threads=threads, repeat=repeat, profile=profile, cpu=cpu,
                         folder=tmp, impl=impl, layout=layout)
    folder = Path(folder)
    cb.generate(graph, folder, cpu=cpu, threads=threads, impl=impl, layout=layout)
    model = cb.CModel(folder, cb.build_library(folder))
    rng = np.random.default_rng(0)
    feeds = {n: rng.standard_normal(t.shape).astype(t.dtype) if t.dtype.startswith("float") else np.zeros(t.shape, t.dtype)
             for n, t in model.inputs.items()}
    sess = _ort_session(onnx_model, model.threads) if onnx_model is not None else None
    model.run(feeds)
    if sess is not None:
        sess.run(None, feeds)
    res = BenchResult(graph.name, model.threads, [])
    for _ in range(repeat):
        # each engine's turn is untimed runs (SETTLE_SECONDS), then the timed one: the
        # untimed ones absorb the other engine's spinning idle workers, which would
        # otherwise steal a core
        res.cnnc_ms.append(_timed(model.run, feeds, turn=sess is not None))
        if sess is not None:
            res.ort_ms.append(_timed(lambda f: sess.run(None, f), feeds, turn=True))
    if profile:
        res.layers = _profile(folder, model.threads, feeds, repeat)
        res.peak = peak_gflops(cpu)
    return res


#: how long each engine's turn runs untimed before its timed run: the other engine's idle
#: workers spin for milliseconds after its run (onnxruntime's pool and cnnc's both do)
SETTLE_SECONDS = 0.25


def _timed(run, feeds, *, turn: bool) -> float:
    """Milliseconds of one ``run(feeds)``; when engines take ``turn``s, after untimed runs
    for at least SETTLE_SECONDS (at least one)."""
    if turn:
        t0 = time.perf_counter()
        run(feeds)
        while time.perf_counter() - t0 < SETTLE_SECONDS:
            run(feeds)
    t0 = time.perf_counter()
    run(feeds)
    return (time.perf_counter() - t0) * 1e3


def _ort_session(onnx_model, threads: int):
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    data = onnx_model.SerializeToString() if hasattr(onnx_model, "SerializeToString") else str(onnx_model)
    return ort.InferenceSession(data, so, providers=["CPUExecutionProvider"])


def _profile(folder: Path, threads: int, feeds, repeat: int) -> list[Layer]:
    with tempfile.TemporaryDirectory(prefix="cnnc_prof_") as tmp:
        lib = cb.build_library(folder, flags=("-O2", "-DCNNC_PROFILE"), out=Path(tmp) / "libprofile.so")
        model = cb.CModel(folder, lib, threads=threads)
        calls = read_manifest(folder)[0]["calls"]
        model.run(feeds)
        model.profile_seconds(len(calls))     # the warm-up run's times are dropped
        for _ in range(repeat):
            model.run(feeds)
        times = model.profile_seconds(len(calls))
        return [Layer(c["node"], c["op"], c["kernel"], int(c["flops"]), t / repeat) for c, t in zip(calls, times)]
