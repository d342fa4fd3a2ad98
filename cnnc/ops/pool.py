"""Windowed pooling, 1-D/2-D/3-D: MaxPool, AveragePool, LpPool (ONNX) and LSEPool,
WeightedAvgPool (cnnc's own).

All five share one structure: the window view of ``_spatial.windows`` (N, C, *out,
*kernel), padded with a value that the reduction ignores, then one reduction over the
kernel axes.  Each pool is one :class:`PoolKind` record (extra attributes, pad value,
reference reduction, ONNX export, C kernel tag and tables, TVM lowering) in ``POOLS``; one
loop registers them.  Every pool takes ``kernel_shape`` (required), ``strides``,
``pads``, ``auto_pad``, ``dilations`` and ``ceil_mode`` with ONNX's meaning (plus cnnc's
``auto_pad="FULL"``).

Semantics, as onnxruntime computes them (the ONNX reference evaluator agrees except where
noted in the tests), with one exception: SAME pads the *dilated* kernel, as the ONNX spec
says (total pad ``(out-1)*stride + dilation*(k-1) + 1 - in``, ``out = ceil(in/stride)``);
onnxruntime pads for the undilated kernel there and returns fewer outputs than its own
shape inference promises.  Padding never goes negative (SAME with stride > kernel pads 0;
onnxruntime's MaxPool rejects that case).

* ``ceil_mode=1`` adds a last, partial window when it starts on the input or the begin
  padding; the part of it past the end padding (the "overhang") is never a tap.
* ``MaxPool``: padding and overhang are ``-inf``.  Only the first output ``Y``: cnnc does
  not produce ``Indices``, so ``storage_order`` (which only orders ``Indices``) is
  accepted for ONNX compatibility and has no effect.
* ``AveragePool``: ``count_include_pad=0`` divides by the taps on the input;
  ``count_include_pad=1`` by the taps on the input or its padding (explicit or SAME), but
  never the ceil_mode overhang.
* ``LpPool``: ``(sum |x|^p) ^ (1/p)`` with padding contributing zero; ``p`` an int >= 1.
* ``LSEPool``: ``log(sum exp(x))`` over the taps on the input, computed as
  ``m + log(sum exp(x - m))`` with ``m`` the window max (padding is ``-inf``, so it adds
  ``exp(-inf) = 0``).
* ``WeightedAvgPool``: Gaussian weights ``exp(-d^2 / (2 sigma^2))``, ``d`` the Euclidean
  distance of the tap from the kernel centre in input pixels (``dilation * (index -
  (k-1)/2)`` per axis, so an even kernel's centre lies between taps), renormalized over
  the taps that lie on the input.

A window with no tap on the input (pads as large as the dilated kernel) is rejected: its
max would be ``-inf`` and its average ``0/0``.
"""
from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from ..ir import ACT, REQUIRED, Attr, Blocked, Impl, Kernel, OnnxMap, OpDef, ShapeError, register
from . import _spatial as sp
from ._c import SHORT, cfn, contiguous_strides, ctype, neg_infinity, num, parallel_tasks
from ._c_rows import RowPlanes, fits
from ._common import require_float, tvm_is_nan

_BIT = Attr("int", 0, choices=(0, 1))
#: LpPool's and GlobalLpPool's exponent
LP_P = Attr("int", 2, check=lambda p: None if p >= 1 else "must be >= 1")
_SIGMA = Attr("float", 1.0, check=lambda v: None if v > 0 else "must be > 0",
              doc="Gaussian width of WeightedAvgPool, in input pixels")


def _window_attrs() -> dict[str, Attr]:
    attrs = sp.window_attrs()
    attrs["kernel_shape"] = dataclasses.replace(attrs["kernel_shape"], default=REQUIRED)
    attrs["ceil_mode"] = _BIT
    return attrs


def _canon(attrs, types):
    return sp.canonical_window(attrs, sp.spatial_rank(types[0].shape))


