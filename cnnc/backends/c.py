"""The C backend: a model folder of plain C99 rendered from ``templates/c/``, built with the
system C compiler and loaded through cffi.

Folder layout (``generate``): ``<m>.h`` (the whole public API: sizes, shapes, arena bytes,
``<m>_run``), ``<m>.c`` (one static function per distinct kernel, called in order from
``<m>_run``, a comment per call), the weights (C arrays of exact hex-float literals in
``<m>.c``, or ``<m>_weights.bin`` linked in by ``<m>_weights.S`` with ``weights="blob"``),
the runtime headers it needs, a ``Makefile`` and a ``CMakeLists.txt``.  The same input
gives byte-identical files.  Model names only reach the code as C-safe identifiers, and as
text only inside comments (``comment_safe``).
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from ..ir import CnncError, Graph, get_op, progress
from ..ir.naming import comment_safe
from ..resources import template_env
from .base import CompiledModel, check_threads, read_manifest, staged_folder
from . import isa
from ..passes.layout import assign_layouts
from .codegen import (ALIGN, forced_ops, c_array_literal, call_comment, ctype, helper_context, kernel_context, model_context,
                      prepare, table_definitions, write_folder_files)

RUNTIME_FILES = ("cnnc_status.h", "cnnc_runtime.h", "cnnc_pool.h", "cnnc_pool.c", "cnnc_npy.h")
#: the pthreads pool behind the parallel-for hook: built into the cffi library and the
#: driver, not into the model's own static library (which needs no threads)
POOL = ("cnnc_pool.c", "-pthread")
WARNINGS = ("-Wall", "-Wextra", "-Werror")


BODY_MARK = "/* cnnc: function body */\n"


def _render_kernel(env, fn) -> str:
    k = fn.kernel
    params = [f"const {t} *x{i}" for i, t in enumerate(fn.in_ctypes)]
    params += [f"{t} *y{i}" for i, t in enumerate(fn.out_ctypes)]
    if k.scratch_bytes:
        params.append("unsigned char *scratch")
    if k.parallel:
        params.append("const cnnc_parallel *par")
    body = env.get_template(k.template).render(kernel_context(fn))
    prelude, _, body = body.rpartition(BODY_MARK)
    unused = "".join(f"    (void){p.split('*')[-1]};\n" for p in params)
    return (f"/* {comment_safe(k.comment or k.name, 100)} (template {k.template}) */\n{table_definitions(fn)}"
            f"{prelude}CNNC_VECTORIZE static void {fn.name}({', '.join(params)})\n{{\n{unused}{body.rstrip()}\n}}\n")


def generate(graph: Graph, out_dir: str | os.PathLike, *, weights: str = "auto",
             name: str | None = None, source: str | None = None, cpu: str = "native",
             impl: dict | None = None, threads: int | None = None, layout: str = "auto") -> Path:
    """Write the model folder for ``graph`` into ``out_dir`` (created; files replaced).
    ``weights`` is "c" (exact hex-float arrays in the source), "blob" (a linked-in
    binary file) or "auto" (C arrays up to AUTO_BLOB_BYTES); ``cpu`` the ISA the kernels
    are planned and built for (``isa.CPUS``); ``impl`` forces implementations per op;
    ``threads`` the most workers of the parallel-for hook (default: this machine's cores);
    ``layout`` the layout pass's mode (``passes.layout``: "auto" blocks the regions the
    cost model says gain, "nchwc" every region, "nchw" none)."""
    target_isa = isa.resolve(cpu)
    workers = check_threads(threads)
    graph = assign_layouts(graph, target_isa.vector, isa=target_isa, workers=workers, mode=layout,
                           keep=forced_ops(impl))
    p = prepare(graph, "c", weights=weights, name=name, isa=target_isa, impl=impl, workers=workers)
    m, st, env = p.m, p.storage, template_env()
    calls, profile = [], []
    for node_name, fn, k in p.per_node:
        calls.append({"comment": call_comment(graph, node_name, k), "code": f"{fn.name}({', '.join(p.args(node_name, k))})"})
        node = graph.node(node_name)
        ins = [graph.type_of(v) for v in graph.operands(node_name)]
        profile.append({"node": node.label, "op": node.op, "kernel": fn.name,
                        "flops": get_op(node.op).cost(ins, node.attrs, node.types)})
    for param, v, t in p.io.copies:
        calls.append({"comment": f"output {param} is a copy of {st.exprs[v] if v in st.exprs else v}",
                      "code": f"memcpy({param}, {st.exprs[v]}, {t.nbytes})"})
        profile.append({"node": param, "op": "copy", "kernel": "memcpy", "flops": 0})
    weights_list = [{**w, "literal": c_array_literal(w["array"])} for w in st.weights] if p.weights_mode == "c" else []
    # the model's identity: its weights (each array at its offset), its calls and its I/O (the
    # same model and options give the same hash); the arrays are hashed in place, not copied
    digest = hashlib.sha256()
    for w in st.weights:
        digest.update(f"{w['offset']}:".encode())
        digest.update(np.ascontiguousarray(w["array"]).reshape(-1).view(np.uint8))
    for text in [c["code"] for c in calls] + [f"{io['param']}:{io['descr']}:{io['shape']}" for io in p.io.inputs + p.io.outputs]:
        digest.update(text.encode())
    model_hash = digest.hexdigest()[:16]
    helpers = [{"source": env.get_template(h.template).render(helper_context(h))} for h in p.helpers]
    ctx = model_context(p, source, {"c/model.c.j2", "c/model.h.j2"} | {f.kernel.template for f in p.functions}
                        | {h.template for h in p.helpers},
                        inputs=p.io.inputs, outputs=p.io.outputs, weights=weights_list,
                        kernels=helpers + [{"source": _render_kernel(env, f)} for f in p.functions], calls=calls,
                        sources=[f"{m}.c"], cflags=target_isa.cflags, workers=workers,
                        model_hash=model_hash,
                        isa_note=f"cpu {cpu}: {target_isa.kind} kernels" + (
                            f", {target_isa.gemm_mr}x{target_isa.gemm_nr} GEMM tiles" if p.helpers else ""))
    files = {f"{m}.h": "c/model.h.j2", f"{m}.c": "c/model.c.j2", f"{m}_main.c": "c/main.c.j2",
             "Makefile": "c/Makefile.j2", "CMakeLists.txt": "c/CMakeLists.txt.j2"}
    if p.weights_mode == "blob":
        files[f"{m}_weights.S"] = "c/weights.S.j2"
    return write_folder_files(out_dir, p, {f: env.get_template(t).render(ctx) for f, t in files.items()},
                              RUNTIME_FILES, "c", cpu=cpu if isinstance(cpu, str) else "native",
                              cflags=list(target_isa.cflags), workers=workers, calls=profile,
                              weights_mode=p.weights_mode, model_hash=model_hash)


def _isa_flags(folder: Path) -> list[str]:
    """The ISA flags the folder's kernels were planned for (its manifest's ``cflags``)."""
    return list(read_manifest(folder)[0].get("cflags", []))


def build_library(folder: str | os.PathLike, *, cc: str | None = None, flags=("-O2",),
                  sanitize_flags: tuple[str, ...] = (), out: str | os.PathLike | None = None) -> Path:
    """Compile the folder's sources into ``lib<m>.so`` (or the library ``out``); a compiler
    error is one CnncError quoting the compiler's messages (file:line)."""
    folder = Path(folder)
    (header,) = [p for p in folder.glob("*.h") if not p.name.startswith("cnnc_")]
    m = header.stem
    cc = cc or os.environ.get("CC", "cc")
    srcs = [f"{m}.c", *POOL] + ([f"{m}_weights.S"] if (folder / f"{m}_weights.S").exists() else [])
    lib = (Path(out) if out is not None else folder / f"lib{m}.so").resolve()  # the compiler runs in folder
    cmd = [cc, "-std=c99", *WARNINGS, *flags, *_isa_flags(folder), *sanitize_flags, "-fPIC", "-shared", "-o",
           str(lib), *srcs, "-lm"]
    res = progress.run(cmd, f"compiling {m}.c ({Path(cc).name} {' '.join(flags)})", cwd=folder, capture_output=True,
                       text=True)
    if res.returncode != 0:
        msgs = "\n".join(ln for ln in res.stderr.splitlines() if "error" in ln or "warning" in ln)
        raise CnncError(f"the C compiler failed on the generated code in {folder}:\n"
                        f"{msgs or res.stderr.strip()}")
    return lib


