"""CUDA kernels of GlobalAveragePool, GlobalMaxPool and GlobalLpPool (p = 1, 2, 3), run by
the CPU emulator (no GPU), agree with the reference over test_c_global_pool.py's shapes
(1-D/2-D/3-D) and ResNet's 7x7 in one graph; float64 and a NaN in another."""
import numpy as np
from test_c_global_pool import NODES, SHAPES
from test_c_reduce import graph_check


def test_global_pool_cuda_emu(rng):
    # (2, 8, 7, 7): 49 elements per row, odd (no lanes) -- a block per row
    inputs = [rng.standard_normal(xs).astype(np.float32) for xs in [*SHAPES, (2, 8, 7, 7)]]
    graph_check(inputs, [(op, [i], a) for i in range(len(inputs)) for op, _, a in NODES],
                backend="cuda-emu")


def test_global_pool_cuda_emu_float64_and_nan(rng):
    x = rng.standard_normal((2, 3, 4, 4)).astype(np.float32)
    x[1, 2, 3, 0] = np.nan                   # one NaN poisons its channel's max, as in numpy
    graph_check([rng.standard_normal((1, 2, 3, 3)), x], NODES + [("GlobalMaxPool", [1], {})],
                rtol=1e-12, atol=1e-12, backend="cuda-emu")