def _infer(types, a):
    x = types[0]
    require_float(x)
    ceil = bool(a["ceil_mode"])
    out = sp.output_shape(x.shape[2:], a, ceil_mode=ceil)
    nd = len(out)
    taps = sp.valid_mask(x.shape[2:], a, ceil_mode=ceil).sum(axis=tuple(range(nd, 2 * nd)))
    if taps.size and taps.min() == 0:
        where = tuple(int(i) for i in np.argwhere(taps == 0)[0])
        raise ShapeError(f"output position {where} of {tuple(out)} pools a window that lies "
                         f"entirely in the padding (input {x.shape}, kernel_shape "
                         f"{a['kernel_shape']}, pads {a['pads']}, auto_pad {a['auto_pad']}); "
                         "make the pads smaller than the kernel")
    return (x.with_shape((*x.shape[:2], *out)),)


# ------------------------------------------------------------------ the reductions
# Each takes the window view (N, C, *out, *kernel), the input's spatial shape, the
# attributes and the (negative) kernel axes, and returns (N, C, *out).

def _valid(xs, a):
    return sp.valid_mask(xs, a, ceil_mode=bool(a["ceil_mode"]))


def _on_padded_input(xs, a):
    """1 where a tap lies on the input or its padding, 0 on ceil_mode's overhang: the
    windows of the padded input seen as an unpadded one (same window starts; its ceil rule
    may keep one more window, which is cut off)."""
    nd = len(xs)
    pads = sp.resolve_pads(xs, a["kernel_shape"], a["strides"], a["dilations"], a["auto_pad"],
                           a["pads"])
    padded = [n + pads[i] + pads[nd + i] for i, n in enumerate(xs)]
    flat = a.replace(pads=(0,) * (2 * nd), auto_pad="NOTSET")
    out = sp.output_shape(xs, a, ceil_mode=bool(a["ceil_mode"]))
    return sp.valid_mask(padded, flat, ceil_mode=bool(a["ceil_mode"]))[tuple(map(slice, out))]


def _count(xs, a):
    """AveragePool's divisor per tap, ``(*out, *kernel)``: the taps on the input, or with
    ``count_include_pad`` those on the input or its padding."""
    return _on_padded_input(xs, a) if a["count_include_pad"] else _valid(xs, a)


def _average(win, xs, a, axes):
    return win.sum(axes) / _count(xs, a).sum(axes)


def _lp(win, xs, a, axes):
    p = a["p"]
    return (np.abs(win) ** p).sum(axes) ** (1.0 / p)


def _log_sum_exp(win, xs, a, axes):
    m = win.max(axes, keepdims=True)
    return np.squeeze(m, axes) + np.log(np.exp(win - m).sum(axes))


def _gaussian(a):
    """exp(-d^2 / (2 sigma^2)) per kernel tap, d its distance from the kernel centre."""
    d2 = 0.0
    for i, (k, d) in enumerate(zip(a["kernel_shape"], a["dilations"])):
        off = d * (np.arange(k) - (k - 1) / 2)
        d2 = np.add.outer(d2, off ** 2) if i else off ** 2
    return np.exp(-d2 / (2 * a["sigma"] ** 2))


def _weights(xs, a):
    """WeightedAvgPool's Gaussian weights of the taps on the input, ``(*out, *kernel)``
    (unnormalized)."""
    return _gaussian(a) * _valid(xs, a)


def _weighted_average(win, xs, a, axes):
    w = _weights(xs, a)
    return (win * w).sum(axes) / w.sum(axes)


