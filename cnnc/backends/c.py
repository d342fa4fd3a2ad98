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

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from ..ir import CnncError, Graph
from ..ir.naming import comment_safe, sanitize
from ..resources import runtime_dir, template_env
from ..version import __version__
from .base import CompiledModel, read_manifest, write_manifest
from .codegen import (c_array_literal, call_args, call_comment, collect_kernels, ctype, kernel_context,
                      model_io, plan_storage, table_definitions, weights_blob, weights_mode)

RUNTIME_FILES = ("cnnc_status.h", "cnnc_runtime.h")
WARNINGS = ("-Wall", "-Wextra", "-Werror")


def _render_kernel(env, fn) -> str:
    k = fn.kernel
    params = [f"const {t} *x{i}" for i, t in enumerate(fn.in_ctypes)]
    params += [f"{t} *y{i}" for i, t in enumerate(fn.out_ctypes)]
    if k.scratch_bytes:
        params.append("unsigned char *scratch")
    body = env.get_template(k.template).render(kernel_context(fn))
    unused = "".join(f"    (void){p.split('*')[-1]};\n" for p in params)
    return (f"/* {comment_safe(k.comment or k.name, 100)} (template {k.template}) */\n{table_definitions(fn)}"
            f"static void {fn.name}({', '.join(params)})\n{{\n{unused}{body.rstrip()}\n}}\n")


def generate(graph: Graph, out_dir: str | os.PathLike, *, weights: str = "auto",
             name: str | None = None, source: str | None = None) -> Path:
    """Write the model folder for ``graph`` into ``out_dir`` (created; files replaced).
    ``weights`` is "c" (exact hex-float arrays in the source), "blob" (a linked-in
    binary file) or "auto" (C arrays up to AUTO_BLOB_BYTES)."""
    weights = weights_mode(graph, weights)
    graph.verify()
    m = sanitize(name or graph.name).lower()
    env = template_env()
    functions, per_node = collect_kernels(graph, "c")

    io = model_io(graph)
    inputs, outputs, copies = io.inputs, io.outputs, io.copies
    scratch = max((k.scratch_bytes for _, _, k in per_node), default=0)
    st = plan_storage(graph, m, scratch, weights_mode=weights, input_params=io.input_params,
                      output_params=io.output_params)

    calls = []
    for node_name, fn, k in per_node:
        calls.append({"comment": call_comment(graph, node_name, k),
                       "code": f"{fn.name}({', '.join(call_args(graph, node_name, k, st))});"})
    for param, v, t in copies:
        calls.append({"comment": f"output {param} is a copy of {st.exprs[v] if v in st.exprs else v}",
                      "code": f"memcpy({param}, {st.exprs[v]}, {t.nbytes});"})

    weights_list = [{**w, "literal": c_array_literal(w["array"])} for w in st.weights] if weights == "c" else []
    ctx = {"m": m, "M": m.upper(), "version": __version__,
           "model": comment_safe(source or graph.name, 100), "weights_mode": weights,
           "templates": sorted({"c/model.c.j2", "c/model.h.j2"} | {f.kernel.template for f in functions}),
           "arena_bytes": st.arena_bytes, "inputs": inputs, "outputs": outputs,
           "weights": weights_list, "weights_bytes": st.weights_bytes,
           "kernels": [{"source": _render_kernel(env, f)} for f in functions], "calls": calls,
           "sources": [f"{m}.c"]}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = {f"{m}.h": env.get_template("c/model.h.j2").render(ctx),
             f"{m}.c": env.get_template("c/model.c.j2").render(ctx),
             f"{m}_main.c": env.get_template("c/main.c.j2").render(ctx),
             "Makefile": env.get_template("c/Makefile.j2").render(ctx),
             "CMakeLists.txt": env.get_template("c/CMakeLists.txt.j2").render(ctx)}
    if weights == "blob":
        files[f"{m}_weights.S"] = env.get_template("c/weights.S.j2").render(ctx)
        (out / f"{m}_weights.bin").write_bytes(weights_blob(st))
    for fname, text in files.items():
        (out / fname).write_text(text)
    for f in RUNTIME_FILES:
        shutil.copyfile(runtime_dir() / f, out / f)
    write_manifest(out, graph, "c", m, arena_bytes=st.arena_bytes)
    return out


