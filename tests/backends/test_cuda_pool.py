"""CUDA kernels of the windowed pools (MaxPool, AveragePool, LpPool, LSEPool,
WeightedAvgPool), run by the CPU emulator (no GPU: ``cnnc_cuda_emu.h``), agree with the
reference over the window grid of test_c_pool.py (that of tests/ops/test_pool.py): 1-D/2-D/
3-D, strides, dilations, explicit/SAME/VALID/FULL pads, ceil_mode, count_include_pad;
float64, NaN and -inf, WeightedAvgPool's sigma limits.  The whole grid is one graph (one
build); test_cuda_nvcc.py compiles these kernels with nvcc."""
import numpy as np
from helpers import check_graph
from test_c_pool import CASES, FULL, POOLS  # the grids of tests/ops/test_pool.py

from cnnc.ir import Graph, TensorType


def pools_graph(cases, pools=POOLS):
    """One graph: per ``(x, attrs)`` of ``cases`` an input and one node per pool of
    ``pools`` over it.  Returns the graph and its feeds."""
    g, feeds = Graph("pools"), {}
    for c, (x, attrs) in enumerate(cases):
        xv = g.add_input(f"x{c}", TensorType.of(x))
        feeds[f"x{c}"] = x
        for i, (op, extra) in enumerate(pools):
            (y,) = g.add_node(op, [xv], {**attrs, **extra}, label=f"{op.lower()}{c}_{i}")
            g.add_output(y, f"y{c}_{i}")
    return g, feeds


def test_pools_cuda_emu(rng):
    cases = [(rng.standard_normal(xs).astype(np.float32), attrs) for xs, attrs in CASES]
    cases += [(rng.standard_normal(xs).astype(np.float32), {"kernel_shape": k, "auto_pad": "FULL"})
              for xs, k in FULL]
    g, feeds = pools_graph(cases)
    check_graph(g, feeds, backend="cuda-emu")


def test_pools_cuda_emu_float64(rng):
    cases = [(rng.standard_normal(xs), attrs) for xs, attrs in (CASES[6], CASES[13], CASES[18])]
    check_graph(*pools_graph(cases), rtol=1e-12, atol=1e-13, backend="cuda-emu")


def test_pools_cuda_emu_special_values(rng):
    """Large values (LSE subtracts the window max), -inf and NaN (max propagates NaN);
    WeightedAvgPool's sigma limits."""
    x = (1000 + rng.standard_normal((1, 2, 6, 6))).astype(np.float32)
    x[0, 1, 2, 3], x[0, 1, 0, 0] = np.nan, -np.inf
    g, feeds = pools_graph([(x, {"kernel_shape": (3, 3), "pads": (1, 1, 1, 1)})],
                           [("MaxPool", {}), ("LSEPool", {}), ("AveragePool", {})])
    check_graph(g, feeds, backend="cuda-emu")
    x = rng.standard_normal((1, 2, 7, 7)).astype(np.float32)
    g, feeds = pools_graph([(x, {"kernel_shape": (3, 3), "pads": (1, 1, 1, 1), "strides": (2, 2)})],
                           [("WeightedAvgPool", {"sigma": 1e6}), ("WeightedAvgPool", {"sigma": 0.05})])
    check_graph(g, feeds, backend="cuda-emu")
