"""The pass manager: contracts checked, purity enforced, broken passes named, dumps and
statistics written."""
import shutil

import numpy as np
import pytest

import cnnc
import cnnc.dsl as nn
from cnnc.ir import CnncError, VerifyError
from cnnc.passes import LEVELS, PASSES, Pass, PassManager, graph_flops, optimize


def small():
    m = nn.Model("small")
    x = m.input("x", (1, 3, 8, 8))
    y = nn.conv(x, 4, 3, padding="same", activation="relu")
    m.output(nn.max_pool(y, 2), "y")
    return m.build()


def test_identity_pass_and_stats():
    g = small()
    out, rep = PassManager([Pass("noop", lambda g: g.copy())]).run(g)
    (s,) = rep.stats
    assert s.name == "noop" and s.nodes_before == s.nodes_after == len(g)
    assert s.flops_before == s.flops_after == graph_flops(g) > 2 * 8 * 8 * 4 * 27
    assert s.weight_bytes == (4 * 3 * 9 + 4) * 4
    assert "noop" in str(rep) and "FLOPs" in str(rep)


def test_impure_pass_is_caught():
    def impure(g):
        conv = next(n for n in g.nodes() if n.op == "Conv")
        g.replace_attrs(conv.name, pads=(1, 1, 1, 1), auto_pad="NOTSET")
        return g
    with pytest.raises(CnncError, match="pass 'impure' modified its input graph"):
        PassManager([Pass("impure", impure)]).run(small())


def test_broken_ir_names_the_pass():
    def breaker(g):
        g = g.copy()
        relu = next(n for n in g.nodes() if n.op == "Relu")
        g.nx.remove_edge(*next(iter(g.nx.in_edges(relu.name))))
        return g
    with pytest.raises(VerifyError, match="pass 'breaker' broke the IR"):
        PassManager([Pass("breaker", breaker)]).run(small())


def test_contract_is_checked():
    from cnnc.passes import PROPERTIES, graph_property
    if "has_no_relu" not in PROPERTIES:
        graph_property("has_no_relu")(lambda g: all(n.op != "Relu" for n in g.nodes()))
    liar = Pass("liar", lambda g: g.copy(), ensures=("has_no_relu",))
    with pytest.raises(CnncError, match="pass 'liar' broke its contract: property has_no_relu"):
        PassManager([liar]).run(small())
    needy = Pass("needy", lambda g: g.copy(), requires=("has_no_relu",))
    with pytest.raises(CnncError, match="pass 'needy' cannot run: property has_no_relu"):
        PassManager([needy]).run(small())


def test_dump_ir_writes_text_dot_and_svg(tmp_path):
    g = small()
    PassManager([Pass("noop", lambda g: g.copy())], dump_dir=tmp_path / "ir").run(g)
    names = sorted(p.name for p in (tmp_path / "ir").iterdir())
    kinds = ["dot", "svg", "txt"] + (["png"] if shutil.which("dot") else [])   # Graphviz draws the PNG
    assert names == sorted(f"{stem}.{k}" for stem in ("00_input", "01_noop") for k in kinds)
    assert (tmp_path / "ir" / "01_noop.txt").read_text().startswith("graph small(")
    assert "->" in (tmp_path / "ir" / "00_input.dot").read_text()
    svg = (tmp_path / "ir" / "00_input.svg").read_text()
    assert "<svg" in svg and "Conv" in svg and svg.rstrip().endswith("</svg>")


def test_unknown_pass_and_level():
    with pytest.raises(CnncError, match="unknown pass 'nope'"):
        optimize(small(), passes=["nope"])
    with pytest.raises(CnncError, match="level must be one of"):
        optimize(small(), level=9)


def test_every_level_names_registered_passes():
    for level, names in LEVELS.items():
        assert set(names) <= set(PASSES), (level, set(names) - set(PASSES))


@pytest.mark.parametrize("level", sorted(LEVELS))
def test_levels_keep_outputs(level, rng):
    from helpers import assert_equivalent
    g = small()
    out, rep = optimize(g, level=level, report=True)
    assert len(rep.stats) == len(LEVELS[level])
    assert_equivalent(g, out)
    x = rng.standard_normal((1, 3, 8, 8)).astype(np.float32)
    np.testing.assert_allclose(cnnc.compile(out).run({"x": x})["y"], cnnc.compile(g).run({"x": x})["y"],
                               rtol=1e-5, atol=1e-5)
