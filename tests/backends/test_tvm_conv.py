"""TVM lowering of Conv (Relax conv1d/2d/3d) and ConvTranspose (a Conv over the
stride-dilated input with the regrouped, flipped weight): the attribute grids of
tests/ops/test_conv.py and the C tests' extra cases run on TVM in test_c_conv.py (its
BACKENDS); here are the cases only the TVM lowering needs (output_padding >= stride,
pads beyond the kernel's reach, 1-D/3-D output_shape) and float16.  The nodes of one
input shape share one build (``check_nodes``, also used by the other TVM conv-family
tests)."""
import importlib.util
from functools import partial

import numpy as np
import pytest
import helpers


pytestmark = pytest.mark.skipif(importlib.util.find_spec("tvm") is None,
                                reason="TVM backend tests need Apache TVM: pip install 'cnnc[tvm]'")


#: helpers.check_nodes on the TVM backend (the other TVM conv-family tests import it)
check_nodes = partial(helpers.check_nodes, backend="tvm")


def _randn(rng, shape, dtype=np.float32):
    return rng.standard_normal(shape).astype(dtype)


def test_conv_transpose_tvm_cropped_and_wide_output_padding(rng):
    """output_padding >= stride (ONNX allows it below the dilation), pads beyond the kernel's
    reach (the result cropped); 1-D and 3-D with output_padding and output_shape."""
    w = _randn(rng, (4, 2, 3, 3))
    check_nodes(_randn(rng, (1, 4, 4, 5)), [
        ("ConvTranspose", [w], {"dilations": (2, 3), "output_padding": (1, 2)}),
        ("ConvTranspose", [w], {"pads": (3, 1, 2, 3)}),
    ])
    check_nodes(_randn(rng, (2, 3, 5)), [
        ("ConvTranspose", [_randn(rng, (3, 2, 4))], {"strides": (3,), "output_padding": (2,), "pads": (1, 2)}),
        ("ConvTranspose", [_randn(rng, (3, 4, 2)), _randn(rng, 12)], {"group": 3, "strides": (2,),
                                                                     "output_shape": (13,)}),
    ])
    check_nodes(_randn(rng, (1, 2, 3, 2, 3)), [
        ("ConvTranspose", [_randn(rng, (2, 2, 2, 3, 2))], {"strides": (2, 1, 3), "dilations": (1, 2, 1),
                                                           "output_padding": (1, 1, 2), "pads": (0, 1, 1, 1, 0, 2)}),
        ("ConvTranspose", [_randn(rng, (2, 1, 3, 3, 3)), _randn(rng, 2)],
         {"group": 2, "strides": (2, 2, 2), "auto_pad": "SAME_UPPER"}),
    ])


def test_conv_tvm_float16(rng):
    x = _randn(rng, (1, 4, 6, 5), np.float16)
    check_nodes(x, [
        ("Conv", [_randn(rng, (3, 4, 3, 3), np.float16), _randn(rng, 3, np.float16)], {"pads": (1, 1, 1, 1)}),
        ("ConvTranspose", [_randn(rng, (4, 2, 2, 2), np.float16)], {"strides": (2, 2)}),
    ], rtol=1e-2, atol=2e-2)
