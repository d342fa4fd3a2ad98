"""The CUDA backend: a model folder of CUDA C++ rendered from ``templates/cuda/``, built
with nvcc into a shared library (loaded through cffi) and a standalone executable.

Folder layout (``generate``): ``<m>.h`` (the public C API: sizes, shapes, status codes,
``<m>_create``/``_destroy``/``_run``/``_run_device``/``_last_error``), ``<m>.cu`` (one
``__global__`` kernel family and one host launcher per distinct kernel, the forward pass
calling them in order on a stream, the instance that owns the device arena and the
weights), ``<m>_main.cu`` (the standalone driver: .npy or raw files in, .npy or raw out,
timing), the weights (host arrays in ``<m>.cu`` or the linked blob ``<m>_weights.bin``,
uploaded once at creation), the runtime headers, a ``Makefile``, a ``CMakeLists.txt`` and
the manifest.

Kernels come from the ops' kernel hooks: an op's ``kernels["cuda"]`` if it has one (the
conv family's implementation table, ``ops/_cuda_conv.py``: the algorithm chosen per layer
in Python, the parameters made for the GPU), else its ``kernels["c"]`` Kernel -- the same
specialized parameters the C backend renders -- with the CUDA template of the same stem
(``c/kernels/pool.c.j2`` -> ``cuda/kernels/pool.cu.j2``), rendered with the same context.  Each CUDA template renders its
``__global__`` kernels and one host launcher (``templates/cuda/kernels/_macros.j2``).

Storage is the C backend's (``codegen.plan_storage``): arena values at their memory-plan
offsets of the device arena ``a``, weights at their offsets of the device weights ``w``.

``emulate=True`` builds the same ``.cu`` with g++ against ``runtime/cnnc_cuda_emu.h``, a
CPU emulation of CUDA's execution model: it checks the kernels' logic on a machine without
a GPU.  An emulated run is NOT a GPU run; it says nothing about GPU performance.
"""
from __future__ import annotations

import functools
import hashlib
import os
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import jinja2
import numpy as np

from ..ir import CnncError, Graph, UnsupportedError, progress
from ..ir.naming import comment_safe
from ..resources import runtime_dir, template_env
from .base import CompiledModel, read_manifest, staged_folder
from .codegen import (c_array_literal, call_comment, ctype, kernel_context, model_context, prepare,
                      table_definitions, write_folder_files)

RUNTIME_FILES = ("cnnc_status.h", "cnnc_runtime.h", "cnnc_cuda.cuh", "cnnc_cuda_emu.h", "cnnc_npy.h")
ARCHS = ("sm_80", "sm_90")
PRECISIONS = ("fp32", "tf32")
#: nvcc's flags for every build: host warnings and nvcc's own are errors
NVCC_FLAGS = ("-std=c++17", "-O3", "-Xcompiler", "-Wall,-Wextra", "-Werror", "all-warnings")
#: the emulator build: the .cu as C++17 with the emulator header first.  -O0: an emulated
#: test is all compile time (a 189-kernel FusedConv grid: g++ -O2 100 s, -O0 22-35 s; its
#: run 0.45 s at -O2, 1.2 s at -O0)
EMU_FLAGS = ("-x", "c++", "-std=c++17", "-include", "cnnc_cuda_emu.h", "-O0", "-Wall", "-Wextra", "-Werror")


def cuda_template(template: str) -> str:
    """The CUDA template rendering a Kernel whose template is ``template`` (a C template
    ``c/kernels/X.c.j2`` maps to ``cuda/kernels/X.cu.j2``)."""
    if template.startswith("c/kernels/") and template.endswith(".c.j2"):
        return "cuda/kernels/" + template[len("c/kernels/"):-len(".c.j2")] + ".cu.j2"
    return template


def _render_kernel(env, fn, ops: dict) -> str:
    k = fn.kernel
    template = cuda_template(k.template)
    try:
        body = env.get_template(template).render(kernel_context(fn))
    except jinja2.TemplateNotFound:
        raise UnsupportedError(f"no CUDA kernel template {template} (for op{'s' * (len(ops[fn.name]) > 1)} "
                               f"{', '.join(sorted(ops[fn.name]))}, kernel {fn.name})") from None
    return (f"/* {comment_safe(k.comment or k.name, 100)} (template {template}) */\n"
            # a CUDA template may not need every table of the C hook (conv's edge columns)
            f"{table_definitions(fn, '[[maybe_unused]] static __device__ const')}{body.rstrip()}\n")


