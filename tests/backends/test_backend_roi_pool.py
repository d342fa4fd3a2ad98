"""MaxRoiPool and RoiAlign agree with the reference on every backend of ``helpers.BACKENDS``
(on CUDA a thread per output element) over the grid of tests/ops/test_roi_pool.py, with
rois (and batch indices) as run-time inputs: boxes partly or wholly outside the image,
corners on rounding ties, every pooled shape / sampling ratio / mode / coordinate
transformation; float32 and float64 (float16 on TVM).  An out-of-range batch index (where
the reference raises) gives zeros for that roi.  The settings over one input are nodes of
one graph (one compile); on C some builds also run as the standalone driver under
ASan+UBSan."""
import numpy as np
import pytest
from helpers import backend_params, backends, c_sanitize_dir, check_graph, compile_for, only, run_sanitized
from test_roi_pool import ALIGN_ATTRS, _rois  # the attribute grids and boxes of tests/ops

import cnnc
from cnnc.ir import Graph, TensorType


def build(nodes, feeds):
    """A graph over the inputs ``feeds`` with one node per ``(op, input names, attrs)``."""
    g = Graph("roi")
    vals = {k: g.add_input(k, TensorType.of(v)) for k, v in feeds.items()}
    for i, (op, names, attrs) in enumerate(nodes):
        (y,) = g.add_node(op, [vals[n] for n in names], attrs, label=f"{op.lower()}{i}")
        g.add_output(y, f"y{i}")
    return g


def check_nodes(nodes, feeds, *, rtol=1e-5, atol=1e-6, sanitize_dir=None, backend="c"):
    """The ``backend`` build (on C given ``sanitize_dir``, also the driver under
    ASan+UBSan) gives the reference's outputs."""
    check_graph(build(nodes, feeds), feeds, sanitize_dir, rtol=rtol, atol=atol, backend=backend)


POOLED = [((2, 2), 1.0), ((3, 4), 0.5), ((1, 1), 0.75), ((4, 3), 0.25), ((6, 6), 1.0)]
MAX_ROI_GRID = [(xs, dtype) for dtype in ("float32", "float64") for xs in [(1, 3, 10, 12), (2, 2, 7, 5)]]


# float16: TVM's alone
@pytest.mark.parametrize("backend,xs,dtype", backend_params("xs,dtype", MAX_ROI_GRID)
                         + backend_params("xs,dtype", [((2, 2, 7, 5), "float16")], "tvm"))
def test_max_roi_pool(backend, rng, xs, dtype):
    feeds = {"x": rng.standard_normal(xs).astype(dtype)}
    nodes = []
    for k, (pooled, scale) in enumerate(POOLED):
        feeds[f"rois{k}"] = _rois(rng, 6, xs[0], max(xs[2:]) / scale).astype(dtype)
        nodes.append(("MaxRoiPool", ["x", f"rois{k}"], {"pooled_shape": pooled, "spatial_scale": scale}))
    check_nodes(nodes, feeds, backend=backend)


@backends
def test_max_roi_pool_float32_rounding_and_nan(backend):
    """Corners rounded as the reference does, in float32: |v| + 0.5 rounds up to the next
    integer for v = 0.49999997 (C's roundf would give 0), and ties go away from zero (topi's
    roi_pool rounds -0.5 to 0); a NaN in a bin is its max."""
    x = np.arange(2 * 1 * 6 * 6, dtype=np.float32).reshape(2, 1, 6, 6)
    x[1, 0, 0, 0] = np.nan
    rois = np.array([[0, 0.49999997, 0.49999997, 2.5, 3.5],
                     [1, -0.5, -1.5, 4.49999997, 1.5],
                     [1, 5.5, 5.5, 9, 9]], np.float32)
    check_nodes([("MaxRoiPool", ["x", "rois"], {"pooled_shape": (2, 3)}),
                 ("MaxRoiPool", ["x", "rois"], {"pooled_shape": (3, 2), "spatial_scale": 0.5})],
                {"x": x, "rois": rois}, rtol=0, atol=0, backend=backend)


