"""fold_pad: a zero Pad feeding a zero-padding window op becomes that op's own pads."""
import numpy as np
import pytest
from helpers import assert_equivalent
from onnx import TensorProto, helper, numpy_helper

import cnnc
import cnnc.dsl as nn
from cnnc.ir import Graph, TensorType
from cnnc.passes import PROPERTIES, graph_bytes, graph_flops, optimize

SHAPES = {1: (1, 2, 9), 2: (1, 2, 7, 8), 3: (1, 2, 5, 6, 4)}


BEGIN, END = (1, 0, 1), (0, 1, 1)


def spatial_pads(nd):
    """A Pad's all-axes (begin..., end...) amounts: none on N and C, asymmetric on spatial."""
    return (0, 0, *BEGIN[:nd], 0, 0, *END[:nd])


def fused(x, padding, stride):
    """A FusedConv (no DSL layer makes one: the fusion pass does)."""
    g, nd = x.model.graph, len(x.shape) - 2
    rng = np.random.default_rng(1)
    w = g.add_constant(rng.standard_normal((3, x.shape[1], *(3,) * nd)).astype(np.float32))
    b = g.add_constant(rng.standard_normal(3).astype(np.float32))
    pads = {"auto_pad": "SAME_LOWER"} if padding == "same_lower" else {"pads": padding}
    (y,) = g.add_node("FusedConv", [x.value, w, b],
                      {**pads, "strides": (stride,) * nd, "activation": "Relu"})
    return nn.Tensor(x.model, y)


#: consumers for which zeros from a Pad and from their own pads are the same
FOLDABLE = {
    "conv": lambda x, p: nn.conv(x, 3, 3, 2, p),
    "conv_dilated": lambda x, p: nn.conv(x, 4, 2, 1, p, dilation=2, groups=2),
    "fused": lambda x, p: fused(x, p, 2),
    "local": lambda x, p: nn.local_conv(x, 2, 2, 2, p),
    "tiled": lambda x, p: nn.tiled_conv(x, 2, 3, 2, 1, p),
    "lp": lambda x, p: nn.lp_pool(x, 3, 2, p),
    "avg_count_pad": lambda x, p: nn.avg_pool(x, 3, 2, p, count_include_pad=True),
}


def build(nd, pad_kw, consumers):
    m = nn.Model("t")
    x = nn.pad(m.input("x", SHAPES[nd]), **pad_kw)
    for i, c in enumerate(consumers):
        m.output(c(x), f"y{i}")
    return m.build()


def folded(g):
    out = optimize(g, passes=["fold_pad"])  # verifies purity, the IR and no_foldable_pad
    assert_equivalent(g, out, trials=2)
    assert graph_flops(out) <= graph_flops(g)
    return out


def ops(g):
    return [n.op for n in g.nodes() if n.op not in ("Input", "Constant")]


def consumer(g):
    return next(n for n in g.nodes() if "pads" in n.attrs and n.op != "Pad")


@pytest.mark.parametrize("nd", (1, 2, 3))
@pytest.mark.parametrize("own", ("explicit", "same_lower"))
@pytest.mark.parametrize("kind", FOLDABLE)
def test_pad_folds_into_consumer(kind, own, nd):
    own_pads = (0, 1, 1)[:nd] + (1, 0, 1)[:nd] if own == "explicit" else own
    g = build(nd, {"pads": spatial_pads(nd)}, [lambda x: FOLDABLE[kind](x, own_pads)])
    before = consumer(g)
    resolved = optimize(g, passes=["resolve_pads"])
    out = folded(g)
    assert "Pad" not in ops(out) and len(ops(out)) == len(ops(g)) - 1
    after = consumer(out)
    summed = tuple(p + q for p, q in zip(consumer(resolved).attrs["pads"], BEGIN[:nd] + END[:nd]))
    assert after.op == before.op and after.attrs["pads"] == summed and after.attrs["auto_pad"] == "NOTSET"


