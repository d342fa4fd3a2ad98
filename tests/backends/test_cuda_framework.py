"""The CUDA backend's framework, checked without a GPU: host-side planning (arena and
weights offsets from the memory plan, kernel dedup, hostile names, errors, byte-identical
output), the CPU emulator itself (barriers, launch checks, graphs, TF32 rounding), the
public C API's error reporting, and the standalone driver (.npy in, .npy out), built with
g++ against the emulator.  An emulated run is not a GPU run: scripts/gpu_check.sh runs
the same models on a GPU."""
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import cnnc
from cnnc import CnncError
from cnnc.backends import cuda
from cnnc.backends.codegen import ALIGN
from cnnc.ir import Graph, Kernel, OpDef, TensorType, UnsupportedError
from cnnc.ir import opdef
from cnnc.passes.memory import plan_memory
from cnnc.resources import runtime_dir

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
from helpers import one_node_graph  # noqa: E402
from test_c_model import HOSTILE, _code_outside_comments, hostile_model  # noqa: E402

needs_gxx = pytest.mark.skipif(shutil.which("g++") is None,
                               reason="the CUDA emulator builds the generated CUDA with g++, not installed")
needs_nvcc = pytest.mark.skipif(cuda.nvcc_path() is None, reason="nvcc (the CUDA toolkit) is not installed")

def small_graph(name="net") -> tuple[Graph, dict]:
    """in -> Relu -> Add(const) -> Relu -> out0 ; also out1 = the input itself (a copy)."""
    rng = np.random.default_rng(0)
    g = Graph(name)
    x = g.add_input("x", TensorType((2, 3, 5), "float32"))
    c = g.add_constant(rng.standard_normal((3, 1)).astype(np.float32), "bias")
    (r1,) = g.add_node("Relu", [x], {}, label="relu_a")
    (s,) = g.add_node("Add", [r1, c], {}, label="add")
    (r2,) = g.add_node("Relu", [s], {}, label="relu_b")
    g.add_output(r2, "y")
    g.add_output(x, "x_copy")
    return g.verify(), {"x": rng.standard_normal((2, 3, 5)).astype(np.float32)}


def reference(g, feeds):
    return cnnc.compile(g, target="reference").run(feeds)


