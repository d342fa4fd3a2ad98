"""TVM lowering of MaxUnpool agrees with the reference over the grid of test_c_unpool.py (that
of tests/ops/test_unpool.py: 1-D/2-D/3-D, strides, pads, a larger output_shape; float32,
float64 and float16 in one graph), with the indices a run-time input; repeated indices keep
the last write; an out-of-range index (where the reference raises) is skipped, as by the C
kernel."""
import importlib.util

import numpy as np
import pytest
from helpers import check_graph, compile_for
from test_c_unpool import build, unpooled_size  # the graph of MaxUnpool nodes, the index range
from test_unpool import CASES  # the attribute grids of tests/ops

import cnnc

pytestmark = pytest.mark.skipif(importlib.util.find_spec("tvm") is None,
                                reason="TVM backend tests need Apache TVM: pip install 'cnnc[tvm]'")


@pytest.mark.parametrize("xs,attrs", CASES, ids=lambda v: str(v).replace(" ", ""))
def test_maxunpool_tvm(rng, xs, attrs):
    """float32, float64 and float16 values scattered by distinct indices, and by indices with
    repeats (the last write wins, as numpy's scatter)."""
    size = unpooled_size(xs, attrs)
    feeds = {"x32": rng.standard_normal(xs).astype(np.float32), "x64": rng.standard_normal(xs),
             "x16": rng.standard_normal(xs).astype(np.float16),
             "i": rng.choice(size, size=xs, replace=False).astype(np.int64),
             "rep": rng.integers(0, min(size, 5), xs).astype(np.int64)}
    nodes = [("x32", "i", attrs), ("x64", "i", attrs), ("x16", "i", attrs), ("x32", "rep", attrs)]
    check_graph(build(feeds, nodes), feeds, rtol=0, atol=0, backend="tvm")


def test_maxunpool_tvm_onnx_node_cases():
    """The ONNX node tests' indices, with and without a larger output_shape."""
    feeds = {"x": np.array([[[[5, 6], [7, 8]]]], np.float32),
             "i": np.array([[[[5, 7], [13, 15]]]], np.int64)}
    a = {"kernel_shape": (2, 2), "strides": (2, 2)}
    g = build(feeds, [("x", "i", a), ("x", "i", {**a, "output_shape": (1, 1, 5, 5)})])
    got = list(compile_for(g, "tvm").run(feeds).values())
    np.testing.assert_array_equal(got[0], [[[[0, 0, 0, 0], [0, 5, 0, 6], [0, 0, 0, 0], [0, 7, 0, 8]]]])
    np.testing.assert_array_equal(got[1], [[[[0, 0, 0, 0, 0], [0, 5, 0, 6, 0], [0, 0, 0, 0, 0],
                                             [0, 7, 0, 8, 0], [0, 0, 0, 0, 0]]]])


def test_maxunpool_tvm_out_of_range_index_is_skipped(rng):
    """The reference raises; the lowering leaves zeros (no write out of bounds)."""
    x = rng.standard_normal((1, 2, 2, 3)).astype(np.float32)
    attrs = {"kernel_shape": (2, 2), "strides": (2, 2), "output_shape": (1, 2, 5, 7)}
    good = rng.choice(unpooled_size(x.shape, attrs), size=x.shape, replace=False).astype(np.int64)
    bad = good.copy()
    bad[0, 0, 0, :] = (-1, 48, 1 << 40)                  # 48 = N*C*4*6 is one past the end
    g = build({"x": x, "i": bad}, [("x", "i", attrs)])
    got = compile_for(g, "tvm").run({"x": x, "i": bad})["y0"]
    x_kept = x.copy()
    x_kept[0, 0, 0, :] = 0                               # the skipped values, scattered as zeros
    want = cnnc.compile(g, target="reference").run({"x": x_kept, "i": good})["y0"]
    np.testing.assert_array_equal(got, want)
