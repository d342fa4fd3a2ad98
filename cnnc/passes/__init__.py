"""Layer 4: passes (pure Graph -> Graph functions with checked contracts), the pass
manager, and the plans backends consume (padding/loop plan, memory plan).

``optimize(g, level=2)`` runs the default pipeline of the level; ``passes=[...]`` names the
passes explicitly.  Each pass module registers its passes and the properties they ensure.
"""
from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Sequence
from pathlib import Path

from ..ir import CnncError, Graph
from .manager import (PASSES, PROPERTIES, Pass, PassManager, Report, check_properties,
                      get_pass, graph_bytes, graph_flops, graph_pass, graph_property)

for _m in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    if _m.name not in ("manager", "render") and not _m.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_m.name}")

#: the pipeline of each optimization level
LEVELS: dict[int, tuple[str, ...]] = {
    0: (),
    1: ("eliminate_identity", "fold_constants", "cse", "eliminate_dead_code"),
    # cse again after the passes that make new weights: fusion folds a norm into each conv's
    # weight, so convs that shared one weight (and norm) would otherwise get a copy each
    2: ("eliminate_identity", "fold_constants", "cse", "fold_pad", "resolve_pads",
        "decompose_conv_transpose", "fuse_conv_norm_act", "cse", "eliminate_dead_code"),
    3: ("eliminate_identity", "fold_constants", "cse", "fold_pad", "resolve_pads",
        "decompose_conv_transpose", "fuse_conv_norm_act", "decompose_separable", "cse", "eliminate_dead_code"),
}


def optimize(g: Graph, level: int = 2, passes: Sequence[str | Pass] | None = None, *,
             verify: bool = True, dump_ir: str | Path | None = None,
             report: bool = False) -> Graph | tuple[Graph, Report]:
    """Run the pipeline of ``level`` (or the named ``passes``) over ``g``; the input graph
    is left unchanged.  With ``report=True`` returns ``(graph, Report)``."""
    if passes is None:
        if level not in LEVELS:
            raise CnncError(f"optimization level must be one of {sorted(LEVELS)}, got {level!r}")
        passes = LEVELS[level]
    out, rep = PassManager(passes, verify=verify, dump_dir=dump_ir).run(g)
    return (out, rep) if report else out


__all__ = ["PASSES", "PROPERTIES", "LEVELS", "Pass", "PassManager", "Report", "check_properties",
           "get_pass", "graph_bytes", "graph_flops", "graph_pass", "graph_property", "optimize"]
