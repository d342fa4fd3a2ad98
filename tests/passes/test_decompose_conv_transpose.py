"""decompose_conv_transpose: a ConvTranspose becomes one stride-1 Conv per stride phase,
interleaved; the reference gives the same outputs before and after on random inputs, over
tests/ops' ConvTranspose grid and the usual upsamplers; the nodes it leaves alone stay."""
import numpy as np
import pytest
from helpers import assert_equivalent
from test_conv import CONVT_CASES

from cnnc.ir import Graph, TensorType
from cnnc.passes import PROPERTIES, optimize

#: the grid of tests/ops plus upsamplers (2x2/s2, 4x4/s2 pad 1, 3x3/s2 with output
#: padding), grouped and depthwise ones, a dilated one, a stride-1 one and 1-D and 3-D
UPSAMPLERS = [
    ((1, 8, 5, 6), (8, 4, 2, 2), {"strides": (2, 2)}),
    ((2, 6, 4, 5), (6, 3, 4, 4), {"strides": (2, 2), "pads": (1, 1, 1, 1)}),
    ((1, 4, 5, 5), (4, 5, 3, 3), {"strides": (2, 2), "pads": (1, 1, 1, 1), "output_padding": (1, 1)}),
    ((1, 6, 4, 4), (6, 1, 4, 4), {"strides": (2, 2), "pads": (1, 1, 1, 1), "group": 6}),
    ((1, 4, 4, 3), (4, 2, 3, 2), {"strides": (3, 2), "group": 2}),
    ((1, 3, 6, 6), (3, 2, 3, 3), {"pads": (1, 1, 1, 1)}),
    ((1, 2, 5, 5), (2, 2, 3, 3), {"strides": (2, 2), "dilations": (3, 1)}),
    ((1, 3, 7), (3, 4, 5), {"strides": (3,), "pads": (2, 1)}),
    ((1, 2, 3, 4, 3), (2, 2, 4, 2, 3), {"strides": (2, 2, 3), "pads": (1, 0, 0, 1, 0, 0)}),
]
#: left alone: stride phases that no tap reaches (kernel 2 or 3, dilation 2, stride 2:
#: only even outputs have taps), a phase whose taps all start past its first input (it
#: would need a negative pad), and an output_shape past the natural extent (negative pads)
KEPT = [CONVT_CASES[3], ((1, 2, 5, 5), (2, 2, 3, 3), {"strides": (2, 2), "dilations": (2, 3)}),
        ((1, 2, 3, 4, 3), (2, 2, 4, 2, 3), {"strides": (2, 2, 3), "pads": (1, 0, 1, 1, 0, 0)}),
        ((1, 2, 4, 4), (2, 3, 3, 3), {"strides": (2, 2), "output_shape": (10, 10)})]
CASES = CONVT_CASES + UPSAMPLERS + KEPT[1:]


def _graph(rng, xs, ws, attrs, bias=True):
    g = Graph("convt")
    x = g.add_input("x", TensorType(xs))
    ins = [x, g.add_constant(rng.standard_normal(ws).astype(np.float32), "w")]
    if bias:
        ins.append(g.add_constant(rng.standard_normal(ws[1] * attrs.get("group", 1)).astype(np.float32), "b"))
    (y,) = g.add_node("ConvTranspose", ins, attrs)
    g.add_output(y, "y")
    return g.verify()


@pytest.mark.parametrize("xs,ws,attrs", CASES, ids=lambda v: str(v).replace(" ", ""))
@pytest.mark.parametrize("bias", [False, True])
def test_same_outputs(rng, xs, ws, attrs, bias):
    g = _graph(rng, xs, ws, attrs, bias)
    out = optimize(g, passes=["decompose_conv_transpose"])
    assert_equivalent(g, out, rtol=1e-4, atol=1e-4)
    assert PROPERTIES["no_decomposable_conv_transpose"](out)
    ops = [n.op for n in out.nodes()]
    kept = "ConvTranspose" in ops
    if (xs, ws, attrs) in KEPT or (xs, ws, attrs) in UPSAMPLERS:
        assert kept == ((xs, ws, attrs) in KEPT)
    if not kept:
        strides = attrs.get("strides", (1,) * (len(xs) - 2))
        assert ops.count("Conv") == int(np.prod(strides))


def test_an_upsampler_costs_the_same_multiplies(rng):
    """4x4/s2 pad 1: every phase has 2x2 taps, the same products as the ConvTranspose's but
    for the taps in the phase convs' border padding (Conv's FLOPs count those)."""
    from cnnc.passes import graph_flops
    g = _graph(rng, (1, 16, 8, 8), (16, 8, 4, 4), {"strides": (2, 2), "pads": (1, 1, 1, 1)})
    out = optimize(g, passes=["decompose_conv_transpose"])
    assert graph_flops(out) <= 1.05 * graph_flops(g)


def test_a_runtime_weight_stays(rng):
    g = Graph("convt")
    x = g.add_input("x", TensorType((1, 2, 4, 4)))
    w = g.add_input("w", TensorType((2, 3, 2, 2)))
    (y,) = g.add_node("ConvTranspose", [x, w], {"strides": (2, 2)})
    g.add_output(y, "y")
    out = optimize(g.verify(), passes=["decompose_conv_transpose"])
    assert [n.op for n in out.nodes() if n.op not in ("Input", "Constant")] == ["ConvTranspose"]


def test_the_c_target_runs_the_decomposed_upsamplers(rng):
    """The default pipeline decomposes them; the C build of the result (its convs on the
    GEMM plans) gives the reference's outputs of the original ConvTranspose."""
    import cnnc
    for xs, ws, attrs in UPSAMPLERS[:5]:
        g = _graph(rng, xs, ws, attrs)
        out = optimize(g)
        assert "ConvTranspose" not in [n.op for n in out.nodes()]
        feeds = {"x": rng.standard_normal(xs).astype(np.float32)}
        want = cnnc.compile(g).run(feeds)["y"]
        got = cnnc.compile(out, target="c").run(feeds)["y"]
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
