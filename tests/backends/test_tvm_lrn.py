"""TVM lowering of LRN (float64 squares, a TE channel-window sum, Relax pointwise) agrees
with the reference over the shapes and attributes of tests/backends/test_c_lrn.py: 1-D/2-D/
3-D, odd and even sizes, the window wider than the channel axis; float32, float64, float16."""
import importlib.util

import numpy as np
import pytest
from test_c_lrn import ATTRS, SHAPES  # the C tests' grids
from test_tvm_conv import check_nodes

pytestmark = pytest.mark.skipif(importlib.util.find_spec("tvm") is None,
                                reason="TVM backend tests need Apache TVM: pip install 'cnnc[tvm]'")


@pytest.mark.parametrize("shape", SHAPES)
def test_lrn_tvm(rng, shape):
    check_nodes(rng.standard_normal(shape).astype(np.float32), [("LRN", [], a) for a in ATTRS],
                rtol=1e-5, atol=1e-6)


def test_lrn_tvm_float64_and_float16(rng):
    check_nodes(rng.standard_normal((2, 6, 3, 3)), [("LRN", [], a) for a in ATTRS], rtol=1e-12, atol=1e-12)
    check_nodes(rng.standard_normal((1, 5, 4)).astype(np.float16), [("LRN", [], a) for a in ATTRS[:3]],
                rtol=1e-3, atol=1e-3)
