"""Conv and ConvTranspose agree with the reference on every backend of ``helpers.BACKENDS``
over the attribute sets of tests/ops/test_conv.py (1-D/2-D/3-D, strides, dilations, groups,
every padding mode, output_padding, output_shape), with and without bias, float32 and
float64 (float16 on TVM): the C kernels' blocked interior, the TVM lowering (Relax
conv1d/2d/3d; ConvTranspose a Conv over the stride-dilated input with the regrouped,
flipped weight), and the CUDA kernels (templates/cuda/kernels/conv_igemm.cu.j2, conv_direct.cu.j2 and
conv_transpose.cu.j2, as ops/_cuda_conv.py chooses them: the implicit GEMM with several tiles in every GEMM dimension, partial
tiles, double sums beyond LONG_REDUCTION; the direct kernel for depthwise and channel
multipliers) run by the CPU emulator (backend "cuda-emu": the generated .cu built with g++
and runtime/cnnc_cuda_emu.h -- NOT a GPU run).  On CUDA alone: TF32 (its accuracy bound),
and nvcc compiling every conv-family and GEMM variant for sm_80 and sm_90 with warnings as
errors.  The nodes of one input shape share one compiled graph (``helpers.check_nodes``).
test_backend_local_conv.py and test_backend_fused_conv.py test the rest of the family."""
import numpy as np
import pytest
from helpers import backends, cases_graph, check_nodes, only
from test_backend_local_conv import local_case
from test_conv import CONV_CASES, CONVT_CASES  # the attribute grids of tests/ops

import cnnc
from cnnc.backends import cuda


def _randn(rng, shape, dtype=np.float32):
    return rng.standard_normal(shape).astype(dtype)


def conv_case(rng, xs, ws, attrs):
    """A Conv case of tests/ops with and without bias: ``(x, nodes)``."""
    w, b = _randn(rng, ws), _randn(rng, ws[0])
    return _randn(rng, xs), [("Conv", [w], attrs), ("Conv", [w, b], attrs)]


FULL_CASES = [((1, 2, 6), (3, 2, 3)), ((1, 2, 5, 6), (3, 2, 3, 2)), ((1, 1, 4, 4, 4), (2, 1, 2, 3, 3))]


def full_padding_case(rng, xs, ws):
    """auto_pad FULL with dilation and with stride: ``(x, nodes)``."""
    nd = len(xs) - 2
    return _randn(rng, xs), [("Conv", [_randn(rng, ws)], {"auto_pad": "FULL", "dilations": (2,) * nd}),
                             ("Conv", [_randn(rng, ws)], {"auto_pad": "FULL", "strides": (2,) * nd})]


@backends
@pytest.mark.parametrize("xs,ws,attrs", CONV_CASES)
def test_conv(backend, rng, xs, ws, attrs):
    check_nodes(*conv_case(rng, xs, ws, attrs), backend=backend)


@backends
@pytest.mark.parametrize("xs,ws", FULL_CASES)
def test_conv_full_padding(backend, rng, xs, ws):
    check_nodes(*full_padding_case(rng, xs, ws), backend=backend)


@backends
def test_conv_combined_and_long_reduction(backend, rng):
    """Depthwise with dilation, stride and asymmetric pads at once; pads larger than the
    kernel reach (rows of pure padding); 256 channels x 3x3 (2304 terms: double sums)."""
    x = _randn(rng, (1, 256, 7, 6))
    check_nodes(x, [
        ("Conv", [_randn(rng, (256, 1, 3, 3)), _randn(rng, 256)],
         {"group": 256, "strides": (2, 3), "dilations": (2, 1), "pads": (2, 0, 1, 3)}),
        ("Conv", [_randn(rng, (8, 64, 2, 3))],
         {"group": 4, "strides": (3, 2), "dilations": (1, 2), "pads": (4, 1, 0, 5)}),
        ("Conv", [_randn(rng, (4, 256, 3, 3)), _randn(rng, 4)], {"pads": (1, 1, 1, 1)}),
    ], rtol=1e-4, atol=1e-4, backend=backend)


