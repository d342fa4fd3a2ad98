"""Hypothesis builds random CNN graphs (conv/pool/norm/activation/add/concat/pad chains with
random shapes and attributes); every pipeline and every pass keeps them equivalent."""
import numpy as np
import pytest
from helpers import assert_equivalent
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import cnnc.dsl as nn
from cnnc.ir import CnncError
from cnnc.passes import LEVELS, PASSES, optimize

ACTS = ["relu", "relu6", "leaky_relu", "sigmoid", "hard_swish", "silu", "tanh", "hard_sigmoid"]
PADDINGS = ["valid", "same", "same_lower", 1, (0, 1), (1, 0, 0, 2)]


def _conv(draw, x, fused_act=True):
    c = x.shape[1]
    groups = draw(st.sampled_from([g for g in (1, 2, c) if c % g == 0]))
    filters = groups * draw(st.integers(1, 3))
    return nn.conv(x, filters, draw(st.sampled_from([1, 2, 3])), stride=draw(st.sampled_from([1, 1, 2])),
                   padding=draw(st.sampled_from(PADDINGS)), dilation=draw(st.sampled_from([1, 1, 2])),
                   groups=groups, activation=draw(st.sampled_from([None] + ACTS)) if fused_act else None)


def _layer(draw, x):
    kind = draw(st.sampled_from(["conv", "conv_bn", "act", "pool", "residual", "concat", "pad_conv",
                                 "separable"]))
    if kind == "conv":
        return _conv(draw, x)
    if kind == "conv_bn":
        y = nn.batch_norm(_conv(draw, x, fused_act=False), random_stats=True)
        return nn.activation(y, draw(st.sampled_from(ACTS)))
    if kind == "act":
        return nn.activation(x, draw(st.sampled_from(ACTS)))
    if kind == "pool":
        return nn.pool(x, draw(st.sampled_from([2, 3])), stride=draw(st.sampled_from([1, 2])),
                       padding=draw(st.sampled_from(["valid", "same"])), mode=draw(st.sampled_from(["max", "avg"])))
    if kind == "residual":
        y = nn.conv(x, x.shape[1], 3, padding="same", bias=False)
        y = nn.batch_norm(y, random_stats=True)
        return nn.relu(nn.add(y, x))
    if kind == "concat":
        return nn.concat([x, nn.conv(x, 2, 1)])
    if kind == "separable":  # a depthwise Gaussian blur: exactly separable
        from cnnc.dsl.init import gaussian
        c = x.shape[1]
        k = np.broadcast_to(gaussian(3, 1.0), (c, 1, 3, 3))
        return nn.conv(x, c, 3, padding="same", groups=c, init=k)
    pads = (0, 0, draw(st.integers(0, 2)), draw(st.integers(0, 2)), 0, 0, draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    return nn.conv(nn.pad(x, pads), x.shape[1], 3)


@st.composite
def cnn_graphs(draw):
    m = nn.Model("random", seed=draw(st.integers(0, 1000)))
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 4)), draw(st.integers(6, 12)), draw(st.integers(6, 12)))
    x = m.input("x", shape)
    try:
        for _ in range(draw(st.integers(1, 5))):
            x = _layer(draw, x)
            assume(min(x.shape[2:]) >= 1)
    except CnncError:
        assume(False)
    m.output(x, "y")
    return m.build()


SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("level", sorted(LEVELS))
@SETTINGS
@given(g=cnn_graphs())
def test_levels_keep_random_graphs_equivalent(level, g):
    assert_equivalent(g, optimize(g, level=level), rtol=1e-3, atol=1e-4, trials=2)


@pytest.mark.parametrize("name", sorted(PASSES))
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(g=cnn_graphs())
def test_each_pass_keeps_random_graphs_equivalent(name, g):
    try:
        out = optimize(g, passes=[name])
    except CnncError as e:
        assume("cannot run" not in str(e))   # a pass whose `requires` the graph lacks
        raise
    assert_equivalent(g, out, rtol=1e-3, atol=1e-4, trials=2)


def test_fusion_keeps_weights_that_cse_shared():
    """The light ResNet-50 builds its weights with ConstantOfShape, so cse shares most of
    them; folding each BatchNorm into its conv makes new weights, which cse shares again:
    the optimized model is not bigger than the imported one after cse (was 102 MB)."""
    import onnx
    from pathlib import Path
    import cnnc
    from cnnc.passes import optimize
    path = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light" / "light_resnet50.onnx"
    g = cnnc.load_onnx(path)

    def weight_bytes(graph):
        return sum(n.attrs["value"].nbytes for n in graph.nodes() if n.op == "Constant")
    shared = weight_bytes(optimize(g, level=1))
    assert weight_bytes(optimize(g, level=2)) <= shared * 1.05 < weight_bytes(g) * 0.6
