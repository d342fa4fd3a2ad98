"""Layer 6: backends. ``compile(graph, target)`` picks one by name; ``write`` writes a
target's model folder and ``load`` loads any written folder by its manifest.

Each target is one :class:`Target` record: where its compile, write and load live, and the
options it takes with their help (the CLI's ``cnnc compile`` flags are made from them).  An
option a target does not take is a CnncError naming the options it does take.
"""
from __future__ import annotations

import argparse
import importlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..ir import CnncError, Graph
from .base import CompiledModel, read_manifest, staged_folder


@dataclass(frozen=True)
class Option:
    """One option of a target.  ``compile``/``write``: whether ``cnnc.compile`` /
    ``write`` (``cnnc compile -o DIR``, as the flag ``--NAME``) take it; ``choices``,
    ``type``, ``flag`` (a CLI switch) and ``metavar`` shape the CLI flag."""

    help: str
    choices: tuple[str, ...] | None = None
    type: type | None = None
    flag: bool = False
    metavar: str | None = None
    compile: bool = True
    write: bool = True


WEIGHTS = Option("weights as C arrays, as a linked-in binary blob, external (c: <m>_weights.bin read by the program "
                 "and handed to <m>_load_weights), or auto (the default: blob above 8 MB)",
                 choices=("auto", "c", "blob", "external"))
BUILD = Option("also build the library and the standalone driver (the tvm targets always build)", flag=True,
               compile=False)
ARCH = Option("GPU architecture, e.g. sm_80 or sm_90", metavar="SM")
DB = Option("apply this MetaSchedule database (`cnnc tune`)", metavar="DIR")
OUT_DIR = Option("the model folder to generate and build in (default: a temporary one)", write=False)
CPU = Option("the CPU to build for: native (the default: this machine's), x86-64-v3 (AVX2), x86-64-v4 (AVX-512), "
             "armv8-a (NEON) or generic (plain C99); tvm also takes any LLVM CPU name (znver3, skylake-avx512, ...)",
             metavar="CPU")
def parse_impl(text: str) -> dict[str, str]:
    """``--impl Conv=gemm_padded,Gemm=gemm`` as ``{"Conv": "gemm_padded", "Gemm": "gemm"}``."""
    out = {}
    for item in filter(None, (t.strip() for t in text.split(","))):
        op, eq, name = item.partition("=")
        if not eq or not op.strip() or not name.strip():
            raise argparse.ArgumentTypeError(f"wants OP=NAME[,OP=NAME...] (e.g. Conv=gemm); got {item!r}")
        out[op.strip()] = name.strip()
    return out


IMPL = Option("force an implementation per op, e.g. {'Conv': 'gemm'} (CLI: Conv=gemm,Gemm=...; a Conv entry "
              "also applies to FusedConv)", type=parse_impl, metavar="OP=NAME,...")


LAYOUT = Option("the layout pass: auto (the default: channel-blocked NCHW<lanes>c regions where the cost model "
                "says they gain; on tvm every region, whose blocked convs its CPU rules tile), nchwc (every region "
                "that can be blocked) or nchw (none)",
                choices=("auto", "nchwc", "nchw"))
THREADS = Option("the most worker threads the model runs on (default: this machine's cores; 1: serial)",
                 metavar="N", type=int)


@dataclass(frozen=True)
class Target:
    """A target: ``module``'s function ``compile(graph, **options) -> CompiledModel``, its
    function ``write(graph, out_dir, *, source, **options) -> (folder, what was built)``
    and its CompiledModel class ``load(folder)`` (both ``None`` for a target without a
    model folder), and the ``options`` it takes."""

    name: str
    module: str
    compile: str
    write: str | None = None
    load: str | None = None
    options: Mapping[str, Option] = field(default_factory=dict)
    doc: str = ""

    def function(self, attr: str):
        return getattr(importlib.import_module(self.module), attr)

    def check_options(self, given, use: str) -> None:
        taken = [n for n, o in self.options.items() if getattr(o, use)]
        unknown = [n for n in given if n not in taken]
        if unknown:
            raise CnncError(f"target {self.name!r} takes no option {', '.join(map(repr, unknown))}"
                            f"{' for its model folder' if use == 'write' else ''}; it takes "
                            f"{', '.join(map(repr, taken)) or 'none'}")


