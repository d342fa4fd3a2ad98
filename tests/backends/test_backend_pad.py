"""Pad agrees exactly with the reference on every backend of ``helpers.BACKENDS`` (on CUDA
through offset tables: the gather kernel): constant/reflect/edge/wrap over the cases of
tests/ops/test_pad.py, negative pads (cropping), every dtype (float16 on TVM) with a
constant value cast like the reference's.  One graph per mode (one compile); on C the
cropping build also runs as the standalone driver under ASan+UBSan."""
import numpy as np
import pytest
from helpers import add, backend_params, backends, c_sanitize_dir, check_graph

from cnnc.ir import Graph

MODES = ["constant", "reflect", "edge", "wrap"]
CASES = [((5,), (2, 3), None), ((5,), (0, 4), None), ((3, 4), (1, 2, 2, 1), None),
         ((3, 4), (0, 3, 0, 3), None), ((2, 3, 4, 5), (0, 0, 1, 2, 0, 0, 2, 1), None),
         ((2, 3, 4, 5), (1, 3, 0, 2), (2, -1)), ((1, 2, 3, 4, 5), (1, 1, 2, 1, 0, 2), (2, 3, 4)),
         ((2, 3), (0, 0, 0, 0), None), ((1, 3, 8, 8), (1, 1, 1, 1), (2, 3))]
CROP_CASES = [((6,), (-2, 3)), ((6,), (-1, -2)), ((3, 4), (1, -1, 2, 1)), ((3, 4), (-1, 1, 0, -2)),
              ((3, 6), (-1, 3, 0, -2)), ((3, 5), (0, -2, 0, 1)), ((2, 3, 4, 5), (0, 0, -1, 2, 0, 0, 1, -2))]


@backends
@pytest.mark.parametrize("mode", MODES)
def test_pad(backend, rng, mode):
    g, feeds = Graph(f"pad_{mode}"), {}
    for shape, pads, axes in CASES:
        attrs = {"pads": pads, "mode": mode, "value": 1.5 if mode == "constant" else 0.0}
        if axes is not None:
            attrs["axes"] = axes
        add(g, feeds, "Pad", [rng.standard_normal(shape).astype(np.float32)], attrs)
    check_graph(g, feeds, rtol=0, atol=0, backend=backend)


@backends
def test_negative_pads_crop(backend, rng, tmp_path):
    g, feeds = Graph("pad_crop"), {}
    for mode in MODES:
        for shape, pads in CROP_CASES:
            add(g, feeds, "Pad", [rng.standard_normal(shape).astype(np.float32)],
                {"pads": pads, "mode": mode})
    check_graph(g, feeds, c_sanitize_dir(backend, tmp_path), rtol=0, atol=0, backend=backend)


# float16: TVM's alone
@pytest.mark.parametrize("backend,dtype,value", backend_params("dtype,value", [
    ("int64", 7.0), ("int32", -3.7), ("int8", 100.0), ("uint8", 7.9), ("bool", 0.5), ("float64", -2.25)])
    + backend_params("dtype,value", [("float16", 0.1)], "tvm"))
def test_pad_other_dtypes(backend, rng, dtype, value):
    g, feeds = Graph(f"pad_{dtype}"), {}
    x = (rng.standard_normal((2, 3)) * 50).astype(dtype)
    for mode in MODES:
        add(g, feeds, "Pad", [x], {"pads": (1, 0, 0, 2), "mode": mode, "value": value})
    check_graph(g, feeds, rtol=0, atol=0, backend=backend)
