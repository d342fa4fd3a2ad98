"""TVM lowering of Pad agrees exactly with the reference over the cases of
tests/backends/test_c_pad.py: constant/reflect/edge/wrap, negative pads (cropping), every
dtype with a constant value cast like the reference's."""
import importlib.util

import numpy as np
import pytest
from helpers import add, check_graph
from test_c_pad import CASES, CROP_CASES, MODES

from cnnc.ir import Graph

pytestmark = pytest.mark.skipif(importlib.util.find_spec("tvm") is None,
                                reason="TVM backend tests need Apache TVM: pip install 'cnnc[tvm]'")


@pytest.mark.parametrize("mode", MODES)
def test_pad_tvm(rng, mode):
    """The C tests' cases, and their cropping cases, in one graph per mode."""
    g, feeds = Graph(f"pad_{mode}"), {}
    for shape, pads, axes in CASES:
        attrs = {"pads": pads, "mode": mode, "value": 1.5 if mode == "constant" else 0.0}
        if axes is not None:
            attrs["axes"] = axes
        add(g, feeds, "Pad", [rng.standard_normal(shape).astype(np.float32)], attrs)
    for shape, pads in CROP_CASES:
        add(g, feeds, "Pad", [rng.standard_normal(shape).astype(np.float32)], {"pads": pads, "mode": mode})
    check_graph(g, feeds, rtol=0, atol=0, backend="tvm")


@pytest.mark.parametrize("dtype,value", [("int64", 7.0), ("int32", -3.7), ("int8", 100.0),
                                         ("uint8", 7.9), ("bool", 0.5), ("float64", -2.25),
                                         ("float16", 0.1)])
def test_pad_other_dtypes_tvm(rng, dtype, value):
    g, feeds = Graph(f"pad_{dtype}"), {}
    x = (rng.standard_normal((2, 3)) * 50).astype(dtype)
    for mode in MODES:
        add(g, feeds, "Pad", [x], {"pads": (1, 0, 0, 2), "mode": mode, "value": value})
    check_graph(g, feeds, backend="tvm")
