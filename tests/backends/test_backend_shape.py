"""The tensor-shape ops agree exactly with the reference on every backend of
``helpers.BACKENDS``: the reshaping ops (a copy or nothing), and Transpose, Expand, Tile,
Slice (negative steps, clamped bounds, empty results), DepthToSpace/SpaceToDepth (DCR and
CRD, 1-D to 3-D) through offset tables (on CUDA the gather kernel), over the cases of
tests/ops/test_shape.py and every dtype (float16 on TVM).  One graph per op (one compile);
on C some builds also run as the standalone driver under ASan+UBSan."""
import numpy as np
import pytest
from helpers import add, backend_params, backends, c_sanitize_dir, check_graph

from cnnc.ir import Graph

INT_MAX, INT_MIN = 2**63 - 1, -(2**63)

CASES = {
    "Flatten": [((5,), {"axis": 0}), ((5,), {"axis": 1}), ((2, 3, 4), {"axis": 0}),
                ((2, 3, 4), {"axis": 3}), ((2, 3, 4), {"axis": -1}), ((2, 3, 4, 5), {"axis": 2})],
    "Reshape": [((2, 3, 4), {"shape": (4, -1)}), ((2, 3, 4), {"shape": (0, 0, 2, 2)}),
                ((6,), {"shape": (1, 2, 1, 3)}), ((2, 3, 4, 5), {"shape": (2, 0, -1)}),
                ((2, 0, 4), {"shape": (0, 0, 4)}), ((2, 3, 4), {"shape": (4, 3, 2), "allowzero": 1}),
                # beyond tests/ops' cases: Relax's reshape reads a 0 of the target shape as
                # "copy the input dim"
                ((0, 3, 4), {"shape": (3, 4, 0), "allowzero": 1})],
    "Squeeze": [((1, 3, 1, 4), {}), ((1, 3, 1, 4), {"axes": (-2, 0)}), ((1,), {}),
                ((3, 1, 1), {"axes": (1, 2)})],
    "Unsqueeze": [((3,), {"axes": (0,)}), ((3, 4), {"axes": (0, 3)}), ((2, 3, 4), {"axes": (4, 0, 2)})],
    "Transpose": [((5,), {}), ((2, 3), {}), ((2, 3, 4), {"perm": (0, 2, 1)}), ((2, 3, 4), {}),
                  ((2, 3, 4, 5), {"perm": (3, 0, 2, 1)}), ((1, 3, 1, 4), {"perm": (2, 0, 3, 1)}),
                  ((2, 3, 4, 5), {"perm": (0, 1, 3, 2)})],
    "Expand": [((3, 1), {"shape": (2, 1, 4)}), ((1,), {"shape": (3,)}), ((2, 3), {"shape": (1, 1)}),
               ((4, 1, 1), {"shape": (2, 1, 3, 5)}), ((3,), {"shape": (2, 1)}),
               ((1, 2, 1, 1, 1), {"shape": (3, 1, 4, 2, 1)})],
    "Tile": [((3,), {"repeats": (2,)}), ((2, 3), {"repeats": (1, 3)}), ((2, 3), {"repeats": (2, 0)}),
             ((2, 1, 3), {"repeats": (2, 2, 1)}), ((1, 2, 2, 2), {"repeats": (1, 1, 3, 2)}),
             # beyond tests/ops' cases: Relax's tile miscompiles this one on AVX-512 CPUs
             ((2, 3, 4, 5), {"repeats": (7, 6, 4, 2)})],
    "Slice": [((10,), {"starts": (2,), "ends": (7,)}),
              ((10,), {"starts": (-3,), "ends": (INT_MAX,)}),
              ((10,), {"starts": (8,), "ends": (1,), "steps": (-2,)}),
              ((10,), {"starts": (-1,), "ends": (INT_MIN,), "steps": (-1,)}),
              ((10,), {"starts": (20,), "ends": (-20,), "steps": (-3,)}),
              ((10,), {"starts": (-20,), "ends": (20,), "steps": (4,)}),
              ((10,), {"starts": (5,), "ends": (5,)}),
              ((10,), {"starts": (7,), "ends": (2,)}),
              ((4, 6), {"starts": (1, 0), "ends": (3, INT_MAX), "steps": (1, 2)}),
              ((4, 6), {"starts": (0,), "ends": (-1,), "axes": (-1,)}),
              ((4, 6), {"starts": (3, 4), "ends": (0, 1), "axes": (0, 1), "steps": (-1, -2)}),
              ((3, 4, 5), {"starts": (1, -2), "ends": (INT_MAX, 0), "axes": (2, 0), "steps": (2, -1)}),
              ((2, 3, 4, 5), {"starts": (0, 1, 0), "ends": (2, 3, 4), "axes": (-1, 1, 2), "steps": (3, 1, 2)}),
              ((2, 8, 6, 6), {"starts": (2,), "ends": (6,), "axes": (1,)})],
}


