"""What every backend returns: a compiled model with one ``run`` API.

``run`` takes a dict of graph-input name -> array, checks names, shapes and dtypes
against the graph, and returns a dict of graph-output name -> array in graph-output order.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
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


def default_threads() -> int:
    """The default worker count of the c and tvm targets: this machine's cores."""
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def check_threads(threads) -> int:
    """``threads`` (None: :func:`default_threads`) checked: an int from 1 to 64."""
    if threads is None:
        return default_threads()
    if isinstance(threads, bool) or not isinstance(threads, int) or not 1 <= threads <= 64:
        raise CnncError(f"threads must be an int from 1 to 64, got {threads!r}")
    return threads


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


def _folder_state(out: Path, force: bool) -> str:
    """What ``out`` is before a model folder is written there: "absent", "empty", "model" (an
    earlier cnnc model folder: it has a manifest) or "forced" (a folder of other files,
    written into only with ``force``); anything else is a CnncError."""
    if not out.exists() and not out.is_symlink():
        return "absent"
    if not out.is_dir() or out.is_symlink():
        raise CnncError(f"{out}: exists and is not a folder; give -o a folder path")
    entries = list(out.iterdir())
    if not entries:
        return "empty"
    if (out / MANIFEST).is_file():
        return "model"
    if force:
        return "forced"
    shown = ", ".join(sorted(e.name for e in entries)[:5]) + (", ..." if len(entries) > 5 else "")
    raise CnncError(f"{out}: the folder is not empty ({shown}) and is not a cnnc model folder (it has no "
                    f"{MANIFEST}); cnnc does not write over other files: choose an empty or new folder, "
                    "or pass --force (Python: force=True) to write into it, replacing files of the same names")


@contextmanager
def staged_folder(out_dir: str | os.PathLike, *, force: bool = False) -> Iterator[Path]:
    """Write a model folder atomically.  Yields a new empty folder beside ``out_dir`` (on the
    same file system) to write into; when the block succeeds it becomes ``out_dir``, and on any
    error or interrupt (KeyboardInterrupt included) it is removed, leaving ``out_dir`` as it was.

    ``out_dir`` may be absent, empty, or an earlier cnnc model folder (one with a manifest),
    which is replaced as a whole; a folder of other files is refused unless ``force``, which
    moves the new files into it, replacing files of the same names and keeping the others."""
    out = Path(out_dir).absolute()
    state = _folder_state(out, force)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.cnnc-", dir=out.parent))
    try:
        yield tmp
        if state == "forced":
            for entry in sorted(tmp.iterdir()):
                dest = out / entry.name
                if dest.is_dir() and not dest.is_symlink():
                    shutil.rmtree(dest)
                os.replace(entry, dest)
            tmp.rmdir()
            return
        if state == "empty":
            out.rmdir()
        if state != "model":
            os.replace(tmp, out)
            return
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.cnnc-old-", dir=out.parent))
        try:
            os.replace(out, old / "folder")
            try:
                os.replace(tmp, out)
            except BaseException:
                os.replace(old / "folder", out)
                raise
        finally:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
