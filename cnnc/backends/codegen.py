"""What the C and CUDA generators share: C spellings of types and constants, the kernels
of a graph (one function per distinct kernel), and the storage of every value.

Storage follows the memory plan (``cnnc.passes.memory``): graph inputs and outputs are the
caller's buffers, weights are constant arrays (or a linked-in blob), every other value
lives at its planned offset in the caller's arena; kernel scratch goes after the planned
values.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from ..ir import CnncError, Graph, Kernel, KernelRequest, UnsupportedError, Value, get_op
from ..ir.naming import comment_safe
from ..ops._c import ctype, num
from ..passes.memory import plan_memory

ALIGN = 64


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


def collect_kernels(g: Graph, backend: str) -> tuple[list[KernelFunction], list[tuple[str, KernelFunction, Kernel]]]:
    """The distinct kernels of ``g`` and, per node, which one it calls. Every op without a
    kernel for ``backend`` is reported in one error."""
    functions: dict = {}
    names: dict[str, int] = {}
    per_node = []
    missing = []
    for n in g.nodes():
        if n.op in ("Input", "Constant"):
            continue
        hook = get_op(n.op).kernels.get(backend)
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
        raise UnsupportedError(f"no {backend} kernel for op{'s' * (len(ops) > 1)} {', '.join(ops)}")
    return list(functions.values()), per_node


def plan_storage(g: Graph, prefix: str, scratch_bytes: int, *, weights_mode: str,
                 input_params: dict[Value, str], output_params: dict[Value, str]) -> Storage:
    st = Storage()
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
            st.exprs[Value(n.name)] = f"(const {ctype(t.dtype)} *)({prefix}_weights_blob + {offset})"
        offset += -(-max(arr.nbytes, 1) // ALIGN) * ALIGN
    st.weights_bytes = offset
    st.exprs.update(input_params)
    st.exprs.update(output_params)  # a node producing an output writes the caller's buffer
    return st
