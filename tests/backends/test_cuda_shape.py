"""CUDA kernels of the tensor-shape ops, run by the CPU emulator (no GPU), agree exactly
with the reference: the reshaping ops (a copy or nothing), and Transpose, Expand, Tile,
Slice, DepthToSpace/SpaceToDepth and Pad (constant/reflect/edge/wrap, negative pads)
through offset tables (the gather kernel), over test_c_shape.py's and test_c_pad.py's
cases and other dtypes, in two graphs."""
import numpy as np
from helpers import add, check_graph
from test_c_pad import CASES as PAD_CASES
from test_c_pad import CROP_CASES, MODES
from test_c_shape import CASES, SPACE_DEPTH

from cnnc.ir import Graph


def test_shape_ops_cuda_emu(rng):
    g, feeds = Graph("shape"), {}
    for op, cases in CASES.items():
        for shape, attrs in cases:
            add(g, feeds, op, [rng.standard_normal(shape).astype(np.float32)], attrs)
    for shape, b in SPACE_DEPTH:
        x = rng.standard_normal(shape).astype(np.float32)
        for mode in ["DCR", "CRD"]:
            add(g, feeds, "DepthToSpace", [x], {"blocksize": b, "mode": mode})
            n, c, *spatial = shape
            add(g, feeds, "SpaceToDepth", [x.reshape(n, c // b ** len(spatial), *(d * b for d in spatial))],
                {"blocksize": b, "mode": mode})
    for dtype in ["float64", "int64", "int32", "int8", "uint8", "bool"]:
        x = (rng.standard_normal((3, 6)) * 10).astype(dtype)
        for op, attrs in [("Reshape", {"shape": (6, -1)}), ("Transpose", {}), ("Tile", {"repeats": (2, 1)}),
                          ("Slice", {"starts": (1,), "ends": (5,), "axes": (1,)}),
                          ("Expand", {"shape": (2, 3, 6)})]:
            add(g, feeds, op, [x], attrs, name=f"{op.lower()}_{dtype}")
    check_graph(g, feeds, rtol=0, atol=0, backend="cuda-emu")


def test_pad_cuda_emu(rng):
    g, feeds = Graph("pad"), {}
    for mode in MODES:
        for shape, pads, axes in PAD_CASES:
            attrs = {"pads": pads, "mode": mode, "value": 1.5 if mode == "constant" else 0.0}
            if axes is not None:
                attrs["axes"] = axes
            add(g, feeds, "Pad", [rng.standard_normal(shape).astype(np.float32)], attrs)
        for shape, pads in CROP_CASES:
            add(g, feeds, "Pad", [rng.standard_normal(shape).astype(np.float32)], {"pads": pads, "mode": mode})
    for dtype, value in [("int64", 7.0), ("int32", -3.7), ("int8", 100.0), ("uint8", 7.9), ("bool", 0.5),
                         ("float64", -2.25)]:
        x = (rng.standard_normal((2, 3)) * 50).astype(dtype)
        for mode in MODES:
            add(g, feeds, "Pad", [x], {"pads": (1, 0, 0, 2), "mode": mode, "value": value},
                name=f"pad_{mode}_{dtype}")
    check_graph(g, feeds, rtol=0, atol=0, backend="cuda-emu")
