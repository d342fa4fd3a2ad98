"""fuse_conv_norm_act: BatchNorm and its Mul/Add form fold into the conv's weights, the
activation and the residual add fuse into its epilogue; never when an intermediate value
has other users or is a graph output.  Each case checks the structure after the pass and
the outputs before/after on random inputs; the PassManager checks purity and the contract."""
import collections
from pathlib import Path

import numpy as np
import onnx
import pytest
from helpers import assert_equivalent

import cnnc
import cnnc.dsl as nn
from cnnc.passes import PROPERTIES, PassManager

LIGHT = Path(onnx.__file__).parent / "backend/test/data/light"


def fuse(g, *before):
    """The graph after ``before`` passes and fuse_conv_norm_act (purity and contract checked)."""
    return PassManager([*before, "fuse_conv_norm_act"], verify=True).run(g)[0]


def ops(g):
    return collections.Counter(n.op for n in g.nodes() if n.op not in ("Input", "Constant"))


def fused(g):
    return [n for n in g.nodes() if n.op == "FusedConv"]


def model(shape=(1, 4, 8, 8)):
    m = nn.Model("m")
    return m, m.input("x", shape)


def build(m, y):
    m.output(y, "y")
    return m.build()


def add_op(x, op, *operands, **attrs):
    """``op`` applied to DSL tensors / constant arrays (in the model's graph)."""
    g = x.model.graph
    vals = [v.value if isinstance(v, nn.Tensor) else g.add_constant(np.asarray(v, np.float32))
            for v in operands]
    (y,) = g.add_node(op, vals, attrs)
    return nn.Tensor(x.model, y)


# ---------------------------------------------------------------- BatchNorm
@pytest.mark.parametrize("shape,conv", [
    ((1, 4, 8, 8), {"kernel": 3, "padding": "same"}),
    ((2, 4, 9, 7), {"kernel": (3, 2), "stride": 2, "padding": 1, "bias": False}),
    ((1, 6, 8, 8), {"kernel": 3, "groups": 3, "dilation": 2}),
    ((1, 4, 6, 6), {"kernel": 3, "groups": 4, "padding": "same"}),  # depthwise (filters = channels)
    ((2, 3, 11), {"kernel": 4, "stride": 3, "padding": "same_lower"}),
    ((1, 2, 5, 6, 5), {"kernel": 3, "padding": (1, 0, 1, 1, 2, 0)}),
])
def test_conv_bn_relu_becomes_one_fused_conv(shape, conv):
    m, x = model(shape)
    filters = shape[1] if conv.get("groups") == shape[1] else 6
    y = nn.relu(nn.batch_norm(nn.conv(x, filters, **conv), random_stats=True))
    g = build(m, y)
    assert not PROPERTIES["conv_norm_act_fused"](g)
    out = fuse(g)
    assert ops(out) == {"FusedConv": 1}
    (f,) = fused(out)
    assert f.attrs["activation"] == "Relu" and len(out.operands(f.name)) == 3
    assert PROPERTIES["conv_norm_act_fused"](out)
    assert_equivalent(g, out)


def test_input_graph_is_unchanged_and_constants_are_replaced():
    m, x = model()
    g = build(m, nn.relu(nn.batch_norm(nn.conv(x, 6, 3), random_stats=True)))
    text = g.dump()
    out = fuse(g)
    assert g.dump() == text
    # W and B folded: the old weight and the four BN parameters are gone, two new constants
    assert sum(n.op == "Constant" for n in out.nodes()) == 2
    (f,) = fused(out)
    w, b = (out.constant(v) for v in out.operands(f.name)[1:])
    assert w.dtype == b.dtype == np.float32 and w.shape == (6, 4, 3, 3)


def test_bn_with_non_constant_weights_is_not_folded():
    m = nn.Model("m")
    x, w = m.input("x", (1, 4, 8, 8)), m.input("w", (6, 4, 3, 3))
    c = nn.Tensor(m, m.graph.add_node("Conv", [x.value, w.value])[0])
    g = build(m, nn.relu(nn.batch_norm(c, random_stats=True)))
    out = fuse(g)
    assert ops(out) == {"Conv": 1, "BatchNormalization": 1, "Relu": 1}


