"""TVM lowerings of the Reduce* ops agree with the reference over the grid of
tests/ops/test_reduce.py (shapes, axes, keepdims, noop_with_empty_axes), float32, float64
and the integer dtypes (wrapping, truncating Mean and L2), empty extents, NaN, -inf and
large values — the C tests' cases, one graph (one build) per test."""
from __future__ import annotations

import importlib.util
from collections.abc import Mapping, Sequence

import numpy as np
import pytest
from helpers import check_graph
from test_c_reduce import INT_OPS, _attrs
from test_reduce import CASES, OPS  # the attribute grids of tests/ops

from cnnc.ir import Graph, TensorType

pytestmark = pytest.mark.skipif(importlib.util.find_spec("tvm") is None,
                                reason="TVM backend tests need Apache TVM: pip install 'cnnc[tvm]'")


def graph_check(inputs: Sequence[np.ndarray], nodes: Sequence[tuple[str, Sequence[int], Mapping]],
                const: Sequence[int] = (), rtol: float = 1e-5, atol: float = 1e-6) -> None:
    """test_c_reduce.graph_check on the tvm backend: one graph of ``inputs`` (those in
    ``const`` as Constants) and ``nodes`` ``(op, operand indices, attrs)``, every result an
    output, gives the reference's outputs (exactly for integers)."""
    g = Graph("tvm_check")
    vals, feeds = [], {}
    for i, a in enumerate(inputs):
        if i in const:
            vals.append(g.add_constant(a, f"c{i}"))
        else:
            vals.append(g.add_input(f"in{i}", TensorType.of(a)))
            feeds[f"in{i}"] = a
    for k, (op, operands, attrs) in enumerate(nodes):
        for j, v in enumerate(g.add_node(op, [vals[i] for i in operands], attrs)):
            g.add_output(v, f"n{k}_{op}_{j}")
    check_graph(g, feeds, rtol=rtol, atol=atol, backend="tvm")


def test_reduce_tvm(rng):
    """Every case of the grid in float32, and alternately float64 or int64 (small values
    keep Prod in range; negative ones check Mean's truncation toward zero), in one graph."""
    inputs, nodes = [], []
    for c, (shape, axes, keepdims, noop) in enumerate(CASES):
        a = _attrs(axes, keepdims, noop)
        k = len(inputs)
        other = rng.standard_normal(shape) if c % 2 else rng.integers(-4, 5, shape)
        inputs += [rng.standard_normal(shape).astype(np.float32), other]
        nodes += [(op, [k], a) for op in OPS] + [(op, [k + 1], a) for op in (OPS if c % 2 else INT_OPS)]
    graph_check(inputs, nodes, atol=1e-5)


def test_reduce_tvm_small_integer_dtypes_wrap(rng):
    """int32, int8 and uint8 accumulate in their own width, wrapping as numpy does."""
    a = _attrs((0, 2), 0, 0)
    inputs = [rng.integers(-2**31, 2**31, (3, 2, 5)).astype(np.int32),
              rng.integers(-128, 128, (3, 2, 5)).astype(np.int8),
              rng.integers(0, 256, (3, 2, 5)).astype(np.uint8),
              rng.integers(-2, 3, (3, 2, 5)).astype(np.int8)]   # L2 without wrapping
    nodes = [(op, [i], a) for i in range(3) for op in INT_OPS if op != "ReduceL2"]
    nodes += [("ReduceL2", [3], a), ("ReduceL2", [2], a), ("ReduceL2", [0], {"axes": (1,)})]
    graph_check(inputs, nodes)


def test_reduce_tvm_empty_extent():
    """Reducing nothing gives each reduction's identity (NaN for Mean, -inf for LogSumExp,
    the dtype's extremes for Max/Min); an empty result is an empty output."""
    x, xi = np.zeros((0, 3), np.float32), np.zeros((0, 3), np.int64)
    a = _attrs((0,), 0, 0)
    nodes = [(op, [0], a) for op in OPS] + [(op, [1], a) for op in INT_OPS]
    nodes += [(op, [0], _attrs((1,), 1, 0)) for op in ("ReduceSum", "ReduceMax")]
    graph_check([x, xi], nodes)


def test_reduce_tvm_special_values(rng):
    """LogSumExp of ±1000 and -inf rows stays finite as in the reference; NaN propagates
    through Max/Min wherever it is; Max of a row of -inf is -inf; a long float32 sum."""
    big = (rng.standard_normal((2, 3, 4)) * 10 + np.array([1000, -1000, 0])[:, None]).astype(np.float32)
    big[0, 0, 0] = -np.inf
    big[1, 2, :] = -np.inf
    nan = rng.standard_normal((3, 64)).astype(np.float32)
    nan[1, 37], nan[2, 0] = np.nan, np.nan
    long_ = (rng.standard_normal(100_000) + 3).astype(np.float32)
    wide = rng.standard_normal((3, 5, 600)).astype(np.float32)
    nodes = [("ReduceLogSumExp", [0], {"axes": (2,)}), ("ReduceLogSumExp", [0], {"axes": (0, 2)}),
             ("ReduceMax", [0], {"axes": (2,)}), ("ReduceMin", [0], {"axes": (2,)}),
             ("ReduceMax", [1], {"axes": (1,)}), ("ReduceMin", [1], {"axes": (1,)}),
             ("ReduceMin", [1], {"axes": (0,)}),
             ("ReduceLogSumExp", [1], {"axes": (1,)}), ("ReduceProd", [1], {"axes": (1,)}),
             ("ReduceSum", [2], {}), ("ReduceMean", [2], {}), ("ReduceL2", [2], {}),
             ("ReduceLogSumExp", [3], {"axes": (1,)}), ("ReduceMax", [3], {"axes": (0, 1)}),
             ("ReduceMean", [3], {"axes": (1,), "keepdims": 0})]
    graph_check([big, nan, long_, wide], nodes, rtol=1e-5, atol=1e-5)


def test_reduce_tvm_float16(rng):
    x = rng.standard_normal((3, 4)).astype(np.float16)
    graph_check([x], [(op, [0], {"axes": (1,)}) for op in OPS], rtol=2e-3, atol=2e-3)
