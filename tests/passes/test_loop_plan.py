"""loop_plan: window starts, kernel taps on the input and interior ranges, checked against a
brute-force loop over every output position of the op's own reference windows."""
import numpy as np
import pytest

import cnnc.dsl as nn
from cnnc.ir import CnncError, get_op
from cnnc.ops import _spatial as sp
from cnnc.passes.padding import loop_plan

SHAPES = {1: (1, 2, 9), 2: (1, 2, 7, 8), 3: (1, 1, 5, 6, 7)}
MODES = ("valid", "same_upper", "same_lower", "full", "explicit")

LAYERS = {
    "conv": lambda x, p, s, d: nn.conv(x, 2, 3, s, p, d),
    "conv_even": lambda x, p, s, d: nn.conv(x, 2, 2, s, p, d),
    "local": lambda x, p, s, d: nn.local_conv(x, 2, 2, s, p, d),
    "max_ceil": lambda x, p, s, d: nn.max_pool(x, 3, s, p, dilation=d, ceil_mode=True),
    "lp_ceil": lambda x, p, s, d: nn.lp_pool(x, 2, s, p, dilation=d, ceil_mode=True),
}


def padding(mode, nd):
    if mode != "explicit":
        return mode
    return tuple((i + 1) % 2 for i in range(nd)) + tuple(i % 2 for i in range(nd))


def build(nd, layer, *args):
    m = nn.Model("t")
    m.output(layer(m.input("x", SHAPES[nd]), *args), "y")
    g = m.build()
    return g, next(n for n in g.nodes() if "auto_pad" in n.attrs)


def reference_indices(node, n, axis):
    """(out, kernel) input index each tap of ``axis`` reads, -1 on padding: the op's own
    window view of arange(n) (the axis alone; padding is separable per axis)."""
    a, nd = node.attrs, len(node.attrs["kernel_shape"])
    one = {"kernel_shape": (a["kernel_shape"][axis],), "strides": (a["strides"][axis],),
           "dilations": (a["dilations"][axis],), "pads": (a["pads"][axis], a["pads"][nd + axis]),
           "auto_pad": a["auto_pad"]}
    x = np.arange(n, dtype=np.float64)[None, None]
    return sp.windows(x, one, pad_value=-1, ceil_mode=bool(a.get("ceil_mode")))[0, 0].astype(int)


@pytest.mark.parametrize("nd", (1, 2, 3))
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("stride,dilation", ((1, 1), (2, 1), (1, 2), (3, 2)))
@pytest.mark.parametrize("kind", LAYERS)
def test_against_brute_force(kind, stride, dilation, mode, nd):
    check_against_brute_force(*build(nd, LAYERS[kind], padding(mode, nd), stride, dilation))


def test_windows_without_a_tap_on_the_input():
    """Extent 2, kernel 2, dilation 4, pads 3: outputs 1 and 2 straddle the input."""
    m = nn.Model("t")
    m.output(nn.conv(m.input("x", (1, 1, 2)), 1, 2, 1, 3, 4), "y")
    g = m.build()
    node = g.nodes()[-1]
    check_against_brute_force(g, node)
    assert loop_plan(g, node.name).axes[0].taps == ((1, 2), (1, 1), (1, 1), (0, 1))


def check_against_brute_force(g, node):
    plan = loop_plan(g, node.name)
    assert plan.out_shape == node.types[0].shape[2:] and plan.op == node.op
    all_interior = True
    for axis, (ax, n) in enumerate(zip(plan.axes, g.type_of(g.operands(node.name)[0]).shape[2:])):
        idx = reference_indices(node, n, axis)
        assert idx.shape == (ax.out_extent, ax.kernel) and ax.extent == n
        interior = set()
        for o in range(ax.out_extent):
            assert ax.starts[o] == ax.starts[0] + o * ax.stride
            on = [k for k in range(ax.kernel) if idx[o, k] >= 0]
            assert on == list(range(*ax.taps[o]))
            assert all(idx[o, k] == ax.starts[o] + k * ax.dilation for k in on)
            if len(on) == ax.kernel:
                interior.add(o)
        assert interior == set(range(*ax.interior))
        all_interior &= len(interior) == ax.out_extent
        covered = sorted(o for b, e in (*ax.border, ax.interior) for o in range(b, e))
        assert covered == list(range(ax.out_extent))
    assert plan.checks_free == all_interior


