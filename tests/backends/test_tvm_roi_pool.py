"""TVM lowering of MaxRoiPool and RoiAlign agrees with the reference over the grid of
test_c_roi_pool.py (that of tests/ops/test_roi_pool.py), with rois (and batch indices) as
run-time inputs: boxes partly or wholly outside the image, corners on rounding ties, every
pooled shape / sampling ratio / mode / coordinate transformation; float32, float64, float16.
An out-of-range batch index (where the reference raises) gives zeros for that roi, as in the
C kernels.  The settings over one input are nodes of one graph (one build)."""
import importlib.util

import numpy as np
import pytest
from helpers import check_graph, compile_for
from test_c_roi_pool import POOLED, _rois, build  # boxes, graph builder, pooled shapes/scales
from test_roi_pool import ALIGN_ATTRS  # the attribute grids of tests/ops

import cnnc

pytestmark = pytest.mark.skipif(importlib.util.find_spec("tvm") is None,
                                reason="TVM backend tests need Apache TVM: pip install 'cnnc[tvm]'")


def check_nodes(nodes, feeds, *, rtol=1e-5, atol=1e-6):
    check_graph(build(nodes, feeds), feeds, rtol=rtol, atol=atol, backend="tvm")


@pytest.mark.parametrize("xs,dtype", [((1, 3, 10, 12), "float32"), ((2, 2, 7, 5), "float64"),
                                      ((2, 2, 7, 5), "float16")])
def test_max_roi_pool_tvm(rng, xs, dtype):
    feeds = {"x": rng.standard_normal(xs).astype(dtype)}
    nodes = []
    for k, (pooled, scale) in enumerate(POOLED):
        feeds[f"rois{k}"] = _rois(rng, 6, xs[0], max(xs[2:]) / scale).astype(dtype)
        nodes.append(("MaxRoiPool", ["x", f"rois{k}"], {"pooled_shape": pooled, "spatial_scale": scale}))
    check_nodes(nodes, feeds)


def test_max_roi_pool_tvm_float32_rounding_and_nan():
    """Corners rounded as the reference does, in float32: |v| + 0.5 rounds up to the next
    integer for v = 0.49999997, and ties go away from zero (topi's roi_pool rounds -0.5 to 0);
    a NaN in a bin is its max."""
    x = np.arange(2 * 1 * 6 * 6, dtype=np.float32).reshape(2, 1, 6, 6)
    x[1, 0, 0, 0] = np.nan
    rois = np.array([[0, 0.49999997, 0.49999997, 2.5, 3.5],
                     [1, -0.5, -1.5, 4.49999997, 1.5],
                     [1, 5.5, 5.5, 9, 9]], np.float32)
    check_nodes([("MaxRoiPool", ["x", "rois"], {"pooled_shape": (2, 3)}),
                 ("MaxRoiPool", ["x", "rois"], {"pooled_shape": (3, 2), "spatial_scale": 0.5})],
                {"x": x, "rois": rois}, rtol=0, atol=0)


@pytest.mark.parametrize("xs", [(1, 3, 10, 12), (3, 2, 6, 9)])
def test_roi_align_tvm(rng, xs):
    feeds = {"x": rng.standard_normal(xs).astype(np.float32),
             "idx": rng.integers(0, xs[0], 5).astype(np.int64)}
    nodes = []
    for k, attrs in enumerate(ALIGN_ATTRS):
        feeds[f"rois{k}"] = _rois(rng, 5, xs[0], max(xs[2:]) / attrs.get("spatial_scale", 1.0),
                                  with_index=False)
        nodes.append(("RoiAlign", ["x", f"rois{k}", "idx"], attrs))
    check_nodes(nodes, feeds)


def test_roi_align_tvm_float64_float16_and_inverted_box(rng):
    """A box with x2 < x1 under half_pixel has no samples: zeros; float64 throughout, and
    float16 (computed in float64 as the reference does)."""
    x = rng.standard_normal((2, 2, 6, 7))
    rois = np.concatenate([[[4, 4, 1, 1], [1, 1, 4, 4], [-3, -2, 9, 9]], _rois(rng, 3, 2, 7, False)])
    idx = np.array([0, 1, 1, 0, 1, 0], np.int64)
    nodes = [("RoiAlign", ["x", "rois", "idx"], {**a, "output_height": 2, "output_width": 3})
             for a in ALIGN_ATTRS]
    check_nodes(nodes, {"x": x, "rois": rois.astype(np.float64), "idx": idx}, rtol=1e-12, atol=1e-13)
    check_nodes(nodes, {"x": x.astype(np.float16), "rois": rois.astype(np.float16), "idx": idx},
                rtol=1e-3, atol=1e-3)


def test_roi_ops_tvm_out_of_range_batch_index_gives_zeros(rng):
    """The reference raises; the lowerings write zeros for those rois and read nothing out
    of bounds; the other rois are as the reference computes them."""
    x = rng.standard_normal((2, 3, 6, 7)).astype(np.float32)
    boxes = _rois(rng, 5, 2, 7, with_index=False)
    bad = np.array([0, 2, -1, 1, 7])          # rows 1, 2, 4 are out of range
    rois = np.concatenate([bad[:, None].astype(np.float32), boxes], axis=1)
    rois[4, 0] = np.nan
    feeds = {"x": x, "rois": rois, "boxes": boxes, "idx": bad.astype(np.int64)}
    nodes = [("MaxRoiPool", ["x", "rois"], {"pooled_shape": (2, 2)}),
             ("RoiAlign", ["x", "boxes", "idx"], {"output_height": 2, "output_width": 2})]
    got = list(compile_for(build(nodes, feeds), "tvm").run(feeds).values())
    ok = [0, 3]
    good = {"x": x, "rois": rois[ok], "boxes": boxes[ok], "idx": bad[ok].astype(np.int64)}
    want = list(cnnc.compile(build(nodes, good), target="reference").run(good).values())
    for y, w in zip(got, want):
        np.testing.assert_allclose(y[ok], w, rtol=1e-5, atol=1e-6)
        assert not y[[1, 2, 4]].any()
