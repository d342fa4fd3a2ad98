#!/usr/bin/env bash
# Every check of the CUDA backend that needs a GPU, in one go (issue 7).  Run on a machine
# with an NVIDIA GPU, the CUDA toolkit (nvcc, compute-sanitizer) and cnnc's dev install:
#
#   scripts/gpu_check.sh            # all steps
#   PYTHON=.venv/bin/python JOBS=8 scripts/gpu_check.sh
#
# 1. builds a sample model for the GPU's own architecture and runs its standalone driver;
# 2. the conformance node cases and all nine light models on backend "cuda" (real GPU),
#    beside "cuda-emu" (CNNC_GPU=1 adds "cuda" to the harness' backends);
# 3. compute-sanitizer (memcheck, racecheck, synccheck, initcheck) on the standalone
#    drivers of a sample of node cases and of two light models;
# 4. bench/bench_cuda.py: batch-1 latency beside PyTorch eager/cuDNN and onnxruntime.
# The CUDA tests that need no GPU (nvcc sm_80/sm_90, the emulator) run in CI anyway.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
PYTEST=${PYTEST:-"$PYTHON -m pytest"}
JOBS=${JOBS:-4}
OUT=${OUT:-$(mktemp -d /tmp/cnnc_gpu_check.XXXXXX)}
export CNNC_GPU=1

nvidia-smi -L
CC_NUM=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1 | tr -d .)
ARCH="sm_${CC_NUM}"
echo "== GPU architecture: $ARCH; outputs in $OUT"

echo "== 1. LeNet-5 built for $ARCH, its driver run on the GPU"
$PYTHON -m cnnc compile examples/lenet.py --target cuda --arch "$ARCH" --exe -o "$OUT/lenet"
$PYTHON - "$OUT/lenet" <<'PY'
import sys
import numpy as np
from cnnc.backends import base, cuda
folder = sys.argv[1]
manifest, ins, outs = base.read_manifest(folder, "cuda")
m = cuda.CudaModel(folder)
x = [np.random.default_rng(0).standard_normal(t.shape).astype(t.dtype) for t in ins.values()]
want = m.run(dict(zip(ins, x)))
got, text = cuda.run_exe(f"{folder}/{manifest['model']}_main", x, list(outs.values()), iters=100)
for g, w in zip(got, want.values()):
    np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)
print(text)
PY

echo "== 2. conformance on the GPU (node cases, light models)"
$PYTEST -n "$JOBS" -q -m "" tests/conformance -k "cuda and not emu" -p no:cacheprovider
$PYTEST -q tests/backends -k "cuda" -p no:cacheprovider -n "$JOBS"

echo "== 3. compute-sanitizer on standalone drivers"
$PYTHON - "$OUT/sanitize" "$ARCH" <<'PY'
import subprocess, sys, warnings
from pathlib import Path
import numpy as np
import onnx
sys.path[:0] = ["tests", "tests/conformance"]
import cnnc
from cnnc.backends import cuda
from harness import bind_compile_time_inputs, node_cases

root, arch = Path(sys.argv[1]), sys.argv[2]
light = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"
graphs = {}
cases = node_cases()
for name in sorted(cases)[::25]:                       # every 25th node case
    inputs, _ = cases[name].data_sets[0]
    model, _ = bind_compile_time_inputs(cases[name].model, inputs)
    graphs[name] = cnnc.load_onnx(model)
for name in ("squeezenet", "resnet50"):
    graphs[name] = cnnc.load_onnx(light / f"light_{name}.onnx")
failed = []
for name, g in graphs.items():
    folder = cuda.generate(g, root / name, weights="blob", arch=arch)
    cuda.build_library(folder, exe=True)
    exe = next(folder.glob("*_main"))
    args = []
    for i, t in enumerate(g.input_types().values()):
        np.save(folder / f"in{i}.npy", np.random.default_rng(i).standard_normal(t.shape).astype(t.dtype))
        args.append(str(folder / f"in{i}.npy"))
    args += [str(folder / f"out{i}.npy") for i in range(len(g.outputs))]
    for tool in ("memcheck", "racecheck", "synccheck", "initcheck"):
        res = subprocess.run(["compute-sanitizer", "--tool", tool, "--error-exitcode", "9", str(exe),
                              "--iters", "1", *args], capture_output=True, text=True)
        status = "ok" if res.returncode == 0 else f"FAILED (exit {res.returncode})"
        print(f"{name:50s} {tool:10s} {status}", flush=True)
        if res.returncode != 0:
            failed.append((name, tool, res.stdout[-3000:] + res.stderr[-2000:]))
for name, tool, text in failed:
    print(f"---- {name} {tool}\n{text}")
sys.exit(1 if failed else 0)
PY

echo "== 4. latency beside PyTorch and onnxruntime"
$PYTHON bench/bench_cuda.py --arch "$ARCH"
echo "== all GPU checks passed"
