"""cnnc's C target beside onnxruntime on the light models, at 1 and 2 threads.

    python bench/bench_c.py [--models squeezenet,resnet50,densenet121,inception_v1,vgg19] [--repeat 15]
    python bench/bench_c.py --target tvm [--db DIR] [--threads 1] [--layout auto,nchw]   # the TVM target

Each model is imported, optimized (level 2) and compiled (C: the native ISA, as many
workers as the run uses); then cnnc and onnxruntime run alternately on the same random
input (``cnnc.bench.bench``: each turn untimed runs for 0.25 s, then a timed one) and the medians are compared: the table gives the ratio
cnnc / onnxruntime (lower is better) per model and thread count, and their geometric
mean.  Run by hand; not a test.
"""
from __future__ import annotations

import argparse
import math
import platform
import statistics
import time
import warnings
from pathlib import Path

import numpy as np
import onnx

import cnnc
from cnnc.bench import _ort_session, _timed, bench

LIGHT = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _load(name: str):
    path = LIGHT / f"light_{name}.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return path, cnnc.optimize(cnnc.load_onnx(path))


def bench_tvm(names, repeat: int, db, threads, layouts) -> None:
    """The tvm target beside onnxruntime, per model, thread count and layout mode, with
    the geometric mean of the ratios per column."""
    ratios = {}
    for name in names:
        path, g = _load(name)
        (inp, t), = g.input_types().items()
        x = np.random.default_rng(0).standard_normal(t.shape).astype(np.float32)
        for layout in layouts:
            built = cnnc.compile(g, target="tvm", db=db, layout=layout)
            for n in threads:
                m = type(built)(executable=built.executable, graph=g, threads=n)
                sess = _ort_session(str(path), n)
                feeds = {inp: x}
                m.run(feeds)
                sess.run(None, feeds)
                c, o = [], []
                for _ in range(repeat):   # alternating turns, as `cnnc bench` takes them
                    c.append(_timed(m.run, feeds, turn=True) / 1e3)
                    o.append(_timed(lambda f: sess.run(None, f), feeds, turn=True) / 1e3)
                r = statistics.median(c) / statistics.median(o)
                ratios.setdefault((n, layout), []).append(r)
                print(f"{name} {n} thr layout {layout}: cnnc-tvm {statistics.median(c) * 1e3:.1f} ms, "
                      f"onnxruntime {statistics.median(o) * 1e3:.1f} ms, ratio {r:.2f}x", flush=True)
    for (n, layout), rs in ratios.items():
        print(f"geometric mean, {n} thr layout {layout}: {math.exp(sum(map(math.log, rs)) / len(rs)):.2f}x "
              f"(worst {max(rs):.2f}x)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="squeezenet,resnet50,densenet121,inception_v1,vgg19")
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--threads", default="1,2", help="thread counts to run (default 1,2)")
    ap.add_argument("--target", choices=("c", "tvm"), default="c")
    ap.add_argument("--db", help="tvm: a MetaSchedule database written by `cnnc tune`")
    ap.add_argument("--cpu", default="native",
                    help="c: the ISA to build for (native, x86-64-v3, x86-64-v4, armv8-a, generic); "
                         "onnxruntime keeps its own choice, so x86-64-v3 on an AVX-512 host is a worst case")
    ap.add_argument("--layout", default="auto",
                    help="the layout pass's modes to run, comma-separated (auto, nchwc, nchw; default auto)")
    args = ap.parse_args()
    names = args.models.split(",")
    threads = [int(t) for t in args.threads.split(",")]
    layouts = args.layout.split(",")
    if args.target == "tvm":
        bench_tvm(names, args.repeat, args.db, threads, layouts)
        return
    rows = {}
    for name in names:
        path, g = _load(name)
        for t in threads:
            for layout in layouts:
                res = bench(g, onnx_model=path, threads=t, repeat=args.repeat, cpu=args.cpu, layout=layout)
                c, o = statistics.median(res.cnnc_ms), statistics.median(res.ort_ms)
                if layout == layouts[0]:
                    rows[name, t] = (c, o)
                print(f"{name} ({t} thread{'s' * (t > 1)}, layout {layout}): cnnc-c {c:.1f} ms, "
                      f"onnxruntime {o:.1f} ms, ratio {c / o:.2f}x", flush=True)
    print(f"\n{_cpu_name()} (cnnc built for {args.cpu}, layout {layouts[0]}), {len(names)} models, medians of {args.repeat} alternating turns (untimed runs for 0.25 s, then a timed one)\n")
    print("| model | " + " | ".join(f"cnnc / ORT, {t} thr (ms)" for t in threads) + " |")
    print("|---|" + "---|" * len(threads))
    for name in names:
        print(f"| {name} | " + " | ".join(f"{rows[name, t][0] / rows[name, t][1]:.2f}x "
                                          f"({rows[name, t][0]:.1f} / {rows[name, t][1]:.1f})" for t in threads) + " |")
    geo = [math.exp(statistics.mean(math.log(rows[n, t][0] / rows[n, t][1]) for n in names)) for t in threads]
    print("| geometric mean | " + " | ".join(f"{v:.2f}x" for v in geo) + " |")


if __name__ == "__main__":
    main()
