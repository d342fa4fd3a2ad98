"""TVM lowerings of Resize and Upsample agree with the reference over the grid of
tests/backends/test_c_resize.py (that of tests/ops/test_resize.py): every mode x
coordinate_transformation_mode x nearest_mode x exclude_outside x antialias combination on
up- and downsampling 1-D to 3-D inputs (each combination on some of the inputs: a TVM
build costs about a second per node), with axes, sizes and keep_aspect_ratio_policy;
integer dtypes round half to even and saturate."""
import importlib.util

import numpy as np
import pytest
import helpers
from helpers import add, check_graph
from test_c_resize import FILTER_COMBOS, NEAREST_COMBOS, resize_attrs
from test_c_resize import test_resize_c_fractional_scales as _fractional
from test_c_resize import test_upsample_c as _upsample
from test_resize import CASES

from cnnc.ir import Graph

pytestmark = pytest.mark.skipif(importlib.util.find_spec("tvm") is None,
                                reason="TVM backend tests need Apache TVM: pip install 'cnnc[tvm]'")

COMBOS = NEAREST_COMBOS + FILTER_COMBOS
SPREAD = 5  # each combination runs on len(CASES) / SPREAD of the inputs


def _grid(test):
    return [m.args[1] for m in test.pytestmark if m.name == "parametrize"][0]


def check_nodes(x, nodes, *, rtol=1e-6, atol=1e-7):
    """helpers.check_nodes on tvm of Resize/Upsample nodes ``(op, attrs)`` over ``x``."""
    helpers.check_nodes(x, [(op, [], attrs) for op, attrs in nodes], rtol=rtol, atol=atol, backend="tvm")


@pytest.mark.parametrize("case", range(len(CASES)), ids=lambda c: str(CASES[c]).replace(" ", ""))
def test_resize_tvm(rng, case):
    shape, base = CASES[case]
    x = rng.standard_normal(shape).astype(np.float32)
    check_nodes(x, [("Resize", resize_attrs(base, *c)) for c in COMBOS[case % SPREAD::SPREAD]])


def test_resize_tvm_fractional_scales(rng):
    """tests/ops/test_resize.py's SPEC_CASES: extents that are not in * scale."""
    for shape, base, ct in _grid(_fractional):
        x = rng.standard_normal(shape).astype(np.float32)
        check_nodes(x, [("Resize", {**base, "mode": m, "coordinate_transformation_mode": ct})
                        for m in ("nearest", "linear", "cubic")])


def test_resize_tvm_keep_aspect_ratio_policy(rng):
    x = rng.standard_normal((1, 2, 4, 6)).astype(np.float32)
    check_nodes(x, [("Resize", {"sizes": (3, 3), "axes": (2, 3), "keep_aspect_ratio_policy": policy,
                                "mode": m}) for m in ("nearest", "linear", "cubic")
                    for policy in ("stretch", "not_larger", "not_smaller")])


def test_resize_tvm_integer_dtypes_round_and_saturate(rng):
    """Cubic overshoots past the dtype's range (saturates); tf_crop_and_resize's
    extrapolation value is rounded too.  The C tests' nodes spread over the dtypes."""
    attrs = {"scales": (1.0, 1.0, 2.0, 1.5)}
    crop = {"coordinate_transformation_mode": "tf_crop_and_resize", "extrapolation_value": 2.5,
            "roi": (0, 0, -0.2, 0.1, 1, 1, 0.9, 1.3)}
    variants = [{**attrs, "mode": m, **c} for m in ("nearest", "linear", "cubic") for c in ({}, crop)]
    g, feeds = Graph("resize_int"), {}
    for k, dtype in enumerate(["uint8", "int8", "int32", "int64"]):
        info = np.iinfo(dtype)
        lo, hi = max(info.min, -1000), min(info.max, 1000)
        x = rng.integers(lo, hi, (1, 1, 4, 5), endpoint=True).astype(dtype)
        x[0, 0, 1, 1:3] = (lo, hi)
        for attrs in variants[k % 2::2] + variants[4 + k // 2:5 + k // 2]:
            add(g, feeds, "Resize", [x], attrs)
    check_graph(g, feeds, backend="tvm")


def test_resize_tvm_float64_and_float16(rng):
    x = rng.standard_normal((1, 2, 4, 3, 4))
    nodes = [("Resize", resize_attrs(CASES[5][1], *c)) for c in
             [("nearest", "half_pixel", "floor", 1, 0), ("linear", "tf_crop_and_resize", "floor", 0, 1),
              ("cubic", "half_pixel", "floor", 1, 0), ("cubic", "align_corners", "floor", 0, 1)]]
    check_nodes(x, nodes, rtol=1e-13, atol=1e-14)
    check_nodes(x.astype(np.float16), nodes[:2], rtol=1e-3, atol=1e-3)


def test_upsample_tvm(rng):
    g, feeds = Graph("upsample"), {}
    for shape, scales in _grid(_upsample):
        x = rng.standard_normal(shape).astype(np.float32)
        for m in ("nearest", "linear"):
            add(g, feeds, "Upsample", [x], {"mode": m, "scales": scales})
    check_graph(g, feeds, rtol=1e-6, atol=1e-7, backend="tvm")
