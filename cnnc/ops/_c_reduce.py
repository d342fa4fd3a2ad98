"""C kernels that reduce over a set of axes: the loop structure that ``Reduce*``, the global
pools, ``Softmax``/``LogSoftmax`` share, and the C spelling of each reduction (which the
spatial pyramid pool's bins reuse).

**The plan.**  Reducing a contiguous tensor over axes R, the axes of extent 1 are dropped
and neighbouring axes of the same kind (kept or reduced) merged, so that any axes set,
non-contiguous ones included, becomes: *outer* kept axes (extents and input strides), the
*reduced* axes (extents and input strides, in input order) and an *inner* kept block --
the trailing kept axes after the last reduced one, contiguous in both the input and the
output (1 when the last input axis is reduced).  The kept positions, in output order, are
``outer x inner``.

**The kernel** (``reduce.c.j2``) walks the outer positions; within one it takes the inner
block in chunks of at most ``BLOCK`` positions with an accumulator array per chunk (on the
stack, so no scratch and no malloc), and sweeps the reduced elements once per *pass* with
the chunk innermost -- unit stride whichever axes are reduced.  When the last input axis
is reduced (no inner block), its elements are split over ``lanes`` (8 when the extent is
at least 32, the ``tail`` of extent mod 8 going to lanes 0 .. tail - 1 after the lane loop;
else 4 or 2 dividing it), accumulated side by side like an inner block and merged at
the end of the pass: independent accumulators the compiler vectorizes, instead of one
serial chain of adds (SqueezeNet's global average over 13 x 13 = 169).

A pass is C statements: ``init`` per position (lane), ``each`` per reduced element, where
``v`` is the element (``x0[k]``, when the pass reads it) and ``k`` its offset (also the
offset of the same element in a same-shaped output, which Softmax writes), ``merge``
(lane ``j`` into lane 0, with lanes only) and ``post`` per kept position.  ``stores`` then
write the results at the kept position's output offset ``q``.  Per-position variables
(``locals``) are scalars when the block is one position and arrays otherwise:
``ReducePlan.at`` is the subscript to accumulate into (``[j]``), ``ReducePlan.done`` the
one of a kept position's finished value (``[0]`` with lanes).

**Accumulation.**  Float sums, products and norms accumulate in double (numpy's float32
sums are pairwise, so a float accumulator over a long axis would differ from it by more
than float32 rounding); Max/Min stay in the element type and propagate NaN as numpy does.
Integer sums and products accumulate in ``uint64_t``, which wraps like numpy's fixed-width
integer arithmetic without C's signed-overflow UB; the final conversion to the element type
keeps the low bits, as numpy's result does (a conversion C99 leaves to the implementation;
gcc and clang define it as modular).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from ..ir import Kernel, KernelRequest
from ._c import SHORT, contiguous_strides, ctype, num

#: the most kept positions one chunk of the inner block accumulates at once
BLOCK = 256

_INT_LIMITS = {"int64": ("INT64_MIN", "INT64_MAX"), "int32": ("INT32_MIN", "INT32_MAX"),
               "int8": ("INT8_MIN", "INT8_MAX"), "uint8": ("0", "UINT8_MAX")}


@dataclass(frozen=True)
class ReducePlan:
    """A reduction of a contiguous tensor over some axes, axes merged (see the module)."""

    outer: tuple[int, ...]
    outer_strides: tuple[int, ...]
    red: tuple[int, ...]
    red_strides: tuple[int, ...]
    inner: int
    size: int                  # elements of the input
    lanes: int = 1             # the last reduced extent is red[-1] * lanes + tail (stride 1)
    tail: int = 0              # its elements past red[-1] * lanes, into lanes 0 .. tail - 1

    @property
    def kept(self) -> int:
        return math.prod(self.outer) * self.inner

    @property
    def count(self) -> int:
        """Elements reduced into each kept position."""
        return math.prod(self.red[:-1]) * (self.red[-1] * self.lanes + self.tail) if self.red else 1

    @property
    def block(self) -> int:
        """Positions per chunk: the whole inner block if it fits, else (so that every chunk
        has one constant trip count, which compilers vectorize) the largest multiple of 8
        up to ``BLOCK`` dividing it, else ``BLOCK`` and a shorter last chunk."""
        if self.lanes > 1:
            return self.lanes
        if self.inner <= BLOCK:
            return max(1, self.inner)
        return next((b for b in range(BLOCK, 7, -8) if self.inner % b == 0), BLOCK)

    @property
    def at(self) -> str:
        return "" if self.block == 1 else "[j]"

    @property
    def done(self) -> str:
        return "[0]" if self.lanes > 1 else self.at

    def tag(self) -> str:
        red = "x".join(map(str, self.red)) or "1"
        lanes = f"l{self.lanes}" + (f"t{self.tail}" if self.tail else "") if self.lanes > 1 else ""
        return f"{'x'.join(map(str, self.outer)) or '1'}_r{red}{lanes}_i{self.inner}"


def reduce_plan(shape: Sequence[int], axes) -> ReducePlan:
    """The plan of reducing a contiguous ``shape`` over ``axes`` (non-negative), with lanes
    where the last axis is reduced and long enough."""
    axes = set(axes)
    merged: list[list] = []                      # [extent, stride, reduced]
    for i, (e, s) in enumerate(zip(shape, contiguous_strides(shape))):
        if e == 1:
            continue
        if merged and merged[-1][2] == (i in axes):
            merged[-1][:2] = [merged[-1][0] * e, s]
        else:
            merged.append([e, s, i in axes])
    inner = merged.pop()[0] if merged and not merged[-1][2] else 1
    outer = [(e, s) for e, s, r in merged if not r]
    red = [(e, s) for e, s, r in merged if r]
    lanes = tail = 0
    if inner == 1 and red:
        n = red[-1][0]
        # 8 lanes (and a tail) from 32 elements on; a shorter extent only splits evenly
        lanes = 8 if n >= 32 else next((k for k in (4, 2) if n % k == 0 and n >= 4 * k), 1)
        red[-1], tail = (n // lanes, lanes), n % lanes
    return ReducePlan(tuple(e for e, _ in outer), tuple(s for _, s in outer),
                      tuple(e for e, _ in red), tuple(s for _, s in red), inner,
                      math.prod(shape), max(lanes, 1), tail)


def sweep(each: Sequence[str], init: Sequence[str] = (), merge: Sequence[str] = (),
          post: Sequence[str] = (), reads: bool = True) -> dict:
    """A pass: one sweep over the reduced elements of each kept position (see the module)."""
    return {"init": tuple(init), "each": tuple(each), "merge": tuple(merge), "post": tuple(post),
            "reads": reads}


@dataclass(frozen=True)
class Reduction:
    """A reduction spelled in C: its per-position variables, its passes, and the C
    expression of its result (in the accumulator's type; the store casts it)."""

    locals: tuple[tuple[str, str], ...]
    passes: tuple[dict, ...]
    value: str


def pick(dst: str, src: str, float_: bool, op: str = ">") -> str:
    """``dst = max(dst, src)`` (``op`` ``<``: min), a NaN ``src`` sticking as in numpy."""
    nan = f" || {src} != {src}" if float_ else ""
    return f"{dst} = ({src} {op} {dst}{nan}) ? {src} : {dst};"


def reduction(kind: str, dtype: str, count, at: str = "", done: str | None = None,
              p: int = 2) -> Reduction:
    """The C spelling of reduction ``kind`` (sum mean prod max min l2 lp logsumexp) of
    ``count`` elements of ``dtype`` (``count`` an int, or a C expression for mean),
    numpy's semantics including empty extents; per-position names get subscript ``at``
    while accumulating and ``done`` (default ``at``) when finished."""
    t = ctype(dtype)
    is_f = dtype.startswith("float")
    done = at if done is None else done
    a, m, a_, m_ = f"acc{at}", f"mx{at}", f"acc{done}", f"mx{done}"
    wide = "double" if is_f else "uint64_t"
    widen = "(double)v" if is_f else "(uint64_t)v"
    zero = "0.0" if is_f else "(uint64_t)0"
    one = "1.0" if is_f else "(uint64_t)1"
    add, mul = "acc[0] += acc[j];", "acc[0] *= acc[j];"

    def single(acc_t, init, each, merge, value):
        return Reduction(((acc_t, "acc"),), (sweep([each], [f"{a} = {init};"], [merge]),), value)

    if kind == "sum":
        return single(wide, zero, f"{a} += {widen};", add, a_)
    if kind == "prod":
        return single(wide, one, f"{a} *= {widen};", mul, a_)
    if kind == "mean":
        if isinstance(count, int) and count == 0:
            value = "NAN" if is_f else "0"       # numpy: 0/0 is NaN; trunc_divide(0, 0) is 0
        elif is_f:
            value = f"{a_} / {count}"
        else:
            value = f"(int64_t)({t}){a_} / INT64_C({count})"
        return single(wide, zero, f"{a} += {widen};", add, value)
    if kind in ("max", "min"):
        lo, hi = ("(-INFINITY)", "INFINITY") if is_f else _INT_LIMITS[dtype]
        init, op = (lo, ">") if kind == "max" else (hi, "<")
        return single(t, init, pick(a, "v", is_f, op), pick("acc[0]", "acc[j]", is_f, op), a_)
    if kind == "l2":
        if is_f:
            return single(wide, zero, f"{a} += (double)v * (double)v;", add, f"sqrt({a_})")
        # numpy squares and sums in the dtype (wrapping), then truncates the float root; a
        # sum wrapped negative has a NaN root, which numpy on x86 casts to the dtype's
        # minimum (int32/int64; the float16 root of int8 casts to 0)
        r = f"({t}){a_}"
        nan_as = {"int64": "INT64_MIN", "int32": "INT32_MIN"}.get(dtype, "0")
        value = (f"sqrt((double){r})" if dtype == "uint8" else
                 f"{r} < 0 ? ({t}){nan_as} : ({t})sqrt((double){r})")
        return single(wide, zero, f"{a} += (uint64_t)v * (uint64_t)v;", add, value)
    if kind == "lp":
        term = {1: "fabs((double)v)", 2: "(double)v * (double)v"}.get(
            p, f"pow(fabs((double)v), {num(p, 'float64')})")
        root = {1: a_, 2: f"sqrt({a_})"}.get(p, f"pow({a_}, {num(1.0 / p, 'float64')})")
        return single("double", "0.0", f"{a} += {term};", add, root)
    if kind == "logsumexp":
        # numpy: m = max (or 0 where it is not finite); log(sum(exp(x - m))) + m
        return Reduction(
            ((t, "mx"), ("double", "acc")),
            (sweep([pick(m, "v", True)], [f"{m} = (-INFINITY);"], [pick("mx[0]", "mx[j]", True)],
                   [f"if (!isfinite({m_})) {m_} = 0;"]),
             sweep([f"{a} += exp((double)({t})(v - {m_}));"], [f"{a} = 0.0;"], [add])),
            f"log({a_}) + (double){m_}")
    raise ValueError(f"no C reduction {kind!r}")


def reduce_kernel(req: KernelRequest, plan: ReducePlan, tag: str, locals_, passes,
                  stores: Sequence[str] = (), comment: str = "") -> Kernel:
    """The ``reduce.c.j2`` kernel of ``plan`` with these per-position ``locals_``
    ((C type, name) pairs), ``passes`` and ``stores`` (see the module)."""
    name = f"cnnc_{tag}_{SHORT[req.in_types[0].dtype]}_{plan.tag()}"
    params = {"outer": plan.outer, "outer_strides": plan.outer_strides, "red": plan.red,
              "red_strides": plan.red_strides, "inner": plan.inner, "block": plan.block,
              "lanes": plan.lanes, "tail": plan.tail,
              "empty": plan.kept == 0 or (plan.size == 0 and not stores),
              "locals": tuple(locals_), "passes": tuple(passes), "stores": tuple(stores),
              "ctype": ctype(req.in_types[0].dtype)}
    return Kernel("c/kernels/reduce.c.j2", name, params,
                  comment=comment or f"{req.node.op} -> {req.out_types[0]}")


def reduce_over(req: KernelRequest, kind: str, axes, tag: str, comment: str = "", **kw) -> Kernel:
    """Y = reduction ``kind`` of operand 0 over ``axes`` (Y holds the kept positions in
    order: keepdims or not, it is the same layout)."""
    x, y = req.in_types[0], req.out_types[0]
    plan = reduce_plan(x.shape, axes)
    r = reduction(kind, x.dtype, plan.count, plan.at, plan.done, **kw)
    store = f"y0[q] = ({ctype(y.dtype)})({r.value});"
    return reduce_kernel(req, plan, tag, r.locals, r.passes, (store,), comment)
