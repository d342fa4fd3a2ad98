"""The activations agree with the reference on every backend of ``helpers.BACKENDS``:
float32 with saturating ends and float64, PRelu with broadcast slopes (constant and
run-time, with signed zeros, NaN and -inf); on TVM also NaN, infinities and tiny values
(where tanh/expm1/log1p-based activations lose digits if computed naively) and float16."""
import numpy as np
import pytest
from helpers import add, backend_check, backends, check_graph, only

from cnnc.ir import Graph

CASES = [("Relu", {}), ("LeakyRelu", {"alpha": 0.2}), ("Elu", {"alpha": 0.7}), ("Selu", {}),
         ("Sigmoid", {}), ("HardSigmoid", {"alpha": 0.3, "beta": 0.4}), ("HardSwish", {}),
         ("Silu", {}), ("Tanh", {}), ("Softplus", {}), ("Softsign", {}), ("Mish", {}),
         ("Gelu", {}), ("Gelu", {"approximate": "tanh"}), ("Clip", {"min": -0.5, "max": 2.0}),
         ("Clip", {"min": 0.0}), ("Clip", {})]

SPECIAL = [-90.0, 90.0, 0.0, -0.0, 1e-6, -1e-6, 3e-4, -3e-4, np.inf, -np.inf, np.nan]


@backends
@pytest.mark.parametrize("op,attrs", CASES)
def test_activation(backend, rng, op, attrs):
    x = (rng.standard_normal((2, 3, 5)) * 4).astype(np.float32)
    x[0, 0, :3] = [-90.0, 90.0, 0.0]   # saturating ends
    backend_check(op, [x], attrs, rtol=1e-5, atol=1e-6, backend=backend)


@backends
@pytest.mark.parametrize("op", ["Relu", "Sigmoid", "Gelu", "Softplus"])
def test_activation_float64(backend, rng, op):
    backend_check(op, [rng.standard_normal((4, 7))], {}, rtol=1e-12, atol=1e-12, backend=backend)


def ill_conditioned(op, attrs):
    """Gelu-tanh's ``1 + tanh(z)`` cancels for negative inputs: the reference's own error
    there is about ``|x| * eps`` in absolute terms, so it is compared with that tolerance."""
    return op == "Gelu" and attrs.get("approximate") == "tanh"


# TVM alone: the C and CUDA kernels of Relu, HardSigmoid and Clip map NaN to a bound (0,
# the min) where the reference keeps NaN, and their float32 Gelu (erf) is off by more than
# 1e-5 relative in the far negative tail (|y| < 1e-3), which this test checks without atol
@only("tvm")
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_activations_tvm_only_special_values(backend, rng, dtype):
    """Every case but Gelu-tanh to a relative tolerance alone (no atol): tiny inputs check
    that tanh, expm1 (Elu, Selu) and log1p (Softplus, Mish) keep their digits.  All cases
    of one dtype are nodes of one graph (one build)."""
    eps = 1e-5 if dtype == "float32" else 1e-12
    for part in (False, True):
        g, feeds = Graph(f"activations_{dtype}"), {}
        for i, (op, attrs) in enumerate(CASES):
            if ill_conditioned(op, attrs) == part:
                x = (rng.standard_normal((2, 3, 5)) * 4).astype(dtype)
                x.reshape(-1)[:len(SPECIAL)] = SPECIAL
                add(g, feeds, op, [x], attrs, name=f"{op.lower()}{i}")
        check_graph(g, feeds, rtol=eps, atol=eps / 10 if part else 0, backend=backend)


@only("tvm")  # float16: TVM's alone
def test_activations_tvm_only_float16(backend, rng):
    """float16 computes in float32 and rounds once, where numpy rounds each step of the
    reference: a few float16 ulps apart."""
    g, feeds = Graph("activations_float16"), {}
    for i, (op, attrs) in enumerate(CASES):
        x = (rng.standard_normal((2, 3, 5)) * 4).astype(np.float16)
        x.reshape(-1)[:len(SPECIAL)] = SPECIAL
        add(g, feeds, op, [x], attrs, name=f"{op.lower()}{i}")
    check_graph(g, feeds, rtol=4e-3, atol=1e-3, backend=backend)


@backends
@pytest.mark.parametrize("xs,ss", [((2, 3, 4, 4), (3, 1, 1)), ((2, 3, 4), (1,)), ((5, 3), (3,))])
def test_prelu(backend, rng, xs, ss):
    """Broadcast slopes, a Constant and a run-time input, over signed zeros, NaN and -inf."""
    g, feeds = Graph("prelu"), {}
    x = rng.standard_normal(xs).astype(np.float32)
    x.reshape(-1)[:4] = [0.0, -0.0, np.nan, -np.inf]
    slope = rng.standard_normal(ss).astype(np.float32)
    add(g, feeds, "PRelu", [x, slope], const=[1])
    add(g, feeds, "PRelu", [x, slope], name="runtime_slope")
    check_graph(g, feeds, backend=backend)
