"""The verifier rejects broken graphs: cycles, dangling ports, wrong types, bad names."""
from dataclasses import replace

import numpy as np
import pytest

from cnnc.ir import Graph, TensorType, VerifyError


def chain():
    g = Graph("chain")
    x = g.add_input("x", TensorType((1, 2, 4, 4)))
    (a,) = g.add_node("Relu", [x], label="a")
    (b,) = g.add_node("Sigmoid", [a], label="b")
    (c,) = g.add_node("Add", [a, b], label="c")
    g.add_output(c, "y")
    return g, x, a, b, c


def test_valid_graph_passes():
    chain()[0].verify()


def test_cycle_is_rejected():
    g, x, a, b, c = chain()
    g.nx.add_edge(c.node, a.node, src_port=0, dst_port=1)  # corrupt on purpose
    with pytest.raises(VerifyError, match="cycle"):
        g.verify()


def test_dangling_port_is_rejected():
    g, x, a, b, c = chain()
    g.nx.remove_edge(a.node, c.node)  # Add loses its port 0
    with pytest.raises(VerifyError, match="input ports"):
        g.verify()


def test_missing_operand_is_rejected():
    g, x, a, b, c = chain()
    key = next(iter(g.nx[b.node][c.node]))
    g.nx.remove_edge(b.node, c.node, key)  # Add is left with one operand
    with pytest.raises(VerifyError, match="operands"):
        g.verify()


def test_wrong_source_port_is_rejected():
    g, x, a, b, c = chain()
    g.nx.add_edge(x.node, c.node, src_port=3, dst_port=2)
    with pytest.raises(VerifyError):
        g.verify()


def test_wrong_type_is_rejected():
    g, x, a, b, c = chain()
    node = g.node(b.node)
    g.nx.nodes[b.node]["node"] = replace(node, types=(TensorType((1, 2, 4, 5)),))
    with pytest.raises(VerifyError, match="differ from inferred"):
        g.verify()


def test_bad_name_is_rejected():
    g, x, a, b, c = chain()
    g.nx.nodes[a.node]["node"] = replace(g.node(a.node), name="int")
    with pytest.raises(VerifyError, match="keyed"):
        g.verify()


def test_all_problems_reported_at_once():
    g, x, a, b, c = chain()
    g.nx.nodes[b.node]["node"] = replace(g.node(b.node), types=(TensorType((9,)),))
    g.nx.add_node("bad name", node=replace(g.node(a.node), name="bad name"))
    with pytest.raises(VerifyError) as e:
        g.verify()
    assert "differ from inferred" in str(e.value) and "not a C-safe" in str(e.value)


def test_output_and_input_invariants():
    g = Graph("empty")
    g.add_input("x", TensorType((1,)))
    with pytest.raises(VerifyError, match="no outputs"):
        g.verify()


def test_constant_type_matches_value():
    g = Graph("k")
    k = g.add_constant(np.zeros((2, 3), np.float32), "k")
    g.add_output(k, "k")
    g.nx.nodes[k.node]["node"] = replace(g.node(k.node), types=(TensorType((3, 2)),))
    with pytest.raises(VerifyError, match="differ from inferred"):
        g.verify()
