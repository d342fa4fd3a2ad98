"""Region-of-interest pooling (Fast R-CNN): ``MaxRoiPool`` and ``RoiAlign``, ONNX semantics.

``MaxRoiPool``: ``X (N, C, H, W)``, ``rois (R, 5)`` rows ``[batch_index, x1, y1, x2, y2]``
in input-image coordinates; attributes ``pooled_shape`` (2 ints, required) and
``spatial_scale`` (> 0, default 1.0); output ``(R, C, ph, pw)``.  Caffe's ROIPooling, as
onnxruntime implements it: the corners are scaled and rounded half away from zero, the
region is ``[x1, x2] x [y1, y2]`` inclusive (at least 1x1), bin ``i`` of ``p`` spans rows
``[floor(i*h/p), ceil((i+1)*h/p))`` of it (bin arithmetic in float32, as Caffe does, or
float64 for a float64 input), clipped to the image; a bin left empty by the clipping gives
0.  ONNX's reference evaluator has no MaxRoiPool; onnxruntime is the one to compare with.

``RoiAlign`` (opset 16): ``X (N, C, H, W)``, ``rois (R, 4)`` rows ``[x1, y1, x2, y2]``,
``batch_indices (R,)`` int64; attributes ``mode`` (avg|max), ``output_height``,
``output_width``, ``sampling_ratio`` (0: ``ceil(roi extent / output extent)`` samples per
bin and axis), ``spatial_scale`` and ``coordinate_transformation_mode`` (``half_pixel``
shifts the scaled corners by -0.5; ``output_half_pixel`` does not, and forces the region
to at least 1x1).  Each sample is bilinearly interpolated (samples beyond one pixel
outside the image count as 0); ``avg`` averages a bin's samples.  ``max`` follows ONNX's
reference and onnxruntime: per sample it takes the largest of the four *weighted* corner
terms ``w_i * x_i`` (not the interpolated value), then the max over the bin's samples.

``rois`` and ``batch_indices`` stay operands (they are data a network computes, region
proposals, not static shapes); an out-of-range batch index is therefore reported when the
reference runs, not at graph building.

C kernels: the bins depend on the run-time rois, so the kernels compute them as the
reference does, in the same arithmetic (MaxRoiPool in the input's float type, RoiAlign
in double).  Where the reference raises or has no defined result, the kernels stay in
bounds instead: an out-of-range (or NaN) batch index gives zeros for that roi; scaled
MaxRoiPool corners are clamped to +-1e18 before the conversion to an integer, and
RoiAlign's adaptive sampling grid is capped at 2^31-1 samples per bin and axis (a NaN
roi extent gives no samples: zeros); its run time grows with that grid, as the
reference's and onnxruntime's do, so a huge roi with ``sampling_ratio=0`` is slow.
"""
from __future__ import annotations

import math

import numpy as np

from ..ir import Attr, CnncError, Kernel, OpDef, ShapeError, register
from ._c import SHORT, cfn, ctype, num
from ._common import require_float, same_dtype
from .pool import nan_max


def _positive(v):
    return None if v > 0 else "must be > 0"


def _check_image(x):
    require_float(x)
    if x.rank != 4:
        raise ShapeError(f"X must be N, C, H, W; got {x}")


def _check_batch(b, n):
    if not 0 <= b < n:
        raise CnncError(f"RoI batch index {b} is out of range for an input batch of {n}")
    return b


# ------------------------------------------------------------------ MaxRoiPool
def _round_half_away(v):
    return np.sign(v) * np.floor(np.abs(v) + 0.5)


def _max_roi_infer(types, a):
    x, rois = types
    _check_image(x)
    same_dtype(types, ("X", "rois"))
    if rois.rank != 2 or rois.shape[1] != 5:
        raise ShapeError(f"rois must be (num_rois, 5) rows [batch_index, x1, y1, x2, y2]; "
                         f"got {rois}")
    return (x.with_shape((rois.shape[0], x.shape[1], *a["pooled_shape"])),)


def _roi_bins(start, extent, pooled, limit, dtype):
    """Clipped ``(lo, hi)`` of the ``pooled`` bins of a region of ``extent`` rows."""
    size = dtype.type(extent) / dtype.type(pooled)
    edges = np.arange(pooled + 1, dtype=dtype) * size
    lo = np.clip(np.floor(edges[:-1]).astype(int) + start, 0, limit)
    hi = np.clip(np.ceil(edges[1:]).astype(int) + start, 0, limit)
    return zip(lo, hi)


