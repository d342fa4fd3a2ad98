"""Pictures: --dump-ir's DOT, SVG and (with Graphviz) PNG carry, per box, the op, the node's
name, the key attributes (kernel, stride, padding, group, the fused epilogue) and the output
type, with arrowheads, laid out left to right or top to bottom; `cnnc show --memory` draws
the arena timeline with the lower bound marked."""
import re
import shutil
import xml.dom.minidom

import pytest

import cnnc
import cnnc.dsl as nn
from cnnc.cli import main
from cnnc.passes.memory import plan_memory
from cnnc.passes.render import auto_rankdir, describe, memory_svg, to_dot, to_svg, write_pictures


def residual_net():
    m = nn.Model("res")
    x = m.input("x", (1, 8, 16, 16))
    y = nn.conv(x, 8, 3, stride=2, padding=1, activation="relu")
    z = nn.conv(y, 8, 3, padding=1)
    m.output(nn.activation(z + y, "relu"), "y")
    return cnnc.optimize(m.build())


def test_boxes_say_op_name_attributes_epilogue_and_type():
    g = residual_net()
    fused = [n for n in g.nodes() if n.op == "FusedConv"]
    lines = {n.name: describe(g, n.name) for n in fused}
    text = "\n".join("\n".join(v) for v in lines.values())
    assert "k3x3 s2x2 p1x1x1x1 +bias +Relu +2 const" in text
    assert re.search(r"k3x3 p1x1x1x1 \+bias \+residual (pre|post) \+Relu", text), text
    assert all(v[0].startswith("FusedConv ") and v[-1].startswith("f32[1,8,") for v in lines.values())


def test_dot_and_svg():
    g = residual_net()
    dot = to_dot(g, "LR")
    assert "rankdir=LR;" in dot and "arrowhead=normal" in dot and "FusedConv" in dot
    assert "rankdir=TB;" in to_dot(g, "TB")
    for rankdir in ("LR", "TB"):
        svg = to_svg(g, rankdir)
        doc = xml.dom.minidom.parseString(svg)
        assert doc.getElementsByTagName("marker") and 'marker-end="url(#arrow)"' in svg


def test_a_chain_reads_down_the_page_a_wide_graph_across():
    m = nn.Model("chain")
    y = m.input("x", (1, 2, 8, 8))
    for _ in range(6):
        y = nn.activation(y, "relu")
    m.output(y, "y")
    assert auto_rankdir(m.build()) == "TB"
    m = nn.Model("wide")
    x = m.input("x", (1, 2, 8, 8))
    m.output(nn.concat([nn.activation(x, a) for a in ("relu", "sigmoid", "tanh", "relu6")]), "y")
    assert auto_rankdir(m.build()) == "LR"


@pytest.mark.skipif(shutil.which("dot") is None, reason="the PNG is drawn by Graphviz's dot, not installed "
                                                         "(apt-get install graphviz; .ci/run installs it)")
def test_png_beside_svg(tmp_path):
    written = write_pictures(residual_net(), tmp_path / "g")
    assert {p.suffix for p in written} == {".dot", ".svg", ".png"}
    assert (tmp_path / "g.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    xml.dom.minidom.parse(str(tmp_path / "g.svg"))


def test_memory_timeline(tmp_path, capsys):
    g = residual_net()
    plan = plan_memory(g, concat_slices=True)
    svg = memory_svg(plan, g)
    xml.dom.minidom.parseString(svg)
    assert svg.count("<rect ") == 1 + sum(1 for b in plan.buffers if b.nbytes > 0)
    assert f"lower bound {plan.lower_bound_bytes:,} B" in svg
    model = tmp_path / "m.py"
    model.write_text("import cnnc.dsl as nn\n\ndef build():\n    m = nn.Model('res')\n"
                     "    x = m.input('x', (1, 8, 16, 16))\n"
                     "    m.output(nn.conv(nn.conv(x, 8, 3, padding=1, activation='relu'), 4, 1), 'y')\n"
                     "    return m.build()\n")
    assert main(["show", str(model), "--memory", str(tmp_path / "mem.svg")]) == 0
    out = capsys.readouterr().out
    assert "lower bound" in out and "wrote" in out
    xml.dom.minidom.parse(str(tmp_path / "mem.svg"))


def test_without_graphviz_cnnc_draws_the_svg(tmp_path, monkeypatch):
    import cnnc.passes.render as render
    monkeypatch.setattr(render.shutil, "which", lambda name: None)
    written = write_pictures(residual_net(), tmp_path / "g")
    assert [p.suffix for p in written] == [".dot", ".svg"] and not (tmp_path / "g.png").exists()
    assert 'marker-end="url(#arrow)"' in (tmp_path / "g.svg").read_text()
