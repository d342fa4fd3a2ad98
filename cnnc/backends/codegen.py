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

from ..ir import (GENERIC, CnncError, Graph, Impl, Isa, Kernel, KernelRequest, TensorType, UnsupportedError, Value,
                  all_ops, get_op)
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


@dataclass(frozen=True)
class Helper:
    """A function kernels call (a microkernel), rendered once per model."""

    template: str
    name: str
    params: dict


def _choose(table, req: KernelRequest, forced: str | None, portable_only: bool) -> Impl:
    """The implementation of ``table`` for ``req``: ``forced`` if given, else the cheapest
    that applies (ties: the first)."""
    entries = [i for i in table if i.portable or not portable_only]
    names = ", ".join(i.name for i in entries)
    if forced is not None:
        impl = next((i for i in entries if i.name == forced), None)
        if impl is None:
            raise CnncError(f"{req.node.op} has no implementation {forced!r} here; it has {names}")
        if not impl.applies(req):
            raise CnncError(f"implementation {forced!r} of {req.node.op} does not apply to this node "
                            f"({', '.join(map(str, req.in_types))})")
        return impl
    usable = [i for i in entries if i.applies(req)]
    if not usable:
        raise UnsupportedError(f"no implementation of {req.node.op} applies ({names} do not)")
    return min(usable, key=lambda i: i.cost(req))


@dataclass
class Storage:
    """C expression of every value, the weights, and the arena layout."""

    exprs: dict[Value, str] = field(default_factory=dict)
    packed: dict[tuple[str, int], str] = field(default_factory=dict)
    weights: list[dict] = field(default_factory=list)
    weights_bytes: int = 0
    arena_bytes: int = 0
    scratch_offset: int = 0


def check_impl(impl) -> dict[str, str]:
    """``impl``: op name -> implementation name (``cnnc.compile(..., impl={"Conv": "gemm"})``)."""
    if impl is None:
        return {}
    if not isinstance(impl, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in impl.items()):
        raise CnncError(f"impl must map op names to implementation names, e.g. {{'Conv': 'gemm'}}; got {impl!r}")
    for op in impl:
        get_op(op)  # an unknown op is an error
    return impl


def forced_ops(impl) -> frozenset[str]:
    """The ops an ``impl`` forces an implementation of (a Conv entry also forces the other
    conv ops): the layout pass keeps their nodes as they are."""
    impl = check_impl(impl)
    return frozenset(n for n, op in all_ops().items() if n in impl or (op.conv and "Conv" in impl))


def collect_kernels(g: Graph, backend: str | tuple[str, ...], *, isa: Isa = GENERIC, impl: dict | None = None,
                    portable_only: bool = False, workers: int = 1) -> tuple[list[KernelFunction], list[tuple[str, KernelFunction, Kernel]]]:
    """The distinct kernels of ``g`` and, per node, which one it calls. ``backend`` is a
    kernel-hook name or a preference order of them (CUDA: ``("cuda", "c")``, the C hook's
    Kernel rendered with CUDA templates, ``portable_only``: of the implementation-table
    entries only those with CUDA templates).  A hook that is an implementation table is
    planned by its cheapest applicable entry for ``isa``, or the one ``impl`` names for the
    op.  Every op without a kernel is reported in one error."""
    prefs = (backend,) if isinstance(backend, str) else tuple(backend)
    impl = check_impl(impl)
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
        req = KernelRequest(n, [g.type_of(v) for v in ins], list(n.types), [g.constant(v) for v in ins], isa,
                            workers)
        try:
            if callable(hook):
                if impl.get(n.op) not in (None, "default"):
                    raise CnncError(f"{n.op} has one implementation here (default); impl= names {impl[n.op]!r}")
                k = hook(req)
            else:
                forced = impl.get(n.op) or (impl.get("Conv") if get_op(n.op).conv else None)
                k = _choose(hook, req, forced, portable_only).plan(req)
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


def collect_helpers(functions: list[KernelFunction]) -> list[Helper]:
    """The distinct helpers the kernels call, in first-use order (one name, one definition)."""
    out: dict[str, Helper] = {}
    for fn in functions:
        for template, name, params in fn.kernel.helpers:
            h = Helper(template, name, dict(params))
            if out.setdefault(name, h) != h:
                raise AssertionError(f"helper {name} planned with two parameter sets")
    return list(out.values())


def helper_context(h: Helper) -> dict:
    return {"p": h.params, "name": h.name}


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


def npy_descr(dtype: str) -> str:
    """numpy's little-endian .npy type string of ``dtype`` (``<f4``, ``|b1``): the drivers
    check and write them."""
    return np.dtype(dtype).newbyteorder("<").str