def _max_roi_ref(inputs, a):
    x, rois = inputs
    ph, pw = a["pooled_shape"]
    h, w = x.shape[2:]
    dtype = np.promote_types(x.dtype, np.float32)
    y = np.zeros((rois.shape[0], x.shape[1], ph, pw), dtype=x.dtype)
    for r, roi in enumerate(rois.astype(dtype)):
        img = x[_check_batch(int(roi[0]), x.shape[0])]
        x1, y1, x2, y2 = _round_half_away(roi[1:] * dtype.type(a["spatial_scale"])).astype(int)
        rows = list(_roi_bins(y1, max(y2 - y1 + 1, 1), ph, h, dtype))
        cols = list(_roi_bins(x1, max(x2 - x1 + 1, 1), pw, w, dtype))
        for i, (r0, r1) in enumerate(rows):
            for j, (c0, c1) in enumerate(cols):
                if r1 > r0 and c1 > c0:
                    y[r, :, i, j] = img[:, r0:r1, c0:c1].max(axis=(1, 2))
    return y


def _roi_dims(req):
    x, rois = req.in_types[:2]
    n, c, h, w = x.shape
    return {"ctype": ctype(x.dtype), "n": n, "c": c, "h": h, "w": w, "rois": rois.shape[0],
            "floor": cfn("floor", x.dtype), "ceil": cfn("ceil", x.dtype), "fabs": cfn("fabs", x.dtype)}


def _max_roi_c(req):
    x, y = req.in_types[0], req.out_types[0]
    ph, pw = req.attrs["pooled_shape"]
    # the bin arithmetic is in the input's float type (float32 for float32, as Caffe's)
    params = {**_roi_dims(req), "ph": ph, "pw": pw,
              "scale": num(req.attrs["spatial_scale"], x.dtype), "half": num(0.5, x.dtype),
              "neg_inf": "(-INFINITY)" if x.dtype == "float32" else "(-HUGE_VAL)",
              "corner_limit": num(1e18, x.dtype)}
    name = f"cnnc_maxroipool_{SHORT[x.dtype]}_{'x'.join(map(str, x.shape))}_r{y.shape[0]}_{ph}x{pw}"
    return Kernel("c/kernels/roi_pool.c.j2", name, params,
                  comment=f"MaxRoiPool pooled_shape {(ph, pw)} spatial_scale "
                          f"{req.attrs['spatial_scale']}: {x} -> {y}")


def _batch_table(b, rois, value, n):
    """TE ``(rois, 2)`` int64: per roi the batch index to read (0 where it is out of range)
    and 1 where the index ``value(r)`` lies in ``[0, n)`` (a float one as the reference's
    ``int()`` truncates it: ``-1 < value < n``; NaN is out)."""
    tir = b.tir

    def entry(r, k):
        v = value(r)
        ok = (v > tir.const(-1, v.dtype)) & (v < tir.const(n, v.dtype))
        return tir.Select(k == 0, tir.Select(ok, v, tir.const(0, v.dtype)).astype("int64"), ok.astype("int64"))
    return b.te.compute((rois, 2), entry, name="batch")


