"""Batch-1 GPU latency of cnnc's CUDA backend beside PyTorch eager (cuDNN) and onnxruntime.

    python bench/bench_cuda.py [--models resnet50,squeezenet,densenet121] [--arch sm_90] [--iters 100]

Each light model (the ONNX test suite's real architectures with constant weights) is
imported, optimized (level 2) and compiled for CUDA (fp32; ``--tf32`` for the TF32 build);
its latency is the standalone driver's: the forward pass replayed from its CUDA graph on
device buffers, timed with CUDA events (mean and min over ``--iters`` runs, no host
copies).  Beside it, on the same GPU and input shape:

* PyTorch eager: the torchvision model of the same architecture (random weights: latency
  does not depend on them), fp32 with TF32 off, cuDNN's default algorithms, and again with
  ``cudnn.benchmark`` (cuDNN's autotuned algorithms);
* onnxruntime with the CUDA execution provider (when onnxruntime-gpu is installed).

Ratios are cnnc / other (lower is better).  Needs a GPU; torch/torchvision and
onnxruntime-gpu are imported lazily and reported as missing when absent.  Run by hand or by
scripts/gpu_check.sh; not a test.
"""
from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import onnx

import cnnc
from cnnc.backends import cuda
from cnnc.backends.base import read_manifest

LIGHT = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"
#: light model -> torchvision constructor of the same architecture
TORCHVISION = {"resnet50": "resnet50", "squeezenet": "squeezenet1_0", "densenet121": "densenet121",
               "vgg19": "vgg19", "bvlc_alexnet": "alexnet", "inception_v1": "googlenet",
               "shufflenet": "shufflenet_v2_x1_0"}


def cnnc_ms(g, name: str, x: np.ndarray, arch: str, iters: int, precision: str,
            emulate: bool = False) -> tuple[float, float, float]:
    """(mean, min) ms of the driver's graph replays, and the build time in seconds."""
    folder = Path(tempfile.mkdtemp(prefix=f"bench_cuda_{name}_"))
    t0 = time.perf_counter()
    cuda.generate(g, folder, weights="blob", arch=arch, precision=precision)
    cuda.build_library(folder, exe=True, emulate=emulate)
    build_s = time.perf_counter() - t0
    m = read_manifest(folder, "cuda")[0]["model"]
    exe = folder / (f"{m}_main_emu" if emulate else f"{m}_main")
    _, text = cuda.run_exe(exe, [x], list(g.output_types().values()), iters=iters)
    mean, low = map(float, re.search(r"mean ([\d.]+) ms, min ([\d.]+) ms", text).groups())
    return mean, low, build_s


def cuda_event_ms(fn, iters: int) -> float:
    import torch
    for _ in range(3):
        fn()
    times = []
    for _ in range(iters):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.mean(times)


def torch_ms(name: str, shape, iters: int, benchmark: bool) -> float | str:
    try:
        import torch
        import torchvision
    except ImportError:
        return "torch/torchvision not installed"
    if name not in TORCHVISION:
        return "no torchvision twin"
    torch.backends.cudnn.benchmark = benchmark
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    kwargs = {"aux_logits": False, "init_weights": False} if name == "inception_v1" else {}
    model = getattr(torchvision.models, TORCHVISION[name])(weights=None, **kwargs).eval().cuda()
    x = torch.randn(*shape, device="cuda")
    with torch.no_grad():
        return cuda_event_ms(lambda: model(x), iters)


def ort_ms(path: Path, inp: str, x: np.ndarray, iters: int) -> float | str:
    import onnxruntime as ort
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        return "onnxruntime-gpu not installed"
    sess = ort.InferenceSession(str(path), providers=["CUDAExecutionProvider"])
    for _ in range(3):
        sess.run(None, {inp: x})
    times = []
    for _ in range(iters):       # includes onnxruntime's host<->device copies
        t0 = time.perf_counter()
        sess.run(None, {inp: x})
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.mean(times)


def fmt(v) -> str:
    return f"{v:.3f}" if isinstance(v, float) else f"({v})"


def ratio(a: float, b) -> str:
    return f"{a / b:.2f}x" if isinstance(b, float) else "-"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="resnet50,squeezenet,densenet121")
    ap.add_argument("--arch", default="sm_80")
    ap.add_argument("--iters", type=int, default=100)
    ap.add_argument("--tf32", action="store_true", help="compile cnnc with precision='tf32'")
    ap.add_argument("--emulate", action="store_true",
                    help="run cnnc's CUDA on the CPU emulator: checks this script without a GPU; "
                         "its numbers are NOT GPU latencies")
    args = ap.parse_args()
    rows = []
    for name in args.models.split(","):
        path = LIGHT / f"light_{name}.onnx"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            g = cnnc.optimize(cnnc.load_onnx(path))
        (inp, t), = g.input_types().items()
        x = np.random.default_rng(0).standard_normal(t.shape).astype(np.float32)
        mean, low, build_s = cnnc_ms(g, name, x, args.arch, args.iters, "tf32" if args.tf32 else "fp32",
                                     args.emulate)
        eager = torch_ms(name, t.shape, args.iters, benchmark=False)
        tuned = torch_ms(name, t.shape, args.iters, benchmark=True)
        ort = ort_ms(path, inp, x, args.iters)
        rows.append((name, mean, low, eager, tuned, ort))
        if args.emulate:
            name += " (CPU emulator, not a GPU)"
        print(f"{name}: cnnc-cuda mean {mean:.3f} ms, min {low:.3f} ms (build {build_s:.0f} s); torch eager "
              f"{fmt(eager)}, torch cudnn.benchmark {fmt(tuned)}, onnxruntime-cuda {fmt(ort)} ms", flush=True)
    print("\n| model | cnnc-cuda (ms) | torch eager (ms) | torch cudnn.benchmark (ms) | ORT CUDA (ms) "
          "| cnnc / eager | cnnc / cudnn.benchmark | cnnc / ORT |")
    print("|---|---|---|---|---|---|---|---|")
    for name, mean, _, eager, tuned, ort in rows:
        print(f"| {name} | {mean:.3f} | {fmt(eager)} | {fmt(tuned)} | {fmt(ort)} | {ratio(mean, eager)} "
              f"| {ratio(mean, tuned)} | {ratio(mean, ort)} |")


if __name__ == "__main__":
    main()