def c_string(text: str) -> str:
    """``text`` as a C string literal that any compiler takes: printable ASCII as itself
    (but for ``"``, ``\\`` and ``?``, against trigraphs), everything else as octal escapes
    of its UTF-8 bytes."""
    out = []
    for b in text.encode("utf-8"):
        c = chr(b)
        out.append(c if 0x20 <= b < 0x7F and c not in '"\\?' else f"\\{b:03o}")
    return '"' + "".join(out) + '"'


def model_io(graph: Graph) -> ModelIO:
    inputs, input_params = [], {}
    for v in graph.inputs:
        n = graph.node(v.node)
        t = n.types[0]
        param = f"in_{n.name}"
        input_params[v] = param
        inputs.append({"param": param, "ctype": ctype(t.dtype), "dtype": t.dtype, "shape": t.shape,
                       "size": t.size, "nbytes": t.nbytes, "comment": f"{comment_safe(n.label, 60)}: {t}",
                       "name": c_string(n.label), "descr": npy_descr(t.dtype)})
    outputs, output_params, copies = [], {}, []
    for i, (label, v) in enumerate(graph.outputs):
        t = graph.type_of(v)
        param = f"out{i}_{sanitize(label)}"
        outputs.append({"param": param, "ctype": ctype(t.dtype), "dtype": t.dtype, "shape": t.shape,
                        "size": t.size, "nbytes": t.nbytes, "comment": f"{comment_safe(label, 60)}: {t}",
                        "name": c_string(label), "descr": npy_descr(t.dtype)})
        producer = graph.node(v.node).op
        if v in output_params or producer in ("Input", "Constant"):
            copies.append((param, v, t))     # written by a copy after everything else
        else:
            output_params[v] = param
    return ModelIO(inputs, outputs, input_params, output_params, copies)


def call_args(graph: Graph, node_name: str, k: Kernel, st: "Storage") -> list[str]:
    """The arguments of a node's kernel call: operands (a packed constant in place of the
    operand it replaces), results, then scratch if any."""
    node = graph.node(node_name)
    args = [st.packed.get((node_name, i)) or st.exprs[v] for i, v in enumerate(graph.operands(node_name))]
    args += [st.exprs[Value(node_name, i)] for i in range(len(node.types))]
    if k.scratch_bytes:
        args.append(f"a + {st.scratch_offset}")
    if k.parallel:
        args.append("par")
    return args


def call_comment(graph: Graph, node_name: str, k: Kernel) -> str:
    node = graph.node(node_name)
    return f"{node.op} {comment_safe(node.label, 40)}: {comment_safe(k.comment, 160)}"


#: with weights="auto", models with more weight bytes than this link a binary blob: a C
#: array literal costs ~20 bytes of source per float, its Python formatting and the
#: compiler's parse (light SqueezeNet, 4.8 MB of weights, packed to 2.9 M floats: 18 s to
#: build with C arrays, 3.4 s with the blob, gcc 12 on a Zen 3 core)
AUTO_BLOB_BYTES = 1 << 20


#: how a model folder holds its weights: C arrays in the source, a blob linked in by
#: .incbin, a blob file the program reads and hands to <m>_load_weights (C only), or auto
WEIGHT_MODES = ("auto", "c", "blob", "external")


