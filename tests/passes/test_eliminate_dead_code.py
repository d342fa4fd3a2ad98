"""eliminate_dead_code: nodes no graph output depends on go; graph inputs and partly used
multi-output nodes stay.  Also the whole cleanup pipeline on a light ONNX model."""
from collections import Counter
from pathlib import Path

import numpy as np
import onnx
from helpers import assert_equivalent

import cnnc
import cnnc.dsl as nn
from cnnc.ir import Graph, TensorType
from cnnc.passes import PassManager, check_properties

LIGHT = Path(onnx.__file__).parent / "backend/test/data/light"
CLEANUP = ["eliminate_identity", "fold_constants", "cse", "eliminate_dead_code"]


def dce(g: Graph) -> Graph:
    return PassManager(["eliminate_dead_code"], verify=True).run(g)[0]


def ops(g: Graph) -> Counter:
    return Counter(n.op for n in g.nodes())


def with_dead_code() -> Graph:
    g = Graph("dead")
    x = g.add_input("x", TensorType((1, 4, 6), "float32"))
    g.add_input("unused", TensorType((2,), "float32"))
    (s,) = g.add_node("Sigmoid", [x])
    g.add_node("Tanh", [g.add_node("Mul", [s, g.add_constant(np.float32(3))])[0]])
    g.add_constant(np.zeros(5, np.float32), "orphan")
    a, _ = g.add_node("Split", [x], {"axis": 1, "num_outputs": 2})
    (y,) = g.add_node("Relu", [a])
    g.add_output(y, "y")
    g.add_output(s, "s")
    return g.verify()


def test_removes_what_no_output_needs():
    g = with_dead_code()
    out = dce(g)
    assert ops(out) == {"Input": 2, "Sigmoid": 1, "Split": 1, "Relu": 1}
    assert out.input_types() == g.input_types() and out.outputs == g.outputs
    assert_equivalent(g, out)


def test_idempotent_and_pure():
    g = with_dead_code()
    before = g.dump()
    once = dce(g)
    assert dce(once).dump() == once.dump()
    assert g.dump() == before


def test_graph_without_dead_code_keeps_every_node():
    m = nn.Model("live")
    x = m.input("x", (1, 3, 8, 8))
    y = nn.conv(x, 4, 3, padding="same", activation="relu")
    m.output(nn.add(y, nn.conv(y, 4, 1)), "y")
    g = m.build()
    assert list(dce(g).nx.nodes) == list(g.nx.nodes)


def test_cleanup_pipeline_on_squeezenet():
    """The level-1 pipeline: every pass keeps the outputs and every contract holds at the end."""
    g = cnnc.load_onnx(LIGHT / "light_squeezenet.onnx")
    out = PassManager(CLEANUP, verify=True).run(g)[0]
    assert "Dropout" not in ops(out) and len(out) < len(g)
    check_properties(out, ["no_identity", "constants_folded", "no_common_subexpressions",
                           "no_dead_code"], "after the cleanup pipeline")
    assert_equivalent(g, out, trials=1)
