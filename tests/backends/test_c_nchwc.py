"""The channel-blocked conv (``BlockedConv``'s ``nchwc`` entry, ``cnnc/ops/_c_nchwc.py``)
over its grid, and the C target with the layout pass: forced, automatic and off."""
from __future__ import annotations

import numpy as np
import pytest
from helpers import check_cases, check_graph

import cnnc
from cnnc.backends import isa
from cnnc.ops.layout import activation_layout, transform, weight_layout

#: (x plain shape, w plain shape, attrs): pointwise, padded and strided 3x3 with tiles that
#: leave a remainder and border columns, dilation, asymmetric pads, 1-D, depthwise 3x3 and
#: 5x5 strided
GRID = [((1, 16, 5, 13), (24, 16, 1, 1), {"kernel_shape": (1, 1)}),
        ((2, 8, 9, 11), (16, 8, 3, 3), {"kernel_shape": (3, 3), "pads": (1, 1, 1, 1)}),
        ((1, 16, 13, 10), (32, 16, 3, 3), {"kernel_shape": (3, 3), "pads": (1, 0, 2, 1), "strides": (2, 2)}),
        ((1, 8, 12, 17), (8, 8, 3, 3), {"kernel_shape": (3, 3), "pads": (2, 2, 2, 2), "dilations": (2, 2)}),
        ((1, 8, 4, 3), (8, 8, 3, 3), {"kernel_shape": (3, 3), "pads": (1, 1, 1, 1)}),
        ((1, 8, 6, 30), (8, 8, 1, 7), {"kernel_shape": (1, 7), "pads": (0, 3, 0, 3)}),
        ((2, 8, 29), (16, 8, 3), {"kernel_shape": (3,), "pads": (1, 1), "strides": (2,)}),
        ((1, 24, 11, 14), (24, 1, 3, 3), {"kernel_shape": (3, 3), "pads": (1, 1, 1, 1), "group": 24}),
        ((1, 16, 14, 15), (16, 1, 5, 5), {"kernel_shape": (5, 5), "pads": (2, 2, 2, 2), "strides": (2, 2),
                                          "group": 16})]
EPILOGUES = [("", None), ("Relu", "pre"), ("Sigmoid", "post"), ("Clip", None), ("HardSwish", "pre"),
             ("LeakyRelu", "post")]
BLOCK = 8


def _randn(rng, shape):
    return rng.standard_normal(shape).astype(np.float32)


def _blocked(a):
    return transform(a, activation_layout(a.ndim), activation_layout(a.ndim, BLOCK))


#: (x plain shape, w plain shape, attrs, X blocked, Y blocked): a plain input of any
#: channels (a stem), a plain result of 20 channels (a partial last block), both
PLAIN_GRID = [((1, 3, 11, 13), (16, 3, 3, 3), {"kernel_shape": (3, 3), "pads": (1, 1, 1, 1), "strides": (2, 2)},
               False, True),
              ((1, 16, 7, 9), (20, 16, 1, 1), {"kernel_shape": (1, 1)}, True, False),
              ((1, 16, 9, 8), (20, 16, 3, 3), {"kernel_shape": (3, 3), "pads": (0, 1, 2, 1)}, True, False),
              ((2, 12, 6, 7), (20, 12, 1, 1), {"kernel_shape": (1, 1)}, False, False),
              ((1, 5, 17), (8, 5, 3), {"kernel_shape": (3,), "pads": (1, 1)}, False, False)]