@backends
def test_conv_tiles_and_groups(backend, rng):
    """GEMM dimensions spanning several of the CUDA kernel's 64x64x16 tiles with partial
    last tiles (rows 2*13*11 pixels, 70 and 65 channels per group, K 360 and 60); grouped
    with stride, dilation and asymmetric pads larger than the kernel's reach; depthwise with
    a channel multiplier and dilation; 1x1."""
    x = _randn(rng, (2, 40, 13, 11))
    check_nodes(x, [("Conv", [_randn(rng, (70, 40, 3, 3)), _randn(rng, 70)], {"pads": (1, 1, 1, 1)}),
                    ("Conv", [_randn(rng, (130, 20, 1, 3))], {"group": 2, "strides": (2, 1), "dilations": (1, 2),
                                                             "pads": (4, 2, 1, 5)}),
                    ("Conv", [_randn(rng, (80, 1, 3, 3))], {"group": 40, "dilations": (2, 1), "pads": (2, 0, 1, 3)}),
                    ("Conv", [_randn(rng, (24, 40, 1, 1))], {})], rtol=2e-4, atol=2e-4, backend=backend)


@backends
@pytest.mark.parametrize("xs,wide", [((2, 4, 45), 1), ((1, 4, 5, 30), 2), ((1, 4, 3, 4, 27), 3)])
def test_conv_wide_rows(backend, rng, xs, wide):
    """Rows wide enough for the C kernels' blocked interior (8 columns at once) beside border
    columns (or none): unit and larger strides, dilation, asymmetric pads, groups,
    depthwise."""
    nd = len(xs) - 2
    one, k = (1,) * nd, (1,) * (nd - 1) + (3,)
    pads = lambda b, e: (0,) * (nd - 1) + (b,) + (0,) * (nd - 1) + (e,)
    check_nodes(_randn(rng, xs), [
        ("Conv", [_randn(rng, (5, 4, *k)), _randn(rng, 5)], {"pads": pads(2, 1)}),
        ("Conv", [_randn(rng, (6, 2, *k))], {"group": 2, "strides": (1,) * (nd - 1) + (2,),
                                             "dilations": (1,) * (nd - 1) + (3,), "pads": pads(0, 4)}),
        ("Conv", [_randn(rng, (4, 1, *(3,) * nd)), _randn(rng, 4)], {"group": 4, "auto_pad": "SAME_UPPER"}),
        ("Conv", [_randn(rng, (3, 4, *(2,) * nd))], {"strides": (3,) * nd, "auto_pad": "SAME_LOWER"}),
        ("Conv", [_randn(rng, (3, 4, *one))], {}),
        ("Conv", [_randn(rng, (3, 4, *one[1:], 7))], {}),   # 2-D: 24 columns, all blocked
    ], backend=backend)


@backends
@pytest.mark.parametrize("xs,ws,attrs", CONVT_CASES)
def test_conv_transpose(backend, rng, xs, ws, attrs):
    w, b = _randn(rng, ws), _randn(rng, ws[1] * attrs.get("group", 1))
    check_nodes(_randn(rng, xs), [("ConvTranspose", [w], attrs), ("ConvTranspose", [w, b], attrs)],
                backend=backend)


@backends
def test_conv_transpose_output_shape_and_padding(backend, rng):
    """output_shape beyond the natural extent (negative pads: outputs no input reaches),
    below it (cropping), odd SAME totals, dilation with output_padding, groups."""
    x = _randn(rng, (1, 4, 4, 5))
    w = _randn(rng, (4, 2, 3, 3))
    check_nodes(x, [
        ("ConvTranspose", [w], {"strides": (2, 2), "output_shape": (11, 12)}),
        ("ConvTranspose", [w, _randn(rng, 2)], {"strides": (1, 2), "output_shape": (7, 13)}),
        ("ConvTranspose", [w], {"strides": (2, 3), "output_shape": (7, 10)}),
        ("ConvTranspose", [w], {"strides": (3, 2), "auto_pad": "SAME_LOWER", "dilations": (2, 1)}),
        ("ConvTranspose", [w, _randn(rng, 4)], {"strides": (3, 2), "dilations": (2, 2), "group": 2,
                                                "output_padding": (1, 1), "pads": (2, 0, 1, 3)}),
    ], backend=backend)


