"""MaxUnpool agrees with the reference on every backend of ``helpers.BACKENDS`` over the grid
of tests/ops/test_unpool.py (1-D/2-D/3-D, strides, pads, a larger output_shape; float32 and
float64, on TVM float16 too, in one graph), with the indices a run-time input; repeated
indices keep the last write (the CUDA kernel claims each position for the largest k with
atomicMax, so a GPU agrees too); an out-of-range index (where the reference raises) is
skipped, on C checked under ASan+UBSan."""
import numpy as np
import pytest
from helpers import backends, check_graph, compile_for, run_sanitized
from test_unpool import CASES  # the attribute grids of tests/ops

import cnnc
from cnnc.ir import Graph, TensorType


def unpooled_size(xs, attrs):
    nd = len(xs) - 2
    s, p = attrs.get("strides", (1,) * nd), attrs.get("pads", (0,) * 2 * nd)
    return xs[0] * xs[1] * int(np.prod([(n - 1) * s[d] + attrs["kernel_shape"][d] - p[d] - p[nd + d]
                                        for d, n in enumerate(xs[2:])]))


def build(feeds, nodes):
    """A graph over the inputs ``feeds`` with one MaxUnpool per ``(x name, i name, attrs)``."""
    g = Graph("unpool")
    vals = {k: g.add_input(k, TensorType.of(v)) for k, v in feeds.items()}
    for k, (xn, iname, attrs) in enumerate(nodes):
        (y,) = g.add_node("MaxUnpool", [vals[xn], vals[iname]], attrs, label=f"unpool{k}")
        g.add_output(y, f"y{k}")
    return g


@backends
@pytest.mark.parametrize("xs,attrs", CASES, ids=lambda v: str(v).replace(" ", ""))
def test_maxunpool(backend, rng, xs, attrs):
    """float32 and float64 (on TVM float16 too) values scattered by distinct indices, and by
    indices with repeats (the last write wins, as numpy's scatter)."""
    size = unpooled_size(xs, attrs)
    feeds = {"x32": rng.standard_normal(xs).astype(np.float32), "x64": rng.standard_normal(xs)}
    if backend == "tvm":                      # float16: TVM's alone
        feeds["x16"] = rng.standard_normal(xs).astype(np.float16)
    feeds |= {"i": rng.choice(size, size=xs, replace=False).astype(np.int64),
              "rep": rng.integers(0, min(size, 5), xs).astype(np.int64)}
    nodes = [("x32", "i", attrs), ("x64", "i", attrs), ("x32", "rep", attrs), ("x64", "rep", attrs)]
    if "x16" in feeds:
        nodes.append(("x16", "i", attrs))
    check_graph(build(feeds, nodes), feeds, rtol=0, atol=0, backend=backend)


@backends
def test_maxunpool_onnx_node_cases(backend):
    """The ONNX node tests' indices, with and without a larger output_shape."""
    feeds = {"x": np.array([[[[5, 6], [7, 8]]]], np.float32),
             "i": np.array([[[[5, 7], [13, 15]]]], np.int64)}
    a = {"kernel_shape": (2, 2), "strides": (2, 2)}
    g = build(feeds, [("x", "i", a), ("x", "i", {**a, "output_shape": (1, 1, 5, 5)})])
    got = list(compile_for(g, backend).run(feeds).values())
    np.testing.assert_array_equal(got[0], [[[[0, 0, 0, 0], [0, 5, 0, 6], [0, 0, 0, 0], [0, 7, 0, 8]]]])
    np.testing.assert_array_equal(got[1], [[[[0, 0, 0, 0, 0], [0, 5, 0, 6, 0], [0, 0, 0, 0, 0],
                                             [0, 7, 0, 8, 0], [0, 0, 0, 0, 0]]]])


@backends
def test_maxunpool_out_of_range_index_is_skipped(backend, rng, tmp_path):
    """The reference raises; the kernel leaves zeros and stays in bounds (on C the
    standalone driver, under ASan+UBSan)."""
    x = rng.standard_normal((1, 2, 2, 3)).astype(np.float32)
    attrs = {"kernel_shape": (2, 2), "strides": (2, 2), "output_shape": (1, 2, 5, 7)}
    good = rng.choice(unpooled_size(x.shape, attrs), size=x.shape, replace=False).astype(np.int64)
    bad = good.copy()
    bad[0, 0, 0, :] = (-1, 48, 1 << 40)                  # 48 = N*C*4*6 is one past the end
    feeds = {"x": x, "i": bad}
    g = build(feeds, [("x", "i", attrs)])
    got = (run_sanitized(g, feeds, tmp_path / "gen") if backend == "c" else compile_for(g, backend).run(feeds))["y0"]
    x_kept = x.copy()
    x_kept[0, 0, 0, :] = 0                               # the skipped values, scattered as zeros
    want = cnnc.compile(g, target="reference").run({"x": x_kept, "i": good})["y0"]
    np.testing.assert_array_equal(got, want)
