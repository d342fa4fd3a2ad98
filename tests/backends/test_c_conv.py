"""C kernels (and, where TVM is installed, the TVM lowering) of Conv and ConvTranspose agree
with the reference over the attribute sets of tests/ops/test_conv.py (1-D/2-D/3-D, strides,
dilations, groups, every padding mode, output_padding, output_shape), with and without
bias, float32 and float64.  The nodes of one input shape share one compiled graph
(``helpers.check_nodes``).  test_tvm_conv.py adds the TVM-only cases."""
import importlib.util

import numpy as np
import pytest
from helpers import check_nodes
from test_conv import CONV_CASES, CONVT_CASES  # the attribute grids of tests/ops


#: the backends the shared cases run on
BACKENDS = ["c", pytest.param("tvm", marks=pytest.mark.skipif(
    importlib.util.find_spec("tvm") is None, reason="TVM backend tests need Apache TVM: pip install 'cnnc[tvm]'"))]
backends = pytest.mark.parametrize("backend", BACKENDS)


def _randn(rng, shape, dtype=np.float32):
    return rng.standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("xs,ws,attrs", CONV_CASES)
@backends
def test_conv_c(backend, rng, xs, ws, attrs):
    w, b = _randn(rng, ws), _randn(rng, ws[0])
    check_nodes(_randn(rng, xs), [("Conv", [w], attrs), ("Conv", [w, b], attrs)], backend=backend)


@pytest.mark.parametrize("xs,ws", [((1, 2, 6), (3, 2, 3)), ((1, 2, 5, 6), (3, 2, 3, 2)),
                                   ((1, 1, 4, 4, 4), (2, 1, 2, 3, 3))])
@backends
def test_conv_c_full_padding(backend, rng, xs, ws):
    nd = len(xs) - 2
    check_nodes(_randn(rng, xs), [("Conv", [_randn(rng, ws)], {"auto_pad": "FULL", "dilations": (2,) * nd}),
                                  ("Conv", [_randn(rng, ws)], {"auto_pad": "FULL", "strides": (2,) * nd})],
                backend=backend)


@backends
def test_conv_c_combined_and_long_reduction(backend, rng):
    """Depthwise with dilation, stride and asymmetric pads at once; pads larger than the
    kernel reach (rows of pure padding); 256 channels x 3x3 (2304 terms: double sums)."""
    x = _randn(rng, (1, 256, 7, 6))
    check_nodes(x, [
        ("Conv", [_randn(rng, (256, 1, 3, 3)), _randn(rng, 256)],
         {"group": 256, "strides": (2, 3), "dilations": (2, 1), "pads": (2, 0, 1, 3)}),
        ("Conv", [_randn(rng, (8, 64, 2, 3))],
         {"group": 4, "strides": (3, 2), "dilations": (1, 2), "pads": (4, 1, 0, 5)}),
        ("Conv", [_randn(rng, (4, 256, 3, 3)), _randn(rng, 4)], {"pads": (1, 1, 1, 1)}),
    ], rtol=1e-4, atol=1e-4, backend=backend)


@pytest.mark.parametrize("xs,wide", [((2, 4, 45), 1), ((1, 4, 5, 30), 2), ((1, 4, 3, 4, 27), 3)])
def test_conv_c_wide_rows(rng, xs, wide):
    """Rows wide enough for the blocked interior (8 columns at once) beside border
    columns (or none): unit and larger strides, dilation, asymmetric pads, groups,
    depthwise."""
    nd = len(xs) - 2
    one, k = (1,) * nd, (1,) * (nd - 1) + (3,)
    pads = lambda b, e: (0,) * (nd - 1) + (b,) + (0,) * (nd - 1) + (e,)
    check_nodes(_randn(rng, xs), [
        ("Conv", [_randn(rng, (5, 4, *k)), _randn(rng, 5)], {"pads": pads(2, 1)}),
        ("Conv", [_randn(rng, (6, 2, *k))], {"group": 2, "strides": (1,) * (nd - 1) + (2,),
                                             "dilations": (1,) * (nd - 1) + (3,), "pads": pads(0, 4)}),
        ("Conv", [_randn(rng, (4, 1, *(3,) * nd)), _randn(rng, 4)], {"group": 4, "auto_pad": "SAME_UPPER"}),
        ("Conv", [_randn(rng, (3, 4, *(2,) * nd))], {"strides": (3,) * nd, "auto_pad": "SAME_LOWER"}),
        ("Conv", [_randn(rng, (3, 4, *one))], {}),
        ("Conv", [_randn(rng, (3, 4, *one[1:], 7))], {}),   # 2-D: 24 columns, all blocked
    ])


@pytest.mark.parametrize("xs,ws,attrs", CONVT_CASES)
@backends
def test_conv_transpose_c(backend, rng, xs, ws, attrs):
    w, b = _randn(rng, ws), _randn(rng, ws[1] * attrs.get("group", 1))
    check_nodes(_randn(rng, xs), [("ConvTranspose", [w], attrs), ("ConvTranspose", [w, b], attrs)],
                backend=backend)


@backends
def test_conv_transpose_c_output_shape_and_padding(backend, rng):
    """output_shape beyond the natural extent (negative pads: outputs no input reaches),
    below it (cropping), odd SAME totals, dilation with output_padding, groups."""
    x = _randn(rng, (1, 4, 4, 5))
    w = _randn(rng, (4, 2, 3, 3))
    check_nodes(x, [
        ("ConvTranspose", [w], {"strides": (2, 2), "output_shape": (11, 12)}),
        ("ConvTranspose", [w, _randn(rng, 2)], {"strides": (1, 2), "output_shape": (7, 13)}),
        ("ConvTranspose", [w], {"strides": (2, 3), "output_shape": (7, 10)}),
        ("ConvTranspose", [w], {"strides": (3, 2), "auto_pad": "SAME_LOWER", "dilations": (2, 1)}),
        ("ConvTranspose", [w, _randn(rng, 4)], {"strides": (3, 2), "dilations": (2, 2), "group": 2,
                                                "output_padding": (1, 1), "pads": (2, 0, 1, 3)}),
    ], backend=backend)


@backends
def test_conv_c_float64(backend, rng):
    x = _randn(rng, (2, 4, 7, 19), np.float64)
    check_nodes(x, [
        ("Conv", [_randn(rng, (6, 2, 3, 2), np.float64), _randn(rng, 6, np.float64)],
         {"group": 2, "strides": (2, 1), "dilations": (1, 2), "pads": (1, 0, 2, 1)}),
        ("Conv", [_randn(rng, (4, 1, 3, 3), np.float64)], {"group": 4, "auto_pad": "SAME_LOWER"}),
        ("ConvTranspose", [_randn(rng, (4, 3, 2, 3), np.float64), _randn(rng, 3, np.float64)],
         {"strides": (2, 3), "pads": (0, 1, 1, 0), "output_padding": (1, 0)}),
    ], rtol=1e-12, atol=1e-12, backend=backend)
