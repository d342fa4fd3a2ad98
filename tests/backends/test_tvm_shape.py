"""TVM lowerings of the tensor-shape ops agree exactly with the reference over the cases of
tests/backends/test_c_shape.py: the reshaping ops, Transpose, Expand, Tile, Slice (negative
steps, clamped bounds, empty results), DepthToSpace/SpaceToDepth (DCR and CRD, 1-D to 3-D)
and every dtype.  One graph per op (one build)."""
import importlib.util

import numpy as np
import pytest
from helpers import add, check_graph
from test_c_shape import CASES, SPACE_DEPTH

from cnnc.ir import Graph

pytestmark = pytest.mark.skipif(importlib.util.find_spec("tvm") is None,
                                reason="TVM backend tests need Apache TVM: pip install 'cnnc[tvm]'")


# beyond the C tests' cases: Relax's tile miscompiles this one on AVX-512 CPUs; Relax's
# reshape reads a 0 of the target shape as "copy the input dim"
TVM_CASES = {"Tile": [((2, 3, 4, 5), {"repeats": (7, 6, 4, 2)})],
             "Reshape": [((0, 3, 4), {"shape": (3, 4, 0), "allowzero": 1})]}


@pytest.mark.parametrize("ops", [["Flatten", "Reshape", "Squeeze", "Unsqueeze"], ["Transpose", "Expand"],
                                 ["Tile"], ["Slice"]], ids="_".join)
def test_shape_ops_tvm(rng, ops):
    g, feeds = Graph("_".join(ops).lower()), {}
    for op in ops:
        for shape, attrs in CASES[op] + TVM_CASES.get(op, []):
            add(g, feeds, op, [rng.standard_normal(shape).astype(np.float32)], attrs)
    check_graph(g, feeds, rtol=0, atol=0, backend="tvm")


@pytest.mark.parametrize("dtype", ["float64", "int64", "int32", "int8", "uint8", "bool", "float16"])
def test_any_dtype_tvm(rng, dtype):
    g, feeds = Graph(f"shape_{dtype}"), {}
    x = (rng.standard_normal((3, 6)) * 10).astype(dtype)
    for op, attrs in [("Reshape", {"shape": (6, -1)}), ("Transpose", {}), ("Tile", {"repeats": (2, 1)}),
                      ("Slice", {"starts": (1, 5), "ends": (5, 0), "axes": (1, 0), "steps": (2, -1)}),
                      ("Expand", {"shape": (2, 3, 6)}), ("Unsqueeze", {"axes": (0,)})]:
        add(g, feeds, op, [x], attrs)
    add(g, feeds, "DepthToSpace", [x.reshape(1, 18, 1, 1)], {"blocksize": 3})
    check_graph(g, feeds, backend="tvm")


def test_unsqueeze_of_a_scalar_tvm(rng):
    g, feeds = Graph("scalar"), {}
    add(g, feeds, "Unsqueeze", [np.array(2.5, np.float32)], {"axes": (0,)}, const=(0,))
    add(g, feeds, "Expand", [np.array(1.5, np.float32)], {"shape": (2, 3)}, const=(0,))
    add(g, feeds, "Reshape", [np.array(3.5, np.float32)], {"shape": (1, 1)})
    check_graph(g, feeds, backend="tvm")


def test_depth_to_space_and_back_tvm(rng):
    g, feeds = Graph("depth_space"), {}
    for shape, b in SPACE_DEPTH:
        x = rng.standard_normal(shape).astype(np.float32)
        for mode in ["DCR", "CRD"]:
            add(g, feeds, "DepthToSpace", [x], {"blocksize": b, "mode": mode})
            n, c, *spatial = shape
            y = x.reshape(n, c // b ** len(spatial), *(d * b for d in spatial))
            add(g, feeds, "SpaceToDepth", [y], {"blocksize": b, "mode": mode})
    check_graph(g, feeds, rtol=0, atol=0, backend="tvm")
