"""Layer 6: backends. ``compile(graph, target)`` picks one by name."""
from __future__ import annotations

import importlib

from ..ir import CnncError, Graph
from .base import CompiledModel

#: target name -> "module:function" building a CompiledModel from a Graph
TARGETS = {
    "reference": "cnnc.backends.reference:compile_reference",
    "c": "cnnc.backends.c:compile_c",
}


def compile(graph: Graph, target: str = "reference", **options) -> CompiledModel:  # noqa: A001
    """Compile ``graph`` for ``target``; the result's ``run({...})`` executes it."""
    if not isinstance(graph, Graph):
        raise CnncError(f"cnnc.compile expects a cnnc.Graph, got {type(graph).__name__}")
    try:
        spec = TARGETS[target]
    except KeyError:
        raise CnncError(f"unknown target {target!r}; available: {', '.join(TARGETS)}") from None
    module, func = spec.split(":")
    return getattr(importlib.import_module(module), func)(graph, **options)


__all__ = ["compile", "CompiledModel", "TARGETS"]
