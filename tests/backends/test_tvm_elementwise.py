"""TVM lowering of the broadcasting elementwise ops agrees with the reference over the
broadcast patterns and operands of test_c_elementwise.py: arithmetic in every dtype, float16 included (integer
wrap-around, truncating division with a zero divisor and ``MIN / -1``), mixed-dtype Pow,
comparisons and logic (bool Equal included), N-ary Max/Min/Sum/Mean with numpy's NaN and
signed-zero rules, Where.  Several nodes share one graph (one build); where the C tests
cross every dtype with every broadcast pattern, each (dtype, op) here takes a rotating share
of the patterns, so that every op still meets every pattern (builds grow with the nodes)."""
import importlib.util

import numpy as np
import pytest
from helpers import add, check_graph
from test_c_elementwise import PAIRS, VARIADIC_SHAPES, WHERE_SHAPES, operands, rank0_const

from cnnc.ir import Graph


def share(items, k, n):
    """Every ``n``-th item from ``k``: over ``k = 0..n-1`` the shares cover ``items``."""
    return items[k % n::n]

pytestmark = pytest.mark.skipif(importlib.util.find_spec("tvm") is None,
                                reason="TVM backend tests need Apache TVM: pip install 'cnnc[tvm]'")


@pytest.mark.parametrize("dtype,rtol", [("float32", 1e-5), ("float64", 1e-12), ("float16", 1e-3)])
def test_arith_float_tvm(rng, dtype, rtol):
    g, feeds = Graph(f"arith_{dtype}"), {}
    for op in ["Add", "Sub", "Mul", "Div", "Pow"]:
        for sa, sb in PAIRS:
            xs = operands(rng, op, sa, sb, np.dtype(dtype).type)
            add(g, feeds, op, xs, const=rank0_const(xs))
    check_graph(g, feeds, rtol=rtol, backend="tvm")


def test_arith_integers_wrap_tvm(rng):
    """Full-range operands in every integer dtype: +, -, * wrap; Div truncates toward zero,
    gives 0 for a zero divisor and wraps MIN / -1, as the reference does."""
    g, feeds = Graph("arith_int"), {}
    for d, dtype in enumerate(["int64", "int32", "int8", "uint8"]):
        for op in ["Add", "Sub", "Mul", "Div"]:
            for sa, sb in share(PAIRS[:4], d, 2):
                add(g, feeds, op, operands(rng, op, sa, sb, dtype))
        info = np.iinfo(dtype)
        a = np.array([7, -7, 7, -7, 6, -1, info.min, info.min, 5, info.max, 0], dtype=np.int64)
        b = np.array([2, 2, -2, -2, 3, 4, -1, 1, 0, -1, 0], dtype=np.int64)
        keep = (a >= info.min) & (b >= info.min)
        add(g, feeds, "Div", [a[keep].astype(dtype), b[keep].astype(dtype)], name=f"div_edges_{dtype}")
        if dtype in ("int64", "int32"):
            add(g, feeds, "Pow", operands(rng, "Pow", (2, 3, 4), (3, 1), dtype))
    check_graph(g, feeds, backend="tvm")


def test_pow_mixed_dtypes_tvm(rng):
    g, feeds = Graph("pow_mixed"), {}
    for base, exp in [("float32", "int64"), ("float32", "float64"), ("float64", "float32"), ("int64", "int32"),
                      ("float32", "int8"), ("int32", "float32")]:
        x = (rng.uniform(0.5, 2, (2, 3, 4)) * (3 if base.startswith("int") else 1)).astype(base)
        add(g, feeds, "Pow", [x, rng.integers(-1, 4, (3, 1)).astype(exp)], name=f"pow_{base}_{exp}")
        add(g, feeds, "Pow", [np.array([2, -1, 1, 3, -2, 5], base), np.array([-1, -3, -2, 2, 3, 0], exp)],
            name=f"negative_exponents_{base}_{exp}")
    check_graph(g, feeds, backend="tvm")


def test_compare_and_logic_tvm(rng):
    g, feeds = Graph("compare"), {}
    for d, dtype in enumerate(["float32", "int64", "uint8", "float64"]):
        for k, op in enumerate(["Equal", "Greater", "Less"]):
            for sa, sb in share(PAIRS, d + k, 3):
                xs = [np.asarray(rng.integers(0, 3, s).astype(dtype)) for s in (sa, sb)]
                add(g, feeds, op, xs, const=rank0_const(xs))
    nan = np.array([np.nan, 1.0, np.nan, -0.0], np.float32)
    for op in ["Equal", "Greater", "Less"]:
        add(g, feeds, op, [nan, np.array([np.nan, np.nan, 1.0, 0.0], np.float32)], name=f"{op}_nan")
    for k, op in enumerate(["And", "Equal"]):
        for sa, sb in share(PAIRS, k, 2):
            xs = [np.asarray(rng.random(s) < 0.5) for s in (sa, sb)]
            add(g, feeds, op, xs, const=rank0_const(xs))
    for shape in [(5,), (2, 3), (2, 3, 4)]:
        add(g, feeds, "Not", [rng.random(shape) < 0.5])
    check_graph(g, feeds, backend="tvm")


def test_variadic_float_tvm(rng):
    g, feeds = Graph("variadic"), {}
    for op in ["Max", "Min", "Sum", "Mean"]:
        for shapes in VARIADIC_SHAPES:
            add(g, feeds, op, [rng.standard_normal(s).astype(np.float32) for s in shapes])
        add(g, feeds, op, [rng.standard_normal((3, 4)), np.array(0.25), rng.standard_normal(4)],
            const=(1,), name=f"{op}_f64")
    # numpy's maximum/minimum: any NaN operand gives NaN, ties keep the earlier operand
    a = np.array([np.nan, 1.0, 2.0, np.nan, -0.0, 0.0, 3.0], np.float32)
    b = np.array([1.0, np.nan, 2.0, np.nan, 0.0, -0.0, 3.0], np.float32)
    c = np.array([0.0, 0.0, np.nan, 5.0, 0.0, -0.0, -1.0], np.float32)
    for op in ["Max", "Min"]:
        add(g, feeds, op, [a, b], name=f"{op}_nan2")
        add(g, feeds, op, [a, b, c], name=f"{op}_nan3")
    got = check_graph(g, feeds, backend="tvm")
    assert list(np.signbit(got["Max_nan2_out0"][4:6])) == [True, False]
    assert list(np.signbit(got["Min_nan2_out0"][4:6])) == [True, False]


def test_variadic_max_min_other_dtypes_tvm(rng):
    g, feeds = Graph("variadic_int"), {}
    for dtype in ["int64", "int32", "int8", "uint8", "float64"]:
        for op in ["Max", "Min"]:
            for shapes in VARIADIC_SHAPES[1:]:
                add(g, feeds, op, [rng.integers(0, 100, s).astype(dtype) for s in shapes])
    check_graph(g, feeds, backend="tvm")


def test_where_tvm(rng):
    g, feeds = Graph("where"), {}
    for dtype in ["float32", "int64", "bool", "uint8"]:
        for shapes in WHERE_SHAPES:
            xs = [np.asarray(rng.random(shapes[0]) < 0.5)]
            xs += [np.asarray(rng.integers(-9, 10, s).astype(dtype)) for s in shapes[1:]]
            add(g, feeds, "Where", xs, const=rank0_const(xs))
    check_graph(g, feeds, backend="tvm")
