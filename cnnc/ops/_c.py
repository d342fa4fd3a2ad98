"""Building blocks of C kernels, shared by the op files (layer 2: no backend imports).

An op's C hook returns a :class:`cnnc.ir.Kernel`.  The helpers here make the common ones:

* ``elementwise`` — Y = f(X0, X1, ...) with numpy broadcasting: the output's axes are
  collapsed where every operand is contiguous across them, and each operand gets a baked
  stride per remaining axis (0 where it broadcasts), so the template is a plain loop nest.
* ``gather`` — pure data movement: Y[i0, .., ik] = X[m0[i0] + .. + mk[ik]] with one offset
  table per output axis (entries < 0 mean "outside": the fill value).  Transpose, Slice,
  Pad, Tile, Expand, DepthToSpace/SpaceToDepth, nearest Resize and constant-index Gather
  are all this one kernel with different tables — the index arithmetic is done here, once.

C spellings: ``cfn("exp", dtype)`` is ``expf`` for float32 and ``exp`` for float64;
``num(v, dtype)`` is an exact literal.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..ir import Kernel, KernelRequest, UnsupportedError
from ..ir.types import DTYPE_INFO

#: dtype -> its short name in kernel names (``f32``), from the one dtype table
SHORT = {name: d.short for name, d in DTYPE_INFO.items()}


def ctype(dtype: str) -> str:
    """The C element type of ``dtype`` (``ir.types.DTYPE_INFO``)."""
    c = DTYPE_INFO[dtype].c if dtype in DTYPE_INFO else None
    if c is None:
        raise UnsupportedError(f"dtype {dtype} has no C kernel")
    return c


def neg_infinity(dtype: str) -> str:
    """-inf in the C type of the float ``dtype`` (C's INFINITY is a float)."""
    return "(-INFINITY)" if dtype == "float32" else "(-HUGE_VAL)"


def cfn(name: str, dtype: str) -> str:
    """The libm function ``name`` for ``dtype`` (``expf`` / ``exp``)."""
    return name + "f" if dtype == "float32" else name


def num(v, dtype: str) -> str:
    """An exact C literal of ``v`` as ``dtype`` (hex floats; INFINITY/NAN)."""
    if dtype in ("float32", "float64"):
        f = float(np.float32(v)) if dtype == "float32" else float(v)
        if np.isnan(f):
            return "NAN"
        if np.isinf(f):
            return "INFINITY" if f > 0 else "(-INFINITY)"
        return f"({f.hex()}f)" if dtype == "float32" else f"({f.hex()})"
    i = int(v)
    return f"INT64_C({i})" if dtype == "int64" else f"({i})"


def _strides(shape: Sequence[int]) -> list[int]:
    out, acc = [], 1
    for d in reversed(shape):
        out.append(acc)
        acc *= d
    return out[::-1]


def broadcast_strides(shape: Sequence[int], out_shape: Sequence[int]) -> list[int]:
    """Element strides of an operand of ``shape`` read at every index of ``out_shape``."""
    shape = (1,) * (len(out_shape) - len(shape)) + tuple(shape)
    return [0 if d == 1 and o != 1 else s for d, o, s in zip(shape, out_shape, _strides(shape))]


def collapse(out_shape: Sequence[int], strides: Sequence[Sequence[int]]):
    """Merge adjacent axes along which every operand (and the output) is contiguous.
    Returns (extents, per-operand strides), innermost last, with at least one axis."""
    axes = [(e, [s[i] for s in strides]) for i, e in enumerate(out_shape) if e != 1]
    merged: list[tuple[int, list[int]]] = []
    for e, ss in axes:
        if merged:
            pe, ps = merged[-1]
            if all(p == s * e for p, s in zip(ps, ss)):
                merged[-1] = (pe * e, ss)
                continue
        merged.append((e, ss))
    if not merged:
        merged = [(1, [0] * len(strides))]
    return tuple(e for e, _ in merged), tuple(tuple(ss[k] for _, ss in merged) for k in range(len(strides)))


#: the least work (elements times operations) worth splitting over workers
PARALLEL_MIN_WORK = 1 << 15


def worth_splitting(work: float, workers: int, min_work: float = PARALLEL_MIN_WORK) -> bool:
    """Whether ``work`` is worth splitting over ``workers`` workers."""
    return workers > 1 and work >= min_work


def parallel_tasks(items: int, work: float, workers: int, min_work: float = PARALLEL_MIN_WORK) -> int:
    """How many tasks a kernel of ``items`` independent rows (``work`` in all) runs as on
    ``workers`` workers: one when that is not worth it (``worth_splitting``), else a few
    per worker (their sizes then even out under dynamic scheduling)."""
    if not worth_splitting(work, workers, min_work) or items <= 1:
        return 1
    return min(items, 4 * workers)


def worker_slots(tasks: int, workers: int) -> int:
    """How many per-worker scratch slots a kernel of ``tasks`` tasks needs: one when it runs
    serially (one task), else one per worker, since the parallel-for hook may hand any task
    to any of its ``workers`` workers (worker index ``w`` < workers), even with fewer tasks
    than workers."""
    return 1 if tasks <= 1 else max(1, workers)


def elementwise(req: KernelRequest, expr: str, tag: str, comment: str = "") -> Kernel:
    """Y = ``expr`` over the operands ``a0, a1, ..`` (C expressions of their element
    values, already converted to the output's C type where ``expr`` wants it)."""
    out = req.out_types[0]
    strides = [broadcast_strides(t.shape, out.shape) for t in req.in_types] + [_strides(out.shape)]
    extents, per = collapse(out.shape, strides)
    out_strides = per[-1]
    dtypes = "_".join(SHORT[t.dtype] for t in req.in_types)
    name = f"cnnc_{tag}_{dtypes}_to_{SHORT[out.dtype]}_" + "x".join(map(str, extents))
    tasks = parallel_tasks(extents[0], out.size, req.workers)
    return Kernel("c/kernels/elementwise.c.j2", name,
                  {"extents": extents, "in_strides": per[:-1], "out_strides": out_strides,
                   "expr": expr, "in_ctypes": tuple(ctype(t.dtype) for t in req.in_types),
                   "out_ctype": ctype(out.dtype), "size": out.size, "tasks": tasks,
                   "chunk": -(-extents[0] // tasks)},
                  comment=comment or f"{req.node.op} {out}", parallel=tasks > 1)


#: the shortest innermost run the gather kernel walks as rows (a shorter one: nested loops)
GATHER_ROW_MIN = 4


def gather(req: KernelRequest, view: Sequence[int], tables: Sequence[np.ndarray], tag: str,
           fill=0, comment: str = "") -> Kernel:
    """Y (seen as ``view``, a row-major factorization of its shape) from operand 0 by one
    offset table per view axis; an entry < 0 makes the element ``fill``.

    C plan: with an innermost run of at least ``GATHER_ROW_MIN``, the kernel walks rows (the
    outer view positions, split into tasks on the parallel-for hook); a row whose source
    row equals its predecessor's in the same task (nearest upsampling's repeated rows) is a
    copy of the row just written; a row's elements are one contiguous run (``memcpy``), each
    source element repeated ``rep`` times (integer nearest upsampling), or a table lookup
    (``int32`` offsets, a loop the compiler vectorizes)."""
    out = req.out_types[0]
    view = tuple(int(v) for v in view)
    assert int(np.prod(view, dtype=np.int64)) == out.size, (view, out.shape)
    maps = {f"m{d}": np.asarray(t, np.int64) for d, t in enumerate(tables)}
    padded = any((t < 0).any() for t in maps.values())
    name = f"cnnc_{tag}_{SHORT[out.dtype]}_" + "x".join(map(str, view))
    params = {"view": view, "padded": padded, "fill": num(fill, out.dtype), "ctype": ctype(out.dtype), "rows": False}
    inner = maps[f"m{len(view) - 1}"] if view else None
    if view and view[-1] >= GATHER_ROW_MIN and out.size and int(np.abs(inner).max()) < 2 ** 31:
        rows = int(np.prod(view[:-1], dtype=np.int64))
        width = view[-1]
        kind, rep = "table", 1
        if (inner >= 0).all():
            steps = np.diff(inner)
            if (steps == 1).all():
                kind = "run"
            else:
                # the first run of equal offsets gives rep; the table must then be
                # inner[0] + (i // rep) for every i
                rep = int(np.argmax(inner != inner[0])) if (inner != inner[0]).any() else width
                if rep > 1 and width % rep == 0 and (inner == inner[0] + np.arange(width) // rep).all():
                    kind = "repeat"
        outer_tables = [maps[f"m{d}"] for d in range(len(view) - 1)]
        # do two consecutive rows read the same source row? (the innermost outer axis
        # repeats an entry)
        dedup = bool(outer_tables) and bool((np.diff(outer_tables[-1]) == 0).any())
        tasks = parallel_tasks(rows, out.size, req.workers)
        per = -(-rows // tasks)
        maps[f"m{len(view) - 1}"] = inner.astype(np.int32)
        params.update(rows=True, R=rows, W=width, kind=kind, rep=rep, dedup=dedup, per=per, tasks=-(-rows // per),
                      ostrides=tuple(int(np.prod(view[d + 1:-1], dtype=np.int64)) for d in range(len(view) - 1)),
                      inner_padded=bool((inner < 0).any()))
    return Kernel("c/kernels/gather.c.j2", name, params, tables=maps, parallel=params.get("tasks", 1) > 1,
                  comment=comment or f"{req.node.op} -> {out}")


def axis_offsets(extent: int, stride: int) -> np.ndarray:
    return np.arange(extent, dtype=np.int64) * stride


def contiguous_strides(shape: Sequence[int]) -> list[int]:
    return _strides(shape)
