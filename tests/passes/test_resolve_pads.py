"""resolve_pads: every padding mode becomes explicit per-axis pads with the same outputs."""
import numpy as np
import pytest
from helpers import assert_equivalent

import cnnc.dsl as nn
from cnnc.ir import Graph, TensorType
from cnnc.passes import PROPERTIES, graph_flops, optimize

SHAPES = {1: (1, 2, 9), 2: (1, 2, 7, 8), 3: (1, 1, 5, 6, 7)}
MODES = ("valid", "same_upper", "same_lower", "full", "explicit")
STEPS = ((1, 1), (2, 1), (1, 2), (3, 2))  # (stride, dilation)


def padding(mode, nd):
    """The DSL padding of ``mode``; "explicit" is asymmetric: begin (1, 0, 1), end (0, 1, 0)."""
    if mode != "explicit":
        return mode
    return tuple((i + 1) % 2 for i in range(nd)) + tuple(i % 2 for i in range(nd))


def build(shape, layer, *args, **kw):
    m = nn.Model("t")
    m.output(layer(m.input("x", shape), *args, **kw), "y")
    return m.build()


def resolved(g):
    out = optimize(g, passes=["resolve_pads"])  # verifies purity, the IR and explicit_pads
    assert_equivalent(g, out, trials=2)
    assert graph_flops(out) == graph_flops(g)
    windows = [n for n in out.nodes() if "auto_pad" in n.attrs]
    assert windows and all(n.attrs["auto_pad"] == "NOTSET" for n in windows)
    return out


def window(g, op):
    return next(n for n in g.nodes() if n.op == op)


@pytest.mark.parametrize("nd", (1, 2, 3))
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kernel", (2, 3))
@pytest.mark.parametrize("stride,dilation", STEPS)
def test_conv_every_mode(nd, mode, kernel, stride, dilation):
    g = build(SHAPES[nd], nn.conv, 3, kernel, stride, padding(mode, nd), dilation)
    resolved(g)


LAYERS = {
    "local": lambda x, p, s, d: nn.local_conv(x, 2, 3, s, p, d),
    "tiled": lambda x, p, s, d: nn.tiled_conv(x, 2, 3, 2, s, p, d),
    "max": lambda x, p, s, d: nn.max_pool(x, 3, s, p, dilation=d, ceil_mode=True),
    "avg": lambda x, p, s, d: nn.avg_pool(x, 2, s, p, dilation=d),
    "avg_pad": lambda x, p, s, d: nn.avg_pool(x, 3, s, p, count_include_pad=True, dilation=d,
                                              ceil_mode=True),
    "lp": lambda x, p, s, d: nn.lp_pool(x, 2, s, p, dilation=d, p=3),
    "lse": lambda x, p, s, d: nn.lse_pool(x, 3, s, p, dilation=d),
    "weighted": lambda x, p, s, d: nn.weighted_avg_pool(x, 2, s, p, dilation=d, ceil_mode=True),
}


@pytest.mark.parametrize("nd", (1, 2, 3))
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", LAYERS)
def test_other_window_ops(kind, mode, nd):
    stride, dilation = (2, 1) if nd != 2 else (2, 2)
    g = build(SHAPES[nd], LAYERS[kind], padding(mode, nd), stride, dilation)
    resolved(g)


def fused_conv(auto_pad, nd=2):
    g = Graph("fused")
    x = g.add_input("x", TensorType(SHAPES[nd]))
    rng = np.random.default_rng(0)
    w = g.add_constant(rng.standard_normal((4, 2, *(2,) * nd)).astype(np.float32))
    b = g.add_constant(rng.standard_normal(4).astype(np.float32))
    (y,) = g.add_node("FusedConv", [x, w, b], {"auto_pad": auto_pad, "strides": (2,) * nd,
                                                "activation": "Relu"})
    g.add_output(y, "y")
    return g


@pytest.mark.parametrize("auto_pad", ("SAME_UPPER", "SAME_LOWER", "FULL"))
def test_fused_conv(auto_pad):
    resolved(fused_conv(auto_pad))


def conv_transpose(nd=2, **attrs):
    g = Graph("deconv")
    x = g.add_input("x", TensorType(SHAPES[nd]))
    w = np.random.default_rng(0).standard_normal((SHAPES[nd][1], 3, *(3,) * nd))
    w = g.add_constant(w.astype(np.float32))
    (y,) = g.add_node("ConvTranspose", [x, w], {"strides": (2,) * nd, **attrs})
    g.add_output(y, "y")
    return g