# ---------------------------------------------------------------- host-side planning
def test_arena_and_weights_follow_the_memory_plan(tmp_path):
    g, _ = small_graph()
    folder = cuda.generate(g, tmp_path, weights="blob")
    manifest = json.loads((folder / "cnnc_manifest.json").read_text())
    plan = plan_memory(g, alignment=ALIGN)
    assert manifest["target"] == "cuda" and manifest["arch"] == "sm_80" and manifest["precision"] == "fp32"
    assert manifest["arena_bytes"] == -(-plan.arena_bytes // ALIGN) * ALIGN   # no scratch here
    src = (folder / "net.cu").read_text()
    for v, off in plan.offsets.items():
        assert f"(float *)(a + {off})" in src, (v, off)
    # the one weight sits at offset 0 of the device weights, and the blob holds its bytes
    bias = next(n for n in g.nodes() if n.op == "Constant").attrs["value"]
    assert "(const float *)(w + 0)" in src
    blob = (folder / "net_weights.bin").read_bytes()
    assert manifest["weights_bytes"] == len(blob) == ALIGN
    assert blob[:bias.nbytes] == bias.tobytes()
    assert f"#define NET_ARENA_BYTES {manifest['arena_bytes']}u" in (folder / "net.h").read_text()


def test_weights_as_host_arrays_are_uploaded_once(tmp_path):
    g, _ = small_graph()
    src = (cuda.generate(g, tmp_path, weights="c") / "net.cu").read_text()
    assert "static const float net_w_" in src
    assert src.count("cudaMemcpyHostToDevice") == 2   # the weight at create; the input in net_run


def test_identical_kernels_are_generated_once(tmp_path):
    g, _ = small_graph()
    src = (cuda.generate(g, tmp_path) / "net.cu").read_text()
    relu = [ln for ln in src.splitlines() if "__global__" in ln and "relu" in ln]
    assert len(relu) == 1, relu                      # two Relu nodes of one shape: one kernel
    assert src.count('"Relu relu_a"') == 1 and src.count('"Relu relu_b"') == 1


def test_regeneration_is_byte_identical(tmp_path):
    g, _ = small_graph()
    a, b = cuda.generate(g, tmp_path / "a", weights="blob"), cuda.generate(g, tmp_path / "b", weights="blob")
    names = sorted(p.name for p in a.iterdir())
    assert names == sorted(p.name for p in b.iterdir())
    for n in names:
        assert (a / n).read_bytes() == (b / n).read_bytes(), n


@needs_gxx
def test_hostile_names_compile_run_and_never_escape(tmp_path):
    """test_c_model's hostile model: names only reach the CUDA code C-safe, as text only in
    comments; it builds and runs (emulated) like the reference."""
    g = hostile_model()
    m = cnnc.compile(g, target="cuda", emulate=True, out_dir=tmp_path)
    x = np.random.default_rng(0).standard_normal((2, 3)).astype(np.float32)
    got, want = m.run({HOSTILE[0]: x}), reference(g, {HOSTILE[0]: x})
    assert list(got) == list(want)
    for k in want:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-6, atol=1e-7)
    generated = [f for f in list(tmp_path.glob("*.cu")) + list(tmp_path.glob("*.h")) if not f.name.startswith("cnnc_")]
    for f in generated + [tmp_path / "Makefile", tmp_path / "CMakeLists.txt"]:
        text = f.read_text()
        assert text.isascii(), f
        code = _code_outside_comments(text)
        for label in HOSTILE:
            if not re.fullmatch(r"\w+", label):
                assert label not in code, (f, label)


def test_an_op_without_a_kernel_is_named(monkeypatch, tmp_path):
    infer = opdef.get_op("Relu").infer
    monkeypatch.setitem(opdef._REGISTRY, "NoKernelOp", OpDef(name="NoKernelOp", inputs=("X",), infer=infer,
                                                             reference=lambda xs, a: xs[0]))
    g = Graph("m")
    (r,) = g.add_node("NoKernelOp", [g.add_input("x", TensorType((4,), "float32"))], {})
    g.add_output(r, "y")
    with pytest.raises(UnsupportedError, match="NoKernelOp"):
        cuda.generate(g, tmp_path)


def test_a_missing_cuda_template_is_named(monkeypatch, tmp_path):
    infer = opdef.get_op("Relu").infer
    kernel = Kernel("cuda/kernels/no_such_family.cu.j2", "cnnc_no_such_f32")
    monkeypatch.setitem(opdef._REGISTRY, "NoTemplateOp", OpDef(name="NoTemplateOp", inputs=("X",), infer=infer,
                                                               reference=lambda xs, a: xs[0],
                                                               kernels={"cuda": lambda req: kernel}))
    g = Graph("m")
    (r,) = g.add_node("NoTemplateOp", [g.add_input("x", TensorType((4,), "float32"))], {})
    g.add_output(r, "y")
    with pytest.raises(UnsupportedError, match="no_such_family.cu.j2.*NoTemplateOp"):
        cuda.generate(g, tmp_path)


def test_bad_options_are_one_error(tmp_path):
    g, _ = small_graph()
    with pytest.raises(CnncError, match="precision"):
        cuda.generate(g, tmp_path, precision="fp16")
    with pytest.raises(CnncError, match="arch"):
        cuda.generate(g, tmp_path, arch="ampere")
    with pytest.raises(CnncError, match="weights"):
        cuda.generate(g, tmp_path, weights="hex")


