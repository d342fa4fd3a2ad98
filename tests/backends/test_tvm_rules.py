"""cnnc's CPU schedule rules for TVM (``cnnc/backends/tvm_rules.py``), each on its own:
every kernel a rule schedules computes what the unscheduled kernel computes (both built
by LLVM and run on the same random operands), has the loops the rule promises, and a
rule declines what it does not cover.  Then the tvm target end to end: the blocked conv
grid, and ``threads=``."""
from __future__ import annotations

import re

import numpy as np
import pytest
from helpers import check_cases
from test_c_nchwc import grid_cases

import cnnc

pytest.importorskip("tvm", reason="the tvm backend needs Apache TVM: pip install 'cnnc[tvm]'")
import tvm  # noqa: E402
from tvm import tirx  # noqa: E402

from cnnc.backends import tvm as tb  # noqa: E402
from cnnc.backends import tvm_rules  # noqa: E402


def _model(spatial=None):
    """Stem, pointwise, depthwise, strided, a residual, a Concat, pools and a classifier;
    or (``spatial``: the input's spatial shape) two convs of that rank."""
    import cnnc.dsl as nn
    m = nn.Model("rules", seed=0)
    if spatial:
        x = m.input("x", (1, 3, *spatial))
        y = nn.conv(x, 16, 3, padding=1, activation="relu")
        m.output(nn.conv(y, 16, 1), "y")
        return m.build()
    x = m.input("x", (1, 3, 20, 20))
    s = nn.conv(x, 16, 3, stride=2, padding=1, activation="relu")
    y = nn.conv(s, 32, 1, activation="relu")
    y = nn.conv(y, 32, 3, padding=1, groups=32, activation="relu")
    y = nn.conv(y, 16, 1)
    y = nn.add(y, s)
    y = nn.concat([y, nn.conv(s, 16, 3, padding=2, dilation=2, activation="sigmoid")])
    y = nn.max_pool(y, 3, stride=2, padding=1)
    y = nn.global_avg_pool(y)
    m.output(nn.softmax(nn.dense(nn.flatten(y), 10)), "y")
    return m.build()


def _kernels(g, layout="auto"):
    target = tb.host_target()
    mod = tb._prepare(tb.lower(tb.blocked_graph(g, target, layout)), target, None)
    return target, {gv.name_hint: f for gv, f in mod.functions.items() if isinstance(f, tirx.PrimFunc)}


def _run(func, target, arrays):
    lib = tvm.compile(tvm.IRModule({"main": func.with_attr("global_symbol", "main")}), target=target)
    ts = [tvm.runtime.tensor(a) for a in arrays]
    lib["main"](*ts)
    return [t.numpy() for t in ts]


def _same_numbers(func, scheduled, target, rng):
    """``func`` and its schedule, run on the same random operands, write the same results."""
    from tvm.s_tir.meta_schedule.arg_info import ArgInfo
    arrays = []
    for info in ArgInfo.from_prim_func(func):
        shape, dtype = [int(d) for d in info.shape], str(info.dtype)
        arrays.append(rng.standard_normal(shape).astype(dtype) if dtype.startswith("float")
                      else rng.integers(0, 2, shape).astype(dtype))
    want = _run(func, target, [a.copy() for a in arrays])
    got = _run(scheduled, target, [a.copy() for a in arrays])
    for w, h in zip(want, got):
        np.testing.assert_allclose(h, w, rtol=1e-5, atol=1e-5)


def test_register_tile_schedules_every_blocked_conv_and_pool(rng):
    target, kernels = _kernels(_model())
    convs = {n: f for n, f in kernels.items() if ("nchw" in n and "conv" in n) or "maxpool" in n}
    assert len(convs) >= 6 and any("maxpool" in n for n in convs), sorted(kernels)
    for name, func in convs.items():
        sch = tvm_rules.RegisterTile().apply(func, target, False)
        assert sch is not None, name
        text = sch.mod["main"].script()
        # the parallel outer loop, the vector block, the unrolled pixels, the local tile
        for what in ("T.parallel", "T.vectorized", "T.unroll", 'scope="local"'):
            assert what in text, (name, what)
        _same_numbers(func, sch.mod["main"], target, rng)


def test_register_tile_declines_what_it_does_not_tile():
    target, kernels = _kernels(_model(), layout="nchw")
    assert all(tvm_rules.RegisterTile().apply(f, target, False) is None for f in kernels.values())
    target, kernels = _kernels(_model())
    others = [f for n, f in kernels.items() if "conv" not in n and "maxpool" not in n]
    assert others and all(tvm_rules.RegisterTile().apply(f, target, False) is None for f in others)
    cuda = tb.cuda_target()
    assert all(tvm_rules.RegisterTile().apply(f, cuda, False) is None for f in kernels.values())


def test_loops_schedules_the_other_kernels(rng):
    """Pools, the global pool, softmax, the classifier, layout transforms, the plain convs
    of layout nchw: results unchanged, a result of 64 elements or more parallel or
    vectorized."""
    for layout in ("auto", "nchw"):
        target, kernels = _kernels(_model(), layout)
        for name, func in kernels.items():
            sch = tvm_rules.Loops().apply(func, target, False)
            assert sch is not None, name
            _same_numbers(func, sch.mod["main"], target, rng)
            text = sch.mod["main"].script()
            from tvm.s_tir.meta_schedule.arg_info import ArgInfo
            if np.prod([int(d) for d in ArgInfo.from_prim_func(func)[-1].shape]) >= 64:
                assert "T.parallel" in text or "T.vectorized" in text, name


