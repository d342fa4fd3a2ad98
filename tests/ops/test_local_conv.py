"""LocalConv (unshared) and TiledConv, which ONNX lacks, against direct loops."""
import numpy as np
import pytest
from helpers import assert_close, cnnc_run

from cnnc.ir import CnncError


def loop_reference(x, kernel_at, bias_at, out_shape, strides, pads, dilations):
    """Direct definition: y[n,m,o] = sum_{c,k} xpad[n, c, o*s + k*d] * kernel_at(o)[m, c, k]."""
    nd = x.ndim - 2
    xp = np.pad(x, [(0, 0), (0, 0)] + [(pads[i], pads[nd + i]) for i in range(nd)])
    n, c = x.shape[:2]
    kern0 = kernel_at((0,) * nd)
    m, ks = kern0.shape[0], kern0.shape[2:]
    y = np.zeros((n, m, *out_shape), np.float64)
    for o in np.ndindex(*out_shape):
        kern = kernel_at(o)
        for k in np.ndindex(*ks):
            pos = tuple(oi * si + ki * di for oi, si, ki, di in zip(o, strides, k, dilations))
            y[(slice(None), slice(None)) + o] += xp[(slice(None), slice(None)) + pos] @ kern[(slice(None), slice(None)) + k].T
        y[(slice(None), slice(None)) + o] += bias_at(o)
    return y


CASES = [  # input shape, M, kernel, strides, pads, dilations
    ((2, 3, 7), 4, (3,), (1,), (1, 0), (1,)),
    ((1, 3, 6, 7), 2, (3, 2), (1, 2), (1, 0, 0, 1), (1, 1)),
    ((1, 2, 8, 8), 3, (3, 3), (2, 2), (0, 0, 0, 0), (2, 1)),
    ((1, 2, 4, 5, 4), 2, (2, 2, 2), (1, 2, 1), (0, 1, 0, 0, 0, 1), (1, 1, 1)),
]


def _out(xs, k, s, p, d):
    nd = len(k)
    return tuple((xs[2 + i] + p[i] + p[nd + i] - d[i] * (k[i] - 1) - 1) // s[i] + 1 for i in range(nd))


@pytest.mark.parametrize("xs,m,k,s,p,d", CASES)
@pytest.mark.parametrize("bias", [False, True])
def test_local_conv_matches_loop(rng, xs, m, k, s, p, d, bias):
    out = _out(xs, k, s, p, d)
    x = rng.standard_normal(xs).astype(np.float32)
    w = rng.standard_normal((*out, m, xs[1], *k)).astype(np.float32)
    b = rng.standard_normal((m, *out)).astype(np.float32)
    attrs = {"strides": s, "pads": p, "dilations": d}
    (got,) = cnnc_run("LocalConv", [x, w] + ([b] if bias else []), attrs)
    want = loop_reference(x, lambda o: w[o], lambda o: b[(slice(None),) + o] if bias else 0, out, s, p, d)
    assert_close(got, want)


@pytest.mark.parametrize("xs,m,k,s,p,d", CASES)
@pytest.mark.parametrize("tiles", [1, 2, 3])
def test_tiled_conv_matches_loop(rng, xs, m, k, s, p, d, tiles):
    nd = len(k)
    out = _out(xs, k, s, p, d)
    x = rng.standard_normal(xs).astype(np.float32)
    w = rng.standard_normal((*(tiles,) * nd, m, xs[1], *k)).astype(np.float32)
    b = rng.standard_normal(m).astype(np.float32)
    (got,) = cnnc_run("TiledConv", [x, w, b], {"strides": s, "pads": p, "dilations": d})
    want = loop_reference(x, lambda o: w[tuple(oi % tiles for oi in o)], lambda o: b, out, s, p, d)
    assert_close(got, want)


def test_tiled_conv_with_one_tile_is_conv(rng):
    x = rng.standard_normal((1, 3, 6, 6)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    (tiled,) = cnnc_run("TiledConv", [x, w[None, None]], {"pads": (1, 1, 1, 1)})
    (conv,) = cnnc_run("Conv", [x, w], {"pads": (1, 1, 1, 1)})
    assert_close(tiled, conv)


def test_local_conv_rejects_wrong_positions(rng):
    x = np.zeros((1, 2, 6, 6), np.float32)
    with pytest.raises(CnncError, match="output extent"):
        cnnc_run("LocalConv", [x, np.zeros((5, 5, 3, 2, 3, 3), np.float32)])
    with pytest.raises(CnncError, match="expects 4"):
        cnnc_run("LocalConv", [x, np.zeros((4, 4, 3, 4, 3, 3), np.float32)])
