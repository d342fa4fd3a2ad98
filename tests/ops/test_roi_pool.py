"""MaxRoiPool against onnxruntime and a Caffe-style loop; RoiAlign against onnx.reference
and onnxruntime."""
import math

import numpy as np
import pytest
from helpers import assert_close, cnnc_run, onnx_run

from cnnc.ir import CnncError


def _rois(rng, n_rois, batch, size, with_index=True):
    """Random boxes, some partly or wholly outside the image, corners on a 0.25 grid so that
    scaled corners hit rounding ties."""
    corners = np.round(rng.uniform(-3, size + 3, (n_rois, 2)) * 4) / 4
    ext = np.round(rng.uniform(0, size, (n_rois, 2)) * 4) / 4
    boxes = np.concatenate([corners, corners + ext], axis=1)
    if not with_index:
        return boxes.astype(np.float32)
    return np.concatenate([rng.integers(0, batch, (n_rois, 1)), boxes], 1).astype(np.float32)


def loop_max_roi_pool(x, rois, pooled, scale):
    """Caffe's ROIPoolingLayer (as onnxruntime implements it), one output at a time."""
    ph, pw = pooled
    h, w = x.shape[2:]
    y = np.zeros((len(rois), x.shape[1], ph, pw), np.float32)
    f = np.float32

    def rnd(v):  # C's round(): half away from zero
        return int(math.copysign(math.floor(abs(v) + 0.5), v))

    for r, roi in enumerate(rois):
        b = int(roi[0])
        x1, y1, x2, y2 = (rnd(f(v) * f(scale)) for v in roi[1:])
        bin_h = f(max(y2 - y1 + 1, 1)) / f(ph)
        bin_w = f(max(x2 - x1 + 1, 1)) / f(pw)
        for c in range(x.shape[1]):
            for i in range(ph):
                for j in range(pw):
                    hs = min(max(math.floor(f(i) * bin_h) + y1, 0), h)
                    he = min(max(math.ceil(f(i + 1) * bin_h) + y1, 0), h)
                    ws = min(max(math.floor(f(j) * bin_w) + x1, 0), w)
                    we = min(max(math.ceil(f(j + 1) * bin_w) + x1, 0), w)
                    vals = [x[b, c, hh, ww] for hh in range(hs, he) for ww in range(ws, we)]
                    y[r, c, i, j] = max(vals) if vals else 0
    return y


@pytest.mark.parametrize("xs", [(1, 3, 10, 12), (2, 2, 7, 5)])
@pytest.mark.parametrize("pooled,scale", [((2, 2), 1.0), ((3, 4), 0.5), ((1, 1), 0.75),
                                          ((4, 3), 0.25), ((6, 6), 1.0)])
def test_max_roi_pool(rng, xs, pooled, scale):
    # onnx.reference has no MaxRoiPool: onnxruntime, and the loop above
    x = rng.standard_normal(xs).astype(np.float32)
    rois = _rois(rng, 6, xs[0], max(xs[2:]) / scale)
    attrs = {"pooled_shape": pooled, "spatial_scale": scale}
    (got,) = cnnc_run("MaxRoiPool", [x, rois], attrs)
    assert got.shape == (6, xs[1], *pooled)
    assert_close(got, onnx_run("MaxRoiPool", [x, rois], attrs, runtime="ort")[0])
    assert_close(got, loop_max_roi_pool(x, rois, pooled, scale))


ALIGN_ATTRS = [
    {},
    {"output_height": 3, "output_width": 2},
    {"output_height": 2, "output_width": 4, "sampling_ratio": 2, "spatial_scale": 0.5},
    {"output_height": 3, "output_width": 3, "mode": "max"},
    {"output_height": 2, "output_width": 2, "mode": "max", "sampling_ratio": 3},
    {"output_height": 4, "output_width": 3, "coordinate_transformation_mode": "output_half_pixel"},
    {"output_height": 2, "output_width": 3, "spatial_scale": 0.25, "mode": "max",
     "coordinate_transformation_mode": "output_half_pixel"},
]


