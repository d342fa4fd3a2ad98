"""Layer 6: backends. ``compile(graph, target)`` picks one by name; ``write`` writes a
target's model folder and ``load`` loads any written folder by its manifest."""
from __future__ import annotations

import importlib
import os

from ..ir import CnncError, Graph
from .base import CompiledModel, read_manifest

#: target name -> "module:function" building a CompiledModel from a Graph
TARGETS = {
    "reference": "cnnc.backends.reference:compile_reference",
    "c": "cnnc.backends.c:compile_c",
    "cuda": "cnnc.backends.cuda:compile_cuda",
    "tvm": "cnnc.backends.tvm:compile_tvm",
    "tvm-cuda": "cnnc.backends.tvm:compile_tvm_cuda",
}

#: target -> "module:function" writing a model folder: ``(graph, out_dir, *, source, build,
#: **options) -> (folder, what was built)``; options a writer does not take are ignored
WRITERS = {
    "c": "cnnc.backends.c:write_folder",
    "cuda": "cnnc.backends.cuda:write_folder",
    "tvm": "cnnc.backends.tvm:write_folder",
    "tvm-cuda": "cnnc.backends.tvm:write_folder_cuda",
}

#: the manifest's target -> "module:class" loading a written (and built) folder
LOADERS = {
    "c": "cnnc.backends.c:CModel",
    "cuda": "cnnc.backends.cuda:CudaModel",
    "tvm": "cnnc.backends.tvm:TVMModel",
    "tvm-cuda": "cnnc.backends.tvm:TVMModel",
}


def _resolve(table: dict, target: str, what: str):
    try:
        spec = table[target]
    except KeyError:
        raise CnncError(f"unknown target {target!r} {what}; available: {', '.join(table)}") from None
    module, attr = spec.split(":")
    return getattr(importlib.import_module(module), attr)


def compile(graph: Graph, target: str = "reference", **options) -> CompiledModel:  # noqa: A001
    """Compile ``graph`` for ``target``; the result's ``run({...})`` executes it."""
    if not isinstance(graph, Graph):
        raise CnncError(f"cnnc.compile expects a cnnc.Graph, got {type(graph).__name__}")
    return _resolve(TARGETS, target, "for cnnc.compile")(graph, **options)


def write(graph: Graph, target: str, out_dir: str | os.PathLike, **options):
    """Write ``graph``'s model folder for ``target``; returns ``(folder, what was built)``."""
    return _resolve(WRITERS, target, "with a model folder")(graph, out_dir, **options)


def load(folder: str | os.PathLike) -> CompiledModel:
    """Load a model folder written by ``write`` (and built), whatever its target."""
    manifest = read_manifest(folder)[0]
    return _resolve(LOADERS, manifest["target"], "in the folder's manifest")(folder)


__all__ = ["compile", "write", "load", "CompiledModel", "TARGETS", "WRITERS", "LOADERS"]