# ---------------------------------------------------------------- norms_as_depthwise
def test_a_lone_batch_norm_becomes_a_depthwise_conv_with_its_activation():
    """DenseNet's pre-activation BN (after a Concat, before a ReLU and a conv): a depthwise
    1x1 FusedConv with the ReLU in its epilogue; a conv's own BN still folds into it; a BN
    with run-time parameters, on a 3-D map, or of channels the block does not divide,
    stays."""
    from cnnc.passes.fuse import norms_as_depthwise
    m, x = model((2, 8, 6, 5))
    y = nn.concat([nn.conv(x, 8, 3, padding="same"), x])
    y = nn.conv(nn.relu(nn.batch_norm(y, random_stats=True)), 4, 1)
    g = cnnc.optimize(build(m, nn.relu(nn.batch_norm(y, random_stats=True))))
    assert ops(g)["BatchNormalization"] == 1
    text = g.dump()
    assert ops(norms_as_depthwise(g, 32)) == ops(g)        # 16 channels: not blocked by 32
    out = norms_as_depthwise(g, 8)
    assert g.dump() == text
    assert ops(out) == {"Conv": 1, "FusedConv": 2, "Concat": 1}
    (dw,) = [f for f in fused(out) if f.attrs["group"] == 16]
    assert dw.attrs["kernel_shape"] == (1, 1) and dw.attrs["activation"] == "Relu"
    assert out.constant(out.operands(dw.name)[1]).shape == (16, 1, 1, 1)
    assert PROPERTIES["conv_norm_act_fused"](out)
    assert_equivalent(g, out)
    m = nn.Model("m")
    x, s = m.input("x", (1, 4, 3, 4, 5)), m.input("s", (4,))
    b = m.graph.add_node("BatchNormalization", [x.value, s.value, *[m.graph.add_constant(np.ones(4, np.float32))
                                                                    for _ in range(3)]])[0]
    y = nn.batch_norm(nn.Tensor(m, b), random_stats=True)
    g = build(m, y)
    assert ops(norms_as_depthwise(g, 4)) == ops(g)


# ---------------------------------------------------------------- the Mul/Add form
@pytest.mark.parametrize("scale_shape,swap", [((6, 1, 1), False), ((1, 6, 1, 1), True), ((), False),
                                              ((1,), True), ((1, 1, 1, 1), False)])
def test_per_channel_mul_add_fold_into_the_conv(rng, scale_shape, swap):
    m, x = model()
    y = nn.conv(x, 6, 3)
    s = rng.uniform(0.5, 1.5, scale_shape)
    c = rng.normal(0, 0.5, (6, 1, 1))
    y = add_op(x, "Mul", *((s, y) if swap else (y, s)))
    y = add_op(x, "Add", *((y, c) if swap else (c, y)))
    g = build(m, nn.relu(y))
    out = fuse(g)
    assert ops(out) == {"FusedConv": 1}
    assert_equivalent(g, out)


def test_bn_then_mul_add_all_fold(rng):
    """The light models' form: BatchNormalization, then Mul and Add by (C, 1, 1) constants."""
    m, x = model()
    y = nn.batch_norm(nn.conv(x, 6, 3, bias=False), random_stats=True)
    y = add_op(x, "Add", add_op(x, "Mul", y, rng.uniform(0.5, 1.5, (6, 1, 1))), rng.normal(0, 1, (6, 1, 1)))
    g = build(m, nn.relu(y))
    out = fuse(g)
    assert ops(out) == {"FusedConv": 1}
    assert_equivalent(g, out)


@pytest.mark.parametrize("op,shape", [("Mul", (1, 1, 6, 6)), ("Mul", (2, 6, 1, 1)), ("Add", (6,)),
                                      ("Mul", (1, 6, 6, 6))])
