"""Latency of cnnc's CPU backends beside onnxruntime (1 and 2 threads) on light models.

    python bench/bench_c.py [--target c|tvm] [--models resnet50,squeezenet,densenet121,vgg19] [--repeat 5]

Each model is imported, optimized (level 2), compiled for the target (C: -O2, the default
build; tvm: LLVM for the host CPU, untuned unless ``--db DIR`` names a ``cnnc tune``
database) and run on the same random input; the median of ``--repeat`` runs after one warm-up is
reported, with the ratio cnnc / onnxruntime (lower is better).  Run by hand; not a test.
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import onnx

import cnnc

LIGHT = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"


def median_ms(fn, repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="resnet50,squeezenet,densenet121,vgg19")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--target", choices=("c", "tvm"), default="c")
    ap.add_argument("--db", help="tvm: a MetaSchedule database written by `cnnc tune`")
    args = ap.parse_args()
    options = {"out_dir": None} if args.target == "c" else {"db": args.db}
    import onnxruntime as ort
    rows = []
    for name in args.models.split(","):
        path = LIGHT / f"light_{name}.onnx"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            g = cnnc.optimize(cnnc.load_onnx(path))
        (inp, t), = g.input_types().items()
        x = np.random.default_rng(0).standard_normal(t.shape).astype(np.float32)
        t0 = time.perf_counter()
        if args.target == "c":
            options["out_dir"] = tempfile.mkdtemp(prefix=f"bench_{name}_")
        m = cnnc.compile(g, target=args.target, **options)
        build_s = time.perf_counter() - t0
        c_ms = median_ms(lambda: m.run({inp: x}), args.repeat)
        ort_ms = []
        for threads in (1, 2):
            so = ort.SessionOptions()
            so.intra_op_num_threads = threads
            so.inter_op_num_threads = 1
            sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
            ort_ms.append(median_ms(lambda: sess.run(None, {inp: x}), args.repeat))
        rows.append((name, c_ms, *ort_ms, build_s))
        print(f"{name}: cnnc-{args.target} {c_ms:.1f} ms (build {build_s:.1f} s), onnxruntime "
              f"{ort_ms[0]:.1f} ms (1 thread), {ort_ms[1]:.1f} ms (2 threads)", flush=True)
    t = args.target
    print(f"\n| model | cnnc {t} (ms) | ORT 1 thr (ms) | ORT 2 thr (ms) | {t} / ORT-1 | {t} / ORT-2 |")
    print("|---|---|---|---|---|---|")
    for name, c, o1, o2, _ in rows:
        print(f"| {name} | {c:.1f} | {o1:.1f} | {o2:.1f} | {c / o1:.2f}x | {c / o2:.2f}x |")


if __name__ == "__main__":
    main()