def conv_from_plan(x, w, plan):
    """A 2-D conv written only from the plan: no index is ever tested against the bounds."""
    ax0, ax1 = plan.axes
    y = np.zeros((x.shape[0], w.shape[0], *plan.out_shape))
    for o0 in range(ax0.out_extent):
        k0 = np.arange(*ax0.taps[o0])
        for o1 in range(ax1.out_extent):
            k1 = np.arange(*ax1.taps[o1])
            patch = x[:, :, ax0.starts[o0] + k0 * ax0.dilation][:, :, :, ax1.starts[o1] + k1 * ax1.dilation]
            y[:, :, o0, o1] = np.einsum("nchw,mchw->nm", patch, w[:, :, k0][:, :, :, k1])
    return y


@pytest.mark.parametrize("padding,stride,dilation", (("same_lower", 2, 1), ("full", 1, 2),
                                                      ((2, 0, 1, 3), 3, 2)))
def test_a_backend_needs_nothing_else(padding, stride, dilation):
    m = nn.Model("t")
    m.output(nn.conv(m.input("x", (2, 3, 9, 10)), 4, 3, stride, padding, dilation, bias=False), "y")
    g = m.build()
    node = next(n for n in g.nodes() if n.op == "Conv")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 9, 10))
    w = g.constant(g.operands(node.name)[1]).astype(np.float64)
    want = get_op("Conv").run([x, w], node.attrs)[0]
    np.testing.assert_allclose(conv_from_plan(x, w, loop_plan(g, node.name)), want, rtol=1e-12, atol=1e-12)


def test_numbers_of_a_strided_same_conv():
    """Extent 9, kernel 4, stride 2, SAME_UPPER: 5 outputs, pads (1, 2)."""
    g, node = build(1, lambda x: nn.conv(x, 1, 4, 2, "same"))
    g2, _ = build(1, lambda x: nn.conv(x, 1, 4, 2, "valid"))
    (ax,) = loop_plan(g, node.name).axes
    assert (ax.pad_begin, ax.pad_end, ax.starts) == (1, 2, (-1, 1, 3, 5, 7))
    assert ax.interior == (1, 4) and ax.border == ((0, 1), (4, 5))
    assert ax.taps == ((1, 4), (0, 4), (0, 4), (0, 4), (0, 2))
    assert loop_plan(g2, g2.nodes()[-1].name).checks_free


def test_only_window_ops():
    m = nn.Model("t")
    x = m.input("x", (1, 2, 5, 5))
    m.output(nn.relu(x), "r")
    m.output(nn.conv_transpose(x, 2, 3, 2), "d")
    g = m.build()
    for n in g.nodes():
        if n.op in ("Relu", "ConvTranspose"):
            with pytest.raises(CnncError, match="loop_plan needs a sliding-window op"):
                loop_plan(g, n.name)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("stride,dilation", ((1, 1), (2, 1), (3, 2)))
def test_the_direct_conv_kernel_consumes_the_plan(mode, stride, dilation):
    """The C direct conv's interior blocks and border tap tables are the loop plan's: its
    blocked columns lie in the interior, and each border column's taps are the plan's."""
    from cnnc.backends.codegen import collect_kernels
    m = nn.Model("t")
    m.output(nn.conv(m.input("x", (1, 2, 5, 40)), 2, 3, stride, padding(mode, 2), dilation), "y")
    g = m.build()
    node = next(n for n in g.nodes() if n.op == "Conv")
    (_, _, k), = collect_kernels(g, "c", impl={"Conv": "direct"})[1]
    axis = loop_plan(g, node.name).axes[-1]
    lo, hi = axis.interior
    assert lo <= k.params["interior"] and k.params["interior"] + k.params["nblocks"] * k.params["block"] <= hi
    cols = k.tables["col"].tolist() if k.tables else []
    assert [(a, b) for a, b in zip(k.tables["klo"], k.tables["khi"])] == [axis.taps[c] for c in cols] if cols else True
    assert k.params["check"] == (bool(loop_plan(g, node.name).axes[0].border),)
