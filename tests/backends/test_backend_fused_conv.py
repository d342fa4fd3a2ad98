"""FusedConv agrees with the reference on every backend of ``helpers.BACKENDS`` (the C
kernel; on TVM Conv's rule, then the residual add and the activation's own Relax rule; on
CUDA the epilogue of the implicit GEMM and of the direct kernel, conv_igemm.cu.j2 and
conv_direct.cu.j2, run by the CPU emulator) for every fusable activation, with no residual, a residual added before the
activation and one added after, over the window attributes of tests/ops/test_fused_conv.py;
Clip bounds and float64; in place over the residual (the memory plan gives Y Z's buffer);
and the graphs ``cnnc.optimize`` (levels 2 and 3) makes of a small model with every
epilogue kind."""
import numpy as np
import pytest
from helpers import backends, check_graph, check_nodes, compile_for
from test_fused_conv import ACTIVATIONS, CASES as OPS_CASES  # the grids of tests/ops

import cnnc
import cnnc.dsl as nn
from cnnc.ir import Graph, TensorType
from cnnc.passes.memory import plan_memory

#: the window cases of tests/ops/test_fused_conv.py and one wide enough for the C kernels'
#: blocked interior (ACTIVATIONS, activation -> the op's attributes, is that file's too,
#: which checks that it holds every fusable activation)
CASES = OPS_CASES + [((1, 4, 4, 29), (6, 2, 3, 3), {"group": 2, "pads": (1, 2, 0, 1)})]


def _attrs(window, act, residual, **act_attrs):
    given = act_attrs or ACTIVATIONS[act]
    return {**window, "activation": act, "residual": residual or "pre",
            **{f"act_{k}": v for k, v in given.items()}}


def _conv_out(xs, ws, window):
    g = Graph("shape")
    (y,) = g.add_node("Conv", [g.add_input("x", TensorType(xs)), g.add_input("w", TensorType(ws))], window)
    return g.type_of(y).shape


#: every activation x {no residual, pre, post}
COMBOS = [(act, residual) for act in ACTIVATIONS for residual in (None, "pre", "post")]


@backends
@pytest.mark.parametrize("xs,ws,window", CASES)
def test_fused_conv(backend, rng, xs, ws, window):
    """Every activation x {no residual, pre, post} on one input: 27 nodes, one build.  On
    TVM (a build costs about 0.2 s a FusedConv node) case i of CASES builds the combinations
    i, i + len(CASES), ...: all 27 across the cases, about 4 nodes a build."""
    x = 2 * rng.standard_normal(xs).astype(np.float32)   # reach both sides of Clip, HardSigmoid
    w = rng.standard_normal(ws).astype(np.float32)
    b = rng.standard_normal(ws[0]).astype(np.float32)
    z = rng.standard_normal(_conv_out(xs, ws, window)).astype(np.float32)
    combos = COMBOS[CASES.index((xs, ws, window))::len(CASES)] if backend == "tvm" else COMBOS
    nodes = [("FusedConv", [w, b] + ([z] if residual else []), _attrs(window, act, residual))
             for act, residual in combos]
    check_nodes(x, nodes, backend=backend)


@backends
def test_fused_conv_clip_bounds_and_float64(backend, rng):
    """Clip with one bound or none, the residual before and after the activation, and a
    depthwise conv with a channel multiplier (on CUDA the direct kernel's epilogue)."""
    xs, ws, window = (1, 4, 7, 16), (6, 2, 3, 2), {"group": 2, "strides": (2, 1), "dilations": (1, 2),
                                                  "pads": (1, 0, 2, 1)}
    x = 3 * rng.standard_normal(xs)
    w, b = rng.standard_normal(ws), rng.standard_normal(ws[0])
    z = rng.standard_normal(_conv_out(xs, ws, window))
    dw = {"group": 4, "pads": (1, 1, 1, 1)}
    check_nodes(x, [
        ("FusedConv", [w, b], _attrs(window, "Clip", None, max=0.5)),
        ("FusedConv", [w, b], _attrs(window, "Clip", None, min=0.0)),
        ("FusedConv", [w, b], {**window, "activation": "Clip"}),
        ("FusedConv", [w, b, z], _attrs(window, "Silu", "post")),
        ("FusedConv", [w, b, z], _attrs(window, "HardSwish", "pre")),
        ("FusedConv", [w, b, z], _attrs(window, "Sigmoid", "pre")),
        ("FusedConv", [w, b, z], _attrs(window, "LeakyRelu", "post")),
        ("FusedConv", [w, b], _attrs(window, "Tanh", None)),
        ("FusedConv", [rng.standard_normal((8, 1, 3, 3)), rng.standard_normal(8),
                       rng.standard_normal((1, 8, 7, 16))], _attrs(dw, "Tanh", "pre")),   # depthwise x2
    ], rtol=1e-12, atol=1e-12, backend=backend)


