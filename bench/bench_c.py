"""cnnc's C target beside onnxruntime on the light models, at 1 and 2 threads.

    python bench/bench_c.py [--models squeezenet,resnet50,densenet121,inception_v1,vgg19] [--repeat 15]
    python bench/bench_c.py --target tvm [--db DIR]     # the TVM target (cnnc-tvm / ORT, 1 thread)

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
from cnnc.bench import bench

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


def bench_tvm(names, repeat: int, db) -> None:
    import onnxruntime as ort
    for name in names:
        path, g = _load(name)
        (inp, t), = g.input_types().items()
        x = np.random.default_rng(0).standard_normal(t.shape).astype(np.float32)
        m = cnnc.compile(g, target="tvm", db=db)
        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        c, o = [], []
        for _ in range(repeat):
            t0 = time.perf_counter()
            m.run({inp: x})
            c.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            sess.run(None, {inp: x})
            o.append(time.perf_counter() - t0)
        print(f"{name}: cnnc-tvm {statistics.median(c) * 1e3:.1f} ms, onnxruntime {statistics.median(o) * 1e3:.1f} ms,"
              f" ratio {statistics.median(c) / statistics.median(o):.2f}x", flush=True)


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
    if args.target == "tvm":
        bench_tvm(names, args.repeat, args.db)
        return
    threads = [int(t) for t in args.threads.split(",")]
    layouts = args.layout.split(",")
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
