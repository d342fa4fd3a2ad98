"""What the C and CUDA generators share: C spellings of types and constants, the kernels
of a graph (one function per distinct kernel), the storage of every value, the template
context every model file is rendered with, and the writing of the folder
(:func:`prepare`, :func:`model_context`, :func:`write_folder_files`).

Storage follows the memory plan (``cnnc.passes.memory``): graph inputs and outputs are the
caller's buffers, weights are constant arrays (or a linked-in blob), every other value
lives at its planned offset in the caller's arena; kernel scratch goes after the planned
values.
"""
from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..ir import CnncError, Graph, Kernel, KernelRequest, UnsupportedError, Value, get_op
from ..ir.naming import comment_safe, sanitize
from ..ops._c import ctype, num
from ..passes.memory import ALIGN, plan_memory
from ..resources import runtime_dir
from ..version import __version__
from .base import write_manifest


def c_array_literal(arr: np.ndarray, per_line: int = 6) -> str:
    flat = np.asarray(arr).reshape(-1)
    dtype = "uint8" if flat.dtype == bool else flat.dtype.name
    items = [num(x, dtype) for x in flat]
    if not items:
        items = ["0"]
    return "\n".join("    " + ", ".join(items[i:i + per_line]) + "," for i in range(0, len(items), per_line))


@dataclass
class KernelFunction:
    kernel: Kernel
    name: str
    in_ctypes: list[str]
    out_ctypes: list[str]


@dataclass
class Storage:
    """C expression of every value, the weights, and the arena layout."""

    exprs: dict[Value, str] = field(default_factory=dict)
    weights: list[dict] = field(default_factory=list)
    weights_bytes: int = 0
    arena_bytes: int = 0
    scratch_offset: int = 0


def collect_kernels(g: Graph, backend: str | tuple[str, ...]) -> tuple[list[KernelFunction], list[tuple[str, KernelFunction, Kernel]]]:
    """The distinct kernels of ``g`` and, per node, which one it calls. ``backend`` is a
    kernel-hook name or a preference order of them (CUDA: ``("cuda", "c")``, the C hook's
    Kernel rendered with CUDA templates). Every op without a kernel is reported in one error."""
    prefs = (backend,) if isinstance(backend, str) else tuple(backend)
    functions: dict = {}
    names: dict[str, int] = {}
    per_node = []
    missing = []
    for n in g.nodes():
        if n.op in ("Input", "Constant"):
            continue
        kernels = get_op(n.op).kernels
        hook = next((kernels[b] for b in prefs if b in kernels), None)
        if hook is None:
            missing.append(n.op)
            continue
        ins = g.operands(n.name)
        req = KernelRequest(n, [g.type_of(v) for v in ins], list(n.types), [g.constant(v) for v in ins])
        try:
            k = hook(req)
        except CnncError as e:
            raise e.at(n.where()) from None
        if k.key not in functions:
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,200}", k.name):
                raise AssertionError(f"kernel name {k.name!r} of {n.op} is not a C identifier")
            base = k.name
            names[base] = names.get(base, 0) + 1
            fname = base if names[base] == 1 else f"{base}_v{names[base]}"
            functions[k.key] = KernelFunction(k, fname, [ctype(t.dtype) for t in req.in_types],
                                              [ctype(t.dtype) for t in n.types])
        per_node.append((n.name, functions[k.key], k))
    if missing:
        ops = sorted(set(missing))
        raise UnsupportedError(f"no {prefs[0]} kernel for op{'s' * (len(ops) > 1)} {', '.join(ops)}")
    return list(functions.values()), per_node


def kernel_context(fn: KernelFunction) -> dict:
    """What every kernel template (C or CUDA) is rendered with."""
    k = fn.kernel
    return {"k": k, "p": k.params, "name": fn.name, "n_in": len(fn.in_ctypes), "n_out": len(fn.out_ctypes),
            "in_ctypes": fn.in_ctypes, "out_ctypes": fn.out_ctypes}


