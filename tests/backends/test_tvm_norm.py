"""TVM lowerings of BatchNormalization (run-time and constant parameters),
InstanceNormalization, LayerNormalization (with its Mean/InvStdDev outputs) and
GroupNormalization agree with the reference over the cases of tests/backends/test_c_norm.py
(those of tests/ops/test_norm.py), 0-D to 3-D spatial, float32 and float64; statistics are
float64 as in the reference."""
import importlib.util

import numpy as np
import pytest
from test_c_norm import SHAPES, _bn_params, _vec
from test_c_norm import test_layer_norm_c as _layer_norm_grid
from test_tvm_reduce import graph_check

pytestmark = pytest.mark.skipif(importlib.util.find_spec("tvm") is None,
                                reason="TVM backend tests need Apache TVM: pip install 'cnnc[tvm]'")

LAYER_CASES = [m.args for m in _layer_norm_grid.pytestmark if m.name == "parametrize"][0][1]


BN_ATTRS = [{}, {"epsilon": 1e-3, "momentum": 0.5}, {"training_mode": 0}]  # test_c_norm's


def test_batch_norm_tvm(rng):
    """Operands 1-4 are graph inputs, 5-8 the same values as Constants; every shape, the
    attribute variants spread over them (a TVM build costs ~1 s per node)."""
    inputs, nodes = [], []
    for s, shape in enumerate(SHAPES):
        params = _bn_params(rng, shape[1])
        k = len(inputs)
        inputs += [rng.standard_normal(shape).astype(np.float32), *params, *params]
        nodes += [("BatchNormalization", [k + i for i in ops], BN_ATTRS[(s + j) % 3])
                  for j, ops in enumerate(([0, 1, 2, 3, 4], [0, 5, 6, 7, 8]))]
    const = [i for i in range(len(inputs)) if i % 9 >= 5]
    graph_check(inputs, nodes, const=const, atol=1e-5)


def test_batch_norm_tvm_float64_and_mixed_dtypes(rng):
    x64, x32 = rng.standard_normal((2, 4, 3)), rng.standard_normal((2, 4, 3)).astype(np.float32)
    p64 = _bn_params(rng, 4, np.float64)
    inputs = [x64, *p64, *p64, x32]
    nodes = [("BatchNormalization", [0, 1, 2, 3, 4], {}), ("BatchNormalization", [0, 5, 6, 7, 8], {}),
             ("BatchNormalization", [9, 1, 2, 3, 4], {}), ("BatchNormalization", [9, 5, 6, 7, 8], {})]
    graph_check(inputs, nodes, const=(5, 6, 7, 8), rtol=1e-7, atol=1e-12)


def test_instance_and_group_norm_tvm(rng):
    """Every shape; the C tests' num_groups (1, 2, 3, 6) x epsilon grid spread over them."""
    inputs, nodes = [], []
    groups = [(g, eps) for g in (1, 2, 3, 6) for eps in (1e-5, 1e-2)]
    for s, shape in enumerate(SHAPES):
        c, k = shape[1], len(inputs)
        inputs += [rng.standard_normal(shape).astype(np.float32), _vec(rng, c), _vec(rng, c)]
        if len(shape) > 2:
            nodes.append(("InstanceNormalization", [k, k + 1, k + 2], {"epsilon": (1e-5, 1e-2)[s % 2]}))
        nodes += [("GroupNormalization", [k, k + 1, k + 2], {"num_groups": g, "epsilon": eps})
                  for g, eps in groups[2 * s:2 * s + 2]]
    graph_check(inputs, nodes, const=(1, 2), atol=1e-5)


def test_layer_norm_tvm(rng):
    """Every case of the C tests; without and with B, both epsilons and the statistics
    outputs spread over them."""
    inputs, nodes = [], []
    for c, (shape, axis, scale_shape, bias_shape) in enumerate(LAYER_CASES):
        k = len(inputs)
        inputs += [rng.standard_normal(shape).astype(np.float32),
                   rng.standard_normal(scale_shape).astype(np.float32),
                   rng.standard_normal(bias_shape).astype(np.float32)]
        ops = [k, k + 1] if c % 3 == 0 else [k, k + 1, k + 2]
        nodes.append(("LayerNormalization", ops, {"axis": axis, "epsilon": (1e-5, 1e-2)[c % 2],
                                                  "stats_outputs": int(c % 3 == 1)}))
    graph_check(inputs, nodes, atol=1e-5)


def test_layer_norm_tvm_statistics_are_float64(rng):
    """A large offset with a small spread (float32 statistics would be off by ~1e-3), and
    float64 in and out."""
    x = (1e4 + rng.standard_normal((2, 3, 64))).astype(np.float32)
    ones, zeros = np.ones(64, np.float32), np.zeros(64, np.float32)
    x64 = rng.standard_normal((3, 4, 5))
    nodes = [("LayerNormalization", [0, 1, 2], {"stats_outputs": 1}),
             ("LayerNormalization", [3, 4], {"axis": 1, "stats_outputs": 1})]
    graph_check([x, ones, zeros, x64, rng.standard_normal((4, 5))], nodes, const=(1, 2), rtol=1e-5, atol=1e-5)


def test_norm_tvm_float16(rng):
    x = rng.standard_normal((2, 4, 3)).astype(np.float16)
    p = [v.astype(np.float16) for v in _bn_params(rng, 4)]
    nodes = [("BatchNormalization", [0, 1, 2, 3, 4], {}), ("InstanceNormalization", [0, 1, 2], {}),
             ("GroupNormalization", [0, 1, 2], {"num_groups": 2}), ("LayerNormalization", [0, 5], {"axis": 1})]
    graph_check([x, *p, rng.standard_normal((4, 3)).astype(np.float16)], nodes, rtol=2e-3, atol=2e-3)