@functools.lru_cache(maxsize=1)
def _env() -> jinja2.Environment:
    """One template environment per process: Jinja compiles each template once."""
    return template_env()


def generate(graph: Graph, out_dir: str | os.PathLike, *, weights: str = "auto", arch: str = "sm_80",
             precision: str = "fp32", name: str | None = None, source: str | None = None,
             impl: dict | None = None) -> Path:
    """Write the CUDA model folder for ``graph`` into ``out_dir`` (created; files replaced).
    ``weights``: "c" (host arrays in the source), "blob" (a linked-in binary file) or
    "auto"; ``arch``: the Makefile's default ``ARCH``; ``precision``: "fp32", or "tf32"
    (the convolution and GEMM kernels round their operands to TF32, accumulating in fp32);
    ``impl``: op name -> the implementation to force (``{"Conv": "implicit_gemm"}``; the
    conv family's CUDA table is ``ops/_cuda_conv.py``)."""
    if weights == "external":
        raise CnncError("weights='external' (read at run time by <m>_load_weights) is the c target's; the cuda "
                        "target uploads its weights from host arrays or a linked-in blob ('c', 'blob' or 'auto')")
    if precision not in PRECISIONS:
        raise CnncError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if not (isinstance(arch, str) and arch.startswith("sm_") and arch[3:].isdigit()):
        raise CnncError(f"arch must look like 'sm_80', got {arch!r}")
    # the weights live in device memory at offsets of one block, whatever the host mode
    p = prepare(graph, ("cuda", "c"), weights=weights, name=name, storage_weights="blob", weights_base="w",
                portable_only=True, impl=impl)
    m, st, env = p.m, p.storage, _env()
    ops: dict[str, set] = {}
    for node_name, fn, _ in p.per_node:
        ops.setdefault(fn.name, set()).add(graph.node(node_name).op)
    calls = []
    for node_name, fn, k in p.per_node:
        node = graph.node(node_name)
        args = ", ".join(p.args(node_name, k) + ["stream"])
        calls.append({"comment": call_comment(graph, node_name, k),
                      "code": f'CNNC_LAYER({fn.name}({args}), "{node.op} {node.name}");'})
    for param, v, t in p.io.copies:
        calls.append({"comment": f"output {param} is a copy of {st.exprs[v]}",
                      "code": f"CNNC_LAYER(cudaMemcpyAsync({param}, {st.exprs[v]}, {t.nbytes}, "
                              f'cudaMemcpyDeviceToDevice, stream), "output copy {param}");'})

    weights_list = []
    if p.weights_mode == "c":
        weights_list = [{**w, "literal": c_array_literal(w["array"]), "nbytes": w["array"].nbytes}
                        for w in st.weights]
    blob = p.weights_mode == "blob"
    ctx = model_context(p, source, {"cuda/model.cu.j2", "cuda/model.h.j2"}
                        | {cuda_template(f.kernel.template) for f in p.functions},
                        inputs=p.io.inputs, outputs=p.io.outputs,
                        weights=weights_list, kernels=[{"source": _render_kernel(env, f, ops)} for f in p.functions],
                        calls=calls, tf32=precision == "tf32", arch=arch, nvcc_flags=" ".join(NVCC_FLAGS),
                        emu_flags=" ".join(EMU_FLAGS), objects=[f"{m}_weights.o"] if blob else [])
    files = {f"{m}.h": "cuda/model.h.j2", f"{m}.cu": "cuda/model.cu.j2", f"{m}_main.cu": "cuda/main.cu.j2",
             "Makefile": "cuda/Makefile.j2", "CMakeLists.txt": "cuda/CMakeLists.txt.j2"}
    if blob:
        files[f"{m}_weights.S"] = "c/weights.S.j2"
    return write_folder_files(out_dir, p, {f: env.get_template(t).render(ctx) for f, t in files.items()},
                              RUNTIME_FILES, "cuda", weights_bytes=st.weights_bytes, arch=arch, precision=precision)


# ---------------------------------------------------------------------------- building
def nvcc_path() -> str | None:
    """The nvcc to use: $NVCC, else nvcc on PATH, else /usr/local/cuda/bin/nvcc."""
    for candidate in (os.environ.get("NVCC"), shutil.which("nvcc"), "/usr/local/cuda/bin/nvcc"):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


