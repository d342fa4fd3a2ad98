"""Reading an ONNX file safely.

* A missing, truncated or corrupt file is one CnncError naming the file, never a protobuf
  traceback (protobuf parses many random byte strings "successfully", so a parsed model is
  also run through ``onnx.checker``).
* External tensor data is resolved only inside the model's folder: an absolute location,
  one containing ``..``, or one whose real path (symlinks followed) leaves the folder is
  refused before anything is read.
* Model-local functions are inlined, so the importer only ever sees standard nodes.
"""
from __future__ import annotations

import os
from pathlib import Path

import onnx
import onnx.inliner
from onnx import ModelProto, TensorProto

from ..ir import LIMITS, CnncError
from ..ir.naming import comment_safe


def load_model(source: str | os.PathLike | ModelProto) -> tuple[ModelProto, str]:
    """Parse and check ``source``; returns the model and a display name for messages."""
    if isinstance(source, ModelProto):
        model, where, base = source, f"model {source.graph.name or '<unnamed>'!r}", None
    else:
        path = Path(source)
        where = str(path)
        if not path.is_file():
            raise CnncError(f"{where}: no such ONNX file")
        data = path.read_bytes()
        model = ModelProto()
        try:
            model.ParseFromString(data)
        except Exception as e:  # protobuf raises DecodeError, RuntimeWarning-ish errors, ...
            raise CnncError(f"{where}: not a valid ONNX file (protobuf parse failed: "
                            f"{type(e).__name__}); is it truncated or corrupt?") from None
        base = path.resolve().parent
    if not model.HasField("graph") or not model.opset_import:
        raise CnncError(f"{where}: not a valid ONNX model (no graph or no opset_import); is "
                        "the file truncated or corrupt?")
    _load_external_data(model, base, where)
    try:
        onnx.checker.check_model(model)
    except Exception as e:  # ValidationError, and C++ errors for badly broken models
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CnncError(f"{where}: invalid ONNX model: {first}") from None
    if model.functions:
        try:
            model = onnx.inliner.inline_local_functions(model)
        except Exception as e:
            raise CnncError(f"{where}: cannot inline model-local functions: {e}") from None
    return model, where


def _tensors(graph):
    yield from graph.initializer
    for node in graph.node:
        for a in node.attribute:
            if a.type == onnx.AttributeProto.TENSOR:
                yield a.t
            elif a.type == onnx.AttributeProto.GRAPH:
                yield from _tensors(a.g)


def _byte_count(text: str | None, default: int, key: str, where: str, name: str) -> int:
    """An external-data ``offset`` or ``length`` entry: a non-negative decimal integer."""
    if text is None or text == "":
        return default
    if not (text.isascii() and text.isdigit()):
        raise CnncError(f"{where}: tensor {name!r}: external data {key} {comment_safe(repr(text), 40)} is not a "
                        "non-negative integer")
    return int(text)


def _load_external_data(model: ModelProto, base: Path | None, where: str) -> None:
    for t in _tensors(model.graph):
        if t.data_location != TensorProto.EXTERNAL:
            continue
        info = {e.key: e.value for e in t.external_data}
        loc = info.get("location", "")
        name = comment_safe(t.name)
        if base is None:
            raise CnncError(f"{where}: tensor {t.name!r} keeps its data in an external file "
                            f"{loc!r}; load the model from its file path instead")
        if "\0" in loc:
            raise CnncError(f"{where}: tensor {name!r}: external data location {comment_safe(repr(loc))} holds a "
                            "NUL byte")
        parts = Path(loc).parts
        if not loc or Path(loc).is_absolute() or ".." in parts or loc.startswith(("/", "\\")):
            raise CnncError(f"{where}: tensor {t.name!r} has external data at {loc!r}, which "
                            "is outside the model's folder; only relative paths inside it are read")
        file = (base / loc).resolve()
        if base not in file.parents:
            raise CnncError(f"{where}: tensor {t.name!r}: external data {loc!r} resolves "
                            f"outside the model's folder")
        if not file.is_file():
            raise CnncError(f"{where}: tensor {t.name!r}: external data file {loc!r} not found")
        size = file.stat().st_size
        offset = _byte_count(info.get("offset"), 0, "offset", where, name)
        length = _byte_count(info.get("length"), max(size - offset, 0), "length", where, name)
        if offset + length > size:
            raise CnncError(f"{where}: tensor {name!r}: external data of {length} bytes at offset {offset} "
                            f"reaches past the end of {comment_safe(loc)!r} ({size} bytes)")
        if (msg := LIMITS.too_big(length, f"tensor {name!r}'s external data")) is not None:
            raise CnncError(f"{where}: {msg}")
        with open(file, "rb") as f:
            f.seek(offset)
            raw = f.read(length)
        t.raw_data = raw
        t.data_location = TensorProto.DEFAULT
        del t.external_data[:]
