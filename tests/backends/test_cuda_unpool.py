"""CUDA kernel of MaxUnpool, run by the CPU emulator (no GPU), agrees with the reference
over the grid of tests/ops/test_unpool.py (1-D/2-D/3-D, strides, pads, a larger
output_shape; float32 and float64) in one graph, with the indices a run-time input;
repeated indices keep the last write (the kernel claims each position for the largest k
with atomicMax, so a GPU agrees too); an out-of-range index is skipped."""
import numpy as np
from helpers import check_graph, compile_for
from test_c_unpool import build, unpooled_size
from test_unpool import CASES  # the attribute grids of tests/ops

import cnnc


def test_maxunpool_cuda_emu(rng):
    feeds, nodes = {}, []
    for c, (xs, attrs) in enumerate(CASES):
        size = unpooled_size(xs, attrs)
        feeds |= {f"x32_{c}": rng.standard_normal(xs).astype(np.float32), f"x64_{c}": rng.standard_normal(xs),
                  f"i{c}": rng.choice(size, size=xs, replace=False).astype(np.int64),
                  f"rep{c}": rng.integers(0, min(size, 5), xs).astype(np.int64)}
        nodes += [(f"x32_{c}", f"i{c}", attrs), (f"x64_{c}", f"i{c}", attrs), (f"x32_{c}", f"rep{c}", attrs),
                  (f"x64_{c}", f"rep{c}", attrs)]
    check_graph(build(feeds, nodes), feeds, rtol=0, atol=0, backend="cuda-emu")


def test_maxunpool_cuda_emu_out_of_range_index_is_skipped(rng):
    x = rng.standard_normal((1, 2, 2, 3)).astype(np.float32)
    attrs = {"kernel_shape": (2, 2), "strides": (2, 2), "output_shape": (1, 2, 5, 7)}
    good = rng.choice(unpooled_size(x.shape, attrs), size=x.shape, replace=False).astype(np.int64)
    bad = good.copy()
    bad[0, 0, 0, :] = (-1, 48, 1 << 40)                  # 48 = N*C*4*6 is one past the end
    g = build({"x": x, "i": bad}, [("x", "i", attrs)])
    got = compile_for(g, "cuda-emu").run({"x": x, "i": bad})["y0"]
    x_kept = x.copy()
    x_kept[0, 0, 0, :] = 0                               # the skipped values, scattered as zeros
    want = cnnc.compile(g, target="reference").run({"x": x_kept, "i": good})["y0"]
    np.testing.assert_array_equal(got, want)