# ------------------------------------------------------------------ ONNX export
def _export_function(kind):
    """LSEPool / WeightedAvgPool, which ONNX lacks, as a model-local function: the windows
    as an (N, C, K, *out) tensor (``_spatial.export_patches``), then a masked
    ReduceLogSumExp, or a weighted ReduceSum with weights renormalized over the taps on the
    input (both masks are constants of the specialized function)."""
    def hook(node, operands, b):
        a, t = node.attrs, b.type(operands[0])
        nd, ceil = t.rank - 2, bool(a["ceil_mode"])
        valid = sp.kernel_major(_valid(t.shape[2:], a), nd)          # (K, *out)

        def body(fb, params):
            patches = sp.export_patches(fb, params[0], t.shape, a, ceil_mode=ceil)
            if kind == "lse":
                floor = np.float32(np.finfo(np.float32).min)
                (masked,) = fb.emit("Where", [fb.const(valid.astype(bool)), patches, fb.const(floor)])
                return fb.emit("ReduceLogSumExp", [masked, fb.const(np.array([2], np.int64))],
                               {"keepdims": 0})
            gauss = np.broadcast_to(_gaussian(a).reshape(-1, *(1,) * nd), valid.shape) * valid
            weights = (gauss / gauss.sum(axis=0, keepdims=True)).astype(t.dtype)
            (prod,) = fb.emit("Mul", [patches, fb.const(weights)])
            return fb.emit("ReduceSum", [prod, fb.const(np.array([2], np.int64))], {"keepdims": 0})
        name = f"{node.op}_{b.digest(t.shape, t.dtype, sorted(a.items()))}"
        return b.function(name, operands, body)
    return hook


def _flat_pool(op, a, shape):
    """``(attributes, ratio)`` of Max/Average/LpPool ``op`` written with explicit buffer pads
    and ``ceil_mode=0``: the same windows (``buffer_pads`` grows the end pads over a
    ceil_mode window's overhang) without ONNX's ceil-mode shape rule, which onnx's shape
    inference and onnxruntime disagree on.  An AveragePool counting its padding must not
    count the overhang: it is written as the average over the taps on the input times the
    constant ``ratio`` of the two counts (else None)."""
    nd = len(shape) - 2
    flat = {"pads": sp.buffer_pads(shape[2:], a, ceil_mode=bool(a["ceil_mode"])), "auto_pad": "NOTSET",
            "ceil_mode": 0}
    if op != "AveragePool" or not a["count_include_pad"] or not a["ceil_mode"]:
        return flat, None
    kernel_axes = tuple(range(nd, 2 * nd))
    ratio = _valid(shape[2:], a).sum(kernel_axes) / _on_padded_input(shape[2:], a).sum(kernel_axes)
    return {**flat, "count_include_pad": 0}, ratio[None, None]


def _export_onnx_pool(node, operands, b):
    """The pool as the ONNX op of its name (:func:`_flat_pool`)."""
    t = b.type(operands[0])
    flat, ratio = _flat_pool(node.op, node.attrs, t.shape)
    if ratio is None:
        return b.generic(attrs=flat)
    (avg,) = b.generic(attrs=flat, outputs=[b.fresh("avg")])
    return b.emit("Mul", [avg, b.const(ratio.astype(t.dtype), "count_ratio")], outputs=b.outputs)


def onnx_pool(b, op, x, a, shape) -> list[str]:
    """Max or AveragePool ``op`` (canonical attributes ``a``) of ``x``, of ``shape``, emitted
    into the ONNX builder ``b`` as :func:`_export_onnx_pool` writes the node."""
    flat, ratio = _flat_pool(op, a, shape)
    attrs = {k: a[k] for k in ("kernel_shape", "strides", "dilations")}
    if op == "AveragePool":
        attrs["count_include_pad"] = a["count_include_pad"]
    (y,) = b.emit(op, [x], {**attrs, **flat})
    return [y] if ratio is None else b.emit("Mul", [y, b.const(ratio.astype(np.float32))])


# ------------------------------------------------------------------ C kernel
# The window arithmetic is separable: a tap lies on the input iff it does on every axis,
# and both counts of AveragePool and WeightedAvgPool's renormalized Gaussian factor into
# per-axis terms.  So each spatial axis gets tables over its output positions, computed
# here with the same helpers as the reference (applied to that axis alone): ``win`` rows
# (input coordinate of tap 0, first and one-past-last tap on the input), and the count
# (``cnt``) or the renormalized weights (``w``, per position and tap).  The C loops visit
# only the taps on the input: no bounds checks, no padded buffer.