@backends
def test_conv_transpose_cropped_and_wide_output_padding(backend, rng):
    """output_padding >= stride (ONNX allows it below the dilation), pads beyond the kernel's
    reach (the result cropped); 1-D and 3-D with output_padding and output_shape."""
    w = _randn(rng, (4, 2, 3, 3))
    check_nodes(_randn(rng, (1, 4, 4, 5)), [
        ("ConvTranspose", [w], {"dilations": (2, 3), "output_padding": (1, 2)}),
        ("ConvTranspose", [w], {"pads": (3, 1, 2, 3)}),
    ], backend=backend)
    check_nodes(_randn(rng, (2, 3, 5)), [
        ("ConvTranspose", [_randn(rng, (3, 2, 4))], {"strides": (3,), "output_padding": (2,), "pads": (1, 2)}),
        ("ConvTranspose", [_randn(rng, (3, 4, 2)), _randn(rng, 12)], {"group": 3, "strides": (2,),
                                                                     "output_shape": (13,)}),
    ], backend=backend)
    check_nodes(_randn(rng, (1, 2, 3, 2, 3)), [
        ("ConvTranspose", [_randn(rng, (2, 2, 2, 3, 2))], {"strides": (2, 1, 3), "dilations": (1, 2, 1),
                                                           "output_padding": (1, 1, 2), "pads": (0, 1, 1, 1, 0, 2)}),
        ("ConvTranspose", [_randn(rng, (2, 1, 3, 3, 3)), _randn(rng, 2)],
         {"group": 2, "strides": (2, 2, 2), "auto_pad": "SAME_UPPER"}),
    ], backend=backend)


@backends
def test_conv_float64(backend, rng):
    x = _randn(rng, (2, 4, 7, 19), np.float64)
    check_nodes(x, [
        ("Conv", [_randn(rng, (6, 2, 3, 2), np.float64), _randn(rng, 6, np.float64)],
         {"group": 2, "strides": (2, 1), "dilations": (1, 2), "pads": (1, 0, 2, 1)}),
        ("Conv", [_randn(rng, (4, 1, 3, 3), np.float64)], {"group": 4, "auto_pad": "SAME_LOWER"}),
        ("ConvTranspose", [_randn(rng, (4, 3, 2, 3), np.float64), _randn(rng, 3, np.float64)],
         {"strides": (2, 3), "pads": (0, 1, 1, 0), "output_padding": (1, 0)}),
    ], rtol=1e-12, atol=1e-12, backend=backend)


@only("tvm")  # float16: TVM's alone
def test_conv_tvm_only_float16(backend, rng):
    x = _randn(rng, (1, 4, 6, 5), np.float16)
    check_nodes(x, [
        ("Conv", [_randn(rng, (3, 4, 3, 3), np.float16), _randn(rng, 3, np.float16)], {"pads": (1, 1, 1, 1)}),
        ("ConvTranspose", [_randn(rng, (4, 2, 2, 2), np.float16)], {"strides": (2, 2)}),
    ], rtol=1e-2, atol=2e-2, backend=backend)


#: TF32 bound: max |y_tf32 - y| / max |y| over an output.  Each operand is rounded to 10
#: mantissa bits (relative error <= 2^-11), so each product is off by <= ~2^-10 of its size;
#: measured 5.2e-4 at most over the conv grid (the per-element error of outputs with |y| >=
#: 10% of the output's max: <= 3.2e-3).  fp32 on the same grid: <= 2.3e-7.
TF32_BOUND = 1e-3


@only("cuda-emu")  # precision="tf32": the CUDA backend's option
def test_conv_cuda_only_tf32_accuracy(backend, rng):
    """precision="tf32": GEMM operands rounded to TF32 (the emulator's software rounding of
    cvt.rna.tf32.f32), fp32 sums.  The error stays within TF32_BOUND of each output's
    magnitude, and is really TF32's (well above fp32's)."""
    grid = [conv_case(rng, *case) for case in CONV_CASES] + [full_padding_case(rng, *case) for case in FULL_CASES]
    g, feeds = cases_graph(grid + [(_randn(rng, (1, 64, 16, 16)),
                                    [("Conv", [_randn(rng, (64, 64, 3, 3))], {"pads": (1, 1, 1, 1)})])])
    want = cnnc.compile(g).run(feeds)
    got = cnnc.compile(g, target="cuda", emulate=True, precision="tf32").run(feeds)
    errs = {name: float(np.max(np.abs(got[name] - w)) / np.max(np.abs(w))) for name, w in want.items()}
    assert max(errs.values()) < TF32_BOUND, errs
    # the grouped GEMM convs' error is TF32 rounding's, not fp32's (depthwise convs run
    # the direct kernel, which stays fp32)
    assert max(errs.values()) > 1e-5, errs


