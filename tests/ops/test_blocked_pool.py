"""BlockedPool: MaxPool and AveragePool on channel-blocked tensors (the pool's meaning per
channel), its errors, its C kernel and TVM lowering, and the layout pass keeping a region
blocked through its pools."""
from __future__ import annotations

import numpy as np
import pytest
from helpers import check_cases
from test_pool import CASES

import cnnc
from cnnc.ir import ShapeError, TensorType, get_op
from cnnc.ops.layout import transform
from cnnc.passes.layout import assign_layouts

#: the 1-D and 2-D windows of the pool tests (the ranks a blocked tensor has)
WINDOWS = [c for c in CASES if len(c[0]) <= 4]
POOLS = [("MaxPool", {}), ("AveragePool", {"count_include_pad": 0}), ("AveragePool", {"count_include_pad": 1})]


def _blocked(x, block):
    rank = x.ndim
    return transform(x, "NC" + "HW"[2 - (rank - 2):], "NC" + "HW"[2 - (rank - 2):] + f"{block}c")


def _with_specials(x):
    x = x.copy()
    x.flat[::7] = np.nan
    x.flat[3::11] = -np.inf
    return x


@pytest.mark.parametrize("xs,attrs", WINDOWS)
@pytest.mark.parametrize("op,extra", POOLS)
def test_blocked_pool_is_the_pool_on_each_channel(rng, op, extra, xs, attrs):
    x = rng.standard_normal((xs[0], 8, *xs[2:])).astype(np.float32)
    if op == "MaxPool":
        x = _with_specials(x)
    pool = get_op(op)
    a = pool.make_attrs({**attrs, **extra}, [TensorType.of(x)])
    (want,) = pool.run([x], a)
    bp = get_op("BlockedPool")
    xb = _blocked(x, 4)
    ba = bp.make_attrs({**attrs, **extra, "pool": op, "block": 4}, [TensorType.of(xb)])
    (yt,) = bp.infer([TensorType.of(xb)], ba)
    (got,) = bp.run([xb], ba)
    assert yt == TensorType.of(got)
    np.testing.assert_array_equal(got, _blocked(want, 4))


def test_blocked_pool_errors_name_what_was_expected():
    g = cnnc.Graph("t")
    x = g.add_input("x", TensorType((1, 2, 5, 5, 8)))
    with pytest.raises(cnnc.CnncError, match="not NCHW4c"):
        g.add_node("BlockedPool", [x], {"pool": "MaxPool", "block": 4, "kernel_shape": (2, 2)})
    with pytest.raises(cnnc.CnncError, match="pool"):
        g.add_node("BlockedPool", [x], {"pool": "LpPool", "block": 8, "kernel_shape": (2, 2)})
    with pytest.raises(ShapeError, match="kernel_shape"):
        g.add_node("BlockedPool", [x], {"pool": "MaxPool", "block": 8, "kernel_shape": (2,)})


def grid_cases(rng, op="BlockedPool"):
    """BlockedPool nodes over the pool tests' 1-D and 2-D windows and SqueezeNet's, every
    pool, NCHW8c operands; the MaxPool inputs with NaN and -inf."""
    out = []
    for i, (xs, attrs) in enumerate(WINDOWS + [((1, 16, 27, 27), {"kernel_shape": (3, 3), "strides": (2, 2)})]):
        x = rng.standard_normal((xs[0], 16, *xs[2:])).astype(np.float32)
        nodes = [(op, [], {**attrs, **extra, "pool": pool, "block": 8}) for pool, extra in POOLS]
        out.append((_blocked(_with_specials(x) if i % 2 else x, 8), nodes))
    return out


@pytest.mark.parametrize("backend", ["c", "tvm"])
def test_blocked_pools_on_the_backends(rng, backend):
    if backend == "tvm":
        pytest.importorskip("tvm", reason="the tvm backend needs Apache TVM")
    check_cases(grid_cases(rng), backend=backend, rtol=1e-5, atol=1e-6)


def _stem():
    import cnnc.dsl as nn
    m = nn.Model("stem", seed=0)
    x = m.input("x", (1, 3, 23, 23))
    y = nn.conv(x, 16, 3, stride=2, activation="relu")
    y = nn.max_pool(y, 3, stride=2, padding=1)
    y = nn.conv(y, 16, 3, padding=1, activation="relu")
    y = nn.avg_pool(y, 2, stride=1)
    m.output(nn.conv(y, 16, 1), "y")
    return cnnc.optimize(m.build())


@pytest.mark.parametrize("backend", ["reference", "c", "tvm"])
def test_a_region_stays_blocked_through_its_pools(rng, backend):
    """Conv, pool, conv, pool, conv: one region, blocked end to end with no transform on
    either side of a pool; every backend gives the plain graph's outputs."""
    if backend == "tvm":
        pytest.importorskip("tvm", reason="the tvm backend needs Apache TVM")
    g = _stem()
    b = assign_layouts(g, 8, mode="nchwc")
    ops = [n.op for n in b.nodes()]
    assert ops.count("BlockedPool") == 2 and ops.count("LayoutTransform") == 0, ops
    feeds = {"x": rng.standard_normal((1, 3, 23, 23)).astype(np.float32)}
    want = cnnc.compile(g).run(feeds)["y"]
    got = (cnnc.compile(b) if backend == "reference" else cnnc.compile(g, backend, layout="nchwc")).run(feeds)["y"]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
