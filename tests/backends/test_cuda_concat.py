"""CUDA kernels of Concat and Split (one coalesced row-block copy per part), run by the CPU
emulator (no GPU), agree exactly with the reference: test_c_concat.py's cases (DenseNet
channel concat, empty parts, 5-D), other dtypes, a constant operand, Split feeding Concat
inside a graph."""
import numpy as np
from helpers import add, check_graph
from test_c_concat import CONCATS, EMPTY, SPLITS

from cnnc.ir import Graph, TensorType


def test_concat_and_split_cuda_emu(rng):
    g, feeds = Graph("concat_split"), {}
    for shapes, axis in CONCATS + EMPTY[0]:
        add(g, feeds, "Concat", [rng.standard_normal(s).astype(np.float32) for s in shapes], {"axis": axis})
    for shape, attrs in SPLITS + EMPTY[1]:
        add(g, feeds, "Split", [rng.standard_normal(shape).astype(np.float32)], attrs)
    for dtype in ["float64", "int64", "int32", "int8", "uint8", "bool"]:
        xs = [(rng.standard_normal((2, n, 3)) * 50).astype(dtype) for n in (1, 2, 3)]
        add(g, feeds, "Concat", xs, {"axis": 1}, name=f"concat_{dtype}")
        add(g, feeds, "Concat", xs, {"axis": 1}, const=(1,), name=f"with_constant_{dtype}")
        add(g, feeds, "Split", [xs[2]], {"axis": 1, "split": (2, 1)}, name=f"split_{dtype}")
    check_graph(g, feeds, rtol=0, atol=0, backend="cuda-emu")


def test_split_then_concat_inside_a_graph_cuda_emu(rng):
    x = rng.standard_normal((2, 9, 3)).astype(np.float32)
    g = Graph("split_concat")
    parts = g.add_node("Split", [g.add_input("x", TensorType.of(x))], {"axis": 1, "num_outputs": 4})
    parts = [g.add_node("Neg", [p])[0] for p in parts]
    (y,) = g.add_node("Concat", parts[::-1], {"axis": 1})
    (z,) = g.add_node("Concat", [y, g.add_node("Neg", [y])[0]], {"axis": 2})
    g.add_output(z, "z")
    check_graph(g, {"x": x}, rtol=0, atol=0, backend="cuda-emu")