def _max_roi_tvm(req, xs, b):
    """TE, as the C kernel: per roi the corners rounded half away from zero (in the
    reference's float type, clamped to +-1e18 before the conversion to int64) and the bins'
    clipped bounds (small tensors of their own), then per output a NaN-propagating max
    (``pool.nan_max``) over a reduction domain of its bin's run-time extent; an empty bin or
    an out-of-range batch index gives 0.  (topi's roi_pool rounds half up, reads any batch
    index and loops over the whole image per bin.)"""
    x, a = req.in_types[0], req.attrs
    n, c, h, w = x.shape
    ph, pw = a["pooled_shape"]
    ft = str(np.promote_types(x.dtype, np.float32))
    te, tir = b.te, b.tir
    lim = 10 ** 18

    def const(v, dt=ft):
        return tir.const(v, dt)

    def fn(data, rois):
        nr = rois.shape[0]

        def corner(r, k):
            v = rois[r, k + 1].astype(ft) * const(a["spatial_scale"])
            m = te.floor(te.abs(v) + const(0.5))
            rv = tir.Select(v < const(0), -m, m)
            return tir.Select(rv > const(-lim), tir.Select(rv < const(lim), rv.astype("int64"), const(lim, "int64")),
                              const(-lim, "int64"))
        corners = te.compute((nr, 4), corner, name="corners")        # x1, y1, x2, y2

        def bins(pooled, axis, size):
            def bound(r, i, end):
                start = corners[r, axis]
                extent = te.max(corners[r, axis + 2] - start + 1, const(1, "int64"))
                edge = (i + end).astype(ft) * (extent.astype(ft) / const(pooled))
                edge = tir.Select(end == 0, te.floor(edge), te.ceil(edge)).astype("int64") + start
                return te.min(te.max(edge, const(0, "int64")), const(size, "int64"))
            return te.compute((nr, pooled, 2), bound, name=f"bins{axis}")
        rows, cols = bins(ph, 1, h), bins(pw, 0, w)
        batch = _batch_table(b, nr, lambda r: rois[r, 0], n)

        def body(r, ch, i, j):
            rh = te.reduce_axis((0, rows[r, i, 1] - rows[r, i, 0]), name="rh")
            rw = te.reduce_axis((0, cols[r, j, 1] - cols[r, j, 0]), name="rw")
            return nan_max(b)(data[batch[r, 0], ch, rows[r, i, 0] + rh, cols[r, j, 0] + rw], axis=[rh, rw])
        pooled = te.compute((nr, c, ph, pw), body, name="maxroipool")

        def finish(r, ch, i, j):
            ok = (batch[r, 1] == 1) & (rows[r, i, 0] < rows[r, i, 1]) & (cols[r, j, 0] < cols[r, j, 1])
            return tir.Select(ok, pooled[r, ch, i, j], const(0, x.dtype))
        return te.compute(pooled.shape, finish, name="maxroipool_out")
    return b.emit_te(fn, xs[0], xs[1], name="maxroipool")


register(OpDef(
    name="MaxRoiPool",
    inputs=("X", "rois"),
    attrs={"pooled_shape": Attr("ints", check=lambda v: None if len(v) == 2 and min(v) >= 1
                                else "needs 2 entries >= 1 (height, width)"),
           "spatial_scale": Attr("float", 1.0, check=_positive)},
    infer=_max_roi_infer,
    reference=_max_roi_ref,
    kernels={"c": _max_roi_c},
    tvm=_max_roi_tvm,
    doc="Fast R-CNN max RoI pooling to a fixed pooled_shape",
))


# ------------------------------------------------------------------ RoiAlign
def _roi_align_infer(types, a):
    x, rois, idx = types
    _check_image(x)
    same_dtype(types[:2], ("X", "rois"))
    if rois.rank != 2 or rois.shape[1] != 4:
        raise ShapeError(f"rois must be (num_rois, 4) rows [x1, y1, x2, y2]; got {rois}")
    if idx.shape != (rois.shape[0],) or idx.dtype != "int64":
        raise ShapeError(f"batch_indices must be int64 of shape ({rois.shape[0]},) to match "
                         f"rois {rois}; got {idx}")
    return (x.with_shape((rois.shape[0], x.shape[1], a["output_height"], a["output_width"])),)


def _taps(pos, size):
    """Bilinear taps along one axis for sample positions ``pos``: the low and high
    indices and their weights, the weights zero for samples beyond one pixel outside."""
    inside = (pos >= -1.0) & (pos <= size)
    pos = np.maximum(pos, 0.0)
    lo = np.floor(pos).astype(int)
    edge = lo >= size - 1
    lo = np.where(edge, size - 1, lo)
    hi = np.where(edge, size - 1, lo + 1)
    frac = np.where(edge, 0.0, pos - lo) * inside
    return lo, hi, (1.0 - frac) * inside, frac


