"""C kernel of Pad agrees exactly with the reference: constant/reflect/edge/wrap over the
cases of tests/ops/test_pad.py, negative pads (cropping), every C dtype with a constant
value cast like the reference's.  One graph per mode (one compile); the cropping build
also runs as the standalone driver under ASan+UBSan."""
import numpy as np
import pytest

import cnnc
from cnnc.backends import c as cb
from cnnc.ir import Graph, TensorType

SANITIZE = ("-fsanitize=address,undefined", "-fno-sanitize-recover=all")


def check_graph(g, feeds, tmp_path=None, rtol=1e-5, atol=1e-6):
    """The C build of ``g`` (and, given ``tmp_path``, its driver under ASan+UBSan) gives the
    reference's outputs; returns the C build's."""
    want = cnnc.compile(g, target="reference").run(feeds)
    runs = [cnnc.compile(g, target="c").run(feeds)]
    if tmp_path is not None:
        exe = cb.build_exe(cb.generate(g, tmp_path / "gen"), flags=("-O1",), sanitize_flags=SANITIZE)
        outs = cb.run_exe(exe, [feeds[n] for n in g.input_types()], list(g.output_types().values()),
                          env={"ASAN_OPTIONS": "detect_leaks=0"})
        runs.append(dict(zip(want, outs)))
    for got in runs:
        for name, w in want.items():
            assert got[name].shape == w.shape and got[name].dtype == w.dtype, name
            if w.dtype.kind == "f":
                np.testing.assert_allclose(got[name], w, rtol=rtol, atol=atol, err_msg=name)
            else:
                np.testing.assert_array_equal(got[name], w, err_msg=name)
    return runs[0]


def add(g, feeds, op, operands, attrs=None, const=(), name=None):
    """Node ``op`` over ``operands`` (new graph inputs; Constants at the indices in
    ``const``), each of its results a graph output."""
    name = name or f"{op.lower()}{len(g.outputs)}"
    vals = []
    for i, a in enumerate(operands):
        if i in const:
            vals.append(g.add_constant(np.asarray(a), f"{name}_c{i}"))
        else:
            feeds[f"{name}_{i}"] = a
            vals.append(g.add_input(f"{name}_{i}", TensorType.of(a)))
    for j, v in enumerate(g.add_node(op, vals, attrs or {})):
        g.add_output(v, f"{name}_out{j}")



MODES = ["constant", "reflect", "edge", "wrap"]
CASES = [((5,), (2, 3), None), ((5,), (0, 4), None), ((3, 4), (1, 2, 2, 1), None),
         ((3, 4), (0, 3, 0, 3), None), ((2, 3, 4, 5), (0, 0, 1, 2, 0, 0, 2, 1), None),
         ((2, 3, 4, 5), (1, 3, 0, 2), (2, -1)), ((1, 2, 3, 4, 5), (1, 1, 2, 1, 0, 2), (2, 3, 4)),
         ((2, 3), (0, 0, 0, 0), None), ((1, 3, 8, 8), (1, 1, 1, 1), (2, 3))]
CROP_CASES = [((6,), (-2, 3)), ((6,), (-1, -2)), ((3, 4), (1, -1, 2, 1)), ((3, 4), (-1, 1, 0, -2)),
              ((3, 6), (-1, 3, 0, -2)), ((3, 5), (0, -2, 0, 1)), ((2, 3, 4, 5), (0, 0, -1, 2, 0, 0, 1, -2))]


@pytest.mark.parametrize("mode", MODES)
def test_pad(rng, mode):
    g, feeds = Graph(f"pad_{mode}"), {}
    for shape, pads, axes in CASES:
        attrs = {"pads": pads, "mode": mode, "value": 1.5 if mode == "constant" else 0.0}
        if axes is not None:
            attrs["axes"] = axes
        add(g, feeds, "Pad", [rng.standard_normal(shape).astype(np.float32)], attrs)
    check_graph(g, feeds, rtol=0, atol=0)


def test_negative_pads_crop(rng, tmp_path):
    g, feeds = Graph("pad_crop"), {}
    for mode in MODES:
        for shape, pads in CROP_CASES:
            add(g, feeds, "Pad", [rng.standard_normal(shape).astype(np.float32)],
                {"pads": pads, "mode": mode})
    check_graph(g, feeds, tmp_path, rtol=0, atol=0)


@pytest.mark.parametrize("dtype,value", [("int64", 7.0), ("int32", -3.7), ("int8", 100.0),
                                         ("uint8", 7.9), ("bool", 0.5), ("float64", -2.25)])
def test_pad_other_dtypes(rng, dtype, value):
    g, feeds = Graph(f"pad_{dtype}"), {}
    x = (rng.standard_normal((2, 3)) * 50).astype(dtype)
    for mode in MODES:
        add(g, feeds, "Pad", [x], {"pads": (1, 0, 0, 2), "mode": mode, "value": value})
    check_graph(g, feeds)
