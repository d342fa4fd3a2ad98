"""TVM lowering of Conv (Relax conv1d/2d/3d) and ConvTranspose (a Conv over the
stride-dilated input with the regrouped, flipped weight) agrees with the reference over
the attribute grids of tests/ops/test_conv.py and the extra cases of test_c_conv.py
(1-D/2-D/3-D, strides, dilations, groups, every padding mode, output_padding,
output_shape beyond and below the natural extent), with and without bias, float32,
float64 and float16.  The nodes of one input shape share one build (``check_nodes``, also
used by the other TVM conv-family tests)."""
import importlib.util
from functools import partial

import numpy as np
import pytest
import helpers
from test_conv import CONV_CASES, CONVT_CASES  # the attribute grids of tests/ops


pytestmark = pytest.mark.skipif(importlib.util.find_spec("tvm") is None,
                                reason="TVM backend tests need Apache TVM: pip install 'cnnc[tvm]'")


#: helpers.check_nodes on the TVM backend (the other TVM conv-family tests import it)
check_nodes = partial(helpers.check_nodes, backend="tvm")


def _randn(rng, shape, dtype=np.float32):
    return rng.standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("xs,ws,attrs", CONV_CASES)
def test_conv_tvm(rng, xs, ws, attrs):
    w, b = _randn(rng, ws), _randn(rng, ws[0])
    check_nodes(_randn(rng, xs), [("Conv", [w], attrs), ("Conv", [w, b], attrs)])


@pytest.mark.parametrize("xs,ws", [((1, 2, 6), (3, 2, 3)), ((1, 2, 5, 6), (3, 2, 3, 2)),
                                   ((1, 1, 4, 4, 4), (2, 1, 2, 3, 3))])
def test_conv_tvm_full_padding(rng, xs, ws):
    nd = len(xs) - 2
    check_nodes(_randn(rng, xs), [("Conv", [_randn(rng, ws)], {"auto_pad": "FULL", "dilations": (2,) * nd}),
                                  ("Conv", [_randn(rng, ws)], {"auto_pad": "FULL", "strides": (2,) * nd})])


def test_conv_tvm_combined_and_long_reduction(rng):
    """Depthwise with dilation, stride and asymmetric pads at once; pads beyond the kernel's
    reach; 256 channels x 3x3 (2304-term sums)."""
    x = _randn(rng, (1, 256, 7, 6))
    check_nodes(x, [
        ("Conv", [_randn(rng, (256, 1, 3, 3)), _randn(rng, 256)],
         {"group": 256, "strides": (2, 3), "dilations": (2, 1), "pads": (2, 0, 1, 3)}),
        ("Conv", [_randn(rng, (8, 64, 2, 3))],
         {"group": 4, "strides": (3, 2), "dilations": (1, 2), "pads": (4, 1, 0, 5)}),
        ("Conv", [_randn(rng, (4, 256, 3, 3)), _randn(rng, 4)], {"pads": (1, 1, 1, 1)}),
    ], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("xs,ws,attrs", CONVT_CASES)
def test_conv_transpose_tvm(rng, xs, ws, attrs):
    w, b = _randn(rng, ws), _randn(rng, ws[1] * attrs.get("group", 1))
    check_nodes(_randn(rng, xs), [("ConvTranspose", [w], attrs), ("ConvTranspose", [w, b], attrs)])


def test_conv_transpose_tvm_output_shape_and_padding(rng):
    """output_shape beyond the natural extent (negative pads: outputs no input reaches),
    below it (cropping), odd SAME totals, dilation with output_padding (output_padding
    >= stride, which ONNX allows below the dilation), pads beyond the kernel's reach (the
    result cropped), groups; 1-D and 3-D with output_padding and output_shape."""
    x = _randn(rng, (1, 4, 4, 5))
    w = _randn(rng, (4, 2, 3, 3))
    check_nodes(x, [
        ("ConvTranspose", [w], {"strides": (2, 2), "output_shape": (11, 12)}),
        ("ConvTranspose", [w, _randn(rng, 2)], {"strides": (1, 2), "output_shape": (7, 13)}),
        ("ConvTranspose", [w], {"strides": (2, 3), "output_shape": (7, 10)}),
        ("ConvTranspose", [w], {"strides": (3, 2), "auto_pad": "SAME_LOWER", "dilations": (2, 1)}),
        ("ConvTranspose", [w, _randn(rng, 4)], {"strides": (3, 2), "dilations": (2, 2), "group": 2,
                                                "output_padding": (1, 1), "pads": (2, 0, 1, 3)}),
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


def test_conv_tvm_float64_and_float16(rng):
    x = _randn(rng, (2, 4, 7, 19), np.float64)
    check_nodes(x, [
        ("Conv", [_randn(rng, (6, 2, 3, 2), np.float64), _randn(rng, 6, np.float64)],
         {"group": 2, "strides": (2, 1), "dilations": (1, 2), "pads": (1, 0, 2, 1)}),
        ("Conv", [_randn(rng, (4, 1, 3, 3), np.float64)], {"group": 4, "auto_pad": "SAME_LOWER"}),
        ("ConvTranspose", [_randn(rng, (4, 3, 2, 3), np.float64), _randn(rng, 3, np.float64)],
         {"strides": (2, 3), "pads": (0, 1, 1, 0), "output_padding": (1, 0)}),
    ], rtol=1e-12, atol=1e-12)
    x = _randn(rng, (1, 4, 6, 5), np.float16)
    check_nodes(x, [
        ("Conv", [_randn(rng, (3, 4, 3, 3), np.float16), _randn(rng, 3, np.float16)], {"pads": (1, 1, 1, 1)}),
        ("ConvTranspose", [_randn(rng, (4, 2, 2, 2), np.float16)], {"strides": (2, 2)}),
    ], rtol=1e-2, atol=2e-2)
