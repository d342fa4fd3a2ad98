"""CUDA kernels of the Reduce* ops, run by the CPU emulator (no GPU), agree with the
reference: the whole grid of tests/ops/test_reduce.py (shapes, axes -- non-contiguous ones
included --, keepdims, noop_with_empty_axes) over float32, float64 and int64 in one graph;
the small integer dtypes (wrapping), empty extents, NaN, large values and long reductions
(a block of threads per row with a shared-memory tree merge where the last axis is
reduced, a thread per kept position otherwise)."""
import numpy as np
from test_c_reduce import INT_OPS, graph_check
from test_reduce import CASES, OPS  # the attribute grids of tests/ops


def _attrs(axes, keepdims, noop):
    return {"axes": axes, "keepdims": keepdims, "noop_with_empty_axes": noop}


def test_reduce_cuda_emu(rng):
    inputs, nodes = [], []
    for shape, axes, keepdims, noop in CASES:
        a, k = _attrs(axes, keepdims, noop), len(inputs)
        inputs += [rng.standard_normal(shape).astype(np.float32), rng.standard_normal(shape),
                   rng.integers(-4, 5, shape)]
        nodes += [(op, [k], a) for op in OPS] + [(op, [k + 1], a) for op in OPS]
        nodes += [(op, [k + 2], a) for op in INT_OPS]
    graph_check(inputs, nodes, atol=1e-5, backend="cuda-emu")


def test_reduce_cuda_emu_small_integer_dtypes_and_empty_extents(rng):
    """int32, int8 and uint8 accumulate in their own width, wrapping as numpy does;
    reducing nothing gives each reduction's identity, an empty result an empty output."""
    a = _attrs((0, 2), 0, 0)
    inputs = [rng.integers(-2**31, 2**31, (3, 2, 5)).astype(np.int32),
              rng.integers(-128, 128, (3, 2, 5)).astype(np.int8),
              rng.integers(0, 256, (3, 2, 5)).astype(np.uint8),
              rng.integers(-2, 3, (3, 2, 5)).astype(np.int8),
              np.zeros((0, 3), np.float32), np.zeros((0, 3), np.int64)]
    nodes = [(op, [i], a) for i in range(3) for op in INT_OPS if op != "ReduceL2"]
    nodes += [("ReduceL2", [3], a), ("ReduceL2", [2], a), ("ReduceL2", [0], {"axes": (1,)})]
    e = _attrs((0,), 0, 0)
    nodes += [(op, [4], e) for op in OPS] + [(op, [5], e) for op in INT_OPS]
    nodes += [(op, [4], _attrs((1,), 1, 0)) for op in ("ReduceSum", "ReduceMax")]
    graph_check(inputs, nodes, backend="cuda-emu")


def test_reduce_cuda_emu_special_values(rng):
    """test_c_reduce.py's special values: LogSumExp of ±1000 and -inf rows; NaN through
    Max/Min and the tree merge; a 100000-element float32 sum (one block, double partial
    sums); kept inner blocks of 600 and 257 positions (a thread each); rows of 1001 (odd:
    no lanes, a block each)."""
    big = (rng.standard_normal((2, 3, 4)) * 10 + np.array([1000, -1000, 0])[:, None]).astype(np.float32)
    big[0, 0, 0] = -np.inf
    big[1, 2, :] = -np.inf
    nan = rng.standard_normal((3, 64)).astype(np.float32)
    nan[1, 37] = np.nan
    long_ = (rng.standard_normal(100_000) + 3).astype(np.float32)
    wide = rng.standard_normal((3, 5, 600)).astype(np.float32)
    ragged = rng.standard_normal((2, 3, 257)).astype(np.float32)
    odd = (rng.standard_normal((3, 1001)) + 1).astype(np.float32)     # a tree without lanes
    nodes = [("ReduceLogSumExp", [0], {"axes": (2,)}), ("ReduceLogSumExp", [0], {"axes": (0, 2)}),
             ("ReduceMax", [1], {"axes": (1,)}), ("ReduceMin", [1], {"axes": (0,)}),
             ("ReduceLogSumExp", [1], {"axes": (1,)}), ("ReduceProd", [1], {"axes": (1,)}),
             ("ReduceSum", [2], {}), ("ReduceMean", [2], {}), ("ReduceL2", [2], {}),
             ("ReduceLogSumExp", [3], {"axes": (1,)}), ("ReduceMax", [3], {"axes": (0, 1)}),
             ("ReduceMean", [3], {"axes": (1,), "keepdims": 0}),
             ("ReduceMax", [4], {"axes": (0, 1)}), ("ReduceL2", [4], {"axes": (1,)})]
    nodes += [(op, [5], {"axes": (1,)}) for op in OPS if op != "ReduceProd"]
    graph_check([big, nan, long_, wide, ragged, odd], nodes, rtol=1e-5, atol=1e-5, backend="cuda-emu")