def _model_name(folder: Path) -> str:
    return read_manifest(folder, "cuda")[0]["model"]


def _run_compiler(cmd: list[str], folder: Path, what: str) -> None:
    try:
        res = progress.run(cmd, f"{Path(cmd[0]).name}: {what}", cwd=folder, capture_output=True, text=True)
    except FileNotFoundError:
        raise CnncError(f"{cmd[0]} is not installed (needed to {what})") from None
    if res.returncode != 0:
        text = res.stderr + res.stdout
        msgs = "\n".join(ln for ln in text.splitlines() if "error" in ln or "warning" in ln)
        raise CnncError(f"{Path(cmd[0]).name} failed to {what} in {folder}:\n{(msgs or text.strip())[-6000:]}")


def _weights_object(folder: Path, m: str) -> list[str]:
    """Assemble the weights blob (blob mode) with the host C compiler; the object links
    into both the nvcc and the emulator builds."""
    if not (folder / f"{m}_weights.S").exists():
        return []
    cc = os.environ.get("CC", "cc")
    _run_compiler([cc, "-c", f"{m}_weights.S", "-o", f"{m}_weights.o"], folder, "assemble the weights")
    return [f"{m}_weights.o"]


def _nvcc() -> str:
    nvcc = nvcc_path()
    if nvcc is None:
        raise CnncError("nvcc is not installed (set $NVCC or put the CUDA toolkit's bin/ on PATH)")
    return nvcc


def _emulator_pch(cxx: str) -> Path | None:
    """The emulator header with its precompiled ``.gch`` beside it, in a cache folder keyed
    by the header, the compiler and the flags (a quarter of the g++ time of a small model).
    None where the cache cannot be written or the compiler cannot precompile: g++ then reads
    the plain header, with the same result."""
    src = runtime_dir() / "cnnc_cuda_emu.h"
    try:
        version = subprocess.run([cxx, "--version"], capture_output=True, text=True).stdout
        key = hashlib.sha256(src.read_bytes() + version.encode() + " ".join(EMU_FLAGS).encode()).hexdigest()[:16]
        root = Path(os.environ.get("CNNC_CACHE_DIR") or Path(os.environ.get("XDG_CACHE_HOME") or
                                                                 Path.home() / ".cache") / "cnnc")
        folder = root / f"cuda-emu-{key}"
        header, pch = folder / "cnnc_cuda_emu.h", folder / "cnnc_cuda_emu.h.gch"
        if not pch.is_file():
            folder.mkdir(parents=True, exist_ok=True)
            if not header.is_file():
                tmp = folder / f".h.{os.getpid()}"
                shutil.copyfile(src, tmp)
                os.replace(tmp, header)
            tmp = folder / f".gch.{os.getpid()}"
            flags = [f for f in EMU_FLAGS if f not in ("-x", "c++", "-include", "cnnc_cuda_emu.h")]
            res = subprocess.run([cxx, "-x", "c++-header", *flags, "-fPIC", str(header), "-o", str(tmp)],
                                 capture_output=True)
            if res.returncode != 0:
                tmp.unlink(missing_ok=True)
                return None
            os.replace(tmp, pch)      # atomic: concurrent builds see a whole file or none
        return header
    except OSError:
        return None


