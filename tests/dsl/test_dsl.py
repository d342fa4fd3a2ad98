"""The DSL builds verified graphs, and every mistake is one CnncError naming the layer
and the user's source line."""
import inspect
import re

import numpy as np
import pytest

import cnnc
import cnnc.dsl as nn
from cnnc.ir import CnncError


def this_line() -> int:
    return inspect.currentframe().f_back.f_lineno


def test_functional_model_builds_and_runs(rng):
    m = nn.Model("tiny", seed=1)
    x = m.input("image", (2, 3, 16, 16))
    a = nn.conv(x, 8, 3, padding="same", activation="relu")
    b = nn.conv(a, 8, 3, padding=1, dilation=1, init="xavier")
    y = nn.relu(a + b)                               # residual add via the operator
    y = nn.concat([y, nn.depthwise_conv(y, 3, padding="same")], axis=1)
    y = nn.max_pool(y, 2)
    y = nn.batch_norm(y)
    m.output(nn.dense(nn.flatten(nn.global_avg_pool(y)), 5), "logits")
    g = m.build()
    assert g.output_types()["logits"].shape == (2, 5)
    out = cnnc.compile(g).run({"image": rng.standard_normal((2, 3, 16, 16)).astype(np.float32)})
    assert out["logits"].shape == (2, 5) and np.isfinite(out["logits"]).all()


def test_graph_is_deterministic_for_a_seed():
    def build(seed):
        m = nn.Model("d", seed=seed)
        m.output(nn.conv(m.input("x", (1, 2, 5, 5)), 3, 3), "y")
        return m.build()
    a, b, c = build(0), build(0), build(1)
    wa, wb, wc = (g.node("conv1_w").attrs["value"] for g in (a, b, c))
    assert np.array_equal(wa, wb) and not np.array_equal(wa, wc)


def test_sequential_helper(rng):
    net = nn.Sequential("seq", (1, 1, 12, 12), input_name="img", output_name="out")
    net.add(nn.conv, 4, 3, activation="relu").add(nn.avg_pool, 2).add(nn.flatten).add(nn.dense, 3)
    g = net.build()
    assert list(g.input_types()) == ["img"] and g.output_types()["out"].shape == (1, 3)


def test_layers_are_named_and_located():
    m = nn.Model("loc")
    x = m.input("x", (1, 1, 8, 8))
    y = nn.conv(x, 2, 3, name="edges"); line = this_line()
    node = m.graph.node(y.name)
    assert node.label == "edges" and node.source.endswith(f"test_dsl.py:{line}")


@pytest.mark.parametrize("make,match", [
    (lambda x: nn.conv(x, 4, 3, init=np.zeros((4, 2, 3, 3))), "needs \\(4, 3, 3, 3\\)"),
    (lambda x: nn.conv(x, 4, 11), "larger than the padded input"),
    (lambda x: nn.conv(x, 4, 3, stride=0), ">= 1"),
    (lambda x: nn.conv(x, 4, 3, stride=(1, 1, 1)), "stride must be an int or 2 ints"),
    (lambda x: nn.conv(x, 4, 3, padding="sane"), "padding must be one of"),
    (lambda x: nn.conv(x, 4, 3, padding=(1, 2, 3)), "padding must be"),
    (lambda x: nn.conv(x, 4, 3, groups=2), "not divisible by groups=2"),
    (lambda x: nn.max_pool(x, 9), "larger than the padded input"),
    (lambda x: nn.dense(x, 3), "flatten it first"),
    (lambda x: nn.conv(x, 4, 3, activation="relux"), "unknown activation"),
    (lambda x: nn.conv(x, 4, 3, init="kaiming-ish"), "unknown initializer"),
])
def test_mistakes_name_layer_and_line(make, match):
    m = nn.Model("bad")
    x = m.input("x", (1, 3, 8, 8))
    with pytest.raises(CnncError, match=match) as e:
        make(x)
    # the user's line is the lambda's, in the parametrize list above
    assert re.search(r"layer '\w+'( \(\w+\))? at tests/dsl/test_dsl.py:\d+", str(e.value)), str(e.value)


