"""TVM lowering of Softmax and LogSoftmax agrees with the reference along every axis of the
shapes of test_c_softmax.py, float32 and float64, and stays finite for huge inputs.  All
shapes of one op are nodes of one graph (one build)."""
import importlib.util

import numpy as np
import pytest
from helpers import add, check_graph
from test_c_softmax import OPS
from test_c_softmax import test_softmax_c as _c_grid

from cnnc.ir import Graph

#: the (shape, axis) grid of test_c_softmax.py
SHAPES = next(m.args[1] for m in _c_grid.pytestmark if m.args[0] == "shape,axis")

pytestmark = pytest.mark.skipif(importlib.util.find_spec("tvm") is None,
                                reason="TVM backend tests need Apache TVM: pip install 'cnnc[tvm]'")


@pytest.mark.parametrize("op", OPS)
def test_softmax_tvm(rng, op):
    g, feeds = Graph(op), {}
    for shape, axis in SHAPES:
        add(g, feeds, op, [rng.standard_normal(shape).astype(np.float32) * 3], {} if axis is None else {"axis": axis})
    add(g, feeds, op, [np.concatenate([rng.standard_normal((4, 6)) * 1e4, np.full((1, 6), -3e38)]).astype(np.float32)],
        {"axis": 0}, name="large")
    add(g, feeds, op, [rng.standard_normal((3, 4, 5))], {"axis": 1}, name="f64")
    add(g, feeds, op, [(rng.standard_normal((3, 40)) * 3).astype(np.float16)], name="f16")
    check_graph(g, feeds, rtol=1e-5, atol=0, backend="tvm")
