"""CUDA kernels of MaxRoiPool and RoiAlign (a thread per output element), run by the CPU
emulator (no GPU), agree with the reference over test_c_roi_pool.py's grid with rois (and
batch indices) as run-time inputs: boxes partly or wholly outside the image, corners on
rounding ties, every pooled shape / sampling ratio / mode / coordinate transformation,
float32 and float64; an out-of-range batch index gives zeros for that roi."""
import numpy as np
from helpers import check_graph, compile_for
from test_c_roi_pool import POOLED, _rois, build
from test_roi_pool import ALIGN_ATTRS  # the attribute grids of tests/ops

import cnnc


def test_roi_ops_cuda_emu(rng):
    feeds, nodes = {}, []
    for xs in [(1, 3, 10, 12), (2, 2, 7, 5)]:
        for dtype in ["float32", "float64"]:
            x = f"x{len(feeds)}"
            feeds[x] = rng.standard_normal(xs).astype(dtype)
            for pooled, scale in POOLED:
                feeds[f"rois{len(feeds)}"] = _rois(rng, 6, xs[0], max(xs[2:]) / scale).astype(dtype)
                nodes.append(("MaxRoiPool", [x, f"rois{len(feeds) - 1}"],
                              {"pooled_shape": pooled, "spatial_scale": scale}))
    for xs in [(1, 3, 10, 12), (3, 2, 6, 9)]:
        x, idx = f"x{len(feeds)}", f"idx{len(feeds)}"
        feeds[x] = rng.standard_normal(xs).astype(np.float32)
        feeds[idx] = rng.integers(0, xs[0], 5).astype(np.int64)
        for attrs in ALIGN_ATTRS:
            feeds[f"rois{len(feeds)}"] = _rois(rng, 5, xs[0], max(xs[2:]) / attrs.get("spatial_scale", 1.0),
                                               with_index=False)
            nodes.append(("RoiAlign", [x, f"rois{len(feeds) - 1}", idx], attrs))
    # MaxRoiPool's float32 rounding (0.49999997 + 0.5 rounds up; ties away from zero)
    feeds["xr"] = np.arange(2 * 1 * 6 * 6, dtype=np.float32).reshape(2, 1, 6, 6)
    feeds["rr"] = np.array([[0, 0.49999997, 0.49999997, 2.5, 3.5], [1, -0.5, -1.5, 4.49999997, 1.5],
                            [1, 5.5, 5.5, 9, 9]], np.float32)
    nodes += [("MaxRoiPool", ["xr", "rr"], {"pooled_shape": (2, 3)}),
              ("MaxRoiPool", ["xr", "rr"], {"pooled_shape": (3, 2), "spatial_scale": 0.5})]
    # RoiAlign in float64 with an inverted box (no samples under half_pixel: zeros)
    feeds["xa"] = rng.standard_normal((2, 2, 6, 7))
    feeds["ra"] = np.concatenate([[[4, 4, 1, 1], [1, 1, 4, 4], [-3, -2, 9, 9]], _rois(rng, 3, 2, 7, False)])
    feeds["ia"] = np.array([0, 1, 1, 0, 1, 0], np.int64)
    nodes += [("RoiAlign", ["xa", "ra", "ia"], {**a, "output_height": 2, "output_width": 3}) for a in ALIGN_ATTRS]
    check_graph(build(nodes, feeds), feeds, rtol=1e-5, atol=1e-6, backend="cuda-emu")


def test_roi_ops_cuda_emu_out_of_range_batch_index_gives_zeros(rng):
    """The reference raises; the kernels write zeros for those rois; the other rois are as
    the reference computes them."""
    x = rng.standard_normal((2, 3, 6, 7)).astype(np.float32)
    boxes = _rois(rng, 5, 2, 7, with_index=False)
    bad = np.array([0, 2, -1, 1, 7])          # rows 1, 2, 4 are out of range
    rois = np.concatenate([bad[:, None].astype(np.float32), boxes], axis=1)
    rois[4, 0] = np.nan
    feeds = {"x": x, "rois": rois, "boxes": boxes, "idx": bad.astype(np.int64)}
    nodes = [("MaxRoiPool", ["x", "rois"], {"pooled_shape": (2, 2)}),
             ("RoiAlign", ["x", "boxes", "idx"], {"output_height": 2, "output_width": 2})]
    got = compile_for(build(nodes, feeds), "cuda-emu").run(feeds)
    ok = [0, 3]
    good = {"x": x, "rois": rois[ok], "boxes": boxes[ok], "idx": bad[ok].astype(np.int64)}
    want = cnnc.compile(build(nodes, good), target="reference").run(good)
    for y, w in zip(got.values(), want.values()):
        np.testing.assert_allclose(y[ok], w, rtol=1e-5, atol=1e-6)
        assert not y[[1, 2, 4]].any()