def weights_mode(graph: Graph, weights: str) -> str:
    """The weights mode "c", "blob" or "external" that ``weights`` (one of WEIGHT_MODES)
    means for ``graph``."""
    if weights not in WEIGHT_MODES:
        raise CnncError(f"weights must be one of {', '.join(map(repr, WEIGHT_MODES))}, got {weights!r}")
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
                 weights_base: str | None = None, per_node=(), concat_slices: bool = False) -> Storage:
    """Every value's C expression: arena values ``(T *)(a + offset)`` from the memory plan,
    weights as their own arrays (``weights_mode="c"``) or at offsets of a blob
    (``weights_base``, default ``<prefix>_weights_blob``), inputs and outputs as the
    parameters named by ``input_params``/``output_params``.  The kernels of ``per_node``
    (``collect_kernels``) may replace a constant operand by a packed array
    (``Kernel.packed``): that array is a weight of its own, and a constant no call reads
    any more is left out.  ``concat_slices``: Concats written in place by their producers
    (the C kernels; see ``passes.memory``)."""
    st = Storage()
    blob = weights_base or f"{prefix}_weights_blob"
    plan = plan_memory(g, alignment=ALIGN, concat_slices=concat_slices)
    for v, off in plan.offsets.items():
        st.exprs[v] = f"({ctype(g.type_of(v).dtype)} *)(a + {off})"
    st.scratch_offset = -(-plan.arena_bytes // ALIGN) * ALIGN
    st.arena_bytes = st.scratch_offset + -(-scratch_bytes // ALIGN) * ALIGN
    replaced = {(name, i): (g.operands(name)[i], arr) for name, _, k in per_node for i, arr in k.packed.items()}
    read = {v for name, _, _ in per_node for i, v in enumerate(g.operands(name)) if (name, i) not in replaced}
    read |= {v for _, v in g.outputs}
    weights = [(Value(n.name), np.ascontiguousarray(n.attrs["value"]), n.types[0], f"{prefix}_w_{n.name}",
                comment_safe(n.label, 60)) for n in g.nodes() if n.op == "Constant" and Value(n.name) in read]
    for (name, i), (v, arr) in replaced.items():
        t = TensorType(arr.shape, arr.dtype.name)
        weights.append(((name, i), np.ascontiguousarray(arr), t, f"{prefix}_w_{name}_packed{i}",
                        f"{comment_safe(g.node(v.node).label, 40)} packed for {comment_safe(g.node(name).label, 40)}"))
    offset = 0
    for key, arr, t, symbol, label in weights:
        st.weights.append({"symbol": symbol, "ctype": ctype(t.dtype), "size": max(t.size, 1), "array": arr,
                           "comment": f"{label}: {t}", "offset": offset})
        expr = symbol if weights_mode == "c" else f"(const {ctype(t.dtype)} *)({blob} + {offset})"
        if isinstance(key, Value):
            st.exprs[key] = expr
        else:
            st.packed[key] = expr
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
    helpers: list[Helper] = field(default_factory=list)

    def args(self, node_name: str, k: Kernel) -> list[str]:
        return call_args(self.graph, node_name, k, self.storage)


def prepare(graph: Graph, kernels: str | tuple[str, ...], *, weights: str, name: str | None = None,
            storage_weights: str | None = None, weights_base: str | None = None, isa: Isa = GENERIC,
            impl: dict | None = None, portable_only: bool = False, workers: int = 1) -> Program:
    """Verify ``graph`` and plan what its generated code needs: the kernels (``kernels``,
    ``isa``, ``impl``, ``portable_only``: see :func:`collect_kernels`), the I/O and the
    storage (``storage_weights`` overrides the weights mode the storage is planned for;
    ``weights_base``: see :func:`plan_storage`)."""
    mode = weights_mode(graph, weights)
    graph.verify()
    m = sanitize(name or graph.name).lower()
    functions, per_node = collect_kernels(graph, kernels, isa=isa, impl=impl, portable_only=portable_only,
                                          workers=workers)
    io = model_io(graph)
    scratch = max((k.scratch_bytes for _, _, k in per_node), default=0)
    st = plan_storage(graph, m, scratch, weights_mode=storage_weights or mode, input_params=io.input_params,
                      output_params=io.output_params, weights_base=weights_base, per_node=per_node,
                      concat_slices=kernels == "c")
    return Program(graph, m, mode, functions, per_node, io, st, collect_helpers(functions))


def model_context(p: Program, source: str | None, templates: Iterable[str], **extra) -> dict:
    """What every model file template is rendered with (``extra`` adds the target's own).
    The source model is named by its file name alone: the same model gives the same files on
    every machine, wherever it lies."""
    return {"m": p.m, "M": p.m.upper(), "version": __version__,
            "model": comment_safe(Path(source).name if source else p.graph.name, 100), "weights_mode": p.weights_mode,
            "templates": sorted(set(templates)), "arena_bytes": p.storage.arena_bytes,
            "weights_bytes": p.storage.weights_bytes, "align": ALIGN, **extra}


def write_folder_files(out_dir: str | os.PathLike, p: Program, files: dict[str, str], runtime_files: Iterable[str],
                       target: str, **manifest) -> Path:
    """Write the rendered ``files`` (name -> text), the weights blob (blob and external modes), the
    runtime headers and the manifest into ``out_dir`` (created; files replaced)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if p.weights_mode in ("blob", "external"):
        (out / f"{p.m}_weights.bin").write_bytes(weights_blob(p.storage))
    for fname, text in files.items():
        (out / fname).write_text(text)
    for f in runtime_files:
        shutil.copyfile(runtime_dir() / f, out / f)
    write_manifest(out, p.graph, target, p.m, arena_bytes=p.storage.arena_bytes, **manifest)
    return out
