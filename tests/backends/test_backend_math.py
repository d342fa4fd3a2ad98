"""The unary math ops and Cast agree with the reference on every backend of
``helpers.BACKENDS``: float32/float64 with IEEE special values, integer Neg/Abs wrapping at
the minimum, every Cast between the dtypes (float to int8/uint8 wrapping like numpy), NaN
and infinities to bool and between floats; float16 on TVM.  Several nodes share one graph
(one compile); on C one build per test also runs as the standalone driver under
ASan+UBSan."""
import numpy as np
import pytest
from helpers import add, backend_params, backends, c_sanitize_dir, check_graph, only

from cnnc.ir import Graph

DOMAIN = {
    "Sqrt": np.abs, "Exp": lambda x: x, "Log": lambda x: np.abs(x) + 0.01, "Erf": lambda x: x,
    "Neg": lambda x: x, "Abs": lambda x: x,
    "Reciprocal": lambda x: np.sign(x) * (np.abs(x) + 0.1),
    "Floor": lambda x: 3 * x, "Ceil": lambda x: 3 * x,
}
SHAPES = [(7,), (3, 5), (2, 3, 4), (1, 2, 3, 4)]
SPECIAL = [0.0, -0.0, np.inf, -np.inf, np.nan, -1.5, 2.5]   # Log(-1.5), Sqrt(-1.5) are NaN
TOL = {"float32": (1e-5, 1e-6), "float64": (1e-12, 1e-12), "float16": (1e-3, 1e-3)}


# float16: TVM's alone
@pytest.mark.parametrize("backend,dtype", backend_params("dtype", ["float32", "float64"])
                         + backend_params("dtype", ["float16"], "tvm"))
def test_unary_float(backend, rng, tmp_path, dtype):
    g, feeds = Graph(f"unary_{dtype}"), {}
    for i, (op, dom) in enumerate(DOMAIN.items()):
        x = dom(rng.standard_normal(SHAPES[i % len(SHAPES)]) * 4).astype(dtype)
        x.reshape(-1)[:len(SPECIAL)] = SPECIAL
        add(g, feeds, op, [x])
    rtol, atol = TOL[dtype]
    check_graph(g, feeds, c_sanitize_dir(backend, tmp_path) if dtype == "float32" else None,
                rtol=rtol, atol=atol, backend=backend)


@backends
def test_neg_abs_integers_wrap(backend, rng, tmp_path):
    g, feeds = Graph("neg_abs_int"), {}
    for dtype in ["int64", "int32", "int8", "uint8"]:
        info = np.iinfo(dtype)
        x = rng.integers(info.min, info.max, (3, 4), dtype=dtype, endpoint=True)
        x.reshape(-1)[:3] = [info.min, info.max, 0]
        if dtype != "uint8":
            add(g, feeds, "Neg", [x])
        add(g, feeds, "Abs", [x])
    check_graph(g, feeds, c_sanitize_dir(backend, tmp_path), backend=backend)


C_DTYPES = ["float32", "float64", "int64", "int32", "int8", "uint8", "bool"]


def cast_source(rng, dtype):
    if dtype == "bool":
        return rng.random((2, 3, 4)) < 0.5
    if dtype in ("float32", "float64"):
        # fractions of both signs inside the int32 range (outside it float -> int is
        # undefined); int8/uint8 targets wrap like numpy
        x = (rng.standard_normal((2, 3, 4)) * 150).astype(dtype)
        x.reshape(-1)[:6] = [0.0, -0.0, 0.5, -0.5, 255.9, -128.9]
        return x
    info = np.iinfo(dtype)
    x = rng.integers(info.min, info.max, (2, 3, 4), dtype=dtype, endpoint=True)
    x.reshape(-1)[:4] = [0, 1, info.min, info.max]
    return x


@backends
def test_cast_every_pair(backend, rng, tmp_path):
    g, feeds = Graph("cast_pairs"), {}
    for src in C_DTYPES:
        x = cast_source(rng, src)
        for to in C_DTYPES:
            add(g, feeds, "Cast", [x], {"to": to}, name=f"{src}_to_{to}")
    check_graph(g, feeds, c_sanitize_dir(backend, tmp_path), rtol=0, atol=0, backend=backend)


CAST_SPECIAL = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-30, 3e38], np.float32)


@backends
def test_cast_nan_and_inf_to_bool_and_float(backend):
    g, feeds = Graph("cast_special"), {}
    for to in ["bool", "float64", "float32"]:
        add(g, feeds, "Cast", [CAST_SPECIAL], {"to": to}, name=f"to_{to}")
    add(g, feeds, "Cast", [np.array([1e300, -1e300, 1e-300, np.nan])], {"to": "float32"}, name="f64_f32")
    check_graph(g, feeds, rtol=0, atol=0, backend=backend)


@only("tvm")  # float16: TVM's alone
def test_cast_tvm_only_float16_nan_and_inf(backend):
    g, feeds = Graph("cast_special"), {}
    add(g, feeds, "Cast", [CAST_SPECIAL], {"to": "float16"}, name="to_float16")
    add(g, feeds, "Cast", [np.array([1.5, -2.25, np.inf, 65504], np.float16)], {"to": "float32"}, name="f16_f32")
    check_graph(g, feeds, rtol=0, atol=0, backend=backend)
