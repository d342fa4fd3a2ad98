"""The Reduce* ops agree with the reference on every backend of ``helpers.BACKENDS``: the
shapes, axes (non-contiguous ones included), keepdims and noop_with_empty_axes of
tests/ops/test_reduce.py, float32, float64 and the integer dtypes (wrapping, truncating Mean
and L2), empty extents, NaN, -inf, large values and long reductions (on CUDA: a block of
threads per row with a shared-memory tree merge where the last axis is reduced, a thread
per kept position otherwise); float16 on TVM.  Each test builds one graph holding every op,
so one compile checks them all; on C some graphs also run as the standalone driver under
ASan+UBSan."""
import numpy as np
import pytest
from helpers import backends, c_sanitize_dir, graph_check, only
from test_reduce import CASES, OPS  # the attribute grids of tests/ops

INT_OPS = [op for op in OPS if op != "ReduceLogSumExp"]


def _attrs(axes, keepdims, noop):
    return {"axes": axes, "keepdims": keepdims, "noop_with_empty_axes": noop}


@backends
@pytest.mark.parametrize("shape,axes,keepdims,noop", CASES)
def test_reduce(backend, rng, shape, axes, keepdims, noop):
    """float32, float64 and int64 (small values keep Prod in range; negative ones check
    Mean's truncation toward zero) in one graph."""
    a = _attrs(axes, keepdims, noop)
    inputs = [rng.standard_normal(shape).astype(np.float32), rng.standard_normal(shape),
              rng.integers(-4, 5, shape)]
    nodes = [(op, [0], a) for op in OPS] + [(op, [1], a) for op in OPS]
    nodes += [(op, [2], a) for op in INT_OPS]
    graph_check(inputs, nodes, atol=1e-5, backend=backend)


@backends
def test_reduce_small_integer_dtypes_wrap(backend, rng, tmp_path):
    """int32, int8 and uint8 accumulate in their own width, wrapping as numpy does."""
    a = _attrs((0, 2), 0, 0)
    inputs = [rng.integers(-2**31, 2**31, (3, 2, 5)).astype(np.int32),
              rng.integers(-128, 128, (3, 2, 5)).astype(np.int8),
              rng.integers(0, 256, (3, 2, 5)).astype(np.uint8),
              rng.integers(-2, 3, (3, 2, 5)).astype(np.int8)]   # L2 without wrapping
    nodes = [(op, [i], a) for i in range(3) for op in INT_OPS if op != "ReduceL2"]
    nodes += [("ReduceL2", [3], a), ("ReduceL2", [2], a), ("ReduceL2", [0], {"axes": (1,)})]
    graph_check(inputs, nodes, sanitize_in=c_sanitize_dir(backend, tmp_path), backend=backend)


@backends
def test_reduce_empty_extent(backend):
    """Reducing nothing gives each reduction's identity (NaN for Mean, -inf for LogSumExp,
    the dtype's extremes for Max/Min); an empty result is an empty output."""
    x, xi = np.zeros((0, 3), np.float32), np.zeros((0, 3), np.int64)
    a = _attrs((0,), 0, 0)
    nodes = [(op, [0], a) for op in OPS] + [(op, [1], a) for op in INT_OPS]
    nodes += [(op, [0], _attrs((1,), 1, 0)) for op in ("ReduceSum", "ReduceMax")]
    graph_check([x, xi], nodes, backend=backend)


@backends
def test_reduce_special_values(backend, rng, tmp_path):
    """LogSumExp of ±1000 and -inf rows stays finite as in the reference; NaN propagates
    through Max/Min wherever it is (and through the merge of lanes and their tail: 69 = 8 x 8
    + 5, or CUDA's tree merge);
    Max of a row of -inf is -inf; a long float32 sum (accumulated in double, over lanes; on
    CUDA one block, double partial sums) and kept inner blocks longer than one chunk (600 =
    3 x 200; 257 = 256 + 1; on CUDA a thread each); rows of 1001 (odd: 8 lanes and a tail
    of 1; on CUDA a tree without lanes, a block each)."""
    big = (rng.standard_normal((2, 3, 4)) * 10 + np.array([1000, -1000, 0])[:, None]).astype(np.float32)
    big[0, 0, 0] = -np.inf
    big[1, 2, :] = -np.inf
    nan = rng.standard_normal((4, 69)).astype(np.float32)
    nan[1, 37], nan[2, 0], nan[3, 66] = np.nan, np.nan, np.nan
    long_ = (rng.standard_normal(100_000) + 3).astype(np.float32)
    wide = rng.standard_normal((3, 5, 600)).astype(np.float32)
    ragged = rng.standard_normal((2, 3, 257)).astype(np.float32)
    odd = (rng.standard_normal((3, 1001)) + 1).astype(np.float32)
    nodes = [("ReduceLogSumExp", [0], {"axes": (2,)}), ("ReduceLogSumExp", [0], {"axes": (0, 2)}),
             ("ReduceMax", [0], {"axes": (2,)}), ("ReduceMin", [0], {"axes": (2,)}),
             ("ReduceMax", [1], {"axes": (1,)}), ("ReduceMin", [1], {"axes": (1,)}),
             ("ReduceMin", [1], {"axes": (0,)}),
             ("ReduceLogSumExp", [1], {"axes": (1,)}), ("ReduceProd", [1], {"axes": (1,)}),
             ("ReduceSum", [2], {}), ("ReduceMean", [2], {}), ("ReduceL2", [2], {}),
             ("ReduceLogSumExp", [3], {"axes": (1,)}), ("ReduceMax", [3], {"axes": (0, 1)}),
             ("ReduceMean", [3], {"axes": (1,), "keepdims": 0}),
             ("ReduceMax", [4], {"axes": (0, 1)}), ("ReduceL2", [4], {"axes": (1,)})]
    nodes += [(op, [5], {"axes": (1,)}) for op in OPS if op != "ReduceProd"]
    graph_check([big, nan, long_, wide, ragged, odd], nodes, rtol=1e-5, atol=1e-5,
                sanitize_in=c_sanitize_dir(backend, tmp_path), backend=backend)


@only("tvm")  # float16: TVM's alone
def test_reduce_tvm_only_float16(backend, rng):
    x = rng.standard_normal((3, 4)).astype(np.float16)
    graph_check([x], [(op, [0], {"axes": (1,)}) for op in OPS], rtol=2e-3, atol=2e-3, backend=backend)
