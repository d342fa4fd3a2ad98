"""Identity and Dropout (on C a copy, skipped when the memory plan made the result a view of
its operand; on TVM the operand itself) agree with the reference on every backend of
``helpers.BACKENDS`` in every dtype, as graph outputs (a real copy), of a constant, and in
the middle of a chain of views (the same buffer)."""
import numpy as np
from helpers import add, backends, c_sanitize_dir, check_graph

from cnnc.ir import Graph, TensorType

DTYPES = ["float32", "float64", "int64", "int32", "int8", "uint8", "bool"]
SHAPES = [(5,), (2, 3), (2, 3, 4), (1, 2, 3, 4, 5)]


@backends
def test_identity_every_dtype(backend, rng, tmp_path):
    g, feeds = Graph("identity"), {}
    for dtype in DTYPES:
        for shape in SHAPES:
            add(g, feeds, "Identity", [(rng.standard_normal(shape) * 10).astype(dtype)])
    add(g, feeds, "Identity", [np.arange(6.0).reshape(2, 3)], const=(0,), name="of_constant")
    check_graph(g, feeds, c_sanitize_dir(backend, tmp_path), backend=backend)


@backends
def test_dropout_is_a_copy(backend, rng):
    g, feeds = Graph("dropout"), {}
    for shape in [(7,), (2, 3, 5), (2, 3, 4, 4)]:
        for attrs in [{}, {"ratio": 0.3, "seed": 7}]:
            add(g, feeds, "Dropout", [rng.standard_normal(shape).astype(np.float32)], attrs)
    add(g, feeds, "Dropout", [rng.standard_normal((3, 4))], name="f64")
    check_graph(g, feeds, backend=backend)


@backends
def test_views_inside_a_graph(backend, rng, tmp_path):
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
    check_graph(g, {"x": x}, c_sanitize_dir(backend, tmp_path), backend=backend)
