"""TVM lowering of the activations agrees with the reference over the cases of
test_c_activation.py, float32 (with saturating ends, NaN, infinities and tiny values, where
tanh/expm1/log1p-based activations lose digits if computed naively) and float64, and PRelu
with broadcast slopes.  All cases of one dtype are nodes of one graph (one build)."""
import importlib.util

import numpy as np
import pytest
from helpers import add, check_graph
from test_c_activation import CASES

from cnnc.ir import Graph

pytestmark = pytest.mark.skipif(importlib.util.find_spec("tvm") is None,
                                reason="TVM backend tests need Apache TVM: pip install 'cnnc[tvm]'")

SPECIAL = [-90.0, 90.0, 0.0, -0.0, 1e-6, -1e-6, 3e-4, -3e-4, np.inf, -np.inf, np.nan]


def ill_conditioned(op, attrs):
    """Gelu-tanh's ``1 + tanh(z)`` cancels for negative inputs: the reference's own error
    there is about ``|x| * eps`` in absolute terms, so it is compared with that tolerance."""
    return op == "Gelu" and attrs.get("approximate") == "tanh"


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_activations_tvm(rng, dtype):
    """Every case but Gelu-tanh to a relative tolerance alone (no atol): tiny inputs check
    that tanh, expm1 (Elu, Selu) and log1p (Softplus, Mish) keep their digits."""
    eps = 1e-5 if dtype == "float32" else 1e-12
    for part in (False, True):
        g, feeds = Graph(f"activations_{dtype}"), {}
        for i, (op, attrs) in enumerate(CASES):
            if ill_conditioned(op, attrs) == part:
                x = (rng.standard_normal((2, 3, 5)) * 4).astype(dtype)
                x.reshape(-1)[:len(SPECIAL)] = SPECIAL
                add(g, feeds, op, [x], attrs, name=f"{op.lower()}{i}")
        check_graph(g, feeds, rtol=eps, atol=eps / 10 if part else 0, backend="tvm")


def test_activations_tvm_float16(rng):
    """float16 computes in float32 and rounds once, where numpy rounds each step of the
    reference: a few float16 ulps apart."""
    g, feeds = Graph("activations_float16"), {}
    for i, (op, attrs) in enumerate(CASES):
        x = (rng.standard_normal((2, 3, 5)) * 4).astype(np.float16)
        x.reshape(-1)[:len(SPECIAL)] = SPECIAL
        add(g, feeds, op, [x], attrs, name=f"{op.lower()}{i}")
    check_graph(g, feeds, rtol=4e-3, atol=1e-3, backend="tvm")


@pytest.mark.parametrize("xs,ss", [((2, 3, 4, 4), (3, 1, 1)), ((2, 3, 4), (1,)), ((5, 3), (3,))])
def test_prelu_tvm(rng, xs, ss):
    g, feeds = Graph("prelu"), {}
    x = rng.standard_normal(xs).astype(np.float32)
    x.reshape(-1)[:4] = [0.0, -0.0, np.nan, -np.inf]
    slope = rng.standard_normal(ss).astype(np.float32)
    add(g, feeds, "PRelu", [x, slope], const=[1])
    add(g, feeds, "PRelu", [x, slope], name="runtime_slope")
    check_graph(g, feeds, backend="tvm")
