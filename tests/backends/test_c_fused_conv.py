"""The C kernel of FusedConv agrees with the reference for every fusable activation, with
no residual, a residual added before the activation and one added after, over the window
attributes of tests/ops/test_fused_conv.py; the residual's buffer may be the output's
(the memory plan runs FusedConv in place); float64.  The Clip-bounds/float64 case runs on
every backend of test_c_conv.BACKENDS."""
import numpy as np
import pytest
from helpers import check_nodes
from test_c_conv import backends

import cnnc
from cnnc.ir import Graph, TensorType
from cnnc.passes.memory import plan_memory

CASES = [  # (input shape, weight shape, window attrs), as in tests/ops/test_fused_conv.py
    ((2, 3, 9), (4, 3, 3), {"pads": (1, 2)}),
    ((1, 4, 10), (6, 2, 3), {"group": 2, "strides": (2,), "auto_pad": "SAME_UPPER"}),
    ((1, 3, 8, 7), (5, 3, 3, 2), {"pads": (0, 1, 2, 0), "strides": (2, 1)}),
    ((1, 4, 9, 9), (4, 1, 3, 3), {"group": 4, "dilations": (2, 2), "auto_pad": "SAME_LOWER"}),
    ((1, 2, 5, 6, 5), (3, 2, 3, 3, 3), {"pads": (1, 0, 1, 1, 2, 0)}),
    ((1, 4, 6, 6, 6), (4, 2, 2, 3, 2), {"group": 2, "strides": (2, 1, 2)}),
    ((1, 4, 4, 29), (6, 2, 3, 3), {"group": 2, "pads": (1, 2, 0, 1)}),  # blocked interior
]

ACTIVATIONS = {  # activation -> the op's attributes
    "": {}, "Relu": {}, "LeakyRelu": {"alpha": 0.3}, "Clip": {"min": -0.5, "max": 1.5},
    "Sigmoid": {}, "HardSigmoid": {"alpha": 0.3, "beta": 0.4}, "HardSwish": {}, "Silu": {},
    "Tanh": {},
}


def _attrs(window, act, residual, **act_attrs):
    given = act_attrs or ACTIVATIONS[act]
    return {**window, "activation": act, "residual": residual or "pre",
            **{f"act_{k}": v for k, v in given.items()}}


def _conv_out(xs, ws, window):
    g = Graph("shape")
    (y,) = g.add_node("Conv", [g.add_input("x", TensorType(xs)), g.add_input("w", TensorType(ws))], window)
    return g.type_of(y).shape


def test_every_fusable_activation_is_covered():
    from cnnc.ops.fused_conv import FUSABLE_ACTIVATIONS
    assert set(ACTIVATIONS) == set(FUSABLE_ACTIVATIONS)


@pytest.mark.parametrize("xs,ws,window", CASES)
def test_fused_conv_c(rng, xs, ws, window):
    """Every activation x {no residual, pre, post} on one input: 27 nodes, one build."""
    x = 2 * rng.standard_normal(xs).astype(np.float32)   # reach both sides of Clip, HardSigmoid
    w = rng.standard_normal(ws).astype(np.float32)
    b = rng.standard_normal(ws[0]).astype(np.float32)
    z = rng.standard_normal(_conv_out(xs, ws, window)).astype(np.float32)
    nodes = [("FusedConv", [w, b] + ([z] if residual else []), _attrs(window, act, residual))
             for act in ACTIVATIONS for residual in (None, "pre", "post")]
    check_nodes(x, nodes)


@backends
def test_fused_conv_c_clip_bounds_and_float64(backend, rng):
    xs, ws, window = (1, 4, 7, 16), (6, 2, 3, 2), {"group": 2, "strides": (2, 1), "dilations": (1, 2),
                                                  "pads": (1, 0, 2, 1)}
    x = 3 * rng.standard_normal(xs)
    w, b = rng.standard_normal(ws), rng.standard_normal(ws[0])
    z = rng.standard_normal(_conv_out(xs, ws, window))
    check_nodes(x, [
        ("FusedConv", [w, b], _attrs(window, "Clip", None, max=0.5)),
        ("FusedConv", [w, b], _attrs(window, "Clip", None, min=0.0)),
        ("FusedConv", [w, b], {**window, "activation": "Clip"}),
        ("FusedConv", [w, b, z], _attrs(window, "Silu", "post")),
        ("FusedConv", [w, b, z], _attrs(window, "HardSwish", "pre")),
        ("FusedConv", [w, b, z], _attrs(window, "Sigmoid", "pre")),
        ("FusedConv", [w, b, z], _attrs(window, "LeakyRelu", "post")),
        ("FusedConv", [w, b], _attrs(window, "Tanh", None)),
    ], rtol=1e-12, atol=1e-12, backend=backend)


def test_fused_conv_c_in_place_over_the_residual(rng):
    """Z computed by a Conv and used only by the FusedConv: the plan gives Y Z's buffer,
    and the kernel reads each Z[i] before it writes Y[i]."""
    xs, ws, window = (1, 3, 8, 21), (5, 3, 3, 3), {"pads": (1, 1, 1, 1)}
    g = Graph("in_place")
    x = g.add_input("x", TensorType(xs))
    w = [g.add_constant(rng.standard_normal(ws).astype(np.float32), f"w{i}") for i in range(2)]
    b = g.add_constant(rng.standard_normal(ws[0]).astype(np.float32), "b")
    (z,) = g.add_node("Conv", [x, w[0]], window)
    (y,) = g.add_node("FusedConv", [x, w[1], b, z], _attrs(window, "Relu", "pre"))
    (out,) = g.add_node("Sigmoid", [y])
    g.add_output(out, "out")
    g.verify()
    assert plan_memory(g).aliases.get(y) == z
    feeds = {"x": rng.standard_normal(xs).astype(np.float32)}
    np.testing.assert_allclose(cnnc.compile(g, target="c").run(feeds)["out"],
                               cnnc.compile(g).run(feeds)["out"], rtol=1e-5, atol=1e-6)
