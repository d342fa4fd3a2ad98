"""CUDA kernels of the conv family (templates/cuda/kernels/conv.cu.j2, conv_transpose.cu.j2)
agree with the reference, run by the CPU emulator (backend "cuda-emu": the generated .cu
built with g++ and runtime/cnnc_cuda_emu.h -- NOT a GPU run), over the attribute grids of
tests/ops (Conv, ConvTranspose, LocalConv/TiledConv) and the extra cases of the C tests:
the implicit GEMM (several tiles in every GEMM dimension, partial tiles, groups, 1-D/2-D/
3-D, every padding mode, double sums beyond LONG_REDUCTION), the direct kernel (depthwise,
channel multiplier, per-position weights), float64, TF32 (its accuracy bound), and nvcc
compiling every variant for sm_80 and sm_90 with warnings as errors.  A whole grid shares
one build (``helpers.check_cases``) to keep the emulated tests fast."""
import numpy as np
import pytest
from helpers import cases_graph, check_cases
from test_conv import CONV_CASES, CONVT_CASES  # the attribute grids of tests/ops
from test_local_conv import CASES as LOCAL_CASES

import cnnc
from cnnc.backends import cuda

EMU = "cuda-emu"


def _randn(rng, shape, dtype=np.float32):
    return rng.standard_normal(shape).astype(dtype)