@backends
@pytest.mark.parametrize("xs", [(1, 3, 10, 12), (3, 2, 6, 9)])
def test_roi_align(backend, rng, xs):
    feeds = {"x": rng.standard_normal(xs).astype(np.float32),
             "idx": rng.integers(0, xs[0], 5).astype(np.int64)}
    nodes = []
    for k, attrs in enumerate(ALIGN_ATTRS):
        feeds[f"rois{k}"] = _rois(rng, 5, xs[0], max(xs[2:]) / attrs.get("spatial_scale", 1.0),
                                  with_index=False)
        nodes.append(("RoiAlign", ["x", f"rois{k}", "idx"], attrs))
    check_nodes(nodes, feeds, backend=backend)


def _inverted_box_case(rng):
    """RoiAlign nodes over float64 inputs with a box with x2 < x1, and their feeds."""
    x = rng.standard_normal((2, 2, 6, 7))
    rois = np.concatenate([[[4, 4, 1, 1], [1, 1, 4, 4], [-3, -2, 9, 9]], _rois(rng, 3, 2, 7, False)])
    feeds = {"x": x, "rois": rois.astype(np.float64), "idx": np.array([0, 1, 1, 0, 1, 0], np.int64)}
    nodes = [("RoiAlign", ["x", "rois", "idx"], {**a, "output_height": 2, "output_width": 3})
             for a in ALIGN_ATTRS]
    return nodes, feeds


@backends
def test_roi_align_float64_and_inverted_box(backend, rng, tmp_path):
    """A box with x2 < x1 under half_pixel has no samples: zeros; float64 throughout; on C
    run under ASan+UBSan too."""
    nodes, feeds = _inverted_box_case(rng)
    check_nodes(nodes, feeds, rtol=1e-12, atol=1e-13, sanitize_dir=c_sanitize_dir(backend, tmp_path / "gen"),
                backend=backend)


@only("tvm")  # float16: TVM's alone
def test_roi_align_tvm_only_float16_and_inverted_box(backend, rng):
    """float16 (computed in float64 as the reference does)."""
    nodes, feeds = _inverted_box_case(rng)
    feeds = {"x": feeds["x"].astype(np.float16), "rois": feeds["rois"].astype(np.float16), "idx": feeds["idx"]}
    check_nodes(nodes, feeds, rtol=1e-3, atol=1e-3, backend=backend)


@backends
def test_roi_ops_out_of_range_batch_index_gives_zeros(backend, rng, tmp_path):
    """The reference raises; the kernels write zeros for those rois and stay in bounds (on C
    the standalone driver, checked under ASan+UBSan); the other rois are as the reference
    computes them."""
    x = rng.standard_normal((2, 3, 6, 7)).astype(np.float32)
    boxes = _rois(rng, 5, 2, 7, with_index=False)
    bad = np.array([0, 2, -1, 1, 7])          # rows 1, 2, 4 are out of range
    rois = np.concatenate([bad[:, None].astype(np.float32), boxes], axis=1)
    rois[4, 0] = np.nan
    feeds = {"x": x, "rois": rois, "boxes": boxes, "idx": bad.astype(np.int64)}
    nodes = [("MaxRoiPool", ["x", "rois"], {"pooled_shape": (2, 2)}),
             ("RoiAlign", ["x", "boxes", "idx"], {"output_height": 2, "output_width": 2})]
    g = build(nodes, feeds)
    got = run_sanitized(g, feeds, tmp_path / "gen") if backend == "c" else compile_for(g, backend).run(feeds)
    ok = [0, 3]
    good = {"x": x, "rois": rois[ok], "boxes": boxes[ok], "idx": bad[ok].astype(np.int64)}
    want = cnnc.compile(build(nodes, good), target="reference").run(good)
    for y, w in zip(got.values(), want.values()):
        np.testing.assert_allclose(y[ok], w, rtol=1e-5, atol=1e-6)
        assert not y[[1, 2, 4]].any()