def _plain_cases(rng, op):
    out = []
    for i, (xs, ws, attrs, xb, yb) in enumerate(PLAIN_GRID):
        x, w, b = _randn(rng, xs), _randn(rng, ws), _randn(rng, ws[0])
        m, padded = ws[0], -(-ws[0] // BLOCK) * BLOCK
        wp = np.pad(w, [(0, padded - m)] + [(0, 0)] * (w.ndim - 1))
        consts = [transform(wp, weight_layout(w.ndim), weight_layout(w.ndim, BLOCK, xb)),
                  np.pad(b, (0, padded - m))]
        y = cnnc.compile(_one(xs, w, b, attrs)).run({"x": x})["y"]
        nodes = []
        for j, (act, res) in enumerate(EPILOGUES[:4]):
            a = {**attrs, "block": BLOCK, "x_blocked": xb, "y_blocked": yb, "out_channels": m, "activation": act}
            if act == "Clip":
                a.update(act_min=-0.5, act_max=0.75)
            z = []
            if res:
                z = [_blocked(_randn(rng, y.shape)) if yb else _randn(rng, y.shape)]
                a["residual"] = res
            nodes.append((op, consts + z, a))
        out.append((_blocked(x) if xb else x, nodes))
    return out


def grid_cases(rng, op="BlockedConv"):
    """BlockedConv nodes over GRID, each epilogue and residual order, NCHW8c operands; and
    over PLAIN_GRID, plain inputs and results."""
    out = _plain_cases(rng, op)
    for i, (xs, ws, attrs) in enumerate(GRID):
        x, w, b = _randn(rng, xs), _randn(rng, ws), _randn(rng, ws[0])
        nodes = []
        for j, (act, res) in enumerate(EPILOGUES):
            if (i + j) % 2 and j:
                continue
            y = cnnc.compile(_one(xs, w, b, attrs)).run({"x": x})["y"]
            a = {**attrs, "block": BLOCK, "activation": act}
            if act == "Clip":
                a.update(act_min=-0.5, act_max=0.75)
            consts = [transform(w, weight_layout(w.ndim), weight_layout(w.ndim, BLOCK, attrs.get("group", 1) == 1)), b]
            if res:
                consts.append(_blocked(_randn(rng, y.shape)))
                a["residual"] = res
            nodes.append((op, consts, a))
        out.append((_blocked(x), nodes))
    return out


def layout_cases(rng):
    """LayoutTransform of activations both ways (both entries of its table apply): 2-D and
    1-D, more than one image, blocks of 4, 8 and 16, maps wider than a step of pixels."""
    out = []
    for shape, block in (((2, 16, 9, 11), 8), ((1, 32, 70), 4), ((1, 32, 5, 3), 16)):
        plain, blocked = activation_layout(len(shape)), activation_layout(len(shape), block)
        x = _randn(rng, shape)
        out.append((x, [("LayoutTransform", [], {"src": plain, "dst": blocked})]))
        out.append((transform(x, plain, blocked), [("LayoutTransform", [], {"src": blocked, "dst": plain})]))
    return out


def _one(xs, w, b, attrs):
    g = cnnc.Graph("one")
    x = g.add_input("x", cnnc.TensorType(xs))
    (y,) = g.add_node("Conv", [x, g.add_constant(w), g.add_constant(b)], attrs)
    g.add_output(y, "y")
    return g


def test_the_grid_on_an_avx2_build(rng):
    """The grid's blocks of 8 are one AVX2 vector (``test_c_impls`` runs it on native too)."""
    if not isa.runs_here(isa.resolve("x86-64-v3")):
        pytest.skip("this CPU cannot run an x86-64-v3 (AVX2) build")
    check_cases(grid_cases(rng), cpu="x86-64-v3", backend="c", threads=2)


def _model(seed=0):
    """A MobileNet-like stack: stem (3 channels: stays plain), pointwise, depthwise, a
    residual Add, a channel Concat, a MaxPool (a boundary) and a global pool."""
    import cnnc.dsl as nn
    m = nn.Model("blocky", seed=seed)
    x = m.input("x", (1, 3, 24, 24))
    s = nn.conv(x, 16, 3, stride=2, padding=1, activation="relu")
    y = nn.conv(s, 32, 1, activation="relu")
    y = nn.conv(y, 32, 3, padding=1, groups=32, activation="relu")
    y = nn.add(nn.conv(y, 16, 1), s)
    y = nn.concat([y, nn.conv(y, 16, 3, padding=1, activation="relu")], axis=1)
    y = nn.max_pool(y, 2, stride=2)
    y = nn.conv(y, 32, 3, padding=1, dilation=2, activation="sigmoid")
    m.output(nn.global_avg_pool(y), "y")
    m.output(s, "stem")
    return cnnc.optimize(m.build())


@pytest.mark.parametrize("threads", [1, 2])
def test_a_model_with_the_layout_forced(rng, threads):
    if isa.resolve("native").vector == 0:
        pytest.skip("the blocked conv needs a vector ISA (GNU C vector extensions); generic C99 has none")
    g = _model()
    feeds = {"x": _randn(rng, (1, 3, 24, 24))}
    check_graph(g, feeds, backend="c", layout="nchwc", threads=threads)


def test_blocked_layouts_are_sanitizer_clean(rng, tmp_path):
    """The forced layout's model (plain and blocked inputs and results, partial blocks,
    depthwise, concat) under ASan and UBSan, in the standalone driver."""
    if isa.resolve("native").vector == 0:
        pytest.skip("the blocked conv needs a vector ISA (GNU C vector extensions); generic C99 has none")
    feeds = {"x": _randn(rng, (1, 3, 24, 24))}
    check_graph(_model(2), feeds, tmp_path, backend="c", layout="nchwc", rtol=1e-4, atol=1e-5)


def test_blocked_layouts_build_with_clang(rng):
    import shutil
    if shutil.which("clang") is None:
        pytest.skip("clang is not installed")
    if isa.resolve("native").vector == 0:
        pytest.skip("the blocked conv needs a vector ISA (GNU C vector extensions); generic C99 has none")
    check_graph(_model(3), {"x": _randn(rng, (1, 3, 24, 24))}, cc="clang", backend="c", layout="nchwc",
                rtol=1e-4, atol=1e-5)


def test_threads_give_the_same_bits_with_blocked_layouts(rng):
    if isa.resolve("native").vector == 0:
        pytest.skip("the blocked conv needs a vector ISA (GNU C vector extensions); generic C99 has none")
    g = _model(1)
    feeds = {"x": _randn(rng, (1, 3, 24, 24))}
    outs = [cnnc.compile(g, "c", layout="nchwc", threads=t).run(feeds) for t in (1, 2)]
    for name in outs[0]:
        assert np.array_equal(outs[0][name], outs[1][name]), name


def test_layout_modes_are_checked(rng):
    with pytest.raises(cnnc.CnncError, match="layout must be one of"):
        cnnc.compile(_model(), "c", layout="nhwc")