TARGETS: dict[str, Target] = {t.name: t for t in (
    Target("reference", "cnnc.backends.reference", "compile_reference", doc="the numpy interpreter (the oracle)"),
    Target("c", "cnnc.backends.c", "compile_c", "write_folder", "CModel", options={
        "weights": WEIGHTS, "build": BUILD, "cpu": CPU, "threads": THREADS,
        "impl": IMPL, "layout": LAYOUT, "out_dir": OUT_DIR,
        "cc": Option("the C compiler (default $CC, else cc)", write=False),
        "flags": Option("the compiler's optimization flags (default -O2)", write=False),
        "sanitize": Option("sanitizer flags to build with (-fsanitize=...)", write=False)},
        doc="plain C99 built with the system C compiler, loaded through cffi"),
    Target("cuda", "cnnc.backends.cuda", "compile_cuda", "write_folder", "CudaModel", options={
        "weights": WEIGHTS, "build": BUILD, "arch": ARCH, "impl": IMPL, "out_dir": OUT_DIR,
        "exe": Option("build the shared library and the standalone executable <model>_main with nvcc "
                      "(no GPU needed to build)", flag=True, compile=False),
        "precision": Option("fp32 (the default), or tf32: conv/GEMM operands rounded to TF32 (10-bit mantissa) "
                            "with fp32 accumulation", choices=("fp32", "tf32")),
        "emulate": Option("build with g++ against the CPU emulator instead of nvcc (no GPU)", write=False)},
        doc="CUDA source built with nvcc"),
    Target("tvm", "cnnc.backends.tvm", "compile_tvm", "write_folder", "TVMModel", options={
        "cpu": CPU, "db": DB, "build": BUILD, "threads": THREADS, "layout": LAYOUT},
        doc="a TVM Relax module built by LLVM for the CPU"),
    Target("tvm-cuda", "cnnc.backends.tvm", "compile_tvm_cuda", "write_folder_cuda", "TVMModel", options={
        "arch": ARCH, "db": DB, "build": BUILD},
        doc="a TVM Relax module built for CUDA with DLight schedules"),
)}


def op_targets(op) -> list[str]:
    """The targets that can compile ``op`` (an OpDef): every op runs on the reference; C needs
    its C kernel hook, CUDA a CUDA hook or a C hook with a portable entry (rendered with the
    CUDA templates), TVM its lowering rule."""
    c = op.kernels.get("c")
    portable = callable(c) or any(getattr(e, "portable", False) for e in (c or ()))
    has = {"reference": True, "c": c is not None, "cuda": "cuda" in op.kernels or (c is not None and portable),
           "tvm": op.tvm is not None, "tvm-cuda": op.tvm is not None}
    return [t for t in TARGETS if has.get(t, False)]


def _target(name: str, what: str = "") -> Target:
    try:
        return TARGETS[name]
    except (KeyError, TypeError):
        raise CnncError(f"unknown target {name!r}{what}; available: {', '.join(TARGETS)}") from None


def compile(graph: Graph, target: str = "reference", **options) -> CompiledModel:  # noqa: A001
    """Compile ``graph`` for ``target``; the result's ``run({...})`` executes it."""
    if not isinstance(graph, Graph):
        raise CnncError(f"cnnc.compile expects a cnnc.Graph, got {type(graph).__name__}")
    t = _target(target, " for cnnc.compile")
    t.check_options(options, "compile")
    return t.function(t.compile)(graph, **options)


def write(graph: Graph, target: str, out_dir: str | os.PathLike, *, source: str | None = None, force: bool = False,
          **options):
    """Write ``graph``'s model folder for ``target`` (``source``: the model file named in its
    comments); returns ``(folder, what was built)``.  The folder appears whole or not at all
    (``base.staged_folder``): an earlier cnnc model folder there is replaced, a folder of other
    files is refused unless ``force``."""
    t = _target(target)
    if t.write is None:
        raise CnncError(f"target {target!r} writes no model folder")
    t.check_options(options, "write")
    with staged_folder(out_dir, force=force) as tmp:
        try:
            _, built = t.function(t.write)(graph, tmp, source=source, **options)
        except CnncError as e:  # name the folder asked for, not the staging one
            raise CnncError(str(e).replace(str(tmp), str(out_dir))) from None
    return Path(out_dir), built


def load(folder: str | os.PathLike) -> CompiledModel:
    """Load a model folder written by ``write`` (and built), whatever its target."""
    kind = read_manifest(folder)[0]["target"]
    t = _target(kind, " in the folder's manifest")
    if t.load is None:
        raise CnncError(f"{folder}: target {kind!r} has no model folder to load")
    return t.function(t.load)(folder)


__all__ = ["compile", "write", "load", "op_targets", "CompiledModel", "Option", "Target", "TARGETS"]
