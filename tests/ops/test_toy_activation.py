"""Adding a unary activation is one record: a toy activation registered from outside the
package (one ``register_activation`` call, no edit anywhere else) is an op with its traits
(in place for the memory plan, fusable into a conv's epilogue), goes through every pass of
the default pipeline and runs on every backend with the reference's values."""
import importlib.util

import numpy as np
import pytest
from helpers import compile_for

import cnnc
from cnnc.ir import Graph, TensorType, get_op
from cnnc.ops.activation import ACTIVATIONS, Activation, register_activation, unregister_activation
from cnnc.ops.fused_conv import fusable_activations
from cnnc.passes.memory import plan_memory

NAME = "ToyCubicRelu"


def _reference(x, a):
    """max(x, 0)^3 * alpha: a made-up activation no real model has."""
    return (np.maximum(x, 0) ** 3 * a["alpha"]).astype(x.dtype)


def _c(a, t):
    from cnnc.ops._c import num
    return f"(a0 > 0 ? a0 * a0 * a0 * {num(a['alpha'], t)} : {num(0, t)})"


def _tvm(req, xs, b):
    x, t = xs[0], b.dtype(xs[0])
    r = b.emit(b.R.maximum(x, b.const(0, t)))
    return b.R.multiply(b.R.multiply(b.R.multiply(r, r), r), b.const(req.attrs["alpha"], t))


@pytest.fixture
def toy():
    from cnnc.ir import Attr
    op = register_activation(Activation(NAME, _reference, c=_c, tvm=_tvm,
                                        attrs={"alpha": Attr("float", 0.5)}, fusable=True))
    yield op
    unregister_activation(NAME)


def _graph(op: str, attrs: dict) -> Graph:
    """x -> Conv -> op -> op -> Conv: the second op may run in place of the first's result."""
    rng = np.random.default_rng(1)
    g = Graph("toy")
    x = g.add_input("x", TensorType((1, 3, 8, 8)))
    w = g.add_constant(rng.standard_normal((4, 3, 3, 3)).astype(np.float32) * 0.3, "w")
    w2 = g.add_constant(rng.standard_normal((2, 4, 1, 1)).astype(np.float32), "w2")
    (y,) = g.add_node("Conv", [x, w], {"pads": (1, 1, 1, 1)})
    (z,) = g.add_node(op, [y], attrs)
    (u,) = g.add_node(op, [z], attrs)
    (v,) = g.add_node("Conv", [u, w2], {})
    g.add_output(v, "out")
    return g.verify()


def test_the_record_is_the_whole_op(toy):
    assert toy is get_op(NAME) and ACTIVATIONS[NAME].fusable
    assert toy.in_place == (0,) and NAME in fusable_activations()
    x = np.linspace(-2, 2, 9, dtype=np.float32)
    (y,) = toy.run([x], toy.make_attrs({"alpha": 2.0}, [TensorType.of(x)]))
    np.testing.assert_array_equal(y, _reference(x, {"alpha": 2.0}))


def test_a_fusable_activation_has_only_epilogue_attributes():
    """FusedConv carries an activation's attributes as act_alpha, act_beta, act_min and
    act_max: an activation with any other attribute cannot be fusable."""
    from cnnc.ir import Attr
    with pytest.raises(cnnc.CnncError, match="scale"):
        register_activation(Activation("ToyBad", _reference, c=_c, attrs={"scale": Attr("float", 1.0)},
                                       fusable=True))
    assert "ToyBad" not in ACTIVATIONS


def test_traits_reach_the_passes(toy):
    g = _graph(NAME, {"alpha": 0.25})
    plan = plan_memory(g)
    second = [n for n in g.nodes() if n.op == NAME][-1]
    assert any(v.node == second.name for v in plan.aliases), "the second activation runs in place"
    opt = cnnc.optimize(g)
    fused = [n for n in opt.nodes() if n.op == "FusedConv"]
    assert len(fused) == 1 and fused[0].attrs["activation"] == NAME and fused[0].attrs["act_alpha"] == 0.25
    assert [n.op for n in opt.nodes() if n.op not in ("Input", "Constant")] == ["FusedConv", NAME, "Conv"]


BACKENDS = ["reference", "c", "cuda-emu",
            pytest.param("tvm", marks=pytest.mark.skipif(importlib.util.find_spec("tvm") is None,
                                                         reason="TVM backend tests need Apache TVM"))]


@pytest.mark.parametrize("backend", BACKENDS)
def test_toy_runs_on_every_backend(toy, backend):
    import shutil
    if backend == "cuda-emu" and shutil.which("g++") is None:
        pytest.skip("the CUDA emulator build needs g++")
    g = _graph(NAME, {"alpha": 0.25})
    x = np.random.default_rng(2).standard_normal((1, 3, 8, 8)).astype(np.float32)
    want = cnnc.compile(g, target="reference").run({"x": x})["out"]
    for graph in (g, cnnc.optimize(g)):          # as given, and fused into the conv's epilogue
        got = compile_for(graph, backend).run({"x": x})["out"]
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
