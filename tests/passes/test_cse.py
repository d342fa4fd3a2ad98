"""cse: nodes with the same op, operands and attributes merge (equal Constants too, and
then what they feed); the first in topological order is kept."""
from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import pytest
from helpers import assert_equivalent

import cnnc
from cnnc.ir import Graph, TensorType
from cnnc.passes import PassManager, check_properties

LIGHT = Path(onnx.__file__).parent / "backend/test/data/light"


def cse(g: Graph) -> Graph:
    return PassManager(["cse"], verify=True).run(g)[0]


def ops(g: Graph) -> Counter:
    return Counter(n.op for n in g.nodes())


def twin_branches(rng) -> Graph:
    """Two convs with equal (separately stored) weights on one input, each with a ReLU and a
    pool, summed; one pool differs in its attributes."""
    g = Graph("twins")
    x = g.add_input("x", TensorType((1, 3, 8, 8), "float32"))
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    branches = []
    for kernel in (2, 2, 3):
        (y,) = g.add_node("Conv", [x, g.add_constant(w, "w"), g.add_constant(np.zeros(4, np.float32), "b")],
                          {"pads": (1, 1, 1, 1)})
        (y,) = g.add_node("Relu", [y])
        branches += g.add_node("MaxPool", [y], {"kernel_shape": (kernel, kernel), "strides": (2, 2)})
    (s,) = g.add_node("Add", branches[:2])
    g.add_output(s, "sum")
    g.add_output(branches[2], "pool3")
    return g.verify()


def test_equal_constants_and_what_they_feed_merge(rng):
    g = twin_branches(rng)
    out = cse(g)
    assert ops(out) == {"Input": 1, "Constant": 2, "Conv": 1, "Relu": 1, "MaxPool": 2, "Add": 1}
    add = next(n.name for n in out.nodes() if n.op == "Add")
    a, b = out.operands(add)
    assert a == b
    assert_equivalent(g, out)
    check_properties(out, ["no_common_subexpressions"], "after cse")


def test_first_in_topological_order_is_kept(rng):
    g = twin_branches(rng)
    out = cse(g)
    for op in ("Conv", "Relu", "Constant"):
        assert next(n.name for n in out.nodes() if n.op == op) == next(n.name for n in g.nodes() if n.op == op)


@pytest.mark.parametrize("a, b", [
    (np.zeros(2, np.float32), np.zeros(2, np.float64)),      # dtype
    (np.zeros(2, np.float32), np.zeros((1, 2), np.float32)),  # shape
    (np.zeros(2, np.float32), -np.zeros(2, np.float32)),      # bytes: -0.0 is not 0.0
], ids=["dtype", "shape", "negative_zero"])
def test_unequal_constants_stay(a, b):
    g = Graph("consts")
    x = g.add_input("x", TensorType((2,), "float32"))
    for label, c in (("a", a), ("b", b)):
        (c,) = g.add_node("Cast", [g.add_constant(c)], {"to": "float32"})
        g.add_output(g.add_node("Div", [x, c])[0], label)  # 1/0 and 1/-0 differ
    out = cse(g)
    assert ops(out) == ops(g)
    assert_equivalent(g, out)


def test_inputs_and_swapped_operands_stay():
    g = Graph("inputs")
    x, z = (g.add_input(n, TensorType((3,), "float32")) for n in ("x", "z"))
    g.add_output(g.add_node("Sub", [x, z])[0], "xz")
    g.add_output(g.add_node("Sub", [z, x])[0], "zx")
    assert ops(cse(g)) == ops(g)


def test_duplicate_outputs_keep_their_labels():
    g = Graph("outs")
    x = g.add_input("x", TensorType((3,), "float32"))
    (a,) = g.add_node("Relu", [x])
    (b,) = g.add_node("Relu", [x])
    g.add_output(a, "a")
    g.add_output(b, "b")
    out = cse(g)
    assert out.outputs == [("a", a), ("b", a)]
    assert_equivalent(g, out)


def test_multi_output_nodes_merge_port_by_port():
    g = Graph("split")
    x = g.add_input("x", TensorType((4,), "float32"))
    p = g.add_node("Split", [x], {"axis": 0, "num_outputs": 2})
    q = g.add_node("Split", [x], {"axis": 0, "num_outputs": 2})
    g.add_output(g.add_node("Sub", [p[1], q[0]])[0], "y")
    g.add_output(q[1], "q1")
    out = cse(g)
    assert ops(out) == {"Input": 1, "Split": 1, "Sub": 1}
    assert out.outputs[1] == ("q1", p[1])
    assert_equivalent(g, out)


def test_idempotent_and_pure(rng):
    g = twin_branches(rng)
    before = g.dump()
    once = cse(g)
    assert cse(once).dump() == once.dump()
    assert g.dump() == before


def test_squeezenet_stays_equivalent():
    """The light models fill most weights with one value, so many of their Constants merge."""
    g = cnnc.load_onnx(LIGHT / "light_squeezenet.onnx")
    out = cse(g)
    assert ops(out)["Conv"] == ops(g)["Conv"] and ops(out)["Constant"] < ops(g)["Constant"]
    assert_equivalent(g, out, trials=1)