def build_exe(folder: str | os.PathLike, *, cc: str | None = None, flags=("-O2",),
              sanitize_flags: tuple[str, ...] = ()) -> Path:
    """Compile the standalone driver ``<m>_main`` (raw files in, raw files out)."""
    folder = Path(folder)
    m = read_manifest(folder)[0]["model"]
    srcs = [f"{m}_main.c", f"{m}.c", *POOL] + ([f"{m}_weights.S"] if (folder / f"{m}_weights.S").exists() else [])
    cmd = [cc or os.environ.get("CC", "cc"), "-std=c99", *WARNINGS, *flags, *_isa_flags(folder), *sanitize_flags,
           "-o", f"{m}_main", *srcs, "-lm"]
    res = progress.run(cmd, f"compiling {m}_main ({Path(cmd[0]).name} {' '.join(flags)})", cwd=folder,
                       capture_output=True, text=True)
    if res.returncode != 0:
        raise CnncError(f"the C compiler failed on the generated code in {folder}:\n{res.stderr.strip()}")
    return folder / f"{m}_main"


def run_exe(exe: str | os.PathLike, inputs, outputs, env=None) -> list[np.ndarray]:
    """Run a driver built by ``build_exe`` on arrays ``inputs``; ``outputs`` are the result
    types.  A non-zero exit (a sanitizer report, say) is a CnncError with its stderr."""
    with tempfile.TemporaryDirectory(prefix="cnnc_exe_") as tmp:
        tmp = Path(tmp)
        args = []
        for i, a in enumerate(inputs):
            (tmp / f"in{i}.bin").write_bytes(np.ascontiguousarray(a).tobytes())
            args.append(str(tmp / f"in{i}.bin"))
        args += [str(tmp / f"out{i}.bin") for i in range(len(outputs))]
        # in the driver's folder: an external-weights driver reads <m>_weights.bin there
        res = subprocess.run([str(Path(exe).resolve()), *args], capture_output=True, text=True, env=env,
                             cwd=Path(exe).resolve().parent)
        if res.returncode != 0:
            raise CnncError(f"{exe} failed (exit {res.returncode}):\n{res.stderr[-4000:]}")
        return [np.fromfile(tmp / f"out{i}.bin", dtype=t.dtype).reshape(t.shape)
                for i, t in enumerate(outputs)]


