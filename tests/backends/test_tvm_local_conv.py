"""TVM lowering of LocalConv and TiledConv (one TE compute over the padded input, each
position's weight picked by its tile) agrees with the reference over the attribute sets of
tests/ops/test_local_conv.py, with and without bias, 1 to 3 tiles (and more tiles than
positions), auto_pad, float64 and float16."""
import importlib.util

import numpy as np
import pytest
from test_c_local_conv import _out
from test_local_conv import CASES  # the attribute grids of tests/ops
from test_tvm_conv import _randn, check_nodes

pytestmark = pytest.mark.skipif(importlib.util.find_spec("tvm") is None,
                                reason="TVM backend tests need Apache TVM: pip install 'cnnc[tvm]'")


@pytest.mark.parametrize("xs,m,k,s,p,d", CASES)
def test_local_and_tiled_conv_tvm(rng, xs, m, k, s, p, d):
    """LocalConv with and without bias, TiledConv with 1, 2 and 3 tiles per axis."""
    nd, out = len(k), _out(xs, k, s, p, d)
    attrs = {"strides": s, "pads": p, "dilations": d}
    w = _randn(rng, (*out, m, xs[1], *k))
    nodes = [("LocalConv", [w], attrs), ("LocalConv", [w, _randn(rng, (m, *out))], attrs)]
    nodes += [("TiledConv", [_randn(rng, ((t,) * nd) + (m, xs[1], *k)), _randn(rng, m)], attrs)
              for t in (1, 2, 3)]
    check_nodes(_randn(rng, xs), nodes)


def test_local_and_tiled_conv_tvm_float64(rng):
    """auto_pad SAME, tiles of mixed counts (one axis with more tiles than positions)."""
    xs, k = (2, 3, 5, 6), (2, 3)
    attrs = {"auto_pad": "SAME_UPPER", "strides": (2, 1)}
    out = (3, 6)
    check_nodes(_randn(rng, xs, np.float64), [
        ("LocalConv", [_randn(rng, (*out, 4, 3, *k), np.float64), _randn(rng, (4, *out), np.float64)], attrs),
        ("TiledConv", [_randn(rng, (4, 2, 4, 3, *k), np.float64)], attrs),
        ("TiledConv", [_randn(rng, (2, 8, 4, 3, *k), np.float64), _randn(rng, 4, np.float64)], attrs),
        ("LocalConv", [_randn(rng, (2, 2, 4, 3, *k), np.float64)], {"auto_pad": "SAME_LOWER", "strides": (3, 3),
                                                                    "dilations": (2, 1)}),
    ], rtol=1e-12, atol=1e-12)


def test_local_and_tiled_conv_tvm_float16(rng):
    check_nodes(_randn(rng, (1, 3, 5, 6), np.float16), [
        ("LocalConv", [_randn(rng, (3, 4, 2, 3, 3, 3), np.float16)], {}),
        ("TiledConv", [_randn(rng, (2, 2, 2, 3, 3, 3), np.float16), _randn(rng, 2, np.float16)], {}),
    ], rtol=1e-2, atol=2e-2)