def _roi_align_one(img, roi, a):
    """RoiAlign of one region of ``img`` (C, H, W) → (C, output_height, output_width)."""
    oh, ow = a["output_height"], a["output_width"]
    half = a["coordinate_transformation_mode"] == "half_pixel"
    x1, y1, x2, y2 = roi * a["spatial_scale"] - (0.5 if half else 0.0)
    rw, rh = (x2 - x1, y2 - y1) if half else (max(x2 - x1, 1.0), max(y2 - y1, 1.0))
    sr = a["sampling_ratio"]
    gh, gw = (sr, sr) if sr > 0 else (math.ceil(rh / oh), math.ceil(rw / ow))
    c = img.shape[0]
    if gh <= 0 or gw <= 0:  # an inverted half_pixel region has no samples
        return np.zeros((c, oh, ow))
    ys = y1 + (np.arange(oh)[:, None] + (np.arange(gh) + 0.5) / gh) * (rh / oh)
    xs = x1 + (np.arange(ow)[:, None] + (np.arange(gw) + 0.5) / gw) * (rw / ow)
    ylo, yhi, wylo, wyhi = _taps(ys.ravel(), img.shape[1])
    xlo, xhi, wxlo, wxhi = _taps(xs.ravel(), img.shape[2])
    terms = [np.outer(wy, wx) * img[:, yi[:, None], xi[None, :]]
             for yi, wy in ((ylo, wylo), (yhi, wyhi)) for xi, wx in ((xlo, wxlo), (xhi, wxhi))]
    if a["mode"] == "avg":
        samples, reduce = sum(terms), np.mean
    else:
        samples, reduce = np.maximum.reduce(terms), np.max
    return reduce(samples.reshape(c, oh, gh, ow, gw), axis=(2, 4))


def _roi_align_ref(inputs, a):
    x, rois, idx = inputs
    y = np.zeros((rois.shape[0], x.shape[1], a["output_height"], a["output_width"]), x.dtype)
    for r, (roi, b) in enumerate(zip(rois.astype(np.float64), idx)):
        y[r] = _roi_align_one(x[_check_batch(int(b), x.shape[0])], roi, a)
    return y


def _roi_align_c(req):
    a, x, y = req.attrs, req.in_types[0], req.out_types[0]
    half = a["coordinate_transformation_mode"] == "half_pixel"
    params = {**_roi_dims(req), "oh": a["output_height"], "ow": a["output_width"],
              "sampling_ratio": a["sampling_ratio"], "half_pixel": half, "mode": a["mode"],
              "scale": num(a["spatial_scale"], "float64")}
    name = (f"cnnc_roialign_{a['mode']}_{SHORT[x.dtype]}_{'x'.join(map(str, x.shape))}_r{y.shape[0]}"
            f"_{a['output_height']}x{a['output_width']}_sr{a['sampling_ratio']}"
            + ("_half" if half else ""))
    return Kernel("c/kernels/roi_align.c.j2", name, params,
                  comment=f"RoiAlign {a['mode']} {a['coordinate_transformation_mode']} "
                          f"sampling_ratio {a['sampling_ratio']} spatial_scale "
                          f"{a['spatial_scale']}: {x} -> {y}")