def _count_table(n, one, valid):
    """AveragePool's divisor per output position of one axis."""
    count = _on_padded_input((n,), one) if one["count_include_pad"] else valid
    return {"cnt": count.sum(axis=1).astype(np.float64)}


def _weight_table(n, one, valid):
    """WeightedAvgPool's renormalized Gaussian weights per output position and tap."""
    w = _gaussian(one) * valid
    return {"w": (w / w.sum(axis=1, keepdims=True)).reshape(-1)}


def window_tables(kind, n, k, s, d, pb, pe, a):
    """Tables of one spatial axis of input extent ``n`` (pads resolved to ``pb``, ``pe``)."""
    one = a.replace(kernel_shape=(k,), strides=(s,), dilations=(d,), pads=(pb, pe),
                    auto_pad="NOTSET")
    valid = _valid((n,), one)                                       # (out, k)
    out = valid.shape[0]
    lo = valid.argmax(axis=1)
    hi = k - valid[:, ::-1].argmax(axis=1)
    assert (valid.sum(axis=1) == hi - lo).all(), "taps on the input are contiguous"
    tables = {"win": np.stack([np.arange(out) * s - pb, lo, hi], axis=1).astype(np.int64)}
    if kind.c_tables is not None:
        tables.update(kind.c_tables(n, one, valid))
    return tables


def window_table_set(kind, xs, a) -> tuple[tuple[int, ...], dict]:
    """``(pads, tables)`` of a pool's C kernels over the spatial input shape ``xs``: the
    resolved pads and every axis's :func:`window_tables`, keyed ``<table><axis>``."""
    nd = len(xs)
    pads = sp.resolve_pads(xs, a["kernel_shape"], a["strides"], a["dilations"], a["auto_pad"], a["pads"])
    tables = {}
    for i, (n, k, s, d) in enumerate(zip(xs, a["kernel_shape"], a["strides"], a["dilations"])):
        for key, arr in window_tables(kind, n, k, s, d, pads[i], pads[nd + i], a).items():
            tables[f"{key}{i}"] = arr
    return pads, tables


def _x(v):
    return "x".join(map(str, v))


