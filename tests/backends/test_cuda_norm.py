"""CUDA kernels of BatchNormalization (constant parameters folded: channel_affine;
run-time ones: elementwise), InstanceNormalization, LayerNormalization (with its
Mean/InvStdDev outputs) and GroupNormalization (a block of threads per row, tree sums in
double), run by the CPU emulator (no GPU), agree with the reference over test_c_norm.py's
cases; each op's grid is one graph (one build)."""
import numpy as np
from test_c_norm import SHAPES, _bn_params, _vec
from test_c_reduce import graph_check

LAYER_CASES = [((4, 10), -1, (10,), (10,)), ((2, 5, 8), -1, (8,), (1,)), ((2, 5, 8), 1, (5, 8), (5, 8)),
               ((2, 5, 8), 1, (1, 8), (5, 1)), ((2, 3, 4, 5), -3, (3, 4, 5), (4, 1)),
               ((2, 3, 4, 5), 0, (2, 3, 4, 5), (5,)), ((1, 2, 3, 4, 5), 2, (3, 4, 5), (3, 4, 5)),
               ((2, 700), -1, (700,), (700,))]


def test_batch_norm_cuda_emu(rng):
    """Per shape: operands as graph inputs and the same values as Constants (folded); a
    float64 one and a float32 input with float64 parameters."""
    inputs, nodes, const = [], [], []
    for shape in SHAPES:
        k, params = len(inputs), _bn_params(rng, shape[1])
        inputs += [rng.standard_normal(shape).astype(np.float32), *params, *params]
        const += range(k + 5, k + 9)
        nodes += [("BatchNormalization", [k + i for i in ops], attrs)
                  for ops in ([0, 1, 2, 3, 4], [0, 5, 6, 7, 8]) for attrs in ({}, {"epsilon": 1e-3})]
    k, p64 = len(inputs), _bn_params(rng, 4, np.float64)
    inputs += [rng.standard_normal((2, 4, 3)), *p64, *p64, rng.standard_normal((2, 4, 3)).astype(np.float32)]
    const += range(k + 5, k + 9)
    nodes += [("BatchNormalization", [k + i for i in ops], {})
              for ops in ([0, 1, 2, 3, 4], [0, 5, 6, 7, 8], [9, 1, 2, 3, 4], [9, 5, 6, 7, 8])]
    graph_check(inputs, nodes, const=const, rtol=1e-5, atol=1e-6, backend="cuda-emu")


def test_instance_and_group_norm_cuda_emu(rng):
    inputs, nodes, const = [], [], []
    for shape in SHAPES:
        c, k = shape[1], len(inputs)
        inputs += [rng.standard_normal(shape).astype(np.float32), _vec(rng, c), _vec(rng, c)]
        nodes += [("GroupNormalization", [k, k + 1, k + 2], {"num_groups": g, "epsilon": eps})
                  for g in (1, 2, 3, 6) for eps in (1e-5, 1e-2)]
        if len(shape) > 2:
            inputs += inputs[k + 1:k + 3]
            const += [k + 3, k + 4]
            nodes += [("InstanceNormalization", [k, k + 1, k + 2], a) for a in ({}, {"epsilon": 1e-2})]
            nodes.append(("InstanceNormalization", [k, k + 3, k + 4], {}))
    graph_check(inputs, nodes, const=const, atol=1e-5, backend="cuda-emu")


def test_layer_norm_cuda_emu(rng):
    """test_c_norm.py's cases (Scale and B broadcast differently) and a 700-element row
    (several elements per thread); Mean/InvStdDev outputs; a large offset with a small
    spread (the statistics are double); float64."""
    inputs, nodes = [], []
    for shape, axis, scale_shape, bias_shape in LAYER_CASES:
        k = len(inputs)
        inputs += [rng.standard_normal(shape).astype(np.float32), rng.standard_normal(scale_shape).astype(np.float32),
                   rng.standard_normal(bias_shape).astype(np.float32)]
        nodes += [("LayerNormalization", [k + i for i in ops], {"axis": axis, "epsilon": eps})
                  for ops in ([0, 1], [0, 1, 2]) for eps in (1e-5, 1e-2)]
        nodes.append(("LayerNormalization", [k, k + 1, k + 2], {"axis": axis, "stats_outputs": 1}))
    k = len(inputs)
    inputs += [(1e4 + rng.standard_normal((2, 3, 64))).astype(np.float32), np.ones(64, np.float32),
               np.zeros(64, np.float32)]
    nodes.append(("LayerNormalization", [k, k + 1, k + 2], {"stats_outputs": 1}))
    graph_check(inputs, nodes, const=(k + 1, k + 2), rtol=1e-5, atol=1e-5, backend="cuda-emu")
    graph_check([rng.standard_normal((3, 4, 5)), rng.standard_normal((4, 5))],
                [("LayerNormalization", [0, 1], {"axis": 1, "stats_outputs": 1})],
                rtol=1e-12, atol=1e-12, backend="cuda-emu")
