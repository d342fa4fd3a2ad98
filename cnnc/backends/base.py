"""What every backend returns: a compiled model with one ``run`` API.

``run`` takes a dict of graph-input name -> array, checks names, shapes and dtypes
against the graph, and returns a dict of graph-output name -> array in graph-output order.
"""
from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from ..ir import CnncError, Graph, TensorType


class CompiledModel:
    target = "?"

    def __init__(self, name: str, inputs: Mapping[str, TensorType], outputs: Mapping[str, TensorType]):
        self.name = name
        self.inputs: dict[str, TensorType] = dict(inputs)
        self.outputs: dict[str, TensorType] = dict(outputs)

    @classmethod
    def signature_of(cls, graph: Graph) -> tuple[str, dict, dict]:
        return graph.name, graph.input_types(), graph.output_types()

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        arrays = self.check_feeds(feeds)
        results = self._run(arrays)
        return dict(zip(self.outputs, results))

    def __call__(self, *args, **feeds) -> dict[str, np.ndarray]:
        if args:
            if len(args) != len(self.inputs) or feeds:
                raise CnncError(f"pass the {len(self.inputs)} input(s) "
                                f"{', '.join(self.inputs)} positionally or by name")
            feeds = dict(zip(self.inputs, args))
        return self.run(feeds)

    def check_feeds(self, feeds: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        missing = [n for n in self.inputs if n not in feeds]
        unknown = [n for n in feeds if n not in self.inputs]
        if missing or unknown:
            raise CnncError(f"model {self.name!r} takes inputs "
                            f"{', '.join(repr(n) for n in self.inputs)}"
                            + (f"; missing {', '.join(map(repr, missing))}" if missing else "")
                            + (f"; unknown {', '.join(map(repr, unknown))}" if unknown else ""))
        arrays = []
        for name, t in self.inputs.items():
            a = np.asarray(feeds[name])
            if a.shape != t.shape or a.dtype.name != t.dtype:
                raise CnncError(f"input {name!r} must be {t.dtype}{list(t.shape)}, got "
                                f"{a.dtype.name}{list(a.shape)}")
            arrays.append(np.require(a, requirements="C"))  # keeps 0-d arrays 0-d
        return arrays

    def _run(self, arrays: Sequence[np.ndarray]) -> list[np.ndarray]:
        raise NotImplementedError


#: a model folder's description for loaders (`cnnc run DIR`): JSON, names as data only
MANIFEST = "cnnc_manifest.json"


def write_manifest(folder: str | os.PathLike, graph: Graph, target: str, model: str, **extra) -> Path:
    """Write ``cnnc_manifest.json``: the model's name, its target, and every input and
    output (name, dtype, shape) in order, plus ``extra`` target-specific entries."""
    manifest = {"model": model, "target": target, **extra,
                "inputs": [{"name": n, "dtype": t.dtype, "shape": list(t.shape)}
                           for n, t in graph.input_types().items()],
                "outputs": [{"name": n, "dtype": t.dtype, "shape": list(t.shape)}
                            for n, t in graph.output_types().items()]}
    path = Path(folder) / MANIFEST
    path.write_text(json.dumps(manifest, indent=1, ensure_ascii=True) + "\n")
    return path


def read_manifest(folder: str | os.PathLike, target: str | None = None) -> tuple[dict, dict, dict]:
    """The manifest of a model folder and its input and output types; with ``target``,
    the folder must have been written for that target."""
    folder = Path(folder)
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
        types = {k: {io["name"]: TensorType(tuple(io["shape"]), io["dtype"]) for io in manifest[k]}
                 for k in ("inputs", "outputs")}
        str(manifest["model"]), str(manifest["target"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise CnncError(f"{folder}: not a cnnc model folder ({MANIFEST}: {e})") from None
    if target is not None and manifest["target"] != target:
        raise CnncError(f"{folder}: a model folder for target {manifest['target']!r}, not {target!r}")
    return manifest, types["inputs"], types["outputs"]