def _local_out(xs, k, s, p, d):
    nd = len(k)
    return tuple((xs[2 + i] + p[i] + p[nd + i] - d[i] * (k[i] - 1) - 1) // s[i] + 1 for i in range(nd))


def conv_grid(rng):
    """Every Conv case of tests/ops with and without bias, FULL padding, and the C tests'
    combined/wide-row cases: (x, nodes) pairs."""
    cases = []
    for xs, ws, attrs in CONV_CASES:
        w = _randn(rng, ws)
        cases.append((_randn(rng, xs), [("Conv", [w], attrs), ("Conv", [w, _randn(rng, ws[0])], attrs)]))
    for xs, ws in [((1, 2, 6), (3, 2, 3)), ((1, 2, 5, 6), (3, 2, 3, 2)), ((1, 1, 4, 4, 4), (2, 1, 2, 3, 3))]:
        nd = len(xs) - 2
        cases.append((_randn(rng, xs), [("Conv", [_randn(rng, ws)], {"auto_pad": "FULL", "dilations": (2,) * nd}),
                                        ("Conv", [_randn(rng, ws)], {"auto_pad": "FULL", "strides": (2,) * nd})]))
    return cases


def test_conv_cuda_emu_grid(rng):
    check_cases(conv_grid(rng), backend=EMU)


def test_conv_cuda_emu_tiles_groups_and_long_sums(rng):
    """GEMM dimensions spanning several 64x64x16 tiles with partial last tiles (rows 2*13*11
    pixels, 70 and 65 channels per group, K 360 and 60); grouped with stride, dilation and
    asymmetric pads larger than the kernel's reach; depthwise with a channel multiplier
    and dilation; 1x1; 256 channels x 3x3 (2304-term sums: double accumulators)."""
    x = _randn(rng, (2, 40, 13, 11))
    wide = _randn(rng, (1, 256, 7, 6))
    check_cases([
        (x, [("Conv", [_randn(rng, (70, 40, 3, 3)), _randn(rng, 70)], {"pads": (1, 1, 1, 1)}),
             ("Conv", [_randn(rng, (130, 20, 1, 3))], {"group": 2, "strides": (2, 1), "dilations": (1, 2),
                                                      "pads": (4, 2, 1, 5)}),
             ("Conv", [_randn(rng, (80, 1, 3, 3))], {"group": 40, "dilations": (2, 1), "pads": (2, 0, 1, 3)}),
             ("Conv", [_randn(rng, (24, 40, 1, 1))], {})]),
        (wide, [("Conv", [_randn(rng, (4, 256, 3, 3)), _randn(rng, 4)], {"pads": (1, 1, 1, 1)}),
                ("Conv", [_randn(rng, (256, 1, 3, 3)), _randn(rng, 256)],
                 {"group": 256, "strides": (2, 3), "dilations": (2, 1), "pads": (2, 0, 1, 3)})]),
    ], rtol=2e-4, atol=2e-4)


def test_conv_transpose_cuda_emu_grid(rng):
    """Every ConvTranspose case of tests/ops with and without bias, and output_shape beyond
    the natural extent (negative pads), below it, SAME_LOWER with dilation, groups."""
    cases = []
    for xs, ws, attrs in CONVT_CASES:
        w = _randn(rng, ws)
        b = _randn(rng, ws[1] * attrs.get("group", 1))
        cases.append((_randn(rng, xs), [("ConvTranspose", [w], attrs), ("ConvTranspose", [w, b], attrs)]))
    w = _randn(rng, (4, 2, 3, 3))
    cases.append((_randn(rng, (1, 4, 4, 5)), [
        ("ConvTranspose", [w], {"strides": (2, 2), "output_shape": (11, 12)}),
        ("ConvTranspose", [w, _randn(rng, 2)], {"strides": (1, 2), "output_shape": (7, 13)}),
        ("ConvTranspose", [w], {"strides": (2, 3), "output_shape": (7, 10)}),
        ("ConvTranspose", [w], {"strides": (3, 2), "auto_pad": "SAME_LOWER", "dilations": (2, 1)}),
        ("ConvTranspose", [w, _randn(rng, 4)], {"strides": (3, 2), "dilations": (2, 2), "group": 2,
                                                "output_padding": (1, 1), "pads": (2, 0, 1, 3)}),
    ]))
    check_cases(cases, backend=EMU)


def local_grid(rng):
    """LocalConv with and without bias, TiledConv with 1, 2 and 3 tiles per axis, over the
    cases of tests/ops/test_local_conv.py."""
    cases = []
    for xs, m, k, s, p, d in LOCAL_CASES:
        nd, out = len(k), _local_out(xs, k, s, p, d)
        attrs = {"strides": s, "pads": p, "dilations": d}
        w = _randn(rng, (*out, m, xs[1], *k))
        nodes = [("LocalConv", [w], attrs), ("LocalConv", [w, _randn(rng, (m, *out))], attrs)]
        nodes += [("TiledConv", [_randn(rng, ((t,) * nd) + (m, xs[1], *k)), _randn(rng, m)], attrs)
                  for t in (1, 2, 3)]
        cases.append((_randn(rng, xs), nodes))
    return cases


def test_local_and_tiled_conv_cuda_emu(rng):
    check_cases(local_grid(rng), backend=EMU)


def test_conv_family_cuda_emu_float64(rng):
    x = _randn(rng, (2, 4, 7, 19), np.float64)
    xl = _randn(rng, (2, 3, 5, 6), np.float64)
    same = {"auto_pad": "SAME_UPPER", "strides": (2, 1)}
    check_cases([
        (x, [("Conv", [_randn(rng, (6, 2, 3, 2), np.float64), _randn(rng, 6, np.float64)],
              {"group": 2, "strides": (2, 1), "dilations": (1, 2), "pads": (1, 0, 2, 1)}),
             ("Conv", [_randn(rng, (4, 1, 3, 3), np.float64)], {"group": 4, "auto_pad": "SAME_LOWER"}),
             ("ConvTranspose", [_randn(rng, (4, 3, 2, 3), np.float64), _randn(rng, 3, np.float64)],
              {"strides": (2, 3), "pads": (0, 1, 1, 0), "output_padding": (1, 0)})]),
        (xl, [("LocalConv", [_randn(rng, (3, 6, 4, 3, 2, 3), np.float64), _randn(rng, (4, 3, 6), np.float64)], same),
              ("TiledConv", [_randn(rng, (2, 8, 4, 3, 2, 3), np.float64), _randn(rng, 4, np.float64)], same)]),
    ], rtol=1e-12, atol=1e-12)


#: TF32 bound: max |y_tf32 - y| / max |y| over an output.  Each operand is rounded to 10
#: mantissa bits (relative error <= 2^-11), so each product is off by <= ~2^-10 of its size;
#: measured 5.2e-4 at most over the conv grid (the per-element error of outputs with |y| >=
#: 10% of the output's max: <= 3.2e-3).  fp32 on the same grid: <= 2.3e-7.
TF32_BOUND = 1e-3


def test_conv_cuda_emu_tf32_accuracy(rng):
    """precision="tf32": GEMM operands rounded to TF32 (the emulator's software rounding of
    cvt.rna.tf32.f32), fp32 sums.  The error stays within TF32_BOUND of each output's
    magnitude, and is really TF32's (well above fp32's)."""
    g, feeds = cases_graph(conv_grid(rng) + [(_randn(rng, (1, 64, 16, 16)),
                                             [("Conv", [_randn(rng, (64, 64, 3, 3))], {"pads": (1, 1, 1, 1)})])])
    want = cnnc.compile(g).run(feeds)
    got = cnnc.compile(g, target="cuda", emulate=True, precision="tf32").run(feeds)
    errs = {name: float(np.max(np.abs(got[name] - w)) / np.max(np.abs(w))) for name, w in want.items()}
    assert max(errs.values()) < TF32_BOUND, errs
    # the grouped GEMM convs' error is TF32 rounding's, not fp32's (depthwise convs run
    # the direct kernel, which stays fp32)
    assert max(errs.values()) > 1e-5, errs


def kernel_variants(rng):
    """(x, nodes) cases covering every code path of conv.cu.j2, conv_transpose.cu.j2 and
    gemm.cu.j2 once, with as few tiled-GEMM kernels (nvcc's slow part) as that takes:
    implicit GEMM 2-D with bias, 3-D grouped, float sums in double, float64, the fused
    epilogue with a residual; the direct kernel with every activation (their helpers) and
    residual placement, LocalConv (bias per position), TiledConv; ConvTranspose strided
    and unit-stride; Gemm with transA/transB and C, batched float64 MatMul."""
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
    cases += local_grid(rng)[:1] + [(x, fused)]
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


@pytest.mark.skipif(cuda.nvcc_path() is None,
                    reason="compiling the generated CUDA needs nvcc (the CUDA toolkit); no GPU is needed")
def test_conv_and_gemm_kernels_nvcc_sm80_sm90(rng, tmp_path):
    """Every code path of the conv-family and GEMM templates compiles with nvcc for sm_80
    and sm_90, warnings as errors, with precision "tf32" (which adds cvt.rna.tf32.f32 to
    the fp32 build's code).  The grids above run each path under the emulator."""
    g, _ = cases_graph(kernel_variants(rng))
    cuda.nvcc_check(cuda.generate(g, tmp_path / "gen", precision="tf32"))