def test_not_per_channel_constants_are_not_folded(rng, op, shape):
    """One value per pixel, a broadcast over the batch, a vector on the last axis (width 6,
    not channels), or a full-shape scale stay as they are."""
    m, x = model()
    g = build(m, add_op(x, op, nn.conv(x, 6, 3), rng.normal(0, 1, shape)))
    out = fuse(g)
    assert ops(out) == ops(g)
    assert_equivalent(g, out)


def test_full_shape_constant_add_becomes_a_residual(rng):
    m, x = model()
    g = build(m, nn.relu(add_op(x, "Add", nn.conv(x, 6, 3), rng.normal(0, 1, (1, 6, 6, 6)))))
    out = fuse(g)
    (f,) = fused(out)
    assert ops(out) == {"FusedConv": 1} and f.attrs["residual"] == "pre"
    assert_equivalent(g, out)


# ---------------------------------------------------------------- activations and residuals
ACTS = [("Relu", {}), ("LeakyRelu", {"alpha": 0.2}), ("Clip", {"min": 0.0, "max": 6.0}),
        ("Clip", {"max": 0.5}), ("Sigmoid", {}), ("HardSigmoid", {"alpha": 0.3, "beta": 0.4}),
        ("HardSwish", {}), ("Silu", {}), ("Tanh", {})]


@pytest.mark.parametrize("act,attrs", ACTS)
def test_every_activation_fuses(act, attrs):
    m, x = model()
    y = nn.batch_norm(nn.conv(x, 6, 3, padding="same", bias=False), random_stats=True)
    g = build(m, add_op(x, act, y, **attrs))
    out = fuse(g)
    (f,) = fused(out)
    assert ops(out) == {"FusedConv": 1} and f.attrs["activation"] == act
    assert {k: f.attrs[f"act_{k}"] for k in attrs} == attrs
    assert_equivalent(g, out)


def test_conv_without_bias_gets_zero_bias():
    m, x = model()
    g = build(m, nn.relu(nn.conv(x, 6, 3, bias=False)))
    out = fuse(g)
    (f,) = fused(out)
    np.testing.assert_array_equal(out.constant(out.operands(f.name)[2]), np.zeros(6, np.float32))
    assert_equivalent(g, out)


def test_other_activations_are_not_fused():
    m, x = model()
    g = build(m, nn.gelu(nn.conv(x, 6, 3)))
    assert ops(fuse(g)) == {"Conv": 1, "Gelu": 1}


def resnet_basic_block(swap=False, op="Add"):
    """conv-bn-relu-conv-bn-add(shortcut)-relu."""
    m, x = model((1, 8, 8, 8))
    y = nn.relu(nn.batch_norm(nn.conv(x, 8, 3, padding="same", bias=False), random_stats=True))
    y = nn.batch_norm(nn.conv(y, 8, 3, padding="same", bias=False), random_stats=True)
    y = add_op(x, op, *((x, y) if swap else (y, x)))
    return build(m, nn.relu(y))


@pytest.mark.parametrize("swap,op", [(False, "Add"), (True, "Add"), (False, "Sum")])
def test_resnet_basic_block_becomes_two_fused_convs(swap, op):
    g = resnet_basic_block(swap, op)
    out = fuse(g)
    assert ops(out) == {"FusedConv": 2}
    first, second = fused(out)
    assert (first.attrs["activation"], len(out.operands(first.name))) == ("Relu", 3)
    assert (second.attrs["activation"], second.attrs["residual"]) == ("Relu", "pre")
    assert out.operands(second.name)[3] == out.inputs[0]
    assert_equivalent(g, out)


def test_residual_after_the_activation_is_post():
    m, x = model()
    c = nn.relu(nn.conv(x, 4, 3, padding="same"))
    g = build(m, add_op(x, "Add", x, c))
    out = fuse(g)
    (f,) = fused(out)
    assert ops(out) == {"FusedConv": 1}
    assert (f.attrs["activation"], f.attrs["residual"]) == ("Relu", "post")
    assert_equivalent(g, out)


