"""CUDA kernel of SpatialPyramidPool, run by the CPU emulator (no GPU), agrees with the
reference over test_c_pyramid_pool.py's shapes, levels (bins that overlap, levels finer
than the input) and modes in one graph; float64 in another."""
import numpy as np
from test_c_pyramid_pool import NODES
from test_c_reduce import graph_check

SHAPES = [(2, 3, 13), (2, 3, 7, 9), (1, 2, 5, 3, 6), (1, 2, 3, 2)]


def test_spp_cuda_emu(rng):
    inputs = [rng.standard_normal(xs).astype(np.float32) for xs in SHAPES]
    graph_check(inputs, [(op, [i], a) for i in range(len(inputs)) for op, _, a in NODES],
                backend="cuda-emu")


def test_spp_cuda_emu_float64(rng):
    graph_check([rng.standard_normal((2, 3, 8, 12))], NODES, rtol=1e-12, atol=1e-12, backend="cuda-emu")
