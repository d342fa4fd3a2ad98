"""SpatialPyramidPool (not in ONNX) against a direct loop, plus the cases ONNX can express."""
import math

import numpy as np
import pytest
from helpers import assert_close, cnnc_run, onnx_run

from cnnc.ir import CnncError


def loop_spp(x, levels, mode):
    """Level by level; within a level channel by channel, bins in row-major order."""
    reduce = np.max if mode == "max" else np.mean
    spatial = x.shape[2:]
    out = []
    for n in levels:
        for c in range(x.shape[1]):
            for b in np.ndindex(*(n,) * len(spatial)):
                box = tuple(slice(math.floor(i * h / n), math.ceil((i + 1) * h / n))
                            for i, h in zip(b, spatial))
                out.append([reduce(x[(k, c) + box]) for k in range(x.shape[0])])
    return np.array(out).T


@pytest.mark.parametrize("xs", [(2, 3, 13), (2, 3, 7, 9), (1, 2, 5, 3, 6), (1, 2, 3, 2)])
@pytest.mark.parametrize("levels", [None, (1, 2, 4), (3,), (1, 3, 6)])
@pytest.mark.parametrize("mode", ["max", "avg"])
def test_spp_matches_loop(rng, xs, levels, mode):
    x = rng.standard_normal(xs).astype(np.float32)
    attrs = {"mode": mode} | ({"levels": levels} if levels else {})
    (got,) = cnnc_run("SpatialPyramidPool", [x], attrs)
    levels = levels or (1, 2, 4)
    assert got.shape == (xs[0], xs[1] * sum(n ** (len(xs) - 2) for n in levels))
    assert_close(got, loop_spp(x, levels, mode))


@pytest.mark.parametrize("sizes", [[(10, 13), (32, 20)], [(7,), (50,)], [(4, 5, 6), (9, 8, 7)]])
def test_spp_output_shape_is_independent_of_input_size(rng, sizes):
    """The point of SPP: a fixed-length vector whatever the input's spatial size."""
    outs = [cnnc_run("SpatialPyramidPool", [rng.standard_normal((2, 3, *s)).astype(np.float32)])[0]
            for s in sizes]
    assert outs[0].shape == outs[1].shape == (2, 3 * sum(n ** len(sizes[0]) for n in (1, 2, 4)))


@pytest.mark.parametrize("mode,global_op,pool_op", [("max", "GlobalMaxPool", "MaxPool"),
                                                    ("avg", "GlobalAveragePool", "AveragePool")])
def test_spp_levels_agree_with_onnx_pools(rng, mode, global_op, pool_op):
    """Level 1 is global pooling; a level dividing the input is a pool with kernel = stride."""
    x = rng.standard_normal((2, 3, 8, 12)).astype(np.float32)
    (got,) = cnnc_run("SpatialPyramidPool", [x], {"levels": (1, 4), "mode": mode})
    assert_close(got[:, :3], onnx_run(global_op, [x])[0].reshape(2, 3))
    window = {"kernel_shape": (2, 3), "strides": (2, 3)}
    assert_close(got[:, 3:], onnx_run(pool_op, [x], window)[0].reshape(2, -1))


@pytest.mark.parametrize("xs,attrs,msg", [
    ((1, 2, 4, 4), {"levels": ()}, "at least one level"),
    ((1, 2, 4, 4), {"levels": (1, 0)}, ">= 1"),
    ((1, 2, 4, 4), {"mode": "min"}, "must be one of"),
    ((2, 4), {}, "spatial axes"),
    ((1, 2, 0, 4), {}, "empty spatial axis"),
])
def test_spp_rejects_bad_input(xs, attrs, msg):
    with pytest.raises(CnncError, match=msg):
        cnnc_run("SpatialPyramidPool", [np.zeros(xs, np.float32)], attrs)
