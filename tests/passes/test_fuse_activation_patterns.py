"""fuse_activation_patterns: Mul(x, Sigmoid(x)) becomes Silu(x) and Mul(x, HardSigmoid(x;
1/6, 1/2)) becomes HardSwish(x), with the same outputs on the reference before and after;
a gate with another use, other attributes or another operand stays; after it the conv's
SiLU goes into its epilogue."""
import numpy as np
import pytest
from helpers import assert_equivalent

from cnnc.ir import Graph, TensorType
from cnnc.passes import PROPERTIES, optimize


def _ops(g):
    return [n.op for n in g.nodes() if n.op not in ("Input", "Constant")]


@pytest.mark.parametrize("gate,attrs,act", [("Sigmoid", {}, "Silu"),
                                            ("HardSigmoid", {"alpha": 1 / 6, "beta": 0.5}, "HardSwish")])
@pytest.mark.parametrize("swap", [False, True])
def test_the_pattern_becomes_one_op(gate, attrs, act, swap):
    g = Graph("act")
    x = g.add_input("x", TensorType((2, 3, 4, 5)))
    (s,) = g.add_node(gate, [x], attrs)
    (y,) = g.add_node("Mul", [s, x] if swap else [x, s])
    g.add_output(y, "y")
    out = optimize(g, passes=["fuse_activation_patterns"])
    assert _ops(out) == [act]
    assert PROPERTIES["no_activation_patterns"](out)
    assert_equivalent(g, out, rtol=1e-6, atol=1e-7)


def test_what_stays():
    g = Graph("stays")
    x = g.add_input("x", TensorType((1, 4)))
    z = g.add_input("z", TensorType((1, 4)))
    (s,) = g.add_node("Sigmoid", [x])
    (y1,) = g.add_node("Mul", [x, s])
    g.add_output(s, "gate")                             # the gate is a graph output
    (t,) = g.add_node("Sigmoid", [z])
    (y2,) = g.add_node("Mul", [x, t])                   # the gate of another value
    (h,) = g.add_node("HardSigmoid", [x], {"alpha": 0.2, "beta": 0.5})
    (y3,) = g.add_node("Mul", [x, h])                   # not HardSwish's gate
    for i, v in enumerate((y1, y2, y3)):
        g.add_output(v, f"y{i}")
    out = optimize(g, passes=["fuse_activation_patterns"])
    assert sorted(_ops(out)) == sorted(_ops(g))


def test_the_conv_takes_the_silu_in_its_epilogue(rng):
    g = Graph("conv_silu")
    x = g.add_input("x", TensorType((1, 3, 8, 8)))
    w = g.add_constant(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), "w")
    (c,) = g.add_node("Conv", [x, w], {"pads": (1, 1, 1, 1)})
    (s,) = g.add_node("Sigmoid", [c])
    (y,) = g.add_node("Mul", [c, s])
    g.add_output(y, "y")
    out = optimize(g, passes=["fuse_activation_patterns", "fuse_conv_norm_act"])
    assert _ops(out) == ["FusedConv"] and out.nodes()[-1].attrs["activation"] == "Silu"
    assert_equivalent(g, out, rtol=1e-5, atol=1e-6)
