"""CUDA kernels of Resize and Upsample (linear/cubic: one kernel per resized axis, doubles in
scratch between passes; nearest: the gather kernel), run by the CPU emulator (no GPU), agree
with the reference over test_c_resize.py's grid: every mode x coordinate_transformation_mode
x nearest_mode x exclude_outside x antialias on one input (3-D sizes with axes:
three passes, both scratch buffers) by default, on every input of tests/ops/test_resize.py
with ``-m slow``; fractional scales, keep_aspect_ratio_policy, integer dtypes (rounded half
to even, saturated), float64 and Upsample in one more graph."""
import numpy as np
import pytest
from helpers import check_graph
from test_c_resize import FILTER_COMBOS, NEAREST_COMBOS, resize_attrs
from test_resize import CASES  # the attribute grid of tests/ops

from cnnc.ir import Graph, TensorType

COMBOS = NEAREST_COMBOS + FILTER_COMBOS
DEFAULT = (6,)  # CASES' index checked without -m slow


def resize_graph(cases):
    """One graph: per ``(x, nodes)`` of ``cases`` an input and one node per ``(op, attrs)``."""
    g, feeds = Graph("resize"), {}
    for c, (x, nodes) in enumerate(cases):
        xv = g.add_input(f"x{c}", TensorType.of(x))
        feeds[f"x{c}"] = x
        for i, (op, attrs) in enumerate(nodes):
            (y,) = g.add_node(op, [xv], attrs, label=f"{op.lower()}{c}_{i}")
            g.add_output(y, f"y{c}_{i}")
    return g, feeds


def _grid(rng, indices):
    return [(rng.standard_normal(CASES[i][0]).astype(np.float32),
             [("Resize", resize_attrs(CASES[i][1], *c)) for c in COMBOS]) for i in indices]


def test_resize_cuda_emu(rng):
    check_graph(*resize_graph(_grid(rng, DEFAULT)), rtol=1e-6, atol=1e-7, backend="cuda-emu")


@pytest.mark.slow
def test_resize_cuda_emu_whole_grid(rng):
    others = [i for i in range(len(CASES)) if i not in DEFAULT]
    check_graph(*resize_graph(_grid(rng, others)), rtol=1e-6, atol=1e-7, backend="cuda-emu")


def test_resize_cuda_emu_special_cases(rng):
    modes = ("nearest", "linear", "cubic")
    cases = [(rng.standard_normal(shape).astype(np.float32),
              [("Resize", {**base, "mode": m, "coordinate_transformation_mode": ct}) for m in modes])
             for shape, base, ct in [
                 ((1, 2, 5, 6), {"scales": (1.0, 1.0, 1.7, 0.5)}, "align_corners"),
                 ((1, 2, 5, 6), {"scales": (1.0, 1.0, 1.7, 0.5), "roi": (0, 0, 0.2, 0.1, 1, 1, 0.9, 0.7)},
                  "tf_crop_and_resize"),
                 ((1, 1, 3, 4), {"sizes": (1, 1, 1, 1)}, "pytorch_half_pixel"),
                 ((6, 5), {"scales": (0.7, 1.5)}, "align_corners")]]
    cases.append((rng.standard_normal((1, 2, 4, 6)).astype(np.float32),
                  [("Resize", {"sizes": (3, 3), "axes": (2, 3), "keep_aspect_ratio_policy": p, "mode": m})
                   for p in ("stretch", "not_larger", "not_smaller") for m in modes]))
    crop = {"coordinate_transformation_mode": "tf_crop_and_resize", "extrapolation_value": 2.5,
            "roi": (0, 0, -0.2, 0.1, 1, 1, 0.9, 1.3)}
    for dtype in ["uint8", "int8", "int32", "int64"]:
        info = np.iinfo(dtype)
        lo, hi = max(info.min, -1000), min(info.max, 1000)
        x = rng.integers(lo, hi, (1, 1, 4, 5), endpoint=True).astype(dtype)
        x[0, 0, 1, 1:3] = (lo, hi)       # cubic overshoots past the dtype's range: saturates
        cases.append((x, [("Resize", {"scales": (1.0, 1.0, 2.0, 1.5), "mode": m, **c})
                          for m in modes for c in ({}, crop)]))
    cases.append((rng.standard_normal((1, 2, 3, 4)).astype(np.float32),
                  [("Upsample", {"mode": m, "scales": (1.0, 2.0, 3.0, 2.0)}) for m in ("nearest", "linear")]))
    check_graph(*resize_graph(cases), rtol=1e-6, atol=1e-7, backend="cuda-emu")
    x = rng.standard_normal((1, 2, 4, 3, 4))
    check_graph(*resize_graph([(x, [("Resize", resize_attrs(CASES[5][1], *c)) for c in
                                    [("nearest", "half_pixel", "floor", 1, 0),
                                     ("linear", "tf_crop_and_resize", "floor", 0, 1),
                                     ("cubic", "half_pixel", "floor", 1, 0),
                                     ("cubic", "align_corners", "floor", 0, 1)]])]),
                rtol=1e-13, atol=1e-14, backend="cuda-emu")