def test_tile_width():
    # the widest divisor of the row up to the registers, else the registers with a guarded tail
    assert tvm_rules.tile_width(56, 28) == 28 and tvm_rules.tile_width(55, 28) == 11
    assert tvm_rules.tile_width(7, 28) == 7 and tvm_rules.tile_width(109, 12) == 12
    assert tvm_rules.tile_width(13, 12) == 12 and tvm_rules.tile_width(1, 12) == 1


def test_the_blocked_conv_grid_on_tvm(rng):
    """BlockedConv over its C grid (NCHW8c, every epilogue, plain inputs and results)."""
    check_cases(grid_cases(rng), backend="tvm", rtol=1e-4, atol=1e-4)


def _grouped():
    """Grouped convs (4 and 2 groups, one strided), the layout pass leaves them plain."""
    import cnnc.dsl as nn
    m = nn.Model("grouped", seed=0)
    x = m.input("x", (1, 8, 14, 14))
    y = nn.conv(x, 16, 3, padding=1, groups=4, activation="relu")
    y = nn.conv(y, 16, 3, stride=2, padding=1, groups=2)
    m.output(nn.max_pool(y, 2), "y")
    return m.build()


def test_pixel_tile_schedules_plain_convs_and_the_classifier(rng):
    """Plain convs of every rank and group and the classifier: the output row is the
    vector, output channels the tile, same numbers; pools, global pools, softmax and
    layout transforms are declined."""
    for g, layout in ((_model(), "nchw"), (_model((6, 10, 10)), "auto"), (_model((29,)), "nchw"), (_grouped(), "auto")):
        target, kernels = _kernels(g, layout)
        tiled = {n for n in kernels if "conv" in n or "matmul" in n}
        assert tiled, sorted(kernels)
        for name, func in kernels.items():
            sch = tvm_rules.PixelTile().apply(func, target, False)
            if name in tiled:
                assert sch is not None, name
                text = sch.mod["main"].script()
                for what in ("T.parallel", "T.vectorized", "T.unroll", 'scope="local"'):
                    assert what in text, (name, what)
            elif any(k in name for k in ("softmax", "mean", "concatenate", "reshape", "pool")):
                assert sch is None, name
            if sch is not None:
                _same_numbers(func, sch.mod["main"], target, rng)
                text = sch.mod["main"].script()
                # the outer loops run in parallel; only the tile's row is unrolled
                assert "T.parallel" in text, name
                assert all(int(n) <= 28 for n in re.findall(r"T\.unroll\(T\.int64\((\d+)\)\)", text)), name
        cuda = tb.cuda_target()
        assert all(tvm_rules.PixelTile().apply(f, cuda, False) is None for f in kernels.values())


def test_vector_width():
    # the whole row up to a register, else a divisor from half a register up, else 1
    assert tvm_rules._vector_width(7, 16) == 7 and tvm_rules._vector_width(56, 16) == 14
    assert tvm_rules._vector_width(112, 16) == 16 and tvm_rules._vector_width(55, 16) == 11
    assert tvm_rules._vector_width(53, 8) == 1 and tvm_rules._vector_width(12, 8) == 6


def test_models_on_tvm_use_the_rules(rng):
    """1-, 2- and 3-D models and grouped convs end to end give the reference's outputs.  The
    1-D and 2-D conv kernels are channel-blocked and take RegisterTile; 3-D and grouped
    convs have no blocked form (``conv_blocked``), so they stay plain and take PixelTile."""
    for g, blocked in ((_model(), True), (_model((29,)), True), (_model((6, 10, 10)), False), (_grouped(), False)):
        target, kernels = _kernels(g)
        convs = [f for n, f in kernels.items() if "conv" in n]
        with target:
            taken = {tvm_rules.schedule(f, target)[0] for f in convs}
        assert taken == {"cnnc.RegisterTile" if blocked else "cnnc.PixelTile"}, taken
        (name, t), = g.input_types().items()
        feeds = {name: rng.standard_normal(t.shape).astype(np.float32)}
        want = cnnc.compile(g).run(feeds)
        got = cnnc.compile(g, "tvm").run(feeds)
        for k in want:
            np.testing.assert_allclose(got[k], want[k], rtol=1e-4, atol=1e-5)


def test_pre_activation_batch_norms_stay_in_the_blocked_region(rng):
    """DenseNet's BN-ReLU before a conv (``fuse.norms_as_depthwise``): the tvm target's blocked
    graph has no normalization and no layout transform inside; its outputs are the
    reference's."""
    import cnnc.dsl as nn
    m = nn.Model("dense", seed=0)
    x = m.input("x", (1, 3, 12, 12))
    s = nn.conv(x, 16, 3, padding=1)
    y = nn.concat([s, nn.conv(nn.relu(nn.batch_norm(s, random_stats=True)), 16, 3, padding=1)])
    y = nn.conv(nn.relu(nn.batch_norm(y, random_stats=True)), 16, 1)
    m.output(y, "y")
    g = cnnc.optimize(m.build())
    blocked = tb.blocked_graph(g, tb.host_target())
    ops = [n.op for n in blocked.nodes()]
    assert "BatchNormalization" not in ops and "LayoutTransform" not in ops, ops
    feeds = {"x": rng.standard_normal((1, 3, 12, 12)).astype(np.float32)}
    np.testing.assert_allclose(cnnc.compile(g, "tvm").run(feeds)["y"], cnnc.compile(g).run(feeds)["y"],
                               rtol=1e-4, atol=1e-5)
