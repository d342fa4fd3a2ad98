"""eliminate_identity: Identity, Dropout and the other pass-through nodes go; their users
and graph outputs (under their labels) read the operand."""
from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import pytest
from helpers import assert_equivalent

import cnnc
import cnnc.dsl as nn
from cnnc.ir import Graph, TensorType
from cnnc.passes import PassManager

LIGHT = Path(onnx.__file__).parent / "backend/test/data/light"


def elim(g: Graph) -> Graph:
    return PassManager(["eliminate_identity"], verify=True).run(g)[0]


def ops(g: Graph) -> Counter:
    return Counter(n.op for n in g.nodes())


def chain() -> Graph:
    m = nn.Model("chain")
    x = m.input("x", (1, 3, 8, 8))
    y = nn.conv(nn.dropout(x), 4, 3, activation="relu")
    m.output(nn.max_pool(nn.dropout(nn.dropout(y, 0.2)), 2), "y")
    return m.build()


def test_chains_of_dropouts_go():
    g = chain()
    out = elim(g)
    assert ops(out) == {"Input": 1, "Constant": 2, "Conv": 1, "Relu": 1, "MaxPool": 1}
    conv = next(n.name for n in out.nodes() if n.op == "Conv")
    assert out.operands(conv)[0] == out.inputs[0]
    assert_equivalent(g, out)


def test_graph_outputs_keep_their_labels():
    """An Identity of a graph input, and one of a value that is already an output."""
    g = Graph("outs")
    x = g.add_input("x", TensorType((2, 3), "float32"))
    (r,) = g.add_node("Relu", [x])
    g.add_output(r, "r")
    g.add_output(g.add_node("Identity", [x])[0], "x_copy")
    g.add_output(g.add_node("Identity", [g.add_node("Identity", [r])[0]])[0], "r_copy")
    out = elim(g)
    assert ops(out) == {"Input": 1, "Relu": 1}
    assert out.outputs == [("r", r), ("x_copy", x), ("r_copy", r)]
    assert_equivalent(g, out)


#: (op, attrs, operand shape): nodes that return their operand unchanged
NO_OPS = [
    ("Identity", {}, (2, 3)),
    ("Dropout", {"ratio": 0.3}, (2, 3)),
    ("Cast", {"to": "float32"}, (2, 3)),
    ("Reshape", {"shape": (2, -1)}, (2, 3)),
    ("Flatten", {"axis": 1}, (2, 3)),
    ("Squeeze", {}, (2, 3)),
    ("Unsqueeze", {"axes": ()}, (2, 3)),
    ("Expand", {"shape": (1, 3)}, (2, 3)),
    ("Tile", {"repeats": (1, 1)}, (2, 3)),
    ("Pad", {"pads": (0, 0, 0, 0), "mode": "reflect"}, (2, 3)),
    ("Transpose", {"perm": (0, 1)}, (2, 3)),
    ("Concat", {"axis": 1}, (2, 3)),
    ("Sum", {}, (2, 3)),
    ("Max", {}, (2, 3)),
]
#: look-alikes that change their operand
KEPT = [
    ("Cast", {"to": "float64"}, (2, 3)),
    ("Reshape", {"shape": (3, 2)}, (2, 3)),
    ("Transpose", {"perm": (1, 0)}, (3, 3)),
    ("Pad", {"pads": (0, 1, 0, -1)}, (2, 3)),
]


def one_node(op, attrs, shape) -> Graph:
    g = Graph(op)
    x = g.add_input("x", TensorType(shape, "float32"))
    (y,) = g.add_node(op, [x], attrs)
    g.add_output(g.add_node("Neg", [y])[0], "y")
    return g.verify()


@pytest.mark.parametrize("op, attrs, shape", NO_OPS, ids=[r[0] for r in NO_OPS])
def test_pass_through_nodes_go(op, attrs, shape):
    g = one_node(op, attrs, shape)
    out = elim(g)
    assert ops(out) == {"Input": 1, "Neg": 1}
    assert_equivalent(g, out)


@pytest.mark.parametrize("op, attrs, shape", KEPT, ids=[r[0] for r in KEPT])
def test_look_alikes_stay(op, attrs, shape):
    g = one_node(op, attrs, shape)
    assert ops(elim(g)) == ops(g)


def test_multi_operand_sum_stays():
    g = Graph("sum")
    x = g.add_input("x", TensorType((2, 3), "float32"))
    (y,) = g.add_node("Sum", [x, g.add_constant(np.ones(3, np.float32))])
    g.add_output(y, "y")
    assert ops(elim(g)) == ops(g)


def test_idempotent_and_pure():
    g = chain()
    before = g.dump()
    once = elim(g)
    assert elim(once).dump() == once.dump()
    assert g.dump() == before


def test_squeezenet_loses_its_dropout():
    g = cnnc.load_onnx(LIGHT / "light_squeezenet.onnx")
    out = elim(g)
    assert ops(g)["Dropout"] == 1 and "Dropout" not in ops(out) and len(out) == len(g) - 1
    assert_equivalent(g, out, trials=1)
