"""TVM lowering of the windowed pools (MaxPool, AveragePool, LpPool, LSEPool, WeightedAvgPool)
agrees with the reference over the window grid of test_c_pool.py (that of tests/ops/test_pool.py):
1-D/2-D/3-D, strides, dilations, explicit/SAME/VALID/FULL pads, ceil_mode, count_include_pad;
float32, float64 and float16; NaN and -inf.  Every pool of one window setting is a node of one
graph (one build)."""
import importlib.util

import numpy as np
import pytest
from helpers import check_graph
from test_c_pool import CASES, FULL, POOLS  # the grids of tests/ops/test_pool.py

from cnnc.ir import Graph, TensorType

pytestmark = pytest.mark.skipif(importlib.util.find_spec("tvm") is None,
                                reason="TVM backend tests need Apache TVM: pip install 'cnnc[tvm]'")


def check_pools(x, attrs, pools=POOLS, *, rtol=1e-5, atol=1e-6):
    """One graph with one node per ``(op, extra attributes)`` of ``pools`` over ``x``: the TVM
    build gives the reference's outputs."""
    g = Graph("pools")
    xv = g.add_input("x", TensorType.of(x))
    for i, (op, extra) in enumerate(pools):
        (y,) = g.add_node(op, [xv], {**attrs, **extra}, label=f"{op.lower()}{i}")
        g.add_output(y, f"y{i}")
    check_graph(g, {"x": x}, rtol=rtol, atol=atol, backend="tvm")


@pytest.mark.parametrize("xs,attrs", CASES, ids=lambda v: str(v).replace(" ", ""))
def test_pools_tvm(rng, xs, attrs):
    check_pools(rng.standard_normal(xs).astype(np.float32), attrs)


@pytest.mark.parametrize("xs,kernel", FULL)
def test_pools_tvm_full_padding(rng, xs, kernel):
    """FULL pads k-1 on both sides: the corner windows hold one tap on the input."""
    check_pools(rng.standard_normal(xs).astype(np.float32), {"kernel_shape": kernel, "auto_pad": "FULL"})


@pytest.mark.parametrize("xs,attrs", [CASES[6], CASES[13], CASES[18]])
def test_pools_tvm_float64(rng, xs, attrs):
    check_pools(rng.standard_normal(xs), attrs, rtol=1e-12, atol=1e-13)


def test_pools_tvm_float16(rng):
    xs, attrs = CASES[12]
    check_pools(rng.standard_normal(xs).astype(np.float16), attrs, rtol=2e-2, atol=2e-2)


def test_pools_tvm_special_values(rng):
    """Large values (LSE subtracts the window max), -inf and NaN (max propagates NaN, wherever
    it is in the window), and a window whose taps on the input are all -inf (its max is -inf,
    not the float type's lowest finite value)."""
    x = (1000 + rng.standard_normal((1, 2, 6, 6))).astype(np.float32)
    x[0, 1, 2, 3], x[0, 1, 0, 0] = np.nan, -np.inf
    x[0, 0, 4:, 4:] = -np.inf
    check_pools(x, {"kernel_shape": (3, 3), "pads": (1, 1, 1, 1)},
                [("MaxPool", {}), ("LSEPool", {}), ("AveragePool", {})])


def test_weighted_average_tvm_sigma_limits(rng):
    x = rng.standard_normal((1, 2, 7, 7)).astype(np.float32)
    check_pools(x, {"kernel_shape": (3, 3), "pads": (1, 1, 1, 1), "strides": (2, 2)},
                [("WeightedAvgPool", {"sigma": 1e6}), ("WeightedAvgPool", {"sigma": 0.05})])


def test_pools_tvm_dilated_ceil_3d(rng):
    """A 3-D ceil_mode/dilated window grid with uneven pads."""
    x = rng.standard_normal((1, 2, 5, 6, 7)).astype(np.float32)
    check_pools(x, {"kernel_shape": (2, 3, 2), "strides": (2, 1, 2), "dilations": (1, 2, 1),
                    "pads": (1, 2, 0, 1, 1, 2), "ceil_mode": 1})
