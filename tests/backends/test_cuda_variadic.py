"""CUDA kernels of the variadic Max/Min (a left fold per element: elementwise_fold) and
Sum/Mean, run by the CPU emulator (no GPU), agree with the reference over
test_c_elementwise.py's broadcast shapes, float32/float64 and integer dtypes, numpy's NaN
and signed-zero rules; and in place, where the memory plan gives the result an operand's
buffer."""
import numpy as np
from helpers import add, check_graph
from test_c_elementwise import VARIADIC_SHAPES

from cnnc.ir import Graph, TensorType


def test_variadic_cuda_emu(rng):
    g, feeds = Graph("variadic"), {}
    for op in ["Max", "Min", "Sum", "Mean"]:
        for shapes in VARIADIC_SHAPES:
            add(g, feeds, op, [rng.standard_normal(s).astype(np.float32) for s in shapes])
        add(g, feeds, op, [rng.standard_normal((3, 4)), np.array(0.25), rng.standard_normal(4)],
            const=(1,), name=f"{op}_f64")
    for dtype in ["int64", "int32", "int8", "uint8"]:
        for op in ["Max", "Min"]:
            for shapes in VARIADIC_SHAPES[1:]:
                add(g, feeds, op, [rng.integers(0, 100, s).astype(dtype) for s in shapes])
    # numpy's maximum/minimum: any NaN operand gives NaN, ties keep the earlier operand
    a = np.array([np.nan, 1.0, 2.0, np.nan, -0.0, 0.0, 3.0], np.float32)
    b = np.array([1.0, np.nan, 2.0, np.nan, 0.0, -0.0, 3.0], np.float32)
    c = np.array([0.0, 0.0, np.nan, 5.0, 0.0, -0.0, -1.0], np.float32)
    for op in ["Max", "Min"]:
        add(g, feeds, op, [a, b], name=f"{op}_nan2")
        add(g, feeds, op, [a, b, c], name=f"{op}_nan3")
    got = check_graph(g, feeds, backend="cuda-emu")
    assert list(np.signbit(got["Max_nan2_out0"][4:6])) == [True, False]
    assert list(np.signbit(got["Min_nan2_out0"][4:6])) == [True, False]


def test_max_min_in_place_cuda_emu(rng):
    """Max/Min over a dying intermediate and a broadcast operand: the result takes the
    intermediate's buffer (each thread reads its operands before writing)."""
    x = rng.standard_normal((2, 3, 8)).astype(np.float32)
    b = rng.standard_normal((3, 1)).astype(np.float32)
    g = Graph("in_place")
    xv, bv = g.add_input("x", TensorType.of(x)), g.add_input("b", TensorType.of(b))
    (r,) = g.add_node("Neg", [xv])
    (m,) = g.add_node("Max", [r, bv])
    (m,) = g.add_node("Min", [bv, m, r])
    (y,) = g.add_node("Abs", [m])
    g.add_output(y, "y")
    check_graph(g, {"x": x, "b": b}, backend="cuda-emu")
