"""TVM lowering of the unary math ops and Cast agrees with the reference over the inputs of
test_c_math.py: float32/float64/float16 with IEEE special values, integer Neg/Abs wrapping at the
minimum, every Cast between the dtypes (float to int8/uint8 wrapping like numpy), NaN and
infinities to bool and between floats.  Several nodes share one graph (one build)."""
import importlib.util

import numpy as np
import pytest
from helpers import add, check_graph
from test_c_math import C_DTYPES, DOMAIN, SHAPES, SPECIAL, cast_source

from cnnc.ir import Graph

pytestmark = pytest.mark.skipif(importlib.util.find_spec("tvm") is None,
                                reason="TVM backend tests need Apache TVM: pip install 'cnnc[tvm]'")


TOL = {"float32": (1e-5, 1e-6), "float64": (1e-12, 1e-12), "float16": (1e-3, 1e-3)}


@pytest.mark.parametrize("dtype", list(TOL))
def test_unary_float_tvm(rng, dtype):
    g, feeds = Graph(f"unary_{dtype}"), {}
    for i, (op, dom) in enumerate(DOMAIN.items()):
        x = dom(rng.standard_normal(SHAPES[i % len(SHAPES)]) * 4).astype(dtype)
        x.reshape(-1)[:len(SPECIAL)] = SPECIAL
        add(g, feeds, op, [x])
    rtol, atol = TOL[dtype]
    check_graph(g, feeds, rtol=rtol, atol=atol, backend="tvm")


def test_neg_abs_integers_wrap_tvm(rng):
    g, feeds = Graph("neg_abs_int"), {}
    for dtype in ["int64", "int32", "int8", "uint8"]:
        info = np.iinfo(dtype)
        x = rng.integers(info.min, info.max, (3, 4), dtype=dtype, endpoint=True)
        x.reshape(-1)[:3] = [info.min, info.max, 0]
        if dtype != "uint8":
            add(g, feeds, "Neg", [x])
        add(g, feeds, "Abs", [x])
    check_graph(g, feeds, backend="tvm")


def test_cast_every_pair_tvm(rng):
    g, feeds = Graph("cast_pairs"), {}
    for src in C_DTYPES:
        x = cast_source(rng, src)
        for to in C_DTYPES:
            add(g, feeds, "Cast", [x], {"to": to}, name=f"{src}_to_{to}")
    check_graph(g, feeds, rtol=0, atol=0, backend="tvm")


def test_cast_nan_and_inf_to_bool_and_float_tvm():
    g, feeds = Graph("cast_special"), {}
    x = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-30, 3e38], np.float32)
    for to in ["bool", "float64", "float32", "float16"]:
        add(g, feeds, "Cast", [x], {"to": to}, name=f"to_{to}")
    add(g, feeds, "Cast", [np.array([1e300, -1e300, 1e-300, np.nan])], {"to": "float32"}, name="f64_f32")
    add(g, feeds, "Cast", [np.array([1.5, -2.25, np.inf, 65504], np.float16)], {"to": "float32"}, name="f16_f32")
    check_graph(g, feeds, rtol=0, atol=0, backend="tvm")