def build(folder: str | os.PathLike, *, cc: str | None = None, flags=("-O2",),
          sanitize_flags: tuple[str, ...] = ()) -> Path:
    """Compile the folder's sources into ``lib<m>.so``; a compiler error is one CnncError
    quoting the compiler's messages (file:line)."""
    folder = Path(folder)
    (header,) = [p for p in folder.glob("*.h") if not p.name.startswith("cnnc_")]
    m = header.stem
    cc = cc or os.environ.get("CC", "cc")
    srcs = [f"{m}.c"] + ([f"{m}_weights.S"] if (folder / f"{m}_weights.S").exists() else [])
    lib = folder / f"lib{m}.so"
    cmd = [cc, "-std=c99", *WARNINGS, *flags, *sanitize_flags, "-fPIC", "-shared", "-o",
           lib.name, *srcs, "-lm"]
    res = subprocess.run(cmd, cwd=folder, capture_output=True, text=True)
    if res.returncode != 0:
        msgs = "\n".join(ln for ln in res.stderr.splitlines() if "error" in ln or "warning" in ln)
        raise CnncError(f"the C compiler failed on the generated code in {folder}:\n"
                        f"{msgs or res.stderr.strip()}")
    return lib


_build_library = build  # for write_folder, whose ``build`` flag shadows the function


def build_exe(folder: str | os.PathLike, *, cc: str | None = None, flags=("-O2",),
              sanitize_flags: tuple[str, ...] = ()) -> Path:
    """Compile the standalone driver ``<m>_main`` (raw files in, raw files out)."""
    folder = Path(folder)
    m = read_manifest(folder)[0]["model"]
    srcs = [f"{m}_main.c", f"{m}.c"] + ([f"{m}_weights.S"] if (folder / f"{m}_weights.S").exists() else [])
    cmd = [cc or os.environ.get("CC", "cc"), "-std=c99", *WARNINGS, *flags, *sanitize_flags,
           "-o", f"{m}_main", *srcs, "-lm"]
    res = subprocess.run(cmd, cwd=folder, capture_output=True, text=True)
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
        res = subprocess.run([str(exe), *args], capture_output=True, text=True, env=env)
        if res.returncode != 0:
            raise CnncError(f"{exe} failed (exit {res.returncode}):\n{res.stderr[-4000:]}")
        return [np.fromfile(tmp / f"out{i}.bin", dtype=t.dtype).reshape(t.shape)
                for i, t in enumerate(outputs)]


class CModel(CompiledModel):
    """A built model folder loaded through cffi; ``run`` is the same as every backend's."""

    target = "c"

    def __init__(self, folder: str | os.PathLike, lib: Path | None = None):
        """Load a built model folder (``lib<m>.so`` beside its ``cnnc_manifest.json``)."""
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
        self._ffi.cdef(f"int {self._m}_run({', '.join(ins + outs + ['void *', 'size_t'])});")
        self._lib = self._ffi.dlopen(str(self.lib_path.resolve()))
        self._run_fn = getattr(self._lib, f"{self._m}_run")
        # the arena: an aligned view into an over-allocated numpy buffer
        raw = np.zeros(self.arena_bytes + 64, np.uint8)
        off = (-raw.ctypes.data) % 64
        self._arena = raw[off:off + self.arena_bytes]

    def _run(self, arrays):
        outs = [np.empty(t.shape, t.dtype) for t in self.outputs.values()]
        ptrs = [self._ffi.from_buffer(f"{ctype(a.dtype.name)}[]", a) for a in (*arrays, *outs)]
        arena = self._ffi.from_buffer(self._arena) if self.arena_bytes else self._ffi.NULL
        status = self._run_fn(*ptrs, arena, self.arena_bytes)
        if status != 0:
            raise CnncError(f"{self._m}_run returned status {status}")
        return outs


def compile_c(graph: Graph, *, out_dir: str | os.PathLike | None = None, weights: str = "auto",
              cc: str | None = None, flags=("-O2",), sanitize: tuple[str, ...] = ()) -> CModel:
    """Generate, build and load ``graph``; without ``out_dir`` a temporary folder is used."""
    folder = Path(out_dir) if out_dir is not None else Path(tempfile.mkdtemp(prefix="cnnc_c_"))
    generate(graph, folder, weights=weights)
    return CModel(folder, build(folder, cc=cc, flags=flags, sanitize_flags=sanitize))


def write_folder(graph: Graph, out_dir: str | os.PathLike, *, source: str | None = None,
                 weights: str = "auto", build: bool = False, **_) -> tuple[Path, str]:
    """``cnnc compile --target c``: the model folder, built (library and driver) on request."""
    folder = generate(graph, out_dir, weights=weights, source=source)
    if not build:
        return folder, ""
    lib, exe = _build_library(folder), build_exe(folder)
    return folder, f"built {lib.name} and {exe.name}"