def test_pad_plus_conv_becomes_one_conv_with_summed_pads():
    g = build(2, {"pads": (0, 0, 1, 0, 0, 0, 2, 3)}, [lambda x: nn.conv(x, 4, 3, 1, (1, 1, 0, 1))])
    out = folded(g)
    assert ops(out) == ["Conv"]
    assert consumer(out).attrs["pads"] == (2, 1, 2, 4)
    assert consumer(g).attrs["pads"] == (1, 1, 0, 1)  # the input graph is unchanged
    assert not PROPERTIES["no_foldable_pad"](g) and PROPERTIES["no_foldable_pad"](out)
    assert graph_bytes(out)[1] < graph_bytes(g)[1]      # the padded copy is gone


@pytest.mark.parametrize("pad_kw,layer", [
    ({"pads": spatial_pads(2), "mode": "reflect"}, lambda x: nn.conv(x, 3, 3)),
    ({"pads": spatial_pads(2), "mode": "edge"}, lambda x: nn.conv(x, 3, 3)),
    ({"pads": spatial_pads(2), "value": 1.0}, lambda x: nn.conv(x, 3, 3)),
    ({"pads": spatial_pads(2)}, lambda x: nn.max_pool(x, 3, 1)),            # MaxPool pads -inf
    ({"pads": spatial_pads(2)}, lambda x: nn.lse_pool(x, 3, 1)),
    ({"pads": spatial_pads(2)}, lambda x: nn.avg_pool(x, 3, 1)),            # count_include_pad=0
    ({"pads": spatial_pads(2)}, lambda x: nn.weighted_avg_pool(x, 3, 1)),
    ({"pads": spatial_pads(2)}, lambda x: nn.conv_transpose(x, 3, 3, 2)),   # its pads crop
    ({"pads": (0, 1, 1, 1, 0, 0, 1, 1)}, lambda x: nn.conv(x, 3, 3)),      # pads a channel
    ({"pads": (0, 0, -1, 1, 0, 0, 1, 1)}, lambda x: nn.conv(x, 3, 3)),     # crops
    ({"pads": (0, 0, 3, 3, 0, 0, 3, 3)}, lambda x: nn.avg_pool(x, 2, 2, count_include_pad=True)),
], ids=["reflect", "edge", "value", "max", "lse", "avg", "weighted", "deconv", "channel", "crop",
        "window_in_padding"])
def test_not_folded(pad_kw, layer):
    g = build(2, pad_kw, [layer])
    out = folded(g)
    assert ops(out) == ops(g) and consumer(out).attrs == consumer(g).attrs


@pytest.mark.parametrize("pad_end,folds", ((1, True), (2, False)))
def test_ceil_mode_folds_only_when_the_extent_stays(pad_end, folds):
    """x of 4, Pad (0, 2), ceil_mode window 3 stride 2: the last window starts on the Pad's
    zeros (index 4) and is kept; as the pool's own end padding it would be dropped."""
    m = nn.Model("t")
    x = nn.pad(m.input("x", (1, 2, 4)), (0, 0, 0, 0, 0, pad_end))
    m.output(nn.avg_pool(x, 3, 2, count_include_pad=True, ceil_mode=True), "avg")
    m.output(nn.lp_pool(x, 3, 2, ceil_mode=True), "lp")
    assert ("Pad" not in ops(folded(m.build()))) == folds


def test_pad_as_weight_is_not_folded():
    g = Graph("w")
    x = g.add_input("x", TensorType((1, 2, 6, 6)))
    w = g.add_constant(np.ones((3, 2, 1, 1), np.float32))
    (wp,) = g.add_node("Pad", [w], {"pads": (0, 0, 1, 1, 0, 0, 1, 1)})
    (y,) = g.add_node("Conv", [x, wp])
    g.add_output(y, "y")
    assert ops(folded(g)) == ["Pad", "Conv"]


def test_every_consumer_folds_and_the_pad_goes():
    g = build(2, {"pads": spatial_pads(2)}, [lambda x: nn.conv(x, 3, 3), lambda x: nn.conv(x, 2, 2, 1, 1)])
    assert sorted(ops(folded(g))) == ["Conv", "Conv"]