class CModel(CompiledModel):
    """A built model folder loaded through cffi; ``run`` is the same as every backend's."""

    target = "c"

    def __init__(self, folder: str | os.PathLike, lib: Path | None = None, threads: int | None = None):
        """Load a built model folder (``lib<m>.so`` beside its ``cnnc_manifest.json``); run it
        on ``threads`` workers (default: the most it was compiled for, its manifest's
        ``workers``) of the runtime's pthreads pool; 1 runs on the calling thread."""
        import cffi
        folder = Path(folder)
        manifest, inputs, outputs = read_manifest(folder, "c")
        super().__init__(manifest["model"], inputs, outputs)
        self._m = manifest["model"]
        self.folder = folder
        self.lib_path = lib or folder / f"lib{self._m}.so"
        if not self.lib_path.is_file():
            raise CnncError(f"{folder}: {self.lib_path.name} is not built; run `make` there or "
                            "`cnnc compile ... --build`")
        self.arena_bytes = int(manifest["arena_bytes"])
        self._ffi = cffi.FFI()
        ins = [f"const {ctype(t.dtype)} *" for t in self.inputs.values()]
        outs = [f"{ctype(t.dtype)} *" for t in self.outputs.values()]
        self._ffi.cdef(f"int {self._m}_run_parallel({', '.join(ins + outs + ['void *', 'size_t', 'const void *'])});"
                       "int cnnc_pool_start(void *, int); void cnnc_pool_stop(void *);"
                       "const void *cnnc_pool_parallel(void *); unsigned long cnnc_pool_bytes(void);")
        self._lib = self._ffi.dlopen(str(self.lib_path.resolve()))
        self._run_fn = getattr(self._lib, f"{self._m}_run_parallel")
        if manifest.get("weights_mode") == "external":
            self._load_weights(folder / f"{self._m}_weights.bin")
        most = int(manifest.get("workers", 1))
        self.threads = most if threads is None else threads
        if not (isinstance(self.threads, int) and 1 <= self.threads <= most):
            raise CnncError(f"{folder}: threads must be 1 to {most} (the workers it was compiled for), "
                            f"got {threads!r}")
        self._pool, self._par = None, self._ffi.NULL
        if self.threads > 1:
            self._pool = self._ffi.new("char[]", int(self._lib.cnnc_pool_bytes()))
            if self._lib.cnnc_pool_start(self._pool, self.threads) != 0:
                raise CnncError(f"could not start {self.threads} threads")
            self._par = self._lib.cnnc_pool_parallel(self._pool)
        # the arena: an aligned view into an over-allocated numpy buffer
        raw = np.zeros(self.arena_bytes + ALIGN, np.uint8)
        off = (-raw.ctypes.data) % ALIGN
        self._arena = raw[off:off + self.arena_bytes]

    def _load_weights(self, path: Path) -> None:
        """Read the weights file (weights="external") into aligned memory this object keeps,
        and hand it to ``<m>_load_weights``."""
        try:
            data = np.fromfile(path, np.uint8)
        except OSError as e:
            raise CnncError(f"cannot read the weights file {path}: {e.strerror}") from None
        raw = np.zeros(data.size + ALIGN, np.uint8)
        off = (-raw.ctypes.data) % ALIGN
        self._weights = raw[off:off + data.size]
        self._weights[:] = data
        self._ffi.cdef(f"int {self._m}_load_weights(const void *, size_t);")
        status = getattr(self._lib, f"{self._m}_load_weights")(self._ffi.from_buffer(self._weights), data.size)
        if status != 0:
            raise CnncError(f"{path}: {self._m}_load_weights returned status {status} (a weights file of another "
                            "build of the model?)")

    def _run(self, arrays):
        outs = [np.empty(t.shape, t.dtype) for t in self.outputs.values()]
        ptrs = [self._ffi.from_buffer(f"{ctype(a.dtype.name)}[]", a) for a in (*arrays, *outs)]
        arena = self._ffi.from_buffer(self._arena) if self.arena_bytes else self._ffi.NULL
        status = self._run_fn(*ptrs, arena, self.arena_bytes, self._par)
        if status != 0:
            raise CnncError(f"{self._m}_run returned status {status}")
        return outs

    def profile_seconds(self, calls: int) -> list[float]:
        """The per-call seconds a library built with ``-DCNNC_PROFILE`` summed so far
        (``<m>_profile_seconds``), and reset them to zero."""
        self._ffi.cdef(f"extern double {self._m}_profile_seconds[{max(calls, 1)}];", override=True)
        times = getattr(self._lib, f"{self._m}_profile_seconds")
        out = [times[i] for i in range(calls)]
        for i in range(calls):
            times[i] = 0.0
        return out

    def __del__(self):
        if getattr(self, "_pool", None) is not None:
            self._lib.cnnc_pool_stop(self._pool)
            self._pool = None


