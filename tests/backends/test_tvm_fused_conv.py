"""TVM lowering of FusedConv (Conv's rule, then the residual add and the activation's own
Relax rule) agrees with the reference for every fusable activation, with no residual, a
residual added before the activation and one added after, over the window attributes of
tests/backends/test_c_fused_conv.py (whose Clip-bounds/float64 case also runs on TVM); and the graphs
``cnnc.optimize`` (levels 2 and 3) makes of a small model with every epilogue kind."""
import importlib.util

import numpy as np
import pytest
from helpers import check_graph
from test_c_fused_conv import ACTIVATIONS, CASES, _attrs, _conv_out  # the C tests' grids
from test_tvm_conv import check_nodes

import cnnc
import cnnc.dsl as nn

pytestmark = pytest.mark.skipif(importlib.util.find_spec("tvm") is None,
                                reason="TVM backend tests need Apache TVM: pip install 'cnnc[tvm]'")


#: every activation x {no residual, pre, post}; case i of CASES builds the combinations
#: i, i + len(CASES), ...: all 27 across the cases, about 4 nodes a build
COMBOS = [(act, residual) for act in ACTIVATIONS for residual in (None, "pre", "post")]


@pytest.mark.parametrize("case", range(len(CASES)))
def test_fused_conv_tvm(rng, case):
    """Every window case, every activation with every residual mode, in a few builds."""
    xs, ws, window = CASES[case]
    x = 2 * rng.standard_normal(xs).astype(np.float32)   # reach both sides of Clip, HardSigmoid
    w = rng.standard_normal(ws).astype(np.float32)
    b = rng.standard_normal(ws[0]).astype(np.float32)
    z = rng.standard_normal(_conv_out(xs, ws, window)).astype(np.float32)
    nodes = [("FusedConv", [w, b] + ([z] if residual else []), _attrs(window, act, residual))
             for act, residual in COMBOS[case::len(CASES)]]
    check_nodes(x, nodes)


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


@pytest.mark.parametrize("level", [2, 3])
def test_optimized_model_tvm(rng, level):
    """The graphs ``cnnc.optimize`` makes lower and run on TVM: the fused convs (every
    epilogue kind) give the reference's outputs, which are the unoptimized model's."""
    g = _model()
    opt = cnnc.optimize(g, level=level)
    fused = {(n.attrs["activation"], len(opt.operands(n.name)) > 3 and n.attrs["residual"])
             for n in opt.nodes() if n.op == "FusedConv"}
    assert {("Relu", False), ("Relu", "pre"), ("Clip", False), ("HardSwish", "post"),
            ("LeakyRelu", False), ("Tanh", False)} <= fused, fused
    assert not any(n.op in ("Pad", "BatchNormalization") for n in opt.nodes())
    feeds = {"x": rng.standard_normal((1, 4, 10, 10)).astype(np.float32)}
    got = check_graph(opt, feeds, rtol=1e-4, atol=1e-5, backend="tvm")
    want = cnnc.compile(g, target="reference").run(feeds)
    for name in want:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-4, atol=1e-5, err_msg=name)
