"""TVM lowering of LocalConv and TiledConv (one TE compute over the padded input, each
position's weight picked by its tile) agrees with the reference over the attribute sets of
tests/ops/test_local_conv.py, with and without bias, 1 to 3 tiles (and more tiles than
positions), auto_pad, float64 and float16: the shared cases run on TVM from
test_c_local_conv.py; here are the TVM-only ones."""
import importlib.util

import numpy as np
import pytest
from test_tvm_conv import _randn, check_nodes

pytestmark = pytest.mark.skipif(importlib.util.find_spec("tvm") is None,
                                reason="TVM backend tests need Apache TVM: pip install 'cnnc[tvm]'")


def test_local_conv_tvm_same_lower_dilated_float64(rng):
    """SAME_LOWER with strides beyond the kernel and dilation (the shared cases run on TVM
    from test_c_local_conv.py)."""
    xs, k = (2, 3, 5, 6), (2, 3)
    check_nodes(_randn(rng, xs, np.float64), [
        ("LocalConv", [_randn(rng, (2, 2, 4, 3, *k), np.float64)], {"auto_pad": "SAME_LOWER", "strides": (3, 3),
                                                                    "dilations": (2, 1)}),
    ], rtol=1e-12, atol=1e-12)


def test_local_and_tiled_conv_tvm_float16(rng):
    check_nodes(_randn(rng, (1, 3, 5, 6), np.float16), [
        ("LocalConv", [_randn(rng, (3, 4, 2, 3, 3, 3), np.float16)], {}),
        ("TiledConv", [_randn(rng, (2, 2, 2, 3, 3, 3), np.float16), _randn(rng, 2, np.float16)], {}),
    ], rtol=1e-2, atol=2e-2)
