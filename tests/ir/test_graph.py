"""The IR: building, queries, rewriting, immutability, naming and the text dump."""
import numpy as np
import pytest

import cnnc
from cnnc.ir import CnncError, Graph, TensorType, Value, VerifyError, is_c_safe, sanitize


def small_graph():
    g = Graph("small")
    x = g.add_input("x", TensorType((1, 3, 8, 8)))
    w = g.add_constant(np.ones((4, 3, 3, 3), np.float32), "w")
    (c,) = g.add_node("Conv", [x, w], {"pads": (1, 1, 1, 1)}, label="conv")
    (r,) = g.add_node("Relu", [c], label="relu")
    (a,) = g.add_node("Add", [r, r], label="add")
    g.add_output(a, "y")
    return g, x, w, c, r, a


def test_build_and_query():
    g, x, w, c, r, a = small_graph()
    g.verify()
    assert g.type_of(c) == TensorType((1, 4, 8, 8))
    assert g.operands(a.node) == [r, r]           # one edge per use: parallel edges
    assert g.users(r) == [(a.node, 0), (a.node, 1)]
    assert g.nx.number_of_edges(r.node, a.node) == 2
    assert g.topo_order().index(c.node) < g.topo_order().index(r.node)
    assert g.input_types() == {"x": TensorType((1, 3, 8, 8))}
    assert g.output_types() == {"y": TensorType((1, 4, 8, 8))}
    assert np.array_equal(g.constant(w), np.ones((4, 3, 3, 3)))


def test_node_data_is_immutable():
    g, x, w, c, *_ = small_graph()
    node = g.node(c.node)
    with pytest.raises(Exception):
        node.op = "Relu"
    with pytest.raises(TypeError):
        node.attrs["pads"] = (0, 0, 0, 0)
    with pytest.raises(ValueError):
        g.constant(w)[0, 0, 0, 0] = 5.0


def test_copy_is_independent():
    g, x, w, c, r, a = small_graph()
    h = g.copy()
    (t,) = h.add_node("Tanh", [r], label="tanh")
    h.replace_all_uses(a, a)  # no-op rewrite keeps it valid
    h.add_output(t, "t")
    assert "tanh" not in g and len(g.outputs) == 1
    h.verify()
    g.verify()


def test_replace_all_uses_and_remove():
    g, x, w, c, r, a = small_graph()
    (s,) = g.add_node("Sigmoid", [c], label="sig")
    g.replace_all_uses(r, s)
    g.remove_node(r.node)
    g.verify()
    assert g.operands(a.node) == [s, s]
    with pytest.raises(VerifyError, match="types differ"):
        g.replace_all_uses(s, x)
    with pytest.raises(VerifyError, match="still has users"):
        g.remove_node(s.node)


def test_replace_attrs_reinfers_types():
    g, x, w, c, r, a = small_graph()
    g.replace_attrs(c.node, pads=(0, 0, 0, 0))
    assert g.type_of(c) == TensorType((1, 4, 6, 6))
    with pytest.raises(VerifyError, match="differ from inferred"):
        g.verify()  # relu/add still claim 8x8: the verifier sees the stale types


def test_reference_agrees_before_and_after_copy(rng):
    g, *_ = small_graph()
    x = rng.standard_normal((1, 3, 8, 8)).astype(np.float32)
    y1 = cnnc.compile(g).run({"x": x})["y"]
    y2 = cnnc.compile(g.copy()).run({"x": x})["y"]
    np.testing.assert_array_equal(y1, y2)


def test_hostile_names_become_c_safe():
    g = Graph("hostile")
    labels = ['in"put', "a*/b", "line\nbreak", "back\\slash", "naïve", "int", "for", "_x",
              "cnnc_run", "1abc", "", "a__b"]
    vals = [g.add_input(lbl, TensorType((2,))) for lbl in labels]
    (s,) = g.add_node("Sum", vals, label="return")
    g.add_output(s, 'out"*/\n')
    g.verify()
    names = [v.node for v in vals] + [s.node]
    assert all(is_c_safe(n) for n in names) and len(set(names)) == len(names)
    assert list(g.input_types()) == labels            # labels keep the user's names
    dump = g.dump()
    assert "*/" not in dump and "\n".join(dump.splitlines()) == dump
    assert all(ch.isascii() for ch in dump)


@pytest.mark.parametrize("label", ["a", "conv 1", "x.y:z", "🙂", "__init__", "while"])
def test_sanitize(label):
    assert is_c_safe(sanitize(label))


def test_dump_is_readable():
    g, *_ = small_graph()
    text = g.dump()
    assert text.splitlines()[0] == "graph small(%x: f32[1,3,8,8]) {"
    assert "%conv = Conv(%x, %w) {kernel_shape=(3,3)" in text
    assert "return %add as 'y'" in text


def test_build_errors_name_the_node():
    g = Graph("bad")
    x = g.add_input("x", TensorType((1, 3, 8, 8)))
    w = g.add_constant(np.ones((4, 2, 3, 3), np.float32), "w")
    with pytest.raises(CnncError, match=r"Conv 'c1' \(model.py:3\): input has 3 channels"):
        g.add_node("Conv", [x, w], label="c1", source="model.py:3")
    with pytest.raises(CnncError, match="unknown op 'Frobnicate'"):
        g.add_node("Frobnicate", [x])
    with pytest.raises(CnncError, match="takes 2 to 3 operand"):
        g.add_node("Conv", [x])
    with pytest.raises(CnncError, match="defined twice"):
        g.add_input("x", TensorType((1,)))
    with pytest.raises(CnncError, match="no output port 1"):
        g.type_of(Value(x.node, 1))
