"""Gather agrees exactly with the reference on every backend of ``helpers.BACKENDS``:
constant indices (offset tables) and run-time indices (read, normalized and range-checked
as the kernel runs) over the cases of tests/ops/test_gather.py, int32/int64 indices, every
data dtype; an out-of-range run-time index gives a row of zeros (a kernel has no error
path), a constant one is a compile-time error.  One graph per test (one compile); on C one
build also runs as the standalone driver under ASan+UBSan."""
import numpy as np
import pytest
from helpers import add, backends, c_sanitize_dir, check_graph, compile_for

from cnnc.ir import CnncError, Graph, TensorType

CASES = [((5,), 0, (3,)), ((5,), 0, ()), ((4, 6), 0, (2, 3)), ((4, 6), 1, (5,)), ((4, 6), -1, ()),
         ((2, 3, 4, 5), 2, (2, 2)), ((2, 3, 4, 5), -3, (4,)), ((2, 3, 4, 5), 3, (1, 2, 3)),
         ((3, 1, 4), 1, (2,))]


@backends
@pytest.mark.parametrize("dtype,idtype", [("float32", "int64"), ("int64", "int32"),
                                          ("float64", "int32")])
def test_gather(backend, rng, tmp_path, dtype, idtype):
    g, feeds = Graph(f"gather_{dtype}"), {}
    for shape, axis, ishape in CASES:
        data = (rng.standard_normal(shape) * 100).astype(dtype)
        n = shape[axis]
        indices = np.asarray(rng.integers(-n, n, size=ishape), dtype=idtype)
        add(g, feeds, "Gather", [data, indices], {"axis": axis})
        add(g, feeds, "Gather", [data, indices], {"axis": axis}, const=(1,))
    check_graph(g, feeds, c_sanitize_dir(backend, tmp_path) if dtype == "float32" else None, rtol=0, atol=0,
                backend=backend)


@backends
@pytest.mark.parametrize("dtype", ["bool", "uint8", "int8", "int32", "float64"])
def test_gather_other_dtypes(backend, rng, dtype):
    g, feeds = Graph(f"gather_{dtype}"), {}
    data = (rng.standard_normal((3, 4)) * 50).astype(dtype)
    indices = np.array([[-1, 0], [2, 2]], dtype=np.int64)
    add(g, feeds, "Gather", [data, indices], {"axis": 1})
    add(g, feeds, "Gather", [data, indices], {"axis": 1}, const=(1,))
    add(g, feeds, "Gather", [data, indices[0]], {"axis": 0}, const=(0,), name="embedding")
    check_graph(g, feeds, rtol=0, atol=0, backend=backend)


@backends
def test_out_of_range_runtime_index_gives_zeros(backend):
    g = Graph("gather_oob")
    (y,) = g.add_node("Gather", [g.add_input("data", TensorType((2, 3))),
                                 g.add_input("indices", TensorType((4,), "int64"))], {"axis": 1})
    g.add_output(y, "y")
    data = np.arange(1, 7, dtype=np.float32).reshape(2, 3)
    got = compile_for(g, backend).run({"data": data, "indices": np.array([0, 3, -4, -1])})["y"]
    np.testing.assert_array_equal(got, [[1, 0, 0, 3], [4, 0, 0, 6]])


@backends
def test_out_of_range_constant_index_is_a_compile_error(backend):
    g = Graph("gather_bad")
    (y,) = g.add_node("Gather", [g.add_input("data", TensorType((2, 3))),
                                 g.add_constant(np.array([0, 3]), "indices")], {"axis": 1})
    g.add_output(y, "y")
    with pytest.raises(CnncError, match=r"index 3 is out of range \[-3, 3\)"):
        compile_for(g, backend)
