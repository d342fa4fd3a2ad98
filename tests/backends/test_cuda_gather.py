"""CUDA kernels of Gather, run by the CPU emulator (no GPU), agree exactly with the
reference: constant indices (offset tables) and run-time indices over test_c_gather.py's
cases, int32/int64 indices, every data dtype, in one graph; an out-of-range run-time index
gives a row of zeros (a kernel has no error path)."""
import numpy as np
from helpers import add, check_graph, compile_for
from test_c_gather import CASES

from cnnc.ir import Graph, TensorType


def test_gather_cuda_emu(rng):
    g, feeds = Graph("gather"), {}
    for dtype, idtype in [("float32", "int64"), ("int64", "int32"), ("float64", "int32")]:
        for shape, axis, ishape in CASES:
            data = (rng.standard_normal(shape) * 100).astype(dtype)
            n = shape[axis]
            indices = np.asarray(rng.integers(-n, n, size=ishape), dtype=idtype)
            add(g, feeds, "Gather", [data, indices], {"axis": axis})
            add(g, feeds, "Gather", [data, indices], {"axis": axis}, const=(1,))
    for dtype in ["bool", "uint8", "int8", "int32"]:
        data = (rng.standard_normal((3, 4)) * 50).astype(dtype)
        indices = np.array([[-1, 0], [2, 2]], dtype=np.int64)
        add(g, feeds, "Gather", [data, indices], {"axis": 1})
        add(g, feeds, "Gather", [data, indices], {"axis": 1}, const=(1,))
        add(g, feeds, "Gather", [data, indices[0]], {"axis": 0}, const=(0,), name=f"embedding_{dtype}")
    check_graph(g, feeds, rtol=0, atol=0, backend="cuda-emu")


def test_out_of_range_runtime_index_gives_zeros_cuda_emu():
    g = Graph("gather_oob")
    (y,) = g.add_node("Gather", [g.add_input("data", TensorType((2, 3))),
                                 g.add_input("indices", TensorType((4,), "int64"))], {"axis": 1})
    g.add_output(y, "y")
    data = np.arange(1, 7, dtype=np.float32).reshape(2, 3)
    got = compile_for(g, "cuda-emu").run({"data": data, "indices": np.array([0, 3, -4, -1])})["y"]
    np.testing.assert_array_equal(got, [[1, 0, 0, 3], [4, 0, 0, 6]])
