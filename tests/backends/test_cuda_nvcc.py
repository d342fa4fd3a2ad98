"""The generated CUDA of every kernel template outside the convolution/GEMM family compiles
with nvcc for sm_80 and sm_90, warnings as errors (``cuda.nvcc_check``: no GPU involved).
One graph holds a node for each template branch -- each pool kind and rank, reductions
with and without the block-per-row tree (Softmax, LogSumExp, integer dtypes, an empty
extent), normalizations with statistics outputs, multi-pass and integer Resize, RoI ops in
both modes and float64, MaxUnpool's int and long long claims -- so one nvcc run checks them
all; the emulator tests (test_cuda_<family>.py) check what they compute.  Empty tensors
are checked on both."""
import warnings

import numpy as np
from helpers import add, check_graph, nvcc_check_graph

from cnnc.ir import Graph


def _f32(rng, *shape):
    return rng.standard_normal(shape).astype(np.float32)


def test_kernel_templates_compile_with_nvcc(rng, tmp_path):
    g, feeds = Graph("kernels"), {}
    x = _f32(rng, 2, 4, 6, 5)
    c4 = [np.ones(4, np.float32)] * 3 + [np.full(4, 2.0, np.float32)]
    add(g, feeds, "BatchNormalization", [x, *c4], const=(1, 2, 3, 4))                     # channel_affine
    add(g, feeds, "Concat", [x, np.zeros((2, 0, 6, 5), np.float32), x[:, :1]], {"axis": 1})  # chunks
    add(g, feeds, "Split", [x], {"axis": 2, "num_outputs": 3})
    add(g, feeds, "Max", [x, x[:, :1], x[0, 0, 0]])                                        # elementwise_fold
    add(g, feeds, "Min", [np.arange(6).reshape(2, 3), np.arange(3)])
    add(g, feeds, "Max", [np.float64(1.0), np.float64(2.0)])
    add(g, feeds, "Transpose", [x], {"perm": (0, 2, 3, 1)})                               # gather
    add(g, feeds, "Pad", [x], {"pads": (0, 0, 1, 2, 0, 0, 2, 1), "mode": "constant", "value": 1.5})
    add(g, feeds, "Gather", [x, np.array([3, -1])], {"axis": 1}, const=(1,))
    add(g, feeds, "Gather", [x, np.array([0, -1], np.int32)], {"axis": 2})                 # gather_indices
    add(g, feeds, "Gather", [x.astype(np.int8), np.array([[1], [2]], np.int64)], {"axis": 3})
    for a in ({"size": 3}, {"size": 4, "beta": 0.9}):                                      # lrn
        add(g, feeds, "LRN", [x], a)
    add(g, feeds, "MaxUnpool", [x, rng.permutation(x.size).reshape(x.shape)], {"kernel_shape": (1, 1)})
    add(g, feeds, "MaxUnpool", [x.astype(np.float64), rng.integers(0, 100, x.shape)],      # max_unpool
        {"kernel_shape": (2, 2), "output_shape": (2, 4, 8, 7)})
    add(g, feeds, "InstanceNormalization", [x, c4[0], c4[1]])                              # normalize
    add(g, feeds, "LayerNormalization", [x, _f32(rng, 6, 1), _f32(rng, 5)], {"axis": 2, "stats_outputs": 1})
    add(g, feeds, "GroupNormalization", [x.astype(np.float64), np.ones(4), np.zeros(4)], {"num_groups": 2})
    pools = [("MaxPool", {}), ("AveragePool", {"count_include_pad": 1}), ("LpPool", {"p": 1}),
             ("LpPool", {"p": 2}), ("LpPool", {"p": 3}), ("LSEPool", {}), ("WeightedAvgPool", {})]
    for op, extra in pools:                                                                 # pool
        add(g, feeds, op, [x], {"kernel_shape": (3, 2), "strides": (2, 1), "pads": (1, 0, 1, 1),
                                "dilations": (1, 2), "ceil_mode": 1, **extra})
    add(g, feeds, "MaxPool", [_f32(rng, 1, 2, 9)], {"kernel_shape": (3,)})
    add(g, feeds, "AveragePool", [rng.standard_normal((1, 2, 4, 5, 6))], {"kernel_shape": (2, 2, 2)})
    long_row = _f32(rng, 3, 64)                                                             # reduce
    for op in ["ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL2", "ReduceLogSumExp"]:
        add(g, feeds, op, [long_row], {"axes": (1,)})
        add(g, feeds, op, [x], {"axes": (1, 3)})
    add(g, feeds, "ReduceSum", [x], {"axes": (0,), "keepdims": 0})
    add(g, feeds, "ReduceL2", [rng.integers(-2, 3, (3, 2, 5)).astype(np.int8)], {"axes": (0, 2)})
    add(g, feeds, "ReduceSum", [rng.integers(0, 9, (4, 40)).astype(np.uint8)], {"axes": (1,)})
    add(g, feeds, "ReduceMean", [np.zeros((0, 3), np.float32)], {"axes": (0,)})
    add(g, feeds, "ReduceLogSumExp", [_f32(rng, 2, 1001)], {"axes": (1,)})
    for op in ["Softmax", "LogSoftmax"]:
        add(g, feeds, op, [long_row], {"axis": 1})
        add(g, feeds, op, [x], {"axis": 1})
        add(g, feeds, op, [_f32(rng, 2, 7)], {"axis": -1})
        add(g, feeds, op, [_f32(rng, 2, 1001)], {"axis": -1})
    add(g, feeds, "GlobalAveragePool", [x])
    add(g, feeds, "GlobalMaxPool", [x.astype(np.float64)])
    add(g, feeds, "Resize", [x], {"mode": "linear", "scales": (1.0, 1.0, 2.0, 1.5)})        # resize
    add(g, feeds, "Resize", [rng.standard_normal((1, 1, 6, 4, 8))],
        {"mode": "cubic", "sizes": (3, 5, 12), "axes": (2, 3, 4), "antialias": 1, "extrapolation_value": 0.5,
         "coordinate_transformation_mode": "tf_crop_and_resize", "roi": (0.1, 0.0, 0.2, 0.9, 1.0, 0.8)})
    add(g, feeds, "Resize", [rng.integers(0, 255, (1, 1, 4, 5)).astype(np.uint8)],
        {"mode": "cubic", "scales": (1.0, 1.0, 2.0, 1.5)})
    boxes = np.array([[0.5, 1.0, 3.5, 4.0], [4, 4, 1, 1]], np.float32)                     # roi_align, roi_pool
    idx = np.array([0, 1], np.int64)
    add(g, feeds, "RoiAlign", [x, boxes, idx], {"output_height": 2, "output_width": 3})
    add(g, feeds, "RoiAlign", [x.astype(np.float64), boxes.astype(np.float64), idx],
        {"output_height": 2, "output_width": 2, "mode": "max", "sampling_ratio": 2,
         "coordinate_transformation_mode": "output_half_pixel"})
    rois = np.array([[0, 0.5, 1.0, 3.5, 4.0], [1, 0, 0, 2, 2]], np.float32)
    add(g, feeds, "MaxRoiPool", [x, rois], {"pooled_shape": (2, 2)})
    add(g, feeds, "MaxRoiPool", [x.astype(np.float64), rois.astype(np.float64)], {"pooled_shape": (3, 2)})
    add(g, feeds, "SpatialPyramidPool", [x], {"levels": (1, 2)})                            # spp
    add(g, feeds, "SpatialPyramidPool", [rng.standard_normal((1, 2, 5, 3, 6))], {"mode": "avg", "levels": (1, 2)})
    nvcc_check_graph(g.verify(), tmp_path / "kernels")