def test_c_and_cuda_kernel_templates_pair_up():
    """Every C kernel template has its CUDA twin (same stem), the contract cuda.py relies on,
    but the templates of the C-only (non-portable) implementation-table entries, which the
    CUDA backend never plans."""
    from cnnc.ir import all_ops
    c = {p.name[:-len(".c.j2")] for p in (ROOT / "templates/c/kernels").glob("*.c.j2")}
    cu = {p.name[:-len(".cu.j2")] for p in (ROOT / "templates/cuda/kernels").glob("*.cu.j2")}
    c_only = {Path(i.template).name[:-len(".c.j2")] for op in all_ops().values()
              if not callable(op.kernels.get("c", print)) for i in op.kernels["c"] if not i.portable}
    assert c_only and all((ROOT / "templates/c/kernels" / f"{t}.c.j2").is_file() for t in c_only)
    assert c - c_only <= cu, f"C kernel templates without a CUDA template: {sorted(c - c_only - cu)}"


# ---------------------------------------------------------------- the emulator itself
EMU_PROGRAM = r"""
#include "cnnc_cuda.cuh"
#include <stdio.h>

/* a shared-memory tree reduction: wrong without real barriers */
static __global__ void block_sum(const float *__restrict__ x, float *__restrict__ out, long n)
{
    __shared__ float part[128];
    float acc = 0.0f;
    for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long)blockDim.x * gridDim.x) {
        acc += x[i];
    }
    part[threadIdx.x] = acc;
    __syncthreads();
    for (unsigned s = blockDim.x / 2; s > 0; s /= 2) {
        if (threadIdx.x < s) part[threadIdx.x] += part[threadIdx.x + s];
        __syncthreads();
    }
    if (threadIdx.x == 0) atomicAdd(out, part[0]);
}

int main(void)
{
    const long n = 100003;
    float *x, *out, host = 0.0f, want = 0.0f;
    if (cudaMalloc(&x, n * sizeof(float)) != cudaSuccess || cudaMalloc(&out, sizeof(float)) != cudaSuccess) return 1;
    float *hx = (float *)malloc(n * sizeof(float));
    for (long i = 0; i < n; ++i) { hx[i] = (float)(i % 7) - 3.0f; want += hx[i]; }
    cudaMemcpy(x, hx, n * sizeof(float), cudaMemcpyHostToDevice);
    cudaMemset(out, 0, sizeof(float));
    CNNC_LAUNCH(block_sum, 37, 128, 0, (cudaStream_t)0, x, out, n);
    if (cudaGetLastError() != cudaSuccess) return 2;
    cudaMemcpy(&host, out, sizeof(float), cudaMemcpyDeviceToHost);
    printf("sum %g want %g\n", host, want);
    if (host != want) return 3;

    /* an invalid configuration fails like a real launch */
    CNNC_LAUNCH(block_sum, 1, 2048, 0, (cudaStream_t)0, x, out, n);
    if (cudaGetLastError() != cudaErrorInvalidConfiguration) return 4;

    /* a captured graph replays the launches, not runs them at capture */
    cudaStream_t s;
    cudaGraph_t g;
    cudaGraphExec_t exec;
    cudaStreamCreate(&s);
    cudaMemset(out, 0, sizeof(float));
    cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal);
    CNNC_LAUNCH(block_sum, 5, 128, 0, s, x, out, n);
    cudaStreamEndCapture(s, &g);
    cudaMemcpy(&host, out, sizeof(float), cudaMemcpyDeviceToHost);
    if (host != 0.0f) return 5;
    cudaGraphInstantiate(&exec, g, 0);
    cudaGraphLaunch(exec, s);
    cudaGraphLaunch(exec, s);
    cudaStreamSynchronize(s);
    cudaMemcpy(&host, out, sizeof(float), cudaMemcpyDeviceToHost);
    printf("graph %g want %g\n", host, 2 * want);
    if (host != 2 * want) return 6;
    cudaGraphExecDestroy(exec);
    cudaGraphDestroy(g);
    cudaStreamDestroy(s);

    /* TF32 rounding: 10 mantissa bits, round to nearest, ties away */
    const float probes[4] = {1.0f + 1.0f / 4096, 1.0f + 3.0f / 4096, 1.0f + 1.0f / 2048, -3.14159265f};
    for (int i = 0; i < 4; ++i) printf("tf32 %a\n", (double)cnnc_tf32(probes[i]));
    cudaFree(x);
    cudaFree(out);
    free(hx);
    return 0;
}
"""


