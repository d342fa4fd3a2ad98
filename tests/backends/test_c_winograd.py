"""Winograd F(2x2, 3x3) and F(4x4, 3x3) on the C target (cnnc/ops/_c_winograd.py): the
transform matrices satisfy the convolution identity, each plan agrees with the float64
reference over a grid of its own (pads, partial tiles, several tile blocks, reduction
blocks, row splits over workers, every epilogue) with the plan forced, its accuracy stays
within the figure the README states, threads give bit-identical results, the driver is
sanitizer-clean, and the table refuses it where it does not apply."""
import numpy as np
import pytest
from helpers import cases_graph, check_cases
from test_backend_fused_conv import ACTIVATIONS, _attrs

import cnnc
from cnnc.ir import Graph, KernelRequest, TensorType, get_op
from cnnc.ops import _c_winograd as wino

IMPLS = ["winograd_f2", "winograd_f4"]
#: the largest error relative to the output's largest magnitude, per plan (README)
ACCURACY = {"winograd_f2": 1e-6, "winograd_f4": 2e-5}


def _w(rng, shape):
    """Weights scaled by 1/sqrt(fan-in): outputs of about unit size."""
    return (rng.standard_normal(shape) / np.sqrt(np.prod(shape[1:]))).astype(np.float32)


def _x(rng, shape):
    return rng.standard_normal(shape).astype(np.float32)


#: (input shape, output channels, pads): a plane smaller than one tile, partial tiles on
#: both axes, asymmetric and wide pads, two images, C past the reduction block (KC),
#: M not a multiple of the row block, and enough tiles for several tile blocks
#: (tests/backends/test_c_impls.py runs it on Conv and FusedConv for every --cpu)
GRID = [((1, 1, 1, 1), 1, (1, 1, 1, 1)), ((1, 3, 7, 9), 5, (1, 1, 1, 1)), ((2, 4, 6, 5), 3, (0, 0, 0, 0)),
        ((1, 5, 9, 10), 17, (0, 1, 2, 0)), ((1, 2, 8, 8), 4, (2, 2, 2, 2)), ((1, 300, 6, 7), 9, (1, 1, 1, 1)),
        ((1, 3, 150, 151), 2, (1, 1, 1, 1))]


def grid_cases(rng, op):
    out = []
    for i, (xs, m, pads) in enumerate(GRID):
        w, b = _w(rng, (m, xs[1], 3, 3)), _x(rng, m)
        window = {"pads": pads}
        if op == "Conv":
            out.append((_x(rng, xs), [("Conv", [w], window), ("Conv", [w, b], window)]))
            continue
        ys = (xs[0], m, xs[2] + pads[0] + pads[2] - 2, xs[3] + pads[1] + pads[3] - 2)
        acts = list(ACTIVATIONS)
        nodes = [("FusedConv", [w, b] + ([_x(rng, ys)] if res else []), _attrs(window, act, res))
                 for j, act in enumerate(acts) for res in (None, "pre", "post") if (i + j) % 3 == 0 or res is None]
        out.append((_x(rng, xs), nodes))
    return out


def test_the_matrices_compute_a_correlation(rng):
    for m in (2, 4):
        bt, g, at = wino.matrices(m)
        d, f = rng.standard_normal((m + 2, m + 2)), rng.standard_normal((3, 3))
        got = at @ ((g @ f @ g.T) * (bt @ d @ bt.T)) @ at.T
        want = [[np.sum(d[i:i + 3, j:j + 3] * f) for j in range(m)] for i in range(m)]
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("impl", IMPLS)
def test_accuracy(rng, impl):
    """The stated accuracy on layers of real sizes: 64 to 256 channels, unit-size outputs."""
    worst = 0.0
    for c, m, hw in ((64, 64, 56), (256, 256, 14), (128, 32, 28)):
        g = Graph("acc")
        x = g.add_input("x", TensorType((1, c, hw, hw)))
        (y,) = g.add_node("Conv", [x, g.add_constant(_w(rng, (m, c, 3, 3)), "w")], {"pads": (1, 1, 1, 1)})
        g.add_output(y, "y")
        feeds = {"x": _x(rng, (1, c, hw, hw))}
        want = cnnc.compile(g).run(feeds)["y"]
        got = cnnc.compile(g, target="c", impl={"Conv": impl}).run(feeds)["y"]
        worst = max(worst, float(np.abs(got - want).max() / np.abs(want).max()))
    assert worst < ACCURACY[impl], worst


@pytest.mark.parametrize("impl", IMPLS)
def test_threads_are_bit_identical(rng, impl):
    """Tile blocks and row splits over 1, 2 and 3 workers give the same bits."""
    cases = grid_cases(rng, "FusedConv")
    g, feeds = cases_graph([cases[3], cases[5], cases[6]])
    outs = [cnnc.compile(g, target="c", impl={"FusedConv": impl}, threads=t).run(feeds) for t in (1, 2, 3)]
    for o in outs[1:]:
        for k in o:
            assert np.array_equal(o[k], outs[0][k]), k


@pytest.mark.parametrize("impl", IMPLS)
def test_sanitizer_clean(rng, tmp_path, impl):
    check_cases(grid_cases(rng, "FusedConv")[:5], impl={"FusedConv": impl}, backend="c", tmp_path=tmp_path,
                rtol=1e-4, atol=1e-4)


def _request(xs, ws, attrs, w=None):
    g = Graph("r")
    x = g.add_input("x", TensorType(xs))
    wv = g.add_constant(np.ones(ws, np.float32) if w is None else w, "w")
    (y,) = g.add_node("Conv", [x, wv], attrs)
    n = g.nodes()[-1]
    return KernelRequest(n, [g.type_of(x), g.type_of(wv)], list(n.types), [None, g.constant(wv)])


def test_where_it_applies():
    assert wino.applies(_request((1, 2, 5, 5), (3, 2, 3, 3), {"pads": (1, 1, 1, 1)}))
    for xs, ws, attrs in [((1, 2, 9, 9), (3, 2, 3, 3), {"strides": (2, 2)}),
                          ((1, 2, 9, 9), (3, 2, 3, 3), {"dilations": (2, 2)}),
                          ((1, 4, 9, 9), (4, 2, 3, 3), {"group": 2}),
                          ((1, 2, 9, 9), (3, 2, 5, 5), {}),
                          ((1, 2, 9), (3, 2, 3), {}),
                          ((1, 2, 5, 5, 5), (3, 2, 3, 3, 3), {})]:
        assert not wino.applies(_request(xs, ws, attrs)), (xs, ws, attrs)
    w = np.ones((3, 2, 3, 3), np.float32)
    w[0, 0, 0, 0] = np.inf                  # the transform would spread it over the plane
    assert not wino.applies(_request((1, 2, 5, 5), (3, 2, 3, 3), {}, w))


def test_the_cost_model_takes_it_for_big_layers_only():
    from cnnc.backends import isa
    from cnnc.backends.codegen import _choose
    table = get_op("Conv").kernels["c"]
    target = isa.resolve("x86-64-v3")

    def pick(xs, m):
        req = _request(xs, (m, xs[1], 3, 3), {"pads": (1, 1, 1, 1)})
        req = KernelRequest(req.node, req.in_types, req.out_types, req.constants, target, 1)
        return _choose(table, req, None, portable_only=False).name

    assert pick((1, 256, 56, 56), 256).startswith("winograd")
    assert not pick((1, 3, 32, 32), 8).startswith("winograd")