def test_empty_tensors_cuda_emu_and_nvcc(rng, tmp_path):
    """Kernels over empty tensors launch nothing (a grid of zero blocks is a CUDA error):
    the emulator gives the reference's (empty or NaN-statistics) outputs, and the launchers
    with nothing to launch compile with nvcc without warnings."""
    g, feeds = Graph("empty"), {}
    e = np.zeros((0, 3, 4, 5), np.float32)
    img = _f32(rng, 1, 3, 4, 5)
    add(g, feeds, "MaxPool", [e], {"kernel_shape": (2, 2)})
    add(g, feeds, "LRN", [e], {"size": 3})
    add(g, feeds, "InstanceNormalization", [e, np.ones(3, np.float32), np.ones(3, np.float32)])
    add(g, feeds, "LayerNormalization", [np.zeros((2, 0), np.float32), np.ones(0, np.float32)],
        {"stats_outputs": 1})
    add(g, feeds, "SpatialPyramidPool", [np.zeros((1, 0, 4, 5), np.float32)])
    add(g, feeds, "Softmax", [e], {"axis": 1})
    add(g, feeds, "ReduceSum", [e], {"axes": (1,)})
    add(g, feeds, "Transpose", [e])
    add(g, feeds, "Gather", [e, np.zeros(0, np.int64)], {"axis": 1})
    add(g, feeds, "Concat", [e, e], {"axis": 1})
    add(g, feeds, "Max", [e, e])
    add(g, feeds, "MaxUnpool", [e, np.zeros(e.shape, np.int64)], {"kernel_shape": (2, 2), "strides": (2, 2)})
    add(g, feeds, "RoiAlign", [img, np.zeros((0, 4), np.float32), np.zeros(0, np.int64)])
    add(g, feeds, "MaxRoiPool", [img, np.zeros((0, 5), np.float32)], {"pooled_shape": (2, 2)})
    add(g, feeds, "BatchNormalization", [e, *[np.ones(3, np.float32)] * 4], const=(1, 2, 3, 4))
    g.verify()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)      # numpy's mean of an empty slice
        check_graph(g, feeds, backend="cuda-emu")
    nvcc_check_graph(g, tmp_path / "empty")
