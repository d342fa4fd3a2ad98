"""C kernels of Identity and Dropout (a copy, skipped when the memory plan made the result a
view of its operand) agree with the reference in every C dtype, as graph outputs (a real
copy) and in the middle of a chain of views (the same buffer)."""
import numpy as np

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



DTYPES = ["float32", "float64", "int64", "int32", "int8", "uint8", "bool"]
SHAPES = [(5,), (2, 3), (2, 3, 4), (1, 2, 3, 4, 5)]


def test_identity_every_dtype(rng, tmp_path):
    g, feeds = Graph("identity"), {}
    for dtype in DTYPES:
        for shape in SHAPES:
            add(g, feeds, "Identity", [(rng.standard_normal(shape) * 10).astype(dtype)])
    add(g, feeds, "Identity", [np.arange(6.0).reshape(2, 3)], const=(0,), name="of_constant")
    check_graph(g, feeds, tmp_path)


def test_dropout_is_a_copy(rng):
    g, feeds = Graph("dropout"), {}
    for shape in [(7,), (2, 3, 5), (2, 3, 4, 4)]:
        for attrs in [{}, {"ratio": 0.3, "seed": 7}]:
            add(g, feeds, "Dropout", [rng.standard_normal(shape).astype(np.float32)], attrs)
    add(g, feeds, "Dropout", [rng.standard_normal((3, 4))], name="f64")
    check_graph(g, feeds)


def test_views_inside_a_graph(rng, tmp_path):
    """Identity/Dropout between kernels share their operand's buffer (no copy); a view that
    is also a graph output is copied into the caller's buffer."""
    g = Graph("views")
    x = rng.standard_normal((2, 3, 4)).astype(np.float32)
    (v,) = g.add_node("Relu", [g.add_input("x", TensorType.of(x))])
    (v,) = g.add_node("Identity", [v])
    (w,) = g.add_node("Dropout", [v])
    g.add_output(w, "dropped")
    (v,) = g.add_node("Neg", [w])
    (v,) = g.add_node("Identity", [v])
    (v,) = g.add_node("Abs", [v])
    g.add_output(v, "y")
    check_graph(g, {"x": x}, tmp_path)