def build_library(folder: str | os.PathLike, *, arch: str | None = None, exe: bool = False,
                  emulate: bool = False) -> Path:
    """Build ``lib<m>.so`` with nvcc for ``arch`` (default: the folder's), and with
    ``exe`` the driver ``<m>_main``.  With ``emulate`` build ``lib<m>_emu.so`` (and
    ``<m>_main_emu``) with g++ and the CPU emulator instead.  Compiler errors are one
    CnncError quoting the compiler's messages (file:line)."""
    folder = Path(folder)
    manifest = read_manifest(folder, "cuda")[0]
    m = manifest["model"]
    objs = _weights_object(folder, m)
    if emulate:
        cxx = os.environ.get("CXX", "g++")
        flags = [*EMU_FLAGS, "-fPIC"]
        header = _emulator_pch(cxx)
        if header is not None:       # the same header, precompiled once per machine
            flags[flags.index("cnnc_cuda_emu.h")] = str(header)
        # g++ marks inline statics as STB_GNU_UNIQUE, which makes the library impossible
        # to dlclose; a later library whose file reuses the deleted one's inode would then
        # be "already loaded" and dlopen would hand back the stale one
        unique = ["-fno-gnu-unique"] if "clang" not in Path(cxx).name else []
        _run_compiler([cxx, *flags, *unique, "-shared", "-o", f"lib{m}_emu.so", f"{m}.cu", "-x", "none", *objs],
                      folder, "build the emulated CUDA library")
        if exe:
            _run_compiler([cxx, *flags, "-o", f"{m}_main_emu", f"{m}_main.cu", f"{m}.cu", "-x", "none", *objs],
                          folder, "build the emulated CUDA driver")
        return folder / f"lib{m}_emu.so"
    nvcc = _nvcc()
    arch = arch or manifest.get("arch", "sm_80")
    _run_compiler([nvcc, f"-arch={arch}", *NVCC_FLAGS, "-Xcompiler", "-fPIC", "-shared", "-o", f"lib{m}.so",
                   f"{m}.cu", *objs], folder, "build the CUDA library")
    if exe:
        _run_compiler([nvcc, f"-arch={arch}", *NVCC_FLAGS, "-o", f"{m}_main", f"{m}_main.cu", f"{m}.cu", *objs],
                      folder, "build the CUDA driver")
    return folder / f"lib{m}.so"




def nvcc_check(folder: str | os.PathLike, archs=ARCHS) -> None:
    """Compile the folder's CUDA sources (model and driver) for every arch in ``archs``
    with warnings as errors, without linking and without a GPU: the CI check."""
    folder = Path(folder)
    m = _model_name(folder)
    nvcc = _nvcc()
    gencode = [f"-gencode=arch=compute_{a[3:]},code={a}" for a in archs]
    with tempfile.TemporaryDirectory(prefix="cnnc_nvcc_") as tmp:
        jobs = [[nvcc, *gencode, *NVCC_FLAGS, "-c", src, "-o", str(Path(tmp) / f"{src}.o")]
                for src in (f"{m}.cu", f"{m}_main.cu")]
        with ThreadPoolExecutor(len(jobs)) as pool:
            for f in [pool.submit(_run_compiler, cmd, folder, f"compile {cmd[-3]} for {', '.join(archs)}")
                      for cmd in jobs]:
                f.result()


# ---------------------------------------------------------------------------- running
class CudaModel(CompiledModel):
    """A built CUDA model folder loaded through cffi (``lib<m>.so``, or with ``emulate``
    the CPU-emulated ``lib<m>_emu.so``); ``run`` is the same as every backend's."""

    target = "cuda"

    def __init__(self, folder: str | os.PathLike, emulate: bool = False):
        import cffi
        folder = Path(folder)
        manifest, inputs, outputs = read_manifest(folder, "cuda")
        super().__init__(manifest["model"], inputs, outputs)
        m = self._m = manifest["model"]
        self.folder = folder
        self.emulated = emulate
        self.lib_path = folder / (f"lib{m}_emu.so" if emulate else f"lib{m}.so")
        if not self.lib_path.is_file():
            raise CnncError(f"{folder}: {self.lib_path.name} is not built; run `make{' emu' if emulate else ''}` "
                            "there or `cnnc compile ... --target cuda --build`")
        self._ffi = cffi.FFI()
        params = [f"const {ctype(t.dtype)} *" for t in inputs.values()]
        params += [f"{ctype(t.dtype)} *" for t in outputs.values()]
        self._ffi.cdef(f"""
            int {m}_device_count(void);
            int {m}_create(void **ctx);
            void {m}_destroy(void *ctx);
            int {m}_run({', '.join(['void *'] + params)});
            void {m}_use_cuda_graph(void *ctx, int on);
            const char *{m}_last_error(void *ctx);
        """)
        self._lib = self._ffi.dlopen(str(self.lib_path.resolve()))
        self._ctx = None
        if getattr(self._lib, f"{m}_device_count")() == 0:
            raise CnncError(f"{folder}: no CUDA device is present; the CUDA build needs a GPU to run "
                            "(without one, compile with emulate=True for the CPU emulator)")
        box = self._ffi.new("void **")
        status = getattr(self._lib, f"{m}_create")(box)
        self._ctx = box[0] if box[0] != self._ffi.NULL else None
        if status != 0:
            raise CnncError(f"{m}_create failed (status {status}): {self._last_error()}")
        self._run_fn = getattr(self._lib, f"{m}_run")

    def _last_error(self) -> str:
        if self._ctx is None:
            return "out of host memory"
        return self._ffi.string(getattr(self._lib, f"{self._m}_last_error")(self._ctx)).decode("ascii", "replace")

    def use_cuda_graph(self, on: bool) -> None:
        """Replay the forward pass from a CUDA graph (the default) or launch it eagerly."""
        getattr(self._lib, f"{self._m}_use_cuda_graph")(self._ctx, int(bool(on)))

    def _run(self, arrays):
        outs = [np.empty(t.shape, t.dtype) for t in self.outputs.values()]
        ptrs = [self._ffi.from_buffer(f"{ctype(a.dtype.name)}[]", a) for a in (*arrays, *outs)]
        status = self._run_fn(self._ctx, *ptrs)
        if status != 0:
            raise CnncError(f"{self._m}_run failed (status {status}"
                            f"{', CPU emulator' if self.emulated else ''}): {self._last_error()}")
        return outs

    def __del__(self):
        ctx, self._ctx = getattr(self, "_ctx", None), None
        if ctx is not None:
            getattr(self._lib, f"{self._m}_destroy")(ctx)


