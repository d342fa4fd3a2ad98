"""TVM lowering of GlobalAveragePool, GlobalMaxPool and GlobalLpPool (p = 1, 2, 3) agrees with
the reference over the shapes and nodes of test_c_global_pool.py: 1-D/2-D/3-D, float32,
float64 and float16, a NaN (it poisons its channel's max, as in numpy); one graph per shape
holds every op."""
import importlib.util

import numpy as np
import pytest
from helpers import check_graph
from test_c_global_pool import NODES, SHAPES  # (op, operand indices, attrs) and input shapes

from cnnc.ir import Graph, TensorType

pytestmark = pytest.mark.skipif(importlib.util.find_spec("tvm") is None,
                                reason="TVM backend tests need Apache TVM: pip install 'cnnc[tvm]'")


def graph_check(inputs, nodes, rtol=1e-5, atol=1e-6):
    """One graph over ``inputs`` with ``nodes`` ``(op, operand indices, attrs)``, every result
    an output: the TVM build gives the reference's outputs."""
    g = Graph("tvm_check")
    vals = [g.add_input(f"in{i}", TensorType.of(a)) for i, a in enumerate(inputs)]
    for k, (op, operands, attrs) in enumerate(nodes):
        (y,) = g.add_node(op, [vals[i] for i in operands], attrs)
        g.add_output(y, f"n{k}_{op}")
    check_graph(g, {f"in{i}": a for i, a in enumerate(inputs)}, rtol=rtol, atol=atol, backend="tvm")


@pytest.mark.parametrize("xs", SHAPES)
def test_global_pool_tvm(rng, xs):
    graph_check([rng.standard_normal(xs).astype(np.float32)], NODES)


def test_global_pool_tvm_float64_float16_and_nan(rng):
    x = rng.standard_normal((2, 3, 4, 4)).astype(np.float32)
    x[1, 2, 3, 0] = np.nan                   # one NaN poisons its channel's max, as in numpy
    x[0, 1] = -np.inf                        # a channel of -inf has max -inf
    graph_check([rng.standard_normal((1, 2, 3, 3)), x],
                NODES + [("GlobalMaxPool", [1], {})], rtol=1e-12, atol=1e-12)
    graph_check([rng.standard_normal((1, 3, 5, 6)).astype(np.float16)], NODES, rtol=1e-2, atol=1e-2)
