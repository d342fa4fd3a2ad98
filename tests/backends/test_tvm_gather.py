"""TVM lowering of Gather agrees exactly with the reference over the cases of
test_c_gather.py (those of tests/ops/test_gather.py): constant and run-time indices, int32
and int64, negative ones, every data dtype; like the C kernel, an out-of-range run-time index
gives zeros and a constant one is a compile-time error.  One graph per test (one build)."""
import importlib.util

import numpy as np
import pytest
from helpers import add, check_graph
from test_c_gather import CASES

import cnnc
from cnnc.ir import CnncError, Graph, TensorType

pytestmark = pytest.mark.skipif(importlib.util.find_spec("tvm") is None,
                                reason="TVM backend tests need Apache TVM: pip install 'cnnc[tvm]'")


@pytest.mark.parametrize("dtype,idtype", [("float32", "int64"), ("int64", "int32")])
def test_gather_tvm(rng, dtype, idtype):
    g, feeds = Graph(f"gather_{dtype}"), {}
    for shape, axis, ishape in CASES:
        data = (rng.standard_normal(shape) * 100).astype(dtype)
        n = shape[axis]
        indices = np.asarray(rng.integers(-n, n, size=ishape), dtype=idtype)
        add(g, feeds, "Gather", [data, indices], {"axis": axis})
        add(g, feeds, "Gather", [data, indices], {"axis": axis}, const=(1,))
    check_graph(g, feeds, rtol=0, atol=0, backend="tvm")


def test_gather_other_dtypes_tvm(rng):
    g, feeds = Graph("gather_dtypes"), {}
    indices = np.array([[-1, 0], [2, 2]], dtype=np.int64)
    for dtype in ["bool", "uint8", "int8", "int32", "float64"]:
        data = (rng.standard_normal((3, 4)) * 50).astype(dtype)
        add(g, feeds, "Gather", [data, indices], {"axis": 1}, name=f"{dtype}_runtime")
        add(g, feeds, "Gather", [data, indices], {"axis": 1}, const=(1,), name=f"{dtype}_const")
        add(g, feeds, "Gather", [data, indices[0]], {"axis": 0}, const=(0,), name=f"{dtype}_embedding")
    check_graph(g, feeds, backend="tvm")


def test_out_of_range_runtime_index_gives_zeros_tvm():
    g = Graph("gather_oob")
    (y,) = g.add_node("Gather", [g.add_input("data", TensorType((2, 3))),
                                 g.add_input("indices", TensorType((4,), "int64"))], {"axis": 1})
    g.add_output(y, "y")
    data = np.arange(1, 7, dtype=np.float32).reshape(2, 3)
    got = cnnc.compile(g, target="tvm").run({"data": data, "indices": np.array([0, 3, -4, -1])})["y"]
    np.testing.assert_array_equal(got, [[1, 0, 0, 3], [4, 0, 0, 6]])


def test_out_of_range_constant_index_is_a_compile_error_tvm():
    g = Graph("gather_bad")
    (y,) = g.add_node("Gather", [g.add_input("data", TensorType((2, 3))),
                                 g.add_constant(np.array([0, 3]), "indices")], {"axis": 1})
    g.add_output(y, "y")
    with pytest.raises(CnncError, match=r"index 3 is out of range \[-3, 3\)"):
        cnnc.compile(g, target="tvm")