@pytest.mark.parametrize("nd", (1, 2, 3))
@pytest.mark.parametrize("attrs", (
    {"auto_pad": "SAME_UPPER"}, {"auto_pad": "SAME_LOWER"}, {"auto_pad": "VALID"},
    {"auto_pad": "SAME_LOWER", "output_padding": (1, 1, 1)},
    {"output_shape": (-1,)}, {"output_shape": (-2,), "output_padding": (1, 1, 1)},
    {"auto_pad": "SAME_UPPER", "output_shape": (-3,)},
), ids=str)
def test_conv_transpose(nd, attrs):
    """output_shape entries here are offsets from the natural extent 2*(n-1) + 3."""
    attrs = dict(attrs)
    if "output_padding" in attrs:
        attrs["output_padding"] = attrs["output_padding"][:nd]
    if "output_shape" in attrs:
        attrs["output_shape"] = tuple(2 * (n - 1) + 3 + attrs["output_shape"][0] for n in SHAPES[nd][2:])
    g = conv_transpose(nd, **attrs)
    node = window(resolved(g), "ConvTranspose")
    assert node.attrs["output_shape"] is None and min(node.attrs["pads"]) >= 0


def test_conv_transpose_with_negative_pads_keeps_output_shape():
    """An output_shape past the natural extent needs negative pads: left as it is."""
    g = conv_transpose(output_shape=(18, 19))       # natural extent 15, 17
    assert PROPERTIES["explicit_pads"](g)
    out = optimize(g, passes=["resolve_pads"])
    assert window(out, "ConvTranspose").attrs == window(g, "ConvTranspose").attrs
    assert_equivalent(g, out)


@pytest.mark.parametrize("auto_pad,n,kernel,stride,dilation,pads", [
    ("SAME_UPPER", 8, 2, 1, 1, (0, 1)),     # even kernel: the odd unit goes to the end
    ("SAME_LOWER", 8, 2, 1, 1, (1, 0)),     # ... or to the beginning
    ("SAME_UPPER", 7, 4, 2, 1, (1, 2)),     # out 4: total (4-1)*2 + 4 - 7 = 3
    ("SAME_LOWER", 7, 4, 2, 1, (2, 1)),
    ("SAME_UPPER", 8, 3, 2, 2, (1, 2)),     # dilated extent 5: total (4-1)*2 + 5 - 8 = 3
    ("SAME_UPPER", 8, 3, 4, 1, (0, 0)),     # total 4 + 3 - 8 < 0: never negative
    ("FULL", 8, 3, 1, 2, (4, 4)),           # d*(k-1) on both sides
    ("VALID", 8, 3, 1, 1, (0, 0)),
])
def test_resolved_numbers(auto_pad, n, kernel, stride, dilation, pads):
    g = Graph("one")
    x = g.add_input("x", TensorType((1, 1, n)))
    w = g.add_constant(np.ones((1, 1, kernel), np.float32))
    (y,) = g.add_node("Conv", [x, w], {"auto_pad": auto_pad, "strides": (stride,),
                                       "dilations": (dilation,)})
    g.add_output(y, "y")
    node = window(resolved(g), "Conv")
    assert node.attrs["pads"] == pads and node.attrs["auto_pad"] == "NOTSET"


def test_input_graph_unchanged_and_idempotent():
    g = build(SHAPES[2], nn.conv, 3, 2, 1, "same_lower")
    before = window(g, "Conv").attrs
    once = optimize(g, passes=["resolve_pads"])
    assert window(g, "Conv").attrs == before and before["auto_pad"] == "SAME_LOWER"
    assert not PROPERTIES["explicit_pads"](g) and PROPERTIES["explicit_pads"](once)
    twice = optimize(once, passes=["resolve_pads"])
    assert [n.attrs for n in twice.nodes()] == [n.attrs for n in once.nodes()]


def test_network_of_mixed_modes():
    m = nn.Model("net")
    x = m.input("x", (1, 3, 11, 10))
    y = nn.conv(x, 4, 4, 2, "same_upper", activation="relu")
    y = nn.max_pool(y, 3, 2, "same_lower", ceil_mode=True)
    y = nn.conv(y, 4, 3, 1, "full", 2)
    y = nn.conv_transpose(y, 2, 2, 2, "same")
    m.output(nn.avg_pool(y, 2, 1, "same", count_include_pad=True), "y")
    g = m.build()
    out = resolved(g)
    assert sum("auto_pad" in n.attrs for n in out.nodes()) == 5