def kernel_variants(rng):
    """(x, nodes) cases covering every code path of conv_igemm.cu.j2, conv_direct.cu.j2, conv_transpose.cu.j2 and
    gemm.cu.j2 once, with as few tiled-GEMM kernels (nvcc's slow part) as that takes:
    implicit GEMM 2-D with bias, 3-D grouped, float sums in double, float64, the fused
    epilogue with a residual; the direct kernel with every activation (their helpers) and
    residual placement, LocalConv (bias per position), TiledConv; ConvTranspose strided
    and unit-stride; Gemm with transA/transB and C, batched float64 MatMul."""
    from test_local_conv import CASES as LOCAL_CASES
    f64 = np.float64
    x = _randn(rng, (1, 4, 6, 7))
    z = _randn(rng, (1, 4, 6, 7))
    window = {"pads": (1, 1, 1, 1)}
    acts = {"Sigmoid": {}, "Silu": {}, "Tanh": {}, "HardSwish": {}, "LeakyRelu": {"act_alpha": 0.2},
            "HardSigmoid": {"act_alpha": 0.2}, "Clip": {"act_min": -0.5, "act_max": 1.0}, "Relu": {}}
    fused = [("FusedConv", [_randn(rng, (4, 1, 3, 3)), _randn(rng, 4)] + ([z] if i % 3 else []),
              {**window, "group": 4, "activation": act, "residual": ("pre", "post")[i % 2], **extra})
             for i, (act, extra) in enumerate(acts.items())]
    fused.append(("FusedConv", [_randn(rng, (4, 4, 3, 3)), _randn(rng, 4), z],
                  {**window, "activation": "Silu", "residual": "pre"}))
    cases = [(_randn(rng, xs), [("Conv", [_randn(rng, ws), _randn(rng, ws[0])], attrs)])
             for xs, ws, attrs in (CONV_CASES[i] for i in (3, 11))]
    cases += [local_case(rng, *LOCAL_CASES[0]), (x, fused)]
    cases += [
        (_randn(rng, (1, 256, 5, 4)), [("Conv", [_randn(rng, (4, 256, 3, 3))], window)]),
        (_randn(rng, (1, 4, 7, 9), f64), [("Conv", [_randn(rng, (6, 2, 3, 2), f64)], {"group": 2}),
                                          ("ConvTranspose", [_randn(rng, (4, 3, 2, 3), f64)], {"dilations": (2, 1)})]),
        (_randn(rng, CONVT_CASES[3][0]), [("ConvTranspose", [_randn(rng, CONVT_CASES[3][1]), _randn(rng, 3)],
                                           CONVT_CASES[3][2])]),
        (_randn(rng, (5, 3)), [("Gemm", [_randn(rng, (4, 5)), _randn(rng, (1, 4))],
                                {"transA": 1, "transB": 1, "alpha": 0.5, "beta": 2.0})]),
        (_randn(rng, (2, 1, 3, 4), f64), [("MatMul", [_randn(rng, (5, 4, 6), f64)], {})]),
    ]
    return cases


@only("cuda-emu")  # nvcc: the CUDA backend's compiler
@pytest.mark.skipif(cuda.nvcc_path() is None,
                    reason="compiling the generated CUDA needs nvcc (the CUDA toolkit); no GPU is needed")
def test_conv_and_gemm_kernels_cuda_only_nvcc_sm80_sm90(backend, rng, tmp_path):
    """Every code path of the conv-family and GEMM templates compiles with nvcc for sm_80
    and sm_90, warnings as errors, with precision "tf32" (which adds cvt.rna.tf32.f32 to
    the fp32 build's code).  The tests above run each path under the emulator."""
    g, _ = cases_graph(kernel_variants(rng))
    cuda.nvcc_check(cuda.generate(g, tmp_path / "gen", precision="tf32"))