def table_definitions(fn: KernelFunction, qualifiers: str = "static const") -> str:
    """The kernel's constant tables as C array definitions named ``<function>_<table>``."""
    return "".join(
        f"{qualifiers} {ctype(arr.dtype.name if arr.dtype != bool else 'bool')} {fn.name}_{tname}[{max(arr.size, 1)}] = {{\n"
        f"{c_array_literal(arr)}\n}};\n" for tname, arr in sorted(fn.kernel.tables.items()))


@dataclass
class ModelIO:
    """The graph's inputs and outputs as generated-code parameters: ``inputs``/``outputs``
    are template records (param, ctype, dtype, shape, size, comment); ``input_params`` and
    ``output_params`` map values to the parameter holding them; ``copies`` are outputs that
    no kernel writes (an input or constant, or a value already output once), copied last."""

    inputs: list[dict]
    outputs: list[dict]
    input_params: dict[Value, str]
    output_params: dict[Value, str]
    copies: list[tuple[str, Value, object]]


def model_io(graph: Graph) -> ModelIO:
    inputs, input_params = [], {}
    for v in graph.inputs:
        n = graph.node(v.node)
        t = n.types[0]
        param = f"in_{n.name}"
        input_params[v] = param
        inputs.append({"param": param, "ctype": ctype(t.dtype), "dtype": t.dtype, "shape": t.shape,
                       "size": t.size, "nbytes": t.nbytes, "comment": f"{comment_safe(n.label, 60)}: {t}"})
    outputs, output_params, copies = [], {}, []
    for i, (label, v) in enumerate(graph.outputs):
        t = graph.type_of(v)
        param = f"out{i}_{sanitize(label)}"
        outputs.append({"param": param, "ctype": ctype(t.dtype), "dtype": t.dtype, "shape": t.shape,
                        "size": t.size, "nbytes": t.nbytes, "comment": f"{comment_safe(label, 60)}: {t}"})
        producer = graph.node(v.node).op
        if v in output_params or producer in ("Input", "Constant"):
            copies.append((param, v, t))     # written by a copy after everything else
        else:
            output_params[v] = param
    return ModelIO(inputs, outputs, input_params, output_params, copies)


def call_args(graph: Graph, node_name: str, k: Kernel, st: "Storage") -> list[str]:
    """The arguments of a node's kernel call: operands, results, then scratch if any."""
    node = graph.node(node_name)
    args = [st.exprs[v] for v in graph.operands(node_name)]
    args += [st.exprs[Value(node_name, i)] for i in range(len(node.types))]
    if k.scratch_bytes:
        args.append(f"a + {st.scratch_offset}")
    return args


def call_comment(graph: Graph, node_name: str, k: Kernel) -> str:
    node = graph.node(node_name)
    return f"{node.op} {comment_safe(node.label, 40)}: {comment_safe(k.comment, 160)}"


#: with weights="auto", models with more weight bytes than this link a binary blob (a C
#: array literal costs ~20 bytes of source per float and minutes of compiler time)
AUTO_BLOB_BYTES = 8 << 20


def weights_mode(graph: Graph, weights: str) -> str:
    """The weights mode "c" or "blob" that ``weights`` ("c", "blob" or "auto") means for ``graph``."""
    if weights not in ("c", "blob", "auto"):
        raise CnncError(f"weights must be 'c', 'blob' or 'auto', got {weights!r}")
    if weights == "auto":
        total = sum(n.types[0].nbytes for n in graph.nodes() if n.op == "Constant")
        return "blob" if total > AUTO_BLOB_BYTES else "c"
    return weights


def weights_blob(st: "Storage") -> bytes:
    """All weights at their planned offsets, as one binary blob."""
    blob = bytearray(st.weights_bytes)
    for w in st.weights:
        raw = np.ascontiguousarray(w["array"]).tobytes()
        blob[w["offset"]:w["offset"] + len(raw)] = raw
    return bytes(blob)