@backends
@pytest.mark.parametrize("op", list(CASES))
def test_shape_op(backend, rng, tmp_path, op):
    g, feeds = Graph(op.lower()), {}
    for shape, attrs in CASES[op]:
        add(g, feeds, op, [rng.standard_normal(shape).astype(np.float32)], attrs)
    check_graph(g, feeds, c_sanitize_dir(backend, tmp_path) if op in ("Slice", "Tile") else None, rtol=0, atol=0,
                backend=backend)


# float16: TVM's alone
@pytest.mark.parametrize("backend,dtype", backend_params("dtype", ["float64", "int64", "int32", "int8", "uint8", "bool"])
                         + backend_params("dtype", ["float16"], "tvm"))
def test_any_dtype(backend, rng, dtype):
    g, feeds = Graph(f"shape_{dtype}"), {}
    x = (rng.standard_normal((3, 6)) * 10).astype(dtype)
    for op, attrs in [("Reshape", {"shape": (6, -1)}), ("Transpose", {}), ("Tile", {"repeats": (2, 1)}),
                      ("Slice", {"starts": (1,), "ends": (5,), "axes": (1,)}),
                      ("Slice", {"starts": (1, 5), "ends": (5, 0), "axes": (1, 0), "steps": (2, -1)}),
                      ("Expand", {"shape": (2, 3, 6)}), ("Unsqueeze", {"axes": (0,)})]:
        add(g, feeds, op, [x], attrs)
    add(g, feeds, "DepthToSpace", [x.reshape(1, 18, 1, 1)], {"blocksize": 3})
    check_graph(g, feeds, rtol=0, atol=0, backend=backend)


@backends
def test_unsqueeze_of_a_scalar(backend):
    g, feeds = Graph("scalar"), {}
    add(g, feeds, "Unsqueeze", [np.array(2.5, np.float32)], {"axes": (0,)}, const=(0,))
    add(g, feeds, "Expand", [np.array(1.5, np.float32)], {"shape": (2, 3)}, const=(0,))
    add(g, feeds, "Reshape", [np.array(3.5, np.float32)], {"shape": (1, 1)})
    check_graph(g, feeds, rtol=0, atol=0, backend=backend)


SPACE_DEPTH = [((2, 8, 2, 3), 2), ((1, 18, 2, 2), 3), ((1, 4, 1, 1), 2), ((2, 6, 3), 2),
               ((1, 9, 2), 3), ((1, 16, 2, 1, 3), 2)]


@backends
def test_depth_to_space_and_back(backend, rng, tmp_path):
    g, feeds = Graph("depth_space"), {}
    for shape, b in SPACE_DEPTH:
        x = rng.standard_normal(shape).astype(np.float32)
        for mode in ["DCR", "CRD"]:
            add(g, feeds, "DepthToSpace", [x], {"blocksize": b, "mode": mode})
            n, c, *spatial = shape
            y = x.reshape(n, c // b ** len(spatial), *(d * b for d in spatial))
            add(g, feeds, "SpaceToDepth", [y], {"blocksize": b, "mode": mode})
    check_graph(g, feeds, c_sanitize_dir(backend, tmp_path), rtol=0, atol=0, backend=backend)
