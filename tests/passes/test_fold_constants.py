"""fold_constants: constant sub-graphs become Constants; graph inputs, output labels and
constants still in use stay."""
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


def fold(g: Graph) -> Graph:
    return PassManager(["fold_constants"], verify=True).run(g)[0]


def ops(g: Graph) -> Counter:
    return Counter(n.op for n in g.nodes())


def const_operand(g: Graph, op: str, port: int) -> np.ndarray:
    """The constant array operand ``port`` of the (first) ``op`` node reads."""
    node = next(n.name for n in g.nodes() if n.op == op)
    return g.constant(g.operands(node)[port])


def weight_prep(rng) -> Graph:
    """A conv whose weight is transposed and scaled, and whose bias is a sum, at run time."""
    g = Graph("weight_prep")
    x = g.add_input("x", TensorType((1, 3, 8, 8), "float32"))
    wt = g.add_constant(rng.standard_normal((3, 4, 3, 3)).astype(np.float32), "wt")
    (w,) = g.add_node("Transpose", [wt], {"perm": (1, 0, 2, 3)})
    (w,) = g.add_node("Mul", [w, g.add_constant(np.float32(2), "two")])
    (b,) = g.add_node("Add", [g.add_constant(np.ones(4, np.float32), "b0"),
                              g.add_constant(np.arange(4, dtype=np.float32), "b1")])
    (y,) = g.add_node("Conv", [x, w, b], {"pads": (1, 1, 1, 1)})
    (y,) = g.add_node("Relu", [y])
    g.add_output(y, "y")
    return g.verify()


def test_constant_subgraphs_fold_to_constants(rng):
    g = weight_prep(rng)
    out = fold(g)
    assert ops(out) == {"Input": 1, "Constant": 2, "Conv": 1, "Relu": 1}
    wt = const_operand(g, "Transpose", 0)
    np.testing.assert_array_equal(const_operand(out, "Conv", 1), 2 * wt.transpose(1, 0, 2, 3))
    np.testing.assert_array_equal(const_operand(out, "Conv", 2), 1 + np.arange(4, dtype=np.float32))
    assert_equivalent(g, out)
    check_properties(out, ["constants_folded"], "after folding")


def test_folded_graph_output_keeps_its_label():
    g = Graph("const_out")
    x = g.add_input("x", TensorType((2, 3), "float32"))
    (k,) = g.add_node("Relu", [g.add_constant(np.array([-1.0, 2.0], np.float32), "k")])
    (y,) = g.add_node("Add", [x, g.add_constant(np.ones(3, np.float32))])
    g.add_output(y, "y")
    g.add_output(k, "k")
    out = fold(g)
    assert [lbl for lbl, _ in out.outputs] == ["y", "k"]
    np.testing.assert_array_equal(out.constant(dict(out.outputs)["k"]), [0.0, 2.0])
    assert ops(out)["Add"] == 1
    assert_equivalent(g, out)


def test_inputs_and_shared_constants_stay():
    g = Graph("shared")
    x = g.add_input("x", TensorType((4,), "float32"))
    c = g.add_constant(np.full(4, 3, np.float32), "c")
    (cc,) = g.add_node("Mul", [c, c])
    (y,) = g.add_node("Add", [x, c])
    (y,) = g.add_node("Sub", [y, cc])
    g.add_output(y, "y")
    out = fold(g)
    assert ops(out) == {"Input": 1, "Constant": 2, "Add": 1, "Sub": 1}
    assert c.node in out
    np.testing.assert_array_equal(const_operand(out, "Sub", 1), [9] * 4)
    assert_equivalent(g, out)


def test_multi_output_node_folds_only_used_ports():
    g = Graph("split")
    x = g.add_input("x", TensorType((3,), "float32"))
    parts = g.add_node("Split", [g.add_constant(np.arange(6, dtype=np.float32))],
                       {"axis": 0, "num_outputs": 2})
    (y,) = g.add_node("Add", [x, parts[1]])
    g.add_output(y, "y")
    out = fold(g)
    assert ops(out) == {"Input": 1, "Constant": 1, "Add": 1}
    np.testing.assert_array_equal(const_operand(out, "Add", 1), [3, 4, 5])
    assert_equivalent(g, out)


def test_idempotent_and_pure(rng):
    g = weight_prep(rng)
    before = g.dump()
    once = fold(g)
    assert fold(once).dump() == once.dump()
    assert g.dump() == before


def test_squeezenet_stays_equivalent():
    g = cnnc.load_onnx(LIGHT / "light_squeezenet.onnx")
    out = fold(g)
    assert len(out) == len(g)  # the importer folds already; nothing left to fold
    assert_equivalent(g, out, trials=1)


@pytest.mark.parametrize("dtype", ["float32", "int64"])
def test_folds_integer_shape_arithmetic(dtype):
    """ONNX shape sub-graphs are integer arithmetic on constants."""
    g = Graph("shape_math")
    x = g.add_input("x", TensorType((2,), dtype))
    halves = [g.add_constant(np.array([i], dtype)) for i in (1, 2)]
    (s,) = g.add_node("Concat", halves, {"axis": 0})
    (s,) = g.add_node("Mul", [s, g.add_constant(np.array([5, 7], dtype))])
    (y,) = g.add_node("Add", [x, s])
    g.add_output(y, "y")
    out = fold(g)
    assert ops(out) == {"Input": 1, "Constant": 1, "Add": 1}
    np.testing.assert_array_equal(const_operand(out, "Add", 1), [5, 14])
    assert_equivalent(g, out)
