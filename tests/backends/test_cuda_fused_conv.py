"""The CUDA kernel of FusedConv (conv.cu.j2's epilogue, implicit GEMM and direct kernel)
agrees with the reference, run by the CPU emulator (backend "cuda-emu", NOT a GPU run), for
every fusable activation with no residual, a residual added before the activation and one
added after, over the window attributes of tests/backends/test_c_fused_conv.py (one build
for the whole grid); Clip bounds and float64; and in place over the residual (the memory
plan gives Y Z's buffer, and each thread reads Z[i] before it writes Y[i])."""
import numpy as np
import pytest
from helpers import check_cases
from test_c_fused_conv import ACTIVATIONS, CASES, _attrs, _conv_out

import cnnc
from cnnc.ir import Graph, TensorType
from cnnc.passes.memory import plan_memory

EMU = "cuda-emu"


def fused_grid(rng, full=True):
    """Per window case: every activation x {no residual, pre, post}, 27 nodes; without
    ``full`` only for two cases (implicit GEMM 2-D, direct depthwise), the others get three
    nodes (no residual, pre, post) with activations taken in turn, so every window and every
    activation is still run (the epilogue does not depend on the window)."""
    cases = []
    turn = iter(list(ACTIVATIONS) * 3)
    for c, (xs, ws, window) in enumerate(CASES):
        x = 2 * rng.standard_normal(xs).astype(np.float32)  # reach both sides of Clip, HardSigmoid
        w = rng.standard_normal(ws).astype(np.float32)
        b = rng.standard_normal(ws[0]).astype(np.float32)
        z = rng.standard_normal(_conv_out(xs, ws, window)).astype(np.float32)
        combos = ([(act, residual) for act in ACTIVATIONS for residual in (None, "pre", "post")]
                  if full or c in (2, 3) else [(next(turn), residual) for residual in (None, "pre", "post")])
        cases.append((x, [("FusedConv", [w, b] + ([z] if residual else []), _attrs(window, act, residual))
                          for act, residual in combos]))
    return cases


def test_fused_conv_cuda_emu_grid(rng):
    check_cases(fused_grid(rng, full=False), backend=EMU)


@pytest.mark.slow
def test_fused_conv_cuda_emu_full_grid(rng):
    """Every activation x residual on every window case: 189 kernels in one build."""
    check_cases(fused_grid(rng), backend=EMU)


def test_fused_conv_cuda_emu_clip_bounds_and_float64(rng):
    xs, ws, window = (1, 4, 7, 16), (6, 2, 3, 2), {"group": 2, "strides": (2, 1), "dilations": (1, 2),
                                                  "pads": (1, 0, 2, 1)}
    w, b = rng.standard_normal(ws), rng.standard_normal(ws[0])
    z = rng.standard_normal(_conv_out(xs, ws, window))
    dw = {"group": 4, "pads": (1, 1, 1, 1)}
    check_cases([(3 * rng.standard_normal(xs), [
        ("FusedConv", [w, b], _attrs(window, "Clip", None, max=0.5)),
        ("FusedConv", [w, b], _attrs(window, "Clip", None, min=0.0)),
        ("FusedConv", [w, b], {**window, "activation": "Clip"}),
        ("FusedConv", [w, b, z], _attrs(window, "Silu", "post")),
        ("FusedConv", [w, b, z], _attrs(window, "HardSwish", "pre")),
        ("FusedConv", [w, b, z], _attrs(window, "Sigmoid", "pre")),
        ("FusedConv", [rng.standard_normal((8, 1, 3, 3)), rng.standard_normal(8),
                       rng.standard_normal((1, 8, 7, 16))], _attrs(dw, "Tanh", "pre")),   # depthwise x2
    ])], rtol=1e-12, atol=1e-12)


def test_fused_conv_cuda_emu_in_place_over_the_residual(rng):
    """Z computed by a Conv and used only by the FusedConv: the plan gives Y Z's buffer.
    Both kernels: implicit GEMM (3 -> 5 channels) and direct (depthwise)."""
    g = Graph("in_place")
    x = g.add_input("x", TensorType((1, 3, 8, 21)))
    for i, (ws, group) in enumerate([((5, 3, 3, 3), 1), ((3, 1, 3, 3), 3)]):
        window = {"pads": (1, 1, 1, 1), "group": group}
        w = [g.add_constant(rng.standard_normal(ws).astype(np.float32), f"w{i}{j}") for j in range(2)]
        b = g.add_constant(rng.standard_normal(ws[0]).astype(np.float32), f"b{i}")
        (z,) = g.add_node("Conv", [x, w[0]], window)
        (y,) = g.add_node("FusedConv", [x, w[1], b, z], _attrs(window, "Relu", "pre"))
        (out,) = g.add_node("Sigmoid", [y])
        g.add_output(out, f"out{i}")
        assert plan_memory(g.verify()).aliases.get(y) == z
    feeds = {"x": rng.standard_normal((1, 3, 8, 21)).astype(np.float32)}
    got = cnnc.compile(g, target="cuda", emulate=True).run(feeds)
    want = cnnc.compile(g).run(feeds)
    for name in want:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-5, atol=1e-6, err_msg=name)