def compile_cuda(graph: Graph, *, out_dir: str | os.PathLike | None = None, arch: str = "sm_80",
                 precision: str = "fp32", emulate: bool = False, weights: str = "auto",
                 impl: dict | None = None) -> CudaModel:
    """Generate, build and load ``graph`` (``cnnc.compile(g, target="cuda")``); without
    ``out_dir`` a temporary folder is used (gone once loaded).  ``emulate=True`` runs it on the CPU emulator."""
    def make(folder: Path) -> None:
        generate(graph, folder, weights=weights, arch=arch, precision=precision, impl=impl)
        build_library(folder, emulate=emulate)
    if out_dir is not None:
        with staged_folder(out_dir) as tmp:
            make(tmp)
        return CudaModel(out_dir, emulate=emulate)
    with tempfile.TemporaryDirectory(prefix="cnnc_cuda_") as tmp:
        make(Path(tmp))
        return CudaModel(tmp, emulate=emulate)  # the loaded library outlives its file


def write_folder(graph: Graph, out_dir: str | os.PathLike, *, source: str | None = None, build: bool = False,
                 exe: bool = False, arch: str | None = None, weights: str | None = None,
                 precision: str | None = None, impl: dict | None = None) -> tuple[Path, str]:
    """``cnnc compile --target cuda``: the model folder; with ``build`` or ``exe`` also the
    library and the standalone driver, built with nvcc (which needs no GPU)."""
    folder = generate(graph, out_dir, source=source, weights=weights or "auto", arch=arch or "sm_80",
                      precision=precision or "fp32", impl=impl)
    if not (build or exe):
        return folder, ""
    m = _model_name(folder)
    build_library(folder, exe=True)
    return folder, f"built lib{m}.so and {m}_main"


def run_exe(exe: str | os.PathLike, inputs, outputs, *, npy: bool = True, iters: int = 1,
            env=None) -> tuple[list[np.ndarray], str]:
    """Run a driver built by ``build_library(exe=True)`` on arrays ``inputs`` (written as .npy, or
    raw with ``npy=False``); ``outputs`` are the result types.  Returns the outputs and the
    driver's stdout (its timing).  A non-zero exit is a CnncError with its stderr."""
    ext = ".npy" if npy else ".bin"
    with tempfile.TemporaryDirectory(prefix="cnnc_cuda_exe_") as tmp:
        tmp = Path(tmp)
        args = []
        for i, a in enumerate(inputs):
            path = tmp / f"in{i}{ext}"
            if npy:
                np.save(path, np.ascontiguousarray(a))
            else:
                path.write_bytes(np.ascontiguousarray(a).tobytes())
            args.append(str(path))
        args += [str(tmp / f"out{i}{ext}") for i in range(len(outputs))]
        res = subprocess.run([str(exe), "--iters", str(iters), *args], capture_output=True, text=True, env=env)
        if res.returncode != 0:
            raise CnncError(f"{exe} failed (exit {res.returncode}):\n{res.stderr[-4000:]}")
        results = []
        for i, t in enumerate(outputs):
            path = tmp / f"out{i}{ext}"
            a = np.load(path) if npy else np.fromfile(path, dtype=t.dtype).reshape(t.shape)
            results.append(a)
        return results, res.stdout