def _roi_align_tvm(req, xs, b):
    """TE in float64, the reference's arithmetic (as the C kernel): per roi the region and
    its sampling grid (``sampling_ratio`` 0: ``ceil(extent / output extent)`` per axis, a
    run-time reduction extent, capped at 2^31-1; a NaN or non-positive one gives no samples),
    small tensors of their own; the four weighted corner terms ``w_i * x_i`` (``_taps``) of
    every sample of a bin summed and divided by the sample count (avg), or their
    NaN-propagating max (max: the max over the samples of each sample's max term).  No samples or an out-of-range batch index gives 0.  (topi's roi_align
    computes in the rois' type, takes max mode's max over interpolated values rather than
    weighted terms, clamps sample positions differently and reads any batch index.)"""
    a, x = req.attrs, req.in_types[0]
    n, c, h, w = x.shape
    oh, ow = a["output_height"], a["output_width"]
    half, avg, sr = a["coordinate_transformation_mode"] == "half_pixel", a["mode"] == "avg", a["sampling_ratio"]
    te, tir, f64 = b.te, b.tir, "float64"
    reducer = te.sum if avg else nan_max(b)

    def num(v):
        return tir.const(v, f64)

    def taps(pos, size):
        """``_taps``: low/high index and weight along one axis of a sample position; the
        indices stay in bounds for any position (NaN included)."""
        inside = ((pos >= num(-1.0)) & (pos <= num(size))).astype(f64)
        pos = tir.Select(pos < num(0.0), num(0.0), pos)
        edge = tir.Not(pos < num(size - 1))
        lo = tir.Select(edge, tir.const(size - 1, "int64"), te.floor(pos).astype("int64"))
        hi = tir.Select(edge, lo, lo + 1)
        frac = tir.Select(edge, num(0.0), pos - lo.astype(f64)) * inside
        return (lo, (num(1.0) - frac) * inside), (hi, frac)

    def fn(data, rois, idx):
        nr = rois.shape[0]

        def corner(r, k):  # x1, y1, x2, y2 scaled (and shifted)
            return rois[r, k].astype(f64) * num(a["spatial_scale"]) - num(0.5 if half else 0.0)

        def region_entry(r, k):  # y1, rh, x1, rw
            begin, end = corner(r, 1 - k // 2), corner(r, 3 - k // 2)
            extent = end - begin if half else te.max(end - begin, num(1.0))
            return tir.Select(k % 2 == 0, begin, extent)
        region = te.compute((nr, 4), region_entry, name="region")

        def grid_entry(r, k):  # samples per bin along y, x
            if sr > 0:
                return tir.const(sr, "int64")
            g = te.ceil(region[r, 2 * k + 1] / tir.Select(k == 0, num(oh), num(ow)))
            return tir.Select(g >= num(1.0), te.min(g, num(2 ** 31 - 1)), num(0.0)).astype("int64")
        grid = te.compute((nr, 2), grid_entry, name="grid")
        batch = _batch_table(b, nr, lambda r: idx[r], n)

        def position(r, axis, o, s, out):
            g = grid[r, axis].astype(f64)
            return region[r, 2 * axis] + (o.astype(f64) + (s.astype(f64) + num(0.5)) / g) * (
                region[r, 2 * axis + 1] / num(out))

        def body(r, ch, i, j):
            # the corner q (of 4) is a reduction axis too: max and sum are associative
            sy = te.reduce_axis((0, grid[r, 0]), name="sy")
            sx = te.reduce_axis((0, grid[r, 1]), name="sx")
            q = te.reduce_axis((0, 4), name="q")
            (ylo, wylo), (yhi, wyhi) = taps(position(r, 0, i, sy, oh), h)
            (xlo, wxlo), (xhi, wxhi) = taps(position(r, 1, j, sx, ow), w)
            low_y, low_x = q < 2, q % 2 == 0
            term = (tir.Select(low_y, wylo, wyhi) * tir.Select(low_x, wxlo, wxhi)
                    * data[batch[r, 0], ch, tir.Select(low_y, ylo, yhi), tir.Select(low_x, xlo, xhi)].astype(f64))
            return reducer(term, axis=[sy, sx, q])
        acc = te.compute((nr, c, oh, ow), body, name="roialign")

        def finish(r, ch, i, j):
            count = grid[r, 0] * grid[r, 1]
            v = acc[r, ch, i, j] / count.astype(f64) if avg else acc[r, ch, i, j]
            return tir.Select((batch[r, 1] == 1) & (count > 0), v, num(0.0)).astype(x.dtype)
        return te.compute(acc.shape, finish, name="roialign_out")
    return b.emit_te(fn, *xs, name=f"roialign_{a['mode']}")


_POS_INT = Attr("int", 1, check=lambda v: None if v >= 1 else "must be >= 1")

register(OpDef(
    name="RoiAlign",
    inputs=("X", "rois", "batch_indices"),
    attrs={"coordinate_transformation_mode": Attr("str", "half_pixel",
                                                  choices=("half_pixel", "output_half_pixel")),
           "mode": Attr("str", "avg", choices=("avg", "max")),
           "output_height": _POS_INT,
           "output_width": _POS_INT,
           "sampling_ratio": Attr("int", 0, check=lambda v: None if v >= 0 else "must be >= 0"),
           "spatial_scale": Attr("float", 1.0, check=_positive)},
    infer=_roi_align_infer,
    reference=_roi_align_ref,
    kernels={"c": _roi_align_c},
    tvm=_roi_align_tvm,
    doc="RoI Align (Mask R-CNN): bilinearly sampled RoI pooling to a fixed output size",
))