def test_residual_add_with_bn_on_both_branches():
    """ResNet's projection shortcut: Add(conv-bn, conv-bn) — one conv takes the Add."""
    m, x = model()
    a = nn.batch_norm(nn.conv(x, 6, 1), random_stats=True)
    b = nn.batch_norm(nn.conv(x, 6, 1), random_stats=True)
    g = build(m, nn.relu(nn.add(a, b)))
    out = fuse(g)
    assert ops(out) == {"FusedConv": 2}
    assert sorted(len(out.operands(f.name)) for f in fused(out)) == [3, 4]
    assert_equivalent(g, out)


def test_fused_conv_with_an_epilogue_takes_no_bn():
    """A per-channel map commutes with neither the activation nor the residual."""
    m, x = model()
    y = nn.batch_norm(add_op(x, "Add", nn.relu(nn.conv(x, 4, 3, padding="same")), x), random_stats=True)
    g = build(m, nn.sigmoid(y))
    out = fuse(g)
    assert ops(out) == {"FusedConv": 1, "BatchNormalization": 1, "Sigmoid": 1}
    assert_equivalent(g, out)


# ---------------------------------------------------------------- values that must survive
def test_conv_with_two_users_is_not_fused():
    m, x = model()
    c = nn.conv(x, 6, 3)
    g = build(m, nn.add(nn.relu(nn.batch_norm(c, random_stats=True)), nn.sigmoid(c)))
    out = fuse(g)
    assert ops(out) == ops(g)
    assert_equivalent(g, out)


def test_bn_with_two_users_stops_the_fusion_after_the_fold():
    m, x = model()
    y = nn.batch_norm(nn.conv(x, 6, 3), random_stats=True)
    m.output(nn.relu(y), "r")
    g = build(m, nn.tanh(y))
    out = fuse(g)
    assert ops(out) == {"FusedConv": 1, "Relu": 1, "Tanh": 1}
    assert fused(out)[0].attrs["activation"] == ""
    assert_equivalent(g, out)


def test_conv_output_that_is_a_graph_output_is_not_fused():
    m, x = model()
    c = nn.conv(x, 6, 3)
    m.output(c, "c")
    g = build(m, nn.relu(c))
    out = fuse(g)
    assert ops(out) == {"Conv": 1, "Relu": 1}
    assert_equivalent(g, out)


def test_running_twice_changes_nothing():
    once = fuse(resnet_basic_block())
    assert fuse(once).dump() == once.dump()


# ---------------------------------------------------------------- light models
def follows_conv(g, n):
    return any(g.node(v.node).op in ("Conv", "FusedConv") for v in g.operands(n.name))


@pytest.fixture(scope="module", params=["resnet50", "densenet121"])
def light(request):
    g = cnnc.load_onnx(LIGHT / f"light_{request.param}.onnx")
    return request.param, g, fuse(g, "fold_constants")


def test_light_models_keep_no_norm_after_a_conv(light):
    """ResNet-50 has BatchNormalization after every conv; DenseNet-121 has BatchNormalization
    then Mul and Add by (C, 1, 1) constants, after convs and (pre-activation) after Concat
    and MaxPool, where nothing can fold them."""
    name, g, out = light
    before, after = ops(g), ops(out)
    assert after["FusedConv"] > 0 and after["Conv"] + after["FusedConv"] == before["Conv"]
    assert not [n.name for n in out.nodes()
                if n.op in ("BatchNormalization", "Mul", "Add") and follows_conv(out, n)]
    if name == "resnet50":
        assert after["BatchNormalization"] == after["Sum"] == after["Relu"] == 0
        assert after["FusedConv"] == 53
    else:
        assert after["BatchNormalization"] == after["Mul"] == after["Add"] == 121 - 59


def test_light_models_keep_their_outputs(light):
    _, g, out = light
    assert_equivalent(g, out, trials=1, rtol=1e-3, atol=1e-4)
