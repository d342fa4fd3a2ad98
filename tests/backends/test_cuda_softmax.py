"""CUDA kernels of Softmax and LogSoftmax, run by the CPU emulator (no GPU), agree with the
reference along every axis of test_c_softmax.py's shapes (axis innermost and long: a block
of threads per row; otherwise a thread per row), float32 and float64 in one graph, and stay
finite for huge inputs."""
import numpy as np
from test_c_reduce import graph_check

OPS = ["Softmax", "LogSoftmax"]
SHAPES = [((7,), None), ((7,), 0), ((3, 5), None), ((3, 5), 0), ((2, 3, 4), 1), ((2, 3, 4), -2),
          ((2, 3, 4, 5), None), ((2, 3, 4, 5), 1), ((2, 3, 4, 5), -4), ((1, 2, 3, 4, 5), 2),
          ((2, 3, 300), 1), ((3, 64), 1), ((2, 1000), None), ((2, 1001), -1)]


def test_softmax_cuda_emu(rng):
    inputs = [rng.standard_normal(shape).astype(np.float32) * 3 for shape, _ in SHAPES]
    nodes = [(op, [i], {} if axis is None else {"axis": axis})
             for i, (_, axis) in enumerate(SHAPES) for op in OPS]
    graph_check(inputs, nodes, backend="cuda-emu")


def test_softmax_cuda_emu_large_inputs_and_float64(rng):
    x = np.concatenate([rng.standard_normal((4, 6)) * 1e4, np.full((1, 6), -3e38)]).astype(np.float32)
    row = np.concatenate([rng.standard_normal((2, 70)) * 1e4, np.full((2, 2), -3e38)], axis=1)
    inputs = [x, row.astype(np.float32)]
    nodes = [(op, [0], {"axis": 0}) for op in OPS] + [(op, [1], {}) for op in OPS]
    graph_check(inputs, nodes, backend="cuda-emu")
    graph_check([rng.standard_normal((3, 4, 5)), rng.standard_normal((2, 96))],
                [(op, [i], {"axis": 1}) for op in OPS for i in (0, 1)],
                rtol=1e-12, atol=1e-12, backend="cuda-emu")