@backends
def test_fused_conv_in_place_over_the_residual(backend, rng):
    """Z computed by a Conv and used only by the FusedConv: the plan gives Y Z's buffer, and
    the kernel reads each Z[i] before it writes Y[i].  Both CUDA kernels: implicit GEMM (3 ->
    5 channels) and direct (depthwise)."""
    g = Graph("in_place")
    x = g.add_input("x", TensorType((1, 3, 8, 21)))
    for i, (ws, group) in enumerate([((5, 3, 3, 3), 1), ((3, 1, 3, 3), 3)]):
        window = {"pads": (1, 1, 1, 1), "group": group}
        w = [g.add_constant(rng.standard_normal(ws).astype(np.float32), f"w{i}{j}") for j in range(2)]
        b = g.add_constant(rng.standard_normal(ws[0]).astype(np.float32), f"b{i}")
        (z,) = g.add_node("Conv", [x, w[0]], window)
        (y,) = g.add_node("FusedConv", [x, w[1], b, z], _attrs(window, "Relu", "pre"))
        (out,) = g.add_node("Sigmoid", [y])
        g.add_output(out, f"out{i}")
        assert plan_memory(g.verify()).aliases.get(y) == z
    feeds = {"x": rng.standard_normal((1, 3, 8, 21)).astype(np.float32)}
    got = compile_for(g, backend).run(feeds)
    want = cnnc.compile(g).run(feeds)
    for name in want:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-5, atol=1e-6, err_msg=name)


def _model():
    """Pad folded into a conv, conv-BN-ReLU, a ResNet residual (pre), a depthwise conv-BN-
    ReLU6 (Clip), a linear-bottleneck residual after HardSwish (post), LeakyRelu and Tanh
    epilogues, and what stays unfused beside them: ConvTranspose, Silu, LRN, MatMul, pooling."""
    m = nn.Model("fused", seed=3)
    x = m.input("x", (1, 4, 10, 10))
    a = nn.relu(nn.batch_norm(nn.conv(nn.pad(x, (0, 0, 1, 1, 0, 0, 1, 1)), 8, 3, bias=False), random_stats=True))
    b = nn.batch_norm(nn.conv(a, 8, 3, padding="same"), random_stats=True)
    c = nn.relu(nn.add(b, a))
    d = nn.relu6(nn.batch_norm(nn.depthwise_conv(c, 3, padding="same"), random_stats=True))
    e = nn.add(c, nn.hard_swish(nn.conv(d, 8, 1)))
    f = nn.leaky_relu(nn.conv(e, 6, 3, stride=2, padding="same_lower"), alpha=0.2)
    up = nn.lrn(nn.silu(nn.conv_transpose(f, 4, 3, stride=2, padding=1, output_padding=1)), size=3)
    t = nn.tanh(nn.batch_norm(nn.conv(up, 5, 3, stride=2), random_stats=True))
    (y,) = m.graph.add_node("MatMul", [nn.global_avg_pool(t).value, m.graph.add_constant(
        np.random.default_rng(1).standard_normal((1, 3)).astype(np.float32), "head")])
    m.output(nn.Tensor(m, y), "y")
    m.output(up, "up")
    return m.build()


@backends
@pytest.mark.parametrize("level", [2, 3])
def test_optimized_model(backend, rng, level):
    """The graphs ``cnnc.optimize`` makes build and run: the fused convs (every epilogue
    kind) give the reference's outputs, which are the unoptimized model's."""
    g = _model()
    opt = cnnc.optimize(g, level=level)
    fused = {(n.attrs["activation"], len(opt.operands(n.name)) > 3 and n.attrs["residual"])
             for n in opt.nodes() if n.op == "FusedConv"}
    assert {("Relu", False), ("Relu", "pre"), ("Clip", False), ("HardSwish", "post"),
            ("LeakyRelu", False), ("Tanh", False)} <= fused, fused
    assert not any(n.op in ("Pad", "BatchNormalization") for n in opt.nodes())
    feeds = {"x": rng.standard_normal((1, 4, 10, 10)).astype(np.float32)}
    got = check_graph(opt, feeds, rtol=1e-4, atol=1e-5, backend=backend)
    want = cnnc.compile(g, target="reference").run(feeds)
    for name in want:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-4, atol=1e-5, err_msg=name)
