"""Softmax and LogSoftmax agree with the reference on every backend of ``helpers.BACKENDS``
along every axis of the shapes of tests/ops/test_softmax.py (axis innermost -- split over
lanes when long; on CUDA a block of threads per row -- or not; a kept block longer than one
chunk), float32 and float64, and stay finite for huge inputs; float16 on TVM."""
import numpy as np
import pytest
from helpers import add, backend_check, backends, check_graph, graph_check, only

from cnnc.ir import Graph

OPS = ["Softmax", "LogSoftmax"]


@backends
@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("shape,axis", [
    ((7,), None), ((7,), 0), ((3, 5), None), ((3, 5), 0), ((2, 3, 4), 1), ((2, 3, 4), -2),
    ((2, 3, 4, 5), None), ((2, 3, 4, 5), 1), ((2, 3, 4, 5), -4), ((1, 2, 3, 4, 5), 2),
    ((2, 3, 300), 1), ((3, 64), 1), ((2, 1000), None), ((2, 1001), -1),
])
def test_softmax(backend, rng, op, shape, axis):
    x = rng.standard_normal(shape).astype(np.float32) * 3
    backend_check(op, [x], {} if axis is None else {"axis": axis}, rtol=1e-5, atol=0, backend=backend)


@backends
@pytest.mark.parametrize("op", OPS)
def test_softmax_is_stable_for_large_inputs(backend, rng, op):
    x = np.concatenate([rng.standard_normal((4, 6)) * 1e4, np.full((1, 6), -3e38)]).astype(np.float32)
    row = np.concatenate([rng.standard_normal((2, 70)) * 1e4, np.full((2, 2), -3e38)], axis=1)
    graph_check([x, row.astype(np.float32)], [(op, [0], {"axis": 0}), (op, [1], {})], rtol=1e-5, atol=0,
                backend=backend)


@backends
@pytest.mark.parametrize("op", OPS)
def test_softmax_float64(backend, rng, op):
    graph_check([rng.standard_normal((3, 4, 5)), rng.standard_normal((2, 96))], [(op, [i], {"axis": 1}) for i in (0, 1)],
                rtol=1e-12, atol=0, backend=backend)


@only("tvm")  # float16: TVM's alone
@pytest.mark.parametrize("op", OPS)
def test_softmax_tvm_only_float16(backend, rng, op):
    g, feeds = Graph(op), {}
    add(g, feeds, op, [(rng.standard_normal((3, 40)) * 3).astype(np.float16)], name="f16")
    check_graph(g, feeds, rtol=1e-5, atol=0, backend=backend)