def test_channel_mismatch_in_add_names_layer_and_line():
    m = nn.Model("bad")
    a = m.input("a", (1, 3, 8, 8))
    b = nn.conv(a, 4, 1)
    line = this_line() + 2
    with pytest.raises(CnncError) as e:
        nn.add(a, b, name="residual")
    assert "layer 'residual' (Add) at " in str(e.value)
    assert f"test_dsl.py:{line}:" in str(e.value)
    assert "(1, 3, 8, 8), (1, 4, 8, 8)" in str(e.value)


def test_concat_mismatch_and_duplicate_names():
    m = nn.Model("bad")
    a = m.input("a", (1, 3, 8, 8))
    b = m.input("b", (1, 3, 4, 4))
    with pytest.raises(CnncError, match="layer 'concat1'"):
        nn.concat([a, b])
    nn.relu(a, name="r")
    with pytest.raises(CnncError, match="used twice"):
        nn.relu(a, name="r")
    with pytest.raises(CnncError, match="must be a Tensor"):
        nn.relu(np.zeros(3))


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_every_dimensionality(rng, nd):
    m = nn.Model(f"nd{nd}")
    shape = (1, 2) + (8,) * nd
    x = m.input("x", shape)
    y = nn.conv(x, 3, 3, padding="same", stride=2, activation="leaky_relu")
    y = nn.conv_transpose(y, 2, 2, stride=2)
    y = nn.instance_norm(y)
    y = nn.pool(y, 2, mode="lp", p=2)
    y = nn.avg_pool(y, 2, stride=1, padding="same")
    m.output(y, "y")
    out = cnnc.compile(m.build()).run({"x": rng.standard_normal(shape).astype(np.float32)})
    assert out["y"].shape == (1, 2) + (4,) * nd


def test_special_layers(rng):
    m = nn.Model("special")
    x = m.input("x", (1, 2, 9, 9))
    parts = [nn.local_conv(x, 3, 3), nn.tiled_conv(x, 3, 3, tiles=2), nn.lse_pool(x, 3),
             nn.weighted_avg_pool(x, 3, sigma=1.0), nn.lp_pool(x, 3, p=3)]
    for i, p in enumerate(parts):
        m.output(p, f"p{i}")
    m.output(nn.spatial_pyramid_pool(x, levels=(1, 2)), "spp")
    m.output(nn.roi_pool(x, np.array([[0, 0, 0, 4, 4]], np.float32), (2, 2)), "roi")
    m.output(nn.upsample(x, 2), "up")
    g = m.build()
    outs = cnnc.compile(g).run({"x": rng.standard_normal((1, 2, 9, 9)).astype(np.float32)})
    assert outs["p0"].shape == outs["p1"].shape == (1, 3, 7, 7)
    assert outs["spp"].shape == (1, 2 * (1 + 4))
    assert outs["roi"].shape == (1, 2, 2, 2) and outs["up"].shape == (1, 2, 18, 18)


def test_local_and_tiled_weights_scale_by_their_true_fan_in():
    """He init of an unshared/tiled weight uses fan_in = C * prod(kernel), not the positions."""
    m = nn.Model("fans", seed=3)
    x = m.input("x", (1, 4, 20, 20))
    nn.local_conv(x, 8, 3, name="loc")
    nn.tiled_conv(x, 8, 3, tiles=2, name="til")
    for name in ("loc_w", "til_w"):
        w = m.graph.node(name).attrs["value"]
        assert abs(w.std() - np.sqrt(2 / (4 * 9))) < 0.1 * np.sqrt(2 / (4 * 9)), (name, w.std())


def test_batch_norm_random_stats_are_seeded_and_nontrivial(rng):
    def build(seed):
        m = nn.Model("bn", seed=seed)
        m.output(nn.batch_norm(m.input("x", (1, 3, 4, 4)), random_stats=True, bias=np.ones(3)), "y")
        return m.build()
    g = build(5)
    assert np.array_equal(g.node("bn1_var").attrs["value"], build(5).node("bn1_var").attrs["value"])
    assert not np.allclose(g.node("bn1_mean").attrs["value"], 0)
    assert np.array_equal(g.node("bn1_bias").attrs["value"], np.ones(3))   # given ones are kept