@needs_gxx
@pytest.mark.parametrize("tf32", [0, 1])
def test_emulator_barriers_launch_checks_graphs(tmp_path, tf32):
    (tmp_path / "t.cu").write_text(EMU_PROGRAM)
    exe = tmp_path / "t"
    subprocess.run(["g++", *cuda.EMU_FLAGS, f"-DCNNC_TF32={tf32}", f"-I{runtime_dir()}", "-o", str(exe),
                    "t.cu"], cwd=tmp_path, check=True, capture_output=True, text=True)
    res = subprocess.run([str(exe)], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    got = [float.fromhex(ln.split()[1]) for ln in res.stdout.splitlines() if ln.startswith("tf32")]
    probes = np.array([1 + 1 / 4096, 1 + 3 / 4096, 1 + 1 / 2048, -3.14159265], np.float32)
    if tf32:   # 10 mantissa bits, round to nearest with ties away from zero
        rounded = ((probes.view(np.uint32) + np.uint32(0x1000)) & np.uint32(0xffffe000)).view(np.float32)
        assert got == [1.0, 1 + 1 / 1024, 1 + 1 / 1024, -3.140625] == rounded.tolist()
    else:
        assert got == probes.tolist()


def test_emulator_header_is_warning_free(tmp_path):
    """The runtime headers alone compile without warnings under g++ (and nvcc: below)."""
    if shutil.which("g++") is None:
        pytest.skip("g++ is not installed")
    (tmp_path / "e.cu").write_text('#include "cnnc_cuda.cuh"\n')
    subprocess.run(["g++", *cuda.EMU_FLAGS, "-Wpedantic", f"-I{runtime_dir()}", "-c", "e.cu", "-o", "e.o"],
                   cwd=tmp_path, check=True)


# ---------------------------------------------------------------- models on the emulator
@needs_gxx
def test_model_on_the_emulator_eager_then_graph(tmp_path):
    g, feeds = small_graph()
    m = cnnc.compile(g, target="cuda", emulate=True, out_dir=tmp_path)
    want = reference(g, feeds)
    for _ in range(4):       # eager+checked, captured, replayed, replayed
        got = m.run(feeds)
        for k in want:
            np.testing.assert_array_equal(got[k], want[k])
    m.use_cuda_graph(False)
    np.testing.assert_array_equal(m.run(feeds)["y"], want["y"])
    assert m.emulated


@needs_gxx
def test_a_failing_layer_is_named(tmp_path, monkeypatch):
    g, feeds = small_graph()
    folder = cuda.generate(g, tmp_path)
    cuda.build_library(folder, emulate=True)
    monkeypatch.setenv("CNNC_EMU_FAIL_LAUNCH", "2")      # the Add, the second launch
    m = cuda.CudaModel(folder, emulate=True)
    with pytest.raises(CnncError, match=r"layer Add add: cudaErrorLaunchFailure"):
        m.run(feeds)


@needs_gxx
def test_driver_reads_and_writes_npy(tmp_path):
    g, feeds = small_graph()
    folder = cuda.generate(g, tmp_path, weights="blob")
    cuda.build_library(folder, exe=True, emulate=True)
    exe = folder / "net_main_emu"
    want = reference(g, feeds)
    outs, text = cuda.run_exe(exe, [feeds["x"]], list(g.output_types().values()), iters=3)
    for got, k in zip(outs, want):
        assert got.dtype == want[k].dtype and got.shape == want[k].shape
        np.testing.assert_array_equal(got, want[k])
    assert "CPU emulator (not a GPU)" in text and "latency over 3 runs" in text
    outs, _ = cuda.run_exe(exe, [feeds["x"]], list(g.output_types().values()), npy=False)
    np.testing.assert_array_equal(outs[0], want["y"])
    # a wrong shape or dtype is one clear message
    np.save(tmp_path / "bad.npy", feeds["x"][:1])
    res = subprocess.run([str(exe), str(tmp_path / "bad.npy"), str(tmp_path / "o.npy"), str(tmp_path / "o2.npy")],
                         capture_output=True, text=True)
    assert res.returncode == 1 and "must have shape (2, 3, 5)" in res.stderr
    np.save(tmp_path / "bad.npy", feeds["x"].astype(np.float64))
    res = subprocess.run([str(exe), str(tmp_path / "bad.npy"), str(tmp_path / "o.npy"), str(tmp_path / "o2.npy")],
                         capture_output=True, text=True)
    assert res.returncode == 1 and "must have dtype '<f4'" in res.stderr


@needs_gxx
def test_int64_and_bool_models_on_the_emulator(tmp_path):
    a = np.arange(-6, 6, dtype=np.int64).reshape(3, 4)
    g, feeds, _ = one_node_graph("Greater", [a, np.int64(0) + np.zeros((4,), np.int64)])
    m = cnnc.compile(g, target="cuda", emulate=True, out_dir=tmp_path)
    np.testing.assert_array_equal(m.run(feeds)["out0"], reference(g, feeds)["out0"])


# ---------------------------------------------------------------- the real build, no GPU
@needs_nvcc
def test_real_build_without_a_gpu_says_so(tmp_path):
    g, _ = small_graph()
    folder = cuda.generate(g, tmp_path, weights="blob")
    cuda.build_library(folder)
    try:
        n = subprocess.run(["nvidia-smi", "-L"], capture_output=True).returncode == 0
    except FileNotFoundError:
        n = False
    if n:
        pytest.skip("a GPU is present: scripts/gpu_check.sh covers the real runs")
    with pytest.raises(CnncError, match="no CUDA device"):
        cuda.CudaModel(folder)


@needs_nvcc
def test_runtime_headers_compile_under_nvcc(tmp_path):
    (tmp_path / "e.cu").write_text('#include "cnnc_cuda.cuh"\n'
                                   "__global__ void k(float *x) { x[0] = cnnc_tf32(cnnc_sigmoidf(x[0])); }\n")
    subprocess.run([cuda.nvcc_path(), "-gencode=arch=compute_80,code=sm_80", *cuda.NVCC_FLAGS,
                    f"-I{runtime_dir()}", "-DCNNC_TF32=1", "-c", "e.cu", "-o", "e.o"], cwd=tmp_path, check=True)


def test_cli_writes_a_tf32_cuda_folder(tmp_path, capsys):
    """`cnnc compile --target cuda --precision tf32` (generation only: no nvcc needed)."""
    from cnnc.cli import main
    model = tmp_path / "model.py"
    model.write_text("import cnnc.dsl as nn\n\ndef build():\n    m = nn.Model('tf')\n"
                     "    x = m.input('x', (1, 2, 6, 6))\n    m.output(nn.conv(x, 4, 3), 'y')\n    return m.build()\n")
    out = tmp_path / "gen"
    assert main(["compile", str(model), "--target", "cuda", "--precision", "tf32", "-o", str(out), "-q"]) == 0
    assert json.loads((out / "cnnc_manifest.json").read_text())["precision"] == "tf32"
    with pytest.raises(SystemExit):
        main(["compile", str(model), "--target", "cuda", "--precision", "fp16", "-o", str(out)])
    assert "invalid choice: 'fp16'" in capsys.readouterr().err
