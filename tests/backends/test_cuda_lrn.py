"""CUDA kernel of LRN, run by the CPU emulator (no GPU), agrees with the reference over
test_c_lrn.py's shapes (1-D/2-D/3-D) and sizes (odd, even, wider than the channel axis) in
one graph; float64 in another."""
import numpy as np
from test_c_lrn import ATTRS, SHAPES
from test_c_reduce import graph_check


def test_lrn_cuda_emu(rng):
    inputs = [rng.standard_normal(shape).astype(np.float32) for shape in SHAPES]
    graph_check(inputs, [("LRN", [i], a) for i in range(len(inputs)) for a in ATTRS],
                backend="cuda-emu")


def test_lrn_cuda_emu_float64(rng):
    graph_check([rng.standard_normal((2, 6, 3, 3))], [("LRN", [0], a) for a in ATTRS],
                rtol=1e-12, atol=1e-12, backend="cuda-emu")
