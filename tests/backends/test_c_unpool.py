"""C kernel of MaxUnpool agrees with the reference over the grid of tests/ops/test_unpool.py
(1-D/2-D/3-D, strides, pads, a larger output_shape; float32 and float64 in one graph), with
the indices a run-time input; repeated indices keep the last write; an out-of-range index
(where the reference raises) is skipped, checked under ASan+UBSan."""
import numpy as np
import pytest
from helpers import check_graph
from test_unpool import CASES  # the attribute grids of tests/ops

import cnnc
from cnnc.backends import c as cb
from cnnc.ir import Graph, TensorType

SANITIZE = ("-fsanitize=address,undefined", "-fno-sanitize-recover=all")

# tests/ops/test_unpool.py's CASES


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


@pytest.mark.parametrize("xs,attrs", CASES, ids=lambda v: str(v).replace(" ", ""))
def test_maxunpool_c(rng, xs, attrs):
    """float32 and float64 values scattered by distinct indices, and by indices with
    repeats (the last write wins, as numpy's scatter)."""
    size = unpooled_size(xs, attrs)
    feeds = {"x32": rng.standard_normal(xs).astype(np.float32), "x64": rng.standard_normal(xs),
             "i": rng.choice(size, size=xs, replace=False).astype(np.int64),
             "rep": rng.integers(0, min(size, 5), xs).astype(np.int64)}
    check_graph(build(feeds, [("x32", "i", attrs), ("x64", "i", attrs), ("x32", "rep", attrs)]),
                feeds, rtol=0, atol=0)


def test_maxunpool_c_onnx_node_cases():
    """The ONNX node tests' indices, with and without a larger output_shape."""
    feeds = {"x": np.array([[[[5, 6], [7, 8]]]], np.float32),
             "i": np.array([[[[5, 7], [13, 15]]]], np.int64)}
    a = {"kernel_shape": (2, 2), "strides": (2, 2)}
    g = build(feeds, [("x", "i", a), ("x", "i", {**a, "output_shape": (1, 1, 5, 5)})])
    got = list(cnnc.compile(g, target="c").run(feeds).values())
    np.testing.assert_array_equal(got[0], [[[[0, 0, 0, 0], [0, 5, 0, 6], [0, 0, 0, 0], [0, 7, 0, 8]]]])
    np.testing.assert_array_equal(got[1], [[[[0, 0, 0, 0, 0], [0, 5, 0, 6, 0], [0, 0, 0, 0, 0],
                                             [0, 7, 0, 8, 0], [0, 0, 0, 0, 0]]]])


def test_maxunpool_c_out_of_range_index_is_skipped(rng, tmp_path):
    """The reference raises; the kernel leaves zeros and stays in bounds (ASan+UBSan)."""
    x = rng.standard_normal((1, 2, 2, 3)).astype(np.float32)
    attrs = {"kernel_shape": (2, 2), "strides": (2, 2), "output_shape": (1, 2, 5, 7)}
    good = rng.choice(unpooled_size(x.shape, attrs), size=x.shape, replace=False).astype(np.int64)
    bad = good.copy()
    bad[0, 0, 0, :] = (-1, 48, 1 << 40)                  # 48 = N*C*4*6 is one past the end
    feeds = {"x": x, "i": bad}
    g = build(feeds, [("x", "i", attrs)])
    exe = cb.build_exe(cb.generate(g, tmp_path / "gen"), flags=("-O1",), sanitize_flags=SANITIZE)
    (got,) = cb.run_exe(exe, [x, bad], list(g.output_types().values()),
                        env={"ASAN_OPTIONS": "detect_leaks=0"})
    x_kept = x.copy()
    x_kept[0, 0, 0, :] = 0                               # the skipped values, scattered as zeros
    want = cnnc.compile(g, target="reference").run({"x": x_kept, "i": good})["y0"]
    np.testing.assert_array_equal(got, want)
