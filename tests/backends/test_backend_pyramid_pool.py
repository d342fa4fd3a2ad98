"""SpatialPyramidPool agrees with the reference on every backend of ``helpers.BACKENDS``
over the shapes, levels and modes of tests/ops/test_pyramid_pool.py (bins that overlap,
levels finer than the input), float32 and float64, a NaN (it poisons the max of every bin
holding it); float16 on TVM.  One graph per shape holds every level set and mode (on C the
float64 one also runs as the standalone driver under ASan+UBSan)."""
import numpy as np
import pytest
from helpers import backends, c_sanitize_dir, graph_check, only

NODES = [("SpatialPyramidPool", [0], {"mode": mode} | ({"levels": levels} if levels else {}))
         for levels in (None, (1, 2, 4), (3,), (1, 3, 6)) for mode in ("max", "avg")]


@backends
@pytest.mark.parametrize("xs", [(2, 3, 13), (2, 3, 7, 9), (1, 2, 5, 3, 6), (1, 2, 3, 2)])
def test_spp(backend, rng, xs):
    graph_check([rng.standard_normal(xs).astype(np.float32)], NODES, backend=backend)


@backends
def test_spp_float64_and_nan(backend, rng, tmp_path):
    x = rng.standard_normal((2, 3, 8, 12))
    x[1, 0, 5, 2] = np.nan
    graph_check([x], NODES, rtol=1e-12, atol=1e-12, sanitize_in=c_sanitize_dir(backend, tmp_path),
                backend=backend)


@only("tvm")  # float16: TVM's alone
def test_spp_tvm_only_float16(backend, rng):
    graph_check([rng.standard_normal((1, 2, 7, 5)).astype(np.float16)], NODES, rtol=1e-2, atol=1e-2,
                backend=backend)