def test_pad_stays_for_a_consumer_that_cannot_fold():
    g = build(2, {"pads": spatial_pads(2)}, [lambda x: nn.conv(x, 3, 3), lambda x: nn.max_pool(x, 2)])
    out = folded(g)
    assert sorted(ops(out)) == ["Conv", "MaxPool", "Pad"]
    pad = next(n for n in out.nodes() if n.op == "Pad")
    assert [out.node(u).op for u, _ in out.users(cnnc.ir.Value(pad.name))] == ["MaxPool"]


def test_pad_that_is_an_output_stays():
    m = nn.Model("t")
    x = nn.pad(m.input("x", SHAPES[2]), spatial_pads(2))
    m.output(x, "padded")
    m.output(nn.conv(x, 3, 3), "y")
    assert sorted(ops(folded(m.build()))) == ["Conv", "Pad"]


def test_chain_of_pads_folds_completely():
    m = nn.Model("t")
    x = nn.pad(nn.pad(m.input("x", SHAPES[1]), (0, 0, 1, 0, 0, 2)), (0, 0, 0, 0, 0, 3))
    m.output(nn.conv(x, 3, 3), "y")
    out = folded(m.build())
    assert ops(out) == ["Conv"] and consumer(out).attrs["pads"] == (1, 5)


def test_chain_of_pad_conv_pad_conv():
    """Both folds in one sweep: the second Pad's producer is rewritten by the first."""
    m = nn.Model("t")
    y = nn.conv(nn.pad(m.input("x", SHAPES[2]), spatial_pads(2)), 2, 3)
    m.output(nn.conv(nn.pad(y, (0, 0, 1, 1, 0, 0, 1, 1)), 2, 3, 2, 1), "y")
    assert ops(folded(m.build())) == ["Conv", "Conv"]


def test_exporter_style_pad_conv_from_onnx():
    """PyTorch/TF exports write "same" padding as Pad (pads as an int64 input) + Conv."""
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), "w")
    pads = numpy_helper.from_array(np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64), "pads")
    nodes = [helper.make_node("Pad", ["x", "pads"], ["xp"], mode="constant"),
             helper.make_node("Conv", ["xp", "w"], ["y"], strides=[2, 2])]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 16, 16])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 8, 8])
    graph = helper.make_graph(nodes, "exported", [x], [y], [w, pads])
    g = cnnc.load_onnx(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]))
    out = folded(g)
    assert ops(out) == ["Conv"] and consumer(out).attrs["pads"] == (1, 1, 1, 1)
    # the padded 1x3x18x18 copy is no longer written and read
    assert graph_bytes(g)[1] - graph_bytes(out)[1] == 3 * 18 * 18 * 4


@pytest.mark.parametrize("bad", [np.inf, np.nan])
def test_a_conv_with_a_nonfinite_weight_keeps_its_pad(bad):
    """A Pad's zeros are multiplied by the weight (0 * Inf is NaN, as ONNX says), the conv's
    own padding taps are not: folding would change the border outputs, so it does not happen."""
    m = nn.Model("t", seed=3)
    x = nn.pad(m.input("x", (1, 2, 5, 5)), pads=(0, 0, 1, 1, 0, 0, 1, 1))
    m.output(nn.conv(x, 2, 3, 1, 0), "y")
    g = m.build()
    conv = next(n for n in g.nodes() if n.op == "Conv")
    w = g.constant(g.operands(conv.name)[1]).copy()
    w[0, 0, 0, 0] = bad
    g2 = g.copy()
    (y,) = g2.add_node("Conv", [g2.operands(conv.name)[0], g2.add_constant(w)], conv.attrs)
    g2.replace_all_uses(cnnc.Value(conv.name), y)
    g2.remove_node(conv.name)
    out = optimize(g2.verify(), passes=["fold_pad"])
    assert any(n.op == "Pad" for n in out.nodes())
    x_ = np.random.default_rng(0).standard_normal((1, 2, 5, 5)).astype(np.float32)
    want = cnnc.compile(g2).run({"x": x_})["y"]
    assert np.isnan(want[0, 0, 0, 0])                   # the Pad's zero times the weight
    np.testing.assert_array_equal(np.isnan(cnnc.compile(out).run({"x": x_})["y"]), np.isnan(want))