def _c_kernel(kind):
    op = kind.name

    def hook(req):
        a, x, y = req.attrs, req.in_types[0], req.out_types[0]
        t = x.dtype
        xs, ys = x.shape[2:], y.shape[2:]
        nd = len(xs)
        pads, tables = window_table_set(kind, xs, a)
        assert tuple(len(tables[f"win{i}"]) for i in range(nd)) == ys
        # 2-D: the output columns whose every tap lies on the input, if any
        cols = fast_columns(req)
        fast2d = cols != (0, 0)
        params = {"kind": kind.tag, "nd": nd, "fast2d": fast2d, "cols": cols,
                  "stride1": a["strides"][-1], "pad1": pads[nd - 1], "ctype": ctype(t), "planes": x.shape[0] * x.shape[1],
                  "in_plane": int(np.prod(xs)), "out_plane": int(np.prod(ys)), "out": ys,
                  "in_strides": tuple(contiguous_strides(xs)), "dilations": a["dilations"],
                  "kernel": a["kernel_shape"], "neg_inf": neg_infinity(t),
                  "fabs": cfn("fabs", t), "pow": cfn("pow", t), "sqrt": cfn("sqrt", t),
                  "exp": cfn("exp", t), "log": cfn("log", t), "p": a.get("p", 0),
                  "p_literal": num(a.get("p", 1), t), "inv_p": num(1.0 / a.get("p", 1), t)}
        name = (f"cnnc_{kind.tag}{nd}d_{SHORT[t]}_{_x((x.shape[0] * x.shape[1], *xs))}"
                f"_k{_x(a['kernel_shape'])}_s{_x(a['strides'])}_d{_x(a['dilations'])}"
                f"_p{'_'.join(map(str, pads))}"
                + ("_ceil" if a["ceil_mode"] else "") + ("_cip" if a.get("count_include_pad") else "")
                + (f"_p{a['p']}" if "p" in a else ""))
        comment = (f"{op} kernel {a['kernel_shape']} strides {a['strides']} dilations "
                   f"{a['dilations']} pads {pads} ceil_mode {a['ceil_mode']} -> {y}")
        planes = params["planes"]
        params["tasks"] = tasks = parallel_tasks(planes, y.size * int(np.prod(a["kernel_shape"])), req.workers)
        params["chunk"] = -(-planes // tasks)
        return Kernel("c/kernels/pool.c.j2", name, params, tables=tables, comment=comment, parallel=tasks > 1)
    return hook


#: rough rates of the cost model: the direct kernel's taps a second through its tables, and
#: in its unrolled path over the interior columns of a 2-D map; the rows plan's taps a
#: second per vector lane, elements copied into its planes a second, and a fixed cost per
#: plane (loops, copies of a few elements: what a map of one window pays)
DIRECT_TAPS = 0.8e9
DIRECT_FAST_TAPS = 8e9
#: the most taps of a window the direct kernel's unrolled interior path takes
FAST_TAPS_MAX = 49
ROWS_TAPS_PER_LANE = 1e9
ROWS_COPY = 6e9
ROWS_PLANE_SECONDS = 40e-9


def fast_columns(req) -> tuple[int, int]:
    """The [begin, end) output columns of a 2-D pool that the direct kernel takes on its
    unrolled path (every tap on the input: the loop plan's interior, ``_spatial.loop_axes``),
    or (0, 0)."""
    taps = int(np.prod(req.attrs["kernel_shape"]))
    if req.in_types[0].rank != 4 or taps > FAST_TAPS_MAX or req.out_types[0].size == 0:
        return (0, 0)
    b, e = sp.loop_axes(sp.window_geometry(req))[1].interior
    return (b, e) if e - b > 1 else (0, 0)


def _direct_cost(req) -> float:
    y, taps = req.out_types[0], int(np.prod(req.attrs["kernel_shape"]))
    b, e = fast_columns(req)
    fast = y.size // max(1, y.shape[-1]) * (e - b)
    return taps * (fast / DIRECT_FAST_TAPS + (y.size - fast) / DIRECT_TAPS)


def _separable(pl: RowPlanes) -> bool:
    """Whether the rows plan takes a window of stride 1 in two passes: the max (or sum) of
    each position's k1 row taps, in place over the padded plane, then of k0 of those down
    the column: k0 + k1 - 1 taps an output instead of k0 * k1.  Max gives the same values
    (a NaN tap still makes NaN); sums are reassociated."""
    return pl.phases == 1 and pl.k[0] > 1 and pl.k[1] > 1


def _rows_cost(req) -> float:
    pl = RowPlanes(req, ops_per_tap=1)
    if _separable(pl):
        taps = pl.grid_columns() * pl.k[0] + pl.psize * (pl.k[1] - 1)
    else:
        taps = pl.grid_columns() * pl.taps
    per_plane = taps / (ROWS_TAPS_PER_LANE * pl.lanes) + pl.planes / ROWS_COPY + ROWS_PLANE_SECONDS
    return pl.items * per_plane * req.workers / min(req.workers, pl.tasks)


def _rows_kernel(kind):
    def plan(req):
        a, x, y = req.attrs, req.in_types[0], req.out_types[0]
        pl = RowPlanes(req, ops_per_tap=1)
        geo = sp.window_geometry(req)
        nd = x.rank - 2
        separable = _separable(pl)
        # separable: the row taps past the first (k0 = 0), then the column taps (k1 = 0) of
        # the plan's tap offsets (k0-major); else every tap
        koff = pl.koff[::pl.k[1]] if separable else pl.koff
        tables = {"koff": np.asarray(koff, np.int64)}
        if kind.c_rows == "sum":
            for i, (n, k, s, d) in enumerate(zip(geo.ishape, geo.kernel, geo.strides, geo.dilations)):
                cnt = window_tables(kind, n, k, s, d, geo.pads[i], geo.pads[nd + i], a)["cnt"]
                tables[f"cnt{i + 2 - nd}"] = cnt.astype(np.float32)
            if nd == 1:
                tables["cnt0"] = np.ones(1, np.float32)
        params = {**pl.params(), "reduce": kind.c_rows, "koff": koff, "T": len(koff),
                  "hoff": pl.koff[1:pl.k[1]] if separable else [],
                  "fill": "0" if kind.c_rows == "sum" else neg_infinity("float32")}
        name = (f"cnnc_{kind.tag}rows{nd}d_f32_{_x((x.shape[0] * x.shape[1], *geo.ishape))}_k{_x(geo.kernel)}"
                f"_s{_x(geo.strides)}_d{_x(geo.dilations)}_p{'_'.join(map(str, geo.pads))}_o{_x(geo.oshape)}"
                + ("_cip" if a.get("count_include_pad") else ""))
        comment = (f"{kind.name} on rows of padded phase planes ({pl.phases} of {pl.e0}x{pl.e1} per plane"
                   f"{', separable' if separable else ''}) kernel "
                   f"{geo.kernel} strides {geo.strides} dilations {geo.dilations} pads {geo.pads} "
                   f"ceil_mode {a['ceil_mode']} -> {y}")
        return Kernel("c/kernels/pool_rows.c.j2", name, params, tables=tables, scratch_bytes=pl.scratch,
                      comment=comment, parallel=True)
    return plan


def _c_table(kind):
    """The C kernel of a pool: the direct kernel (tables of window rows, any rank), and
    where the kind has one, a table with the ``rows`` plan (padded phase planes)."""
    direct = _c_kernel(kind)
    if kind.c_rows is None:
        return direct
    return (Impl("direct", direct, cost=_direct_cost),
            Impl("rows", _rows_kernel(kind), applies=functools.partial(fits, max_taps=None), cost=_rows_cost, portable=False,
                 template="c/kernels/pool_rows.c.j2"))


# ------------------------------------------------------------------ TVM lowering
# One TE computation serves every pool: the input padded to the buffer pads (with ceil_mode's
# overhang) by a value the reduction ignores, each output the reduction of its taps (after a
# per-tap ``tap`` function).  TE rather than Relax's max_pool: topi's max pads and starts
# from the float type's lowest finite value (a window of -inf gives -FLT_MAX) and drops a
# NaN that is not the first tap.  The averages divide by the reference's own tables
# (``_count``, ``_weights``, Relax constants), which settle count_include_pad beside
# ceil_mode's overhang by construction; LpPool and LSEPool have no Relax op.

def nan_max(b):
    """The TE max reducer of numpy's max: NaN propagates, the identity is -inf."""
    return b.te.comm_reducer(lambda u, v: b.tir.Select(tvm_is_nan(b.tir, u) | (u > v), u, v),
                             lambda t: b.tir.const(float("-inf"), t), name="nan_max")


def window_reduce(b, x, kernel, strides, dilations, pads, out, *, pad_value, reducer, tap=None,
                  extra=(), dtype=None, name="pool"):
    """TE ``(N, C, *out, *tail)``: ``reducer`` over the taps of each window of ``x`` (N, C,
    *spatial, *tail) padded with ``pad_value`` by ``pads`` (begins, ends); trailing axes past
    the spatial ones (a channel block) ride along.  ``tap(v, (n, c, *o, *tail), ks, *extra)``
    maps a tap's value (cast to ``dtype`` if given) before the reduction; ``extra`` are more
    Relax operands it reads."""
    nd = len(kernel)
    te, topi = b.te, b.topi

    def fn(xt, *ext):
        tail = list(xt.shape[2 + nd:])
        if any(pads):
            zeros = [0] * len(tail)
            xt = topi.nn.pad(xt, [0, 0, *pads[:nd], *zeros], [0, 0, *pads[nd:], *zeros], pad_value)

        def body(n, c, *o):
            ks = [te.reduce_axis((0, k), name=f"k{i}") for i, k in enumerate(kernel)]
            v = xt[(n, c, *(o[i] * strides[i] + ks[i] * dilations[i] for i in range(nd)), *o[nd:])]
            v = v if dtype is None else v.astype(dtype)
            return reducer(v if tap is None else tap(v, (n, c, *o), ks, *ext), axis=ks)
        return te.compute((*xt.shape[:2], *out, *tail), body, name=name)
    return b.emit_te(fn, x, *extra, name=name)


def _max_tvm(b, x, window, xs, a, dtype, name):
    return window_reduce(b, x, *window, pad_value=float("-inf"), reducer=nan_max(b), name=name)


def _average_tvm(b, x, window, xs, a, dtype, name):
    kernel_axes = tuple(range(len(xs), 2 * len(xs)))
    total = window_reduce(b, x, *window, pad_value=0.0, reducer=b.te.sum, name=name)
    count = _count(xs, a).sum(kernel_axes)
    tail = len(b.shape(x)) - 2 - len(xs)       # a channel block after the spatial axes
    return b.R.divide(total, b.const(count.reshape(count.shape + (1,) * tail), dtype))


def _lp_tvm(b, x, window, xs, a, dtype, name):
    p = a["p"]
    total = window_reduce(b, x, *window, pad_value=0.0, reducer=b.te.sum, name=name,
                          tap=lambda v, o, ks: b.tir.power(b.tir.abs(v), b.tir.const(p, dtype)))
    return total if p == 1 else b.R.power(total, b.const(1.0 / p, dtype))


def _log_sum_exp_tvm(b, x, window, xs, a, dtype, name):
    m = window_reduce(b, x, *window, pad_value=float("-inf"), reducer=nan_max(b), name=name)
    total = window_reduce(b, x, *window, pad_value=float("-inf"), reducer=b.te.sum, name=name,
                          tap=lambda v, o, ks, mt: b.tir.exp(v - mt[o]), extra=(m,))
    return b.R.add(m, b.R.log(total))


def _weighted_average_tvm(b, x, window, xs, a, dtype, name):
    """The reference's arithmetic, taps times float64 weights summed in float64 (the weights
    of far taps underflow float32 for a small sigma)."""
    kernel_axes = tuple(range(len(xs), 2 * len(xs)))
    w = _weights(xs, a)
    w = w / w.sum(kernel_axes, keepdims=True)
    total = window_reduce(b, x, *window, pad_value=0.0, reducer=b.te.sum, dtype="float64", name=name,
                          tap=lambda v, o, ks, wt: v * wt[(*o[2:2 + len(ks)], *ks)], extra=(b.const(w, "float64"),))
    return b.R.astype(total, dtype)


def lower_pool(op, b, x, shape, dtype, a):
    """The Relax result of pool ``op`` with canonical attributes ``a`` over ``x`` (a Relax
    expression of ``shape`` and ``dtype``); the global pools call it with one window
    covering the input."""
    xs = shape[2:]
    ceil = bool(a["ceil_mode"])
    window = (a["kernel_shape"], a["strides"], a["dilations"], sp.buffer_pads(xs, a, ceil_mode=ceil),
              sp.output_shape(xs, a, ceil_mode=ceil))
    kind = POOLS[op]
    return kind.tvm(b, x, window, xs, a, dtype, kind.tag)


def _pool_tvm(op):
    def rule(req, xs, b):
        x = req.in_types[0]
        return lower_pool(op, b, xs[0], x.shape, x.dtype, req.attrs)
    return rule


def _reference(kind):
    def ref(inputs, a):
        x = inputs[0]
        nd = x.ndim - 2
        win = sp.windows(x, a, pad_value=kind.pad_value, ceil_mode=bool(a["ceil_mode"]))
        axes = tuple(range(-nd, 0))  # the kernel axes, of the windows and of their masks
        return np.asarray(kind.reduce(win, x.shape[2:], a, axes)).astype(x.dtype)
    return ref


# ------------------------------------------------------------------ the pool kinds
@dataclass(frozen=True)
class PoolKind:
    """One pool: everything that differs between them.

    ``pad_value`` pads the reference's windows (a value ``reduce`` ignores); ``reduce(win,
    xs, a, axes)`` is the reference reduction (see above); ``export`` the ONNX export hook;
    ``tag`` names its C kernel (``c/kernels/pool.c.j2`` branches on it) and TVM computation;
    ``c_tables(n, one_axis_attrs, valid)`` gives the per-axis tables its C kernel needs
    beyond the window rows; ``tvm(b, x, window, xs, a, dtype, name)`` lowers it;
    ``zero_padded`` is the op's trait (``OpDef.zero_padded``)."""

    name: str
    tag: str
    attrs: Mapping[str, Attr]
    pad_value: float
    reduce: Callable
    export: Callable
    tvm: Callable
    c_tables: Callable | None = None
    zero_padded: Callable | None = None
    #: the fold of the C ``rows`` plan (``_c_rows``; 1-D and 2-D): "max" or "sum" (then
    #: divided by the count tables), or None where the pool has no such plan
    c_rows: str | None = None


POOLS: dict[str, PoolKind] = {}
#: the pools with a channel-blocked form (``BlockedPool``, ``cnnc.ops.blocked_pool``), and the
#: attributes it drops: ``storage_order`` orders MaxPool's Indices, which cnnc does not make
BLOCKED_POOLS = ("MaxPool", "AveragePool")
NOT_BLOCKED = ("storage_order",)


def _blocked(kind: str):
    """``OpDef.blocked`` of pool ``kind``: a BlockedPool of 1-D or 2-D maps (one window per
    channel, so the windows are the same on a channel-blocked tensor; no form that changes
    layout, which would cost a transform's traffic in the pool)."""
    def form(in_types, a, block, x_plain: bool = False, y_plain: bool = False):
        if x_plain or y_plain or in_types[0].rank not in (3, 4):
            return None
        own = {k: v for k, v in a.items() if k not in NOT_BLOCKED}
        return Blocked(op="BlockedPool", attrs={**own, "pool": kind, "block": block}, operands=(ACT,))
    return form if kind in BLOCKED_POOLS else None

for _kind in (
    PoolKind("MaxPool", "maxpool", {"storage_order": _BIT}, -np.inf, lambda win, xs, a, axes: win.max(axes),
             _export_onnx_pool, _max_tvm, c_rows="max"),
    PoolKind("AveragePool", "avgpool", {"count_include_pad": _BIT}, 0.0, _average, _export_onnx_pool,
             _average_tvm, c_tables=_count_table, zero_padded=lambda a: a["count_include_pad"] == 1, c_rows="sum"),
    PoolKind("LpPool", "lppool", {"p": LP_P}, 0.0, _lp, _export_onnx_pool, _lp_tvm,
             zero_padded=lambda a: True),
    PoolKind("LSEPool", "lsepool", {}, -np.inf, _log_sum_exp, _export_function("lse"), _log_sum_exp_tvm),
    PoolKind("WeightedAvgPool", "wavgpool", {"sigma": _SIGMA}, 0.0, _weighted_average,
             _export_function("weighted"), _weighted_average_tvm, c_tables=_weight_table),
):
    POOLS[_kind.name] = _kind
    register(OpDef(name=_kind.name, inputs=("X",), attrs={**_window_attrs(), **_kind.attrs},
                   canonicalize=_canon, infer=_infer, reference=_reference(_kind),
                   onnx=OnnxMap(exporter=_kind.export), kernels={"c": _c_table(_kind)}, tvm=_pool_tvm(_kind.name),
                   zero_padded=_kind.zero_padded, blocked=_blocked(_kind.name),
                   doc=f"N-D {_kind.name} over sliding windows"))
