"""LocalConv (one kernel per output position) and TiledConv (kernels cycling over positions;
on TVM one TE compute over the padded input, each position's weight picked by its tile)
agree with the reference on every backend of ``helpers.BACKENDS`` over the attribute sets
of tests/ops/test_local_conv.py, with and without bias, 1 to 3 tiles (and more tiles than
positions), auto_pad, float64 (float16 on TVM)."""
import numpy as np
import pytest
from helpers import backends, check_nodes, only
from test_local_conv import CASES  # the attribute grids of tests/ops


def _out(xs, k, s, p, d):
    nd = len(k)
    return tuple((xs[2 + i] + p[i] + p[nd + i] - d[i] * (k[i] - 1) - 1) // s[i] + 1 for i in range(nd))


def _randn(rng, shape, dtype=np.float32):
    return rng.standard_normal(shape).astype(dtype)


def local_case(rng, xs, m, k, s, p, d):
    """LocalConv with and without bias, TiledConv with 1, 2 and 3 tiles per axis, over a case
    of tests/ops: ``(x, nodes)``."""
    nd, out = len(k), _out(xs, k, s, p, d)
    attrs = {"strides": s, "pads": p, "dilations": d}
    w = _randn(rng, (*out, m, xs[1], *k))
    nodes = [("LocalConv", [w], attrs), ("LocalConv", [w, _randn(rng, (m, *out))], attrs)]
    nodes += [("TiledConv", [_randn(rng, ((t,) * nd) + (m, xs[1], *k)), _randn(rng, m)], attrs)
              for t in (1, 2, 3)]
    return _randn(rng, xs), nodes


@backends
@pytest.mark.parametrize("xs,m,k,s,p,d", CASES)
def test_local_and_tiled_conv(backend, rng, xs, m, k, s, p, d):
    check_nodes(*local_case(rng, xs, m, k, s, p, d), backend=backend)


@backends
def test_local_and_tiled_conv_float64(backend, rng):
    """auto_pad SAME, tiles of mixed counts (one axis with more tiles than positions)."""
    xs, k = (2, 3, 5, 6), (2, 3)
    attrs = {"auto_pad": "SAME_UPPER", "strides": (2, 1)}
    out = (3, 6)
    check_nodes(_randn(rng, xs, np.float64), [
        ("LocalConv", [_randn(rng, (*out, 4, 3, *k), np.float64), _randn(rng, (4, *out), np.float64)], attrs),
        ("TiledConv", [_randn(rng, (4, 2, 4, 3, *k), np.float64)], attrs),
        ("TiledConv", [_randn(rng, (2, 8, 4, 3, *k), np.float64), _randn(rng, 4, np.float64)], attrs),
    ], rtol=1e-12, atol=1e-12, backend=backend)


@backends
def test_local_conv_same_lower_dilated_float64(backend, rng):
    """SAME_LOWER with strides beyond the kernel and dilation."""
    xs, k = (2, 3, 5, 6), (2, 3)
    check_nodes(_randn(rng, xs, np.float64), [
        ("LocalConv", [_randn(rng, (2, 2, 4, 3, *k), np.float64)], {"auto_pad": "SAME_LOWER", "strides": (3, 3),
                                                                    "dilations": (2, 1)}),
    ], rtol=1e-12, atol=1e-12, backend=backend)


@only("tvm")  # float16: TVM's alone
def test_local_and_tiled_conv_tvm_only_float16(backend, rng):
    check_nodes(_randn(rng, (1, 3, 5, 6), np.float16), [
        ("LocalConv", [_randn(rng, (3, 4, 2, 3, 3, 3), np.float16)], {}),
        ("TiledConv", [_randn(rng, (2, 2, 2, 3, 3, 3), np.float16), _randn(rng, 2, np.float16)], {}),
    ], rtol=1e-2, atol=2e-2, backend=backend)
