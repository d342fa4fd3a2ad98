"""The TVM CPU target builds for other CPUs than the one running the tests: the Conv and
ConvTranspose attribute grids of tests/ops/test_conv.py (with and without bias) in one
graph, built for each ``-mcpu`` of ``CPUS`` whatever machine this is.  LLVM's code
generation differs per CPU (vector width, cost models): with ``znver3`` its SLP vectorizer
once produced invalid IR for a 1-D SAME_UPPER conv that built fine on AVX-512 machines
(``tvm.LLVM_OPTIONS``).  A build whose ISA this machine has is also run against the
reference."""
import importlib.util
import platform

import numpy as np
import pytest
from helpers import cases_graph
from test_conv import CONV_CASES, CONVT_CASES

import cnnc
from cnnc.backends.isa import host_flags

pytestmark = [
    pytest.mark.skipif(importlib.util.find_spec("tvm") is None,
                       reason="TVM backend tests need Apache TVM: pip install 'cnnc[tvm]'"),
    pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"),
                       reason="the -mcpu grid names x86-64 CPUs; this machine is not x86-64"),
]

#: LLVM CPU -> the /proc/cpuinfo flags a build for it needs to run here
CPUS = {
    "x86-64": (),
    "haswell": ("avx2", "fma"),
    "znver3": ("avx2", "fma"),
    "x86-64-v3": ("avx2", "fma"),
    "skylake-avx512": ("avx512f", "avx512bw", "avx512dq", "avx512vl"),
    "znver4": ("avx512f", "avx512bw", "avx512dq", "avx512vl"),
}


@pytest.fixture(scope="module")
def conv_grid():
    rng = np.random.default_rng(0)
    randn = lambda shape: rng.standard_normal(shape).astype(np.float32)
    cases = []
    for op, grid, out_channels in (("Conv", CONV_CASES, lambda ws, a: ws[0]),
                                   ("ConvTranspose", CONVT_CASES, lambda ws, a: ws[1] * a.get("group", 1))):
        for xs, ws, attrs in grid:
            w, b = randn(ws), randn(out_channels(ws, attrs))
            cases.append((randn(xs), [(op, [w], attrs), (op, [w, b], attrs)]))
    g, feeds = cases_graph(cases)
    return g, feeds, cnnc.compile(g, target="reference").run(feeds)


@pytest.mark.parametrize("cpu", CPUS)
def test_conv_grid_builds_for_cpu(conv_grid, cpu):
    g, feeds, want = conv_grid
    model = cnnc.compile(g, target="tvm", cpu=cpu)
    if not set(CPUS[cpu]) <= host_flags():
        return  # built; this machine cannot run it
    got = model.run(feeds)
    for name, w in want.items():
        np.testing.assert_allclose(got[name], w, rtol=1e-4, atol=1e-5, err_msg=f"{cpu}: {name}")


def test_unknown_cpu_is_a_clear_error(conv_grid):
    with pytest.raises(cnnc.CnncError, match="not a CPU that LLVM knows"):
        cnnc.compile(conv_grid[0], target="tvm", cpu="pentium-9000")
