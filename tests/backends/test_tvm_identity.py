"""TVM lowering of Identity and Dropout (the operand itself) agrees with the reference in
every dtype of test_c_identity.py, as graph outputs, of a constant, and between other ops."""
import importlib.util

import numpy as np
import pytest
from helpers import add, check_graph
from test_c_identity import DTYPES, SHAPES

from cnnc.ir import Graph, TensorType

pytestmark = pytest.mark.skipif(importlib.util.find_spec("tvm") is None,
                                reason="TVM backend tests need Apache TVM: pip install 'cnnc[tvm]'")


def test_identity_and_dropout_tvm(rng):
    g, feeds = Graph("identity"), {}
    for i, dtype in enumerate(DTYPES):
        add(g, feeds, "Identity", [(rng.standard_normal(SHAPES[i % len(SHAPES)]) * 10).astype(dtype)])
    add(g, feeds, "Identity", [np.arange(6.0).reshape(2, 3)], const=(0,), name="of_constant")
    for shape in [(7,), (2, 3, 5), (2, 3, 4, 4)]:
        for attrs in [{}, {"ratio": 0.3, "seed": 7}]:
            add(g, feeds, "Dropout", [rng.standard_normal(shape).astype(np.float32)], attrs)
    add(g, feeds, "Dropout", [rng.standard_normal((3, 4))], name="f64")
    check_graph(g, feeds, backend="tvm")


def test_passthrough_inside_a_graph_tvm(rng):
    g = Graph("views")
    x = rng.standard_normal((2, 3, 4)).astype(np.float32)
    (v,) = g.add_node("Relu", [g.add_input("x", TensorType.of(x))])
    (v,) = g.add_node("Identity", [v])
    (w,) = g.add_node("Dropout", [v])
    g.add_output(w, "dropped")
    (v,) = g.add_node("Neg", [w])
    (v,) = g.add_node("Identity", [v])
    (v,) = g.add_node("Abs", [v])
    g.add_output(v, "y")
    check_graph(g, {"x": x}, backend="tvm")
