"""The depthwise plan on the C target (cnnc/ops/_c_depthwise.py).

Its grid, which test_c_impls.py runs with the plan forced on Conv and FusedConv for every
--cpu: 1-D and 2-D; strides, dilations, even and asymmetric kernels, SAME and wide pads,
channel multipliers, maps narrower and wider than a vector block, several row chunks, two
images, every epilogue.  Here: threads give bit-identical results, the driver is
sanitizer-clean, the table refuses the plan where it does not apply, and the cost model
takes it for depthwise layers."""
import numpy as np
import pytest
from helpers import cases_graph, check_cases
from test_backend_fused_conv import ACTIVATIONS, _attrs

import cnnc
from cnnc.ir import Graph, KernelRequest, TensorType, get_op
from cnnc.ops import _c_depthwise as dw
from cnnc.ops import _spatial as sp


def _x(rng, shape):
    return rng.standard_normal(shape).astype(np.float32)


#: (input shape, channel multiplier, kernel, window attributes)
GRID = [((1, 3, 9), 1, (3,), {"pads": (1, 1)}),
        ((2, 2, 17), 2, (4,), {"auto_pad": "SAME_UPPER", "strides": (3,)}),
        ((1, 4, 8, 8), 1, (3, 3), {"pads": (1, 1, 1, 1)}),
        ((2, 3, 7, 9), 2, (3, 3), {"pads": (1, 1, 1, 1), "strides": (2, 2)}),
        ((1, 2, 11, 10), 1, (3, 3), {"pads": (2, 2, 2, 2), "dilations": (2, 2)}),
        ((1, 5, 5, 4), 1, (5, 5), {"pads": (2, 2, 2, 2)}),
        ((1, 2, 9, 12), 3, (2, 4), {"auto_pad": "SAME_LOWER", "strides": (2, 3)}),
        ((1, 2, 13, 40), 1, (3, 1), {"pads": (0, 0, 2, 0), "strides": (1, 2)}),
        ((1, 3, 1, 1), 1, (3, 3), {"pads": (1, 1, 1, 1)}),
        ((1, 2, 70, 75), 1, (3, 3), {"pads": (1, 1, 1, 1)}),            # several row chunks
        ((1, 6, 6, 6), 1, (3, 3), {"auto_pad": "VALID"})]


def _weight(rng, c, mult, k):
    return (rng.standard_normal((c * mult, 1, *k)) / np.sqrt(np.prod(k))).astype(np.float32)


def grid_cases(rng, op):
    out = []
    for i, (xs, mult, k, window) in enumerate(GRID):
        c = xs[1]
        w, b = _weight(rng, c, mult, k), _x(rng, c * mult)
        attrs = {**window, "group": c}
        if op == "Conv":
            out.append((_x(rng, xs), [("Conv", [w], attrs), ("Conv", [w, b], attrs)]))
            continue
        ys = (xs[0], c * mult) + tuple(_out(xs, k, window))
        nodes = [("FusedConv", [w, b] + ([_x(rng, ys)] if res else []), {**_attrs(window, act, res), "group": c})
                 for j, act in enumerate(ACTIVATIONS) for res in (None, "pre", "post")
                 if (i + j) % 3 == 0 or res is None]
        out.append((_x(rng, xs), nodes))
    return out


def _out(xs, k, window):
    nd = len(k)
    s = window.get("strides", (1,) * nd)
    d = window.get("dilations", (1,) * nd)
    pads = sp.resolve_pads(xs[2:], k, s, d, window.get("auto_pad", "NOTSET"), window.get("pads", (0,) * 2 * nd))
    return [sp.output_extent(n, ki, si, di, pads[a], pads[a + nd]) for a, (n, ki, si, di) in enumerate(zip(xs[2:], k, s, d))]


def test_threads_are_bit_identical(rng):
    cases = grid_cases(rng, "FusedConv")
    g, feeds = cases_graph([cases[3], cases[6], cases[9]])
    outs = [cnnc.compile(g, target="c", impl={"FusedConv": "depthwise"}, threads=t).run(feeds) for t in (1, 2, 3)]
    for o in outs[1:]:
        for k in o:
            assert np.array_equal(o[k], outs[0][k]), k


def test_sanitizer_clean(rng, tmp_path):
    check_cases(grid_cases(rng, "FusedConv")[:8], impl={"FusedConv": "depthwise"}, backend="c", tmp_path=tmp_path)


def _request(xs, ws, attrs, w=None, isa=None):
    from cnnc.backends import isa as isas
    g = Graph("r")
    x = g.add_input("x", TensorType(xs))
    wv = g.add_constant(np.ones(ws, np.float32) if w is None else w, "w")
    (y,) = g.add_node("Conv", [x, wv], attrs)
    n = g.nodes()[-1]
    return KernelRequest(n, [g.type_of(x), g.type_of(wv)], list(n.types), [None, g.constant(wv)],
                         isa or isas.resolve("x86-64-v3"), 1)


def test_where_it_applies():
    assert dw.applies(_request((1, 4, 9, 9), (4, 1, 3, 3), {"group": 4, "pads": (1, 1, 1, 1)}))
    assert dw.applies(_request((1, 4, 9), (8, 1, 5), {"group": 4}))
    for xs, ws, attrs in [((1, 4, 9, 9), (4, 2, 3, 3), {"group": 2}),          # two channels a group
                          ((1, 4, 9, 9), (4, 4, 3, 3), {}),
                          ((1, 2, 5, 5, 5), (2, 1, 3, 3, 3), {"group": 2}),   # 3-D
                          ((1, 2, 30, 30), (2, 1, 9, 9), {"group": 2})]:      # more taps than it unrolls
        assert not dw.applies(_request(xs, ws, attrs)), (xs, ws, attrs)
    w = np.ones((2, 1, 3, 3), np.float32)
    w[0, 0, 0, 0] = np.inf                  # padding would be multiplied by it
    assert not dw.applies(_request((1, 2, 5, 5), (2, 1, 3, 3), {"group": 2, "pads": (1, 1, 1, 1)}, w))
    assert dw.applies(_request((1, 2, 5, 5), (2, 1, 3, 3), {"group": 2}, w))


def test_the_cost_model_takes_it_for_depthwise_layers():
    from cnnc.backends.codegen import _choose
    table = get_op("Conv").kernels["c"]
    for xs, s in (((1, 144, 56, 56), 1), ((1, 96, 112, 112), 2), ((1, 960, 7, 7), 1)):
        req = _request(xs, (xs[1], 1, 3, 3), {"group": xs[1], "pads": (1, 1, 1, 1), "strides": (s, s)})
        assert _choose(table, req, None, portable_only=False).name == "depthwise", xs