@pytest.mark.parametrize("xs", [(1, 3, 10, 12), (3, 2, 6, 9)])
@pytest.mark.parametrize("attrs", ALIGN_ATTRS)
def test_roi_align_matches_onnx(rng, xs, attrs):
    x = rng.standard_normal(xs).astype(np.float32)
    rois = _rois(rng, 5, xs[0], max(xs[2:]) / attrs.get("spatial_scale", 1.0), with_index=False)
    idx = rng.integers(0, xs[0], 5).astype(np.int64)
    (got,) = cnnc_run("RoiAlign", [x, rois, idx], attrs)
    assert got.shape == (5, xs[1], attrs.get("output_height", 1), attrs.get("output_width", 1))
    assert_close(got, onnx_run("RoiAlign", [x, rois, idx], attrs)[0])
    assert_close(got, onnx_run("RoiAlign", [x, rois, idx], attrs, runtime="ort")[0])


def test_roi_align_inverted_box(rng):
    """A box with x2 < x1 under half_pixel has no samples (sampling_ratio 0): zeros.
    onnxruntime raises an integer overflow here, so only onnx.reference is compared."""
    x = rng.standard_normal((1, 2, 6, 6)).astype(np.float32)
    rois = np.array([[4, 4, 1, 1], [1, 1, 4, 4]], np.float32)
    idx = np.zeros(2, np.int64)
    for mode in ("avg", "max"):
        attrs = {"output_height": 2, "output_width": 2, "mode": mode}
        (got,) = cnnc_run("RoiAlign", [x, rois, idx], attrs)
        assert_close(got, onnx_run("RoiAlign", [x, rois, idx], attrs)[0])
        assert not got[0].any()


@pytest.mark.parametrize("op,shapes,attrs,msg", [
    ("MaxRoiPool", [(1, 2, 5, 5), (3, 4)], {"pooled_shape": (2, 2)}, "rois must be"),
    ("MaxRoiPool", [(1, 2, 5), (3, 5)], {"pooled_shape": (2, 2)}, "N, C, H, W"),
    ("MaxRoiPool", [(1, 2, 5, 5), (3, 5)], {"pooled_shape": (2, 2, 2)}, "needs 2 entries"),
    ("MaxRoiPool", [(1, 2, 5, 5), (3, 5)], {}, "missing required attribute 'pooled_shape'"),
    ("MaxRoiPool", [(1, 2, 5, 5), (3, 5)], {"pooled_shape": (2, 2), "spatial_scale": 0.0},
     "must be > 0"),
    ("RoiAlign", [(1, 2, 5, 5), (3, 5), (3,)], {}, "rois must be"),
    ("RoiAlign", [(1, 2, 5, 5), (3, 4), (2,)], {}, "batch_indices must be int64"),
    ("RoiAlign", [(1, 2, 5, 5), (3, 4), (3,)], {"mode": "sum"}, "must be one of"),
    ("RoiAlign", [(1, 2, 5, 5), (3, 4), (3,)], {"output_width": 0}, ">= 1"),
])
def test_roi_ops_reject_bad_input(op, shapes, attrs, msg):
    ins = [np.zeros(s, np.float32) for s in shapes]
    if op == "RoiAlign":
        ins[2] = ins[2].astype(np.int64)
    with pytest.raises(CnncError, match=msg):
        cnnc_run(op, ins, attrs)


def test_roi_align_rejects_int32_indices():
    with pytest.raises(CnncError, match="int64"):
        cnnc_run("RoiAlign", [np.zeros((1, 2, 5, 5), np.float32), np.zeros((3, 4), np.float32),
                              np.zeros(3, np.int32)])


def test_roi_batch_index_out_of_range():
    x = np.zeros((2, 1, 4, 4), np.float32)
    with pytest.raises(CnncError, match="batch index 2 is out of range"):
        cnnc_run("MaxRoiPool", [x, np.array([[2, 0, 0, 1, 1]], np.float32)],
                 {"pooled_shape": (1, 1)})
    with pytest.raises(CnncError, match="batch index -1 is out of range"):
        cnnc_run("RoiAlign", [x, np.zeros((1, 4), np.float32), np.array([-1], np.int64)])
