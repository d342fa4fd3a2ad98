"""TVM lowering of SpatialPyramidPool agrees with the reference over the shapes, levels and
modes of test_c_pyramid_pool.py (those of tests/ops/test_pyramid_pool.py: bins that overlap,
levels finer than the input), float32, float64 and float16, and a NaN (it poisons the max
of every bin holding it); one graph per shape holds every level set and mode."""
import importlib.util

import numpy as np
import pytest
from test_c_pyramid_pool import NODES  # every level set and mode
from test_tvm_global_pool import graph_check

pytestmark = pytest.mark.skipif(importlib.util.find_spec("tvm") is None,
                                reason="TVM backend tests need Apache TVM: pip install 'cnnc[tvm]'")


@pytest.mark.parametrize("xs", [(2, 3, 13), (2, 3, 7, 9), (1, 2, 5, 3, 6), (1, 2, 3, 2)])
def test_spp_tvm(rng, xs):
    graph_check([rng.standard_normal(xs).astype(np.float32)], NODES)


def test_spp_tvm_float64_float16_and_nan(rng):
    x = rng.standard_normal((2, 3, 8, 12))
    x[1, 0, 5, 2] = np.nan
    graph_check([x], NODES, rtol=1e-12, atol=1e-12)
    graph_check([rng.standard_normal((1, 2, 7, 5)).astype(np.float16)], NODES, rtol=1e-2, atol=1e-2)
