"""Concat and Split agree exactly with the reference on every backend of
``helpers.BACKENDS``: the cases of tests/ops/test_concat.py (DenseNet channel concat, empty
parts, 5-D), other dtypes (float16 on TVM), a constant operand, Split feeding Concat.  One
graph per test (one compile); on C one build also runs as the standalone driver under
ASan+UBSan."""
import numpy as np
import pytest
from helpers import add, backend_params, backends, c_sanitize_dir, check_graph

from cnnc.ir import Graph, TensorType

CONCATS = [([(3,), (5,)], 0), ([(2, 3), (2, 4), (2, 1)], 1), ([(2, 3), (1, 3)], -2),
           ([(1, 2, 4, 4), (1, 3, 4, 4), (1, 1, 4, 4)], 1), ([(1, 2, 4, 4)], 1),
           ([(1, 2, 2, 3, 3), (1, 2, 2, 3, 3)], 2)]
SPLITS = [((6,), {"split": (2, 4)}), ((6,), {"num_outputs": 3}), ((7,), {"num_outputs": 3}),
          ((2, 5), {"axis": -1, "num_outputs": 2}), ((4, 6, 3, 3), {"axis": 1, "split": (1, 2, 3)}),
          ((3, 2), {"num_outputs": 1})]
# empty operands and parts (no ASan build: its driver reads no empty input files)
EMPTY = ([([(2, 3, 4), (2, 3, 0), (2, 3, 2)], -1), ([(2, 0), (2, 0)], 0)],
         [((2, 5), {"axis": 1, "split": (1, 0, 4)}), ((2, 3, 4, 5, 6), {"axis": 4, "num_outputs": 4})])
DTYPES = ["float64", "int64", "int32", "int8", "uint8", "bool"]


@backends
@pytest.mark.parametrize("empty", [False, True])
def test_concat_and_split(backend, rng, tmp_path, empty):
    g, feeds = Graph("concat_split"), {}
    concats, splits = EMPTY if empty else (CONCATS, SPLITS)
    for shapes, axis in concats:
        add(g, feeds, "Concat", [rng.standard_normal(s).astype(np.float32) for s in shapes], {"axis": axis})
    for shape, attrs in splits:
        add(g, feeds, "Split", [rng.standard_normal(shape).astype(np.float32)], attrs)
    check_graph(g, feeds, None if empty else c_sanitize_dir(backend, tmp_path), rtol=0, atol=0,
                backend=backend)


# float16: TVM's alone
@pytest.mark.parametrize("backend,dtype", backend_params("dtype", DTYPES) + backend_params("dtype", ["float16"], "tvm"))
def test_other_dtypes(backend, rng, dtype):
    g, feeds = Graph(f"concat_{dtype}"), {}
    xs = [(rng.standard_normal((2, n, 3)) * 50).astype(dtype) for n in (1, 2, 3)]
    add(g, feeds, "Concat", xs, {"axis": 1})
    add(g, feeds, "Concat", xs, {"axis": 1}, const=(1,), name="with_constant")
    add(g, feeds, "Split", [xs[2]], {"axis": 1, "split": (2, 1)})
    check_graph(g, feeds, rtol=0, atol=0, backend=backend)


@backends
def test_split_then_concat_inside_a_graph(backend, rng):
    x = rng.standard_normal((2, 9, 3)).astype(np.float32)
    g = Graph("split_concat")
    parts = g.add_node("Split", [g.add_input("x", TensorType.of(x))], {"axis": 1, "num_outputs": 4})
    parts = [g.add_node("Neg", [p])[0] for p in parts]
    (y,) = g.add_node("Concat", parts[::-1], {"axis": 1})
    (z,) = g.add_node("Concat", [y, g.add_node("Neg", [y])[0]], {"axis": 2})
    g.add_output(z, "z")
    check_graph(g, {"x": x}, rtol=0, atol=0, backend=backend)
