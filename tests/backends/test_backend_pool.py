"""The windowed pools (MaxPool, AveragePool, LpPool, LSEPool, WeightedAvgPool) agree with the
reference on every backend of ``helpers.BACKENDS`` over the window grid of
tests/ops/test_pool.py: 1-D/2-D/3-D, strides, dilations, explicit/SAME/VALID/FULL pads,
ceil_mode, count_include_pad; float32 and float64 (float16 on TVM); NaN and -inf.  Every pool
of one window setting is a node of one graph (one compile); on C one graph also runs as the
standalone driver under ASan+UBSan, one is built with clang.  test_cuda_nvcc.py compiles
the CUDA kernels with nvcc."""
import shutil

import numpy as np
import pytest
from helpers import backends, c_sanitize_dir, check_graph, only
from test_pool import CASES as OPS_CASES  # the window grid of tests/ops

from cnnc.ir import Graph, TensorType

POOLS = [("MaxPool", {}), ("AveragePool", {"count_include_pad": 0}),
         ("AveragePool", {"count_include_pad": 1}), ("LpPool", {"p": 1}), ("LpPool", {"p": 2}),
         ("LpPool", {"p": 3}), ("LSEPool", {}), ("WeightedAvgPool", {}),
         ("WeightedAvgPool", {"sigma": 0.7})]

# tests/ops/test_pool.py's CASES and SAME with dilation
CASES = OPS_CASES + [
    ((1, 2, 9), {"kernel_shape": (3,), "dilations": (2,), "auto_pad": "SAME_UPPER"}),
    ((1, 2, 8, 9), {"kernel_shape": (2, 3), "dilations": (3, 2), "strides": (2, 1),
                    "auto_pad": "SAME_LOWER"}),
]
FULL = [((1, 2, 7), (3,)), ((1, 2, 5, 6), (2, 3)), ((1, 1, 4, 3, 5), (2, 2, 3))]


def check_pools(x, attrs, pools=POOLS, *, rtol=1e-5, atol=1e-6, cc=None, sanitize_dir=None, backend="c"):
    """One graph with one node per ``(op, extra attributes)`` of ``pools`` over ``x``: the
    ``backend`` build (on C with ``cc``; given ``sanitize_dir``, also the driver under
    ASan+UBSan) gives the reference's outputs."""
    g = Graph("pools")
    xv = g.add_input("x", TensorType.of(x))
    for i, (op, extra) in enumerate(pools):
        (y,) = g.add_node(op, [xv], {**attrs, **extra}, label=f"{op.lower()}{i}")
        g.add_output(y, f"y{i}")
    check_graph(g, {"x": x}, sanitize_dir, rtol=rtol, atol=atol, cc=cc, backend=backend)


@backends
@pytest.mark.parametrize("xs,attrs", CASES, ids=lambda v: str(v).replace(" ", ""))
def test_pools(backend, rng, xs, attrs):
    check_pools(rng.standard_normal(xs).astype(np.float32), attrs, backend=backend)


@backends
@pytest.mark.parametrize("xs,kernel", FULL)
def test_pools_full_padding(backend, rng, xs, kernel):
    """FULL pads k-1 on both sides: the corner windows hold one tap on the input."""
    check_pools(rng.standard_normal(xs).astype(np.float32), {"kernel_shape": kernel, "auto_pad": "FULL"},
                backend=backend)


@backends
@pytest.mark.parametrize("xs,attrs", [CASES[6], CASES[12], CASES[16]])
def test_pools_float64(backend, rng, xs, attrs):
    check_pools(rng.standard_normal(xs), attrs, rtol=1e-12, atol=1e-13, backend=backend)


@only("tvm")  # float16: TVM's alone
def test_pools_tvm_only_float16(backend, rng):
    xs, attrs = CASES[11]
    check_pools(rng.standard_normal(xs).astype(np.float16), attrs, rtol=2e-2, atol=2e-2, backend=backend)


@backends
def test_pools_special_values(backend, rng):
    """Large values (LSE subtracts the window max), -inf and NaN (max propagates NaN, wherever
    it is in the window), and a window whose taps on the input are all -inf (its max is -inf,
    not the float type's lowest finite value)."""
    x = (1000 + rng.standard_normal((1, 2, 6, 6))).astype(np.float32)
    x[0, 1, 2, 3], x[0, 1, 0, 0] = np.nan, -np.inf
    x[0, 0, 4:, 4:] = -np.inf
    check_pools(x, {"kernel_shape": (3, 3), "pads": (1, 1, 1, 1)},
                [("MaxPool", {}), ("LSEPool", {}), ("AveragePool", {})], backend=backend)


@backends
def test_weighted_average_sigma_limits(backend, rng):
    x = rng.standard_normal((1, 2, 7, 7)).astype(np.float32)
    check_pools(x, {"kernel_shape": (3, 3), "pads": (1, 1, 1, 1), "strides": (2, 2)},
                [("WeightedAvgPool", {"sigma": 1e6}), ("WeightedAvgPool", {"sigma": 0.05})], backend=backend)


@backends
def test_pools_dilated_ceil_3d(backend, rng, tmp_path):
    """A 3-D ceil_mode/dilated window grid with uneven pads; on C under ASan+UBSan too: no
    tap read out of bounds."""
    x = rng.standard_normal((1, 2, 5, 6, 7)).astype(np.float32)
    check_pools(x, {"kernel_shape": (2, 3, 2), "strides": (2, 1, 2), "dilations": (1, 2, 1),
                    "pads": (1, 2, 0, 1, 1, 2), "ceil_mode": 1},
                sanitize_dir=c_sanitize_dir(backend, tmp_path / "gen"), backend=backend)


@only("c")  # the C backend's compiler
def test_pools_c_only_clang(backend, rng):
    if shutil.which("clang") is None:
        pytest.skip("clang is not installed")
    check_pools(rng.standard_normal((1, 2, 7, 8)).astype(np.float32),
                {"kernel_shape": (3, 2), "strides": (2, 3), "pads": (1, 0, 1, 1), "ceil_mode": 1},
                cc="clang", backend=backend)