def compile_c(graph: Graph, *, out_dir: str | os.PathLike | None = None, weights: str = "auto",
              cc: str | None = None, flags=("-O2",), sanitize: tuple[str, ...] = (), cpu: str = "native",
              impl: dict | None = None, threads: int | None = None, layout: str = "auto") -> CModel:
    """Generate, build and load ``graph``.  With ``out_dir`` the model folder is kept there
    (written whole or not at all, as ``cnnc.backends.write`` does); without it the folder is
    temporary and is gone once the library is loaded.  ``threads``: the workers it runs on
    (default: this machine's cores)."""
    def make(folder: Path) -> Path:
        generate(graph, folder, weights=weights, cpu=cpu, impl=impl, threads=threads, layout=layout)
        return build_library(folder, cc=cc, flags=flags, sanitize_flags=sanitize)
    if out_dir is not None:
        with staged_folder(out_dir) as tmp:
            make(tmp)
        return CModel(out_dir)
    with tempfile.TemporaryDirectory(prefix="cnnc_c_") as tmp:
        return CModel(tmp, make(Path(tmp)))  # the loaded library outlives its file


def write_folder(graph: Graph, out_dir: str | os.PathLike, *, source: str | None = None,
                 weights: str = "auto", build: bool = False, cpu: str = "native",
                 threads: int | None = None, impl: dict | None = None, layout: str = "auto") -> tuple[Path, str]:
    """``cnnc compile --target c``: the model folder, built (library and driver) on request."""
    folder = generate(graph, out_dir, weights=weights, source=source, cpu=cpu, threads=threads, impl=impl,
                      layout=layout)
    if not build:
        return folder, ""
    lib, exe = build_library(folder), build_exe(folder)
    return folder, f"built {lib.name} and {exe.name}"