def plan_storage(g: Graph, prefix: str, scratch_bytes: int, *, weights_mode: str,
                 input_params: dict[Value, str], output_params: dict[Value, str],
                 weights_base: str | None = None) -> Storage:
    """Every value's C expression: arena values ``(T *)(a + offset)`` from the memory plan,
    weights as their own arrays (``weights_mode="c"``) or at offsets of a blob
    (``weights_base``, default ``<prefix>_weights_blob``), inputs and outputs as the
    parameters named by ``input_params``/``output_params``."""
    st = Storage()
    blob = weights_base or f"{prefix}_weights_blob"
    plan = plan_memory(g, alignment=ALIGN)
    for v, off in plan.offsets.items():
        st.exprs[v] = f"({ctype(g.type_of(v).dtype)} *)(a + {off})"
    st.scratch_offset = -(-plan.arena_bytes // ALIGN) * ALIGN
    st.arena_bytes = st.scratch_offset + -(-scratch_bytes // ALIGN) * ALIGN
    offset = 0
    for n in g.nodes():
        if n.op != "Constant":
            continue
        arr = np.ascontiguousarray(n.attrs["value"])
        t = n.types[0]
        symbol = f"{prefix}_w_{n.name}"
        entry = {"symbol": symbol, "ctype": ctype(t.dtype), "size": max(t.size, 1), "array": arr,
                 "comment": f"{comment_safe(n.label, 60)}: {t}", "offset": offset}
        st.weights.append(entry)
        if weights_mode == "c":
            st.exprs[Value(n.name)] = symbol
        else:
            st.exprs[Value(n.name)] = f"(const {ctype(t.dtype)} *)({blob} + {offset})"
        offset += -(-max(arr.nbytes, 1) // ALIGN) * ALIGN
    st.weights_bytes = offset
    st.exprs.update(input_params)
    st.exprs.update(output_params)  # a node producing an output writes the caller's buffer
    return st


@dataclass
class Program:
    """A graph ready to render: its model name ``m``, the weights mode, its distinct kernel
    functions and the kernel of each node in order, its I/O parameters and the storage of
    every value."""

    graph: Graph
    m: str
    weights_mode: str
    functions: list[KernelFunction]
    per_node: list[tuple[str, KernelFunction, Kernel]]
    io: ModelIO
    storage: Storage

    def args(self, node_name: str, k: Kernel) -> list[str]:
        return call_args(self.graph, node_name, k, self.storage)


def prepare(graph: Graph, kernels: str | tuple[str, ...], *, weights: str, name: str | None = None,
            storage_weights: str | None = None, weights_base: str | None = None) -> Program:
    """Verify ``graph`` and plan what its generated code needs: the kernels (``kernels``:
    see :func:`collect_kernels`), the I/O and the storage (``storage_weights`` overrides
    the weights mode the storage is planned for; ``weights_base``: see :func:`plan_storage`)."""
    mode = weights_mode(graph, weights)
    graph.verify()
    m = sanitize(name or graph.name).lower()
    functions, per_node = collect_kernels(graph, kernels)
    io = model_io(graph)
    scratch = max((k.scratch_bytes for _, _, k in per_node), default=0)
    st = plan_storage(graph, m, scratch, weights_mode=storage_weights or mode, input_params=io.input_params,
                      output_params=io.output_params, weights_base=weights_base)
    return Program(graph, m, mode, functions, per_node, io, st)


def model_context(p: Program, source: str | None, templates: Iterable[str], **extra) -> dict:
    """What every model file template is rendered with (``extra`` adds the target's own)."""
    return {"m": p.m, "M": p.m.upper(), "version": __version__,
            "model": comment_safe(source or p.graph.name, 100), "weights_mode": p.weights_mode,
            "templates": sorted(set(templates)), "arena_bytes": p.storage.arena_bytes,
            "weights_bytes": p.storage.weights_bytes, "align": ALIGN, **extra}


def write_folder_files(out_dir: str | os.PathLike, p: Program, files: dict[str, str], runtime_files: Iterable[str],
                       target: str, **manifest) -> Path:
    """Write the rendered ``files`` (name -> text), the weights blob (blob mode), the
    runtime headers and the manifest into ``out_dir`` (created; files replaced)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if p.weights_mode == "blob":
        (out / f"{p.m}_weights.bin").write_bytes(weights_blob(p.storage))
    for fname, text in files.items():
        (out / fname).write_text(text)
    for f in runtime_files:
        shutil.copyfile(runtime_dir() / f, out / f)
    write_manifest(out, p.graph, target, p.m, arena_bytes=p.storage.arena_bytes, **manifest)
    return out
