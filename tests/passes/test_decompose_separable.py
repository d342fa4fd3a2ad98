"""decompose_separable: separable and low-rank kernels become chains of 1-D convs, exactly
by default and within an error budget on request; everything else is left alone.

Every rewrite runs through ``PassManager(verify=True)`` (purity, IR, contract) and is
checked by the reference backend on random inputs before and after."""
import math
from pathlib import Path

import numpy as np
import onnx
import pytest
from helpers import assert_equivalent

import cnnc
import cnnc.dsl as nn
from cnnc.dsl import init
from cnnc.ir import CnncError, Graph, TensorType
from cnnc.passes import LEVELS, PASSES, PROPERTIES, PassManager, graph_flops
from cnnc.passes.separable import (
    PROPERTY,
    analyze_separable,
    decompose_separable,
    separable_pass,
)

F32 = np.float32


def run(g, p=decompose_separable):
    return PassManager([p], verify=True).run(g)[0]


def convs(g):
    return [n for n in g.nodes() if n.op in ("Conv", "FusedConv")]


def weights(g):
    return [g.constant(g.operands(n.name)[1]) for n in convs(g)]


def chain_weight(g):
    """The weight a two-stage chain of group-1 convs computes, (M, C, kh, kw)."""
    first, second = weights(g)
    return np.einsum("rcia,mrbj->mcij", first.astype(np.float64), second.astype(np.float64))


def one_layer(shape, layer):
    m = nn.Model("one")
    m.output(layer(m.input("x", shape)), "y")
    return m.build()


def low_rank(rng, m, c, kh, kw, r):
    """A (m, c, kh, kw) weight of Jaderberg rank r: (c·kh) x (m·kw) factors."""
    return np.einsum("rci,mrj->mcij", rng.standard_normal((r, c, kh)),
                     rng.standard_normal((m, r, kw))).astype(F32)


def rank_one_bank(rng, n, kh, kw):
    k = np.einsum("ni,nj->nij", rng.standard_normal((n, kh)), rng.standard_normal((n, kw)))
    return k[:, None].astype(F32)


# ---------------------------------------------------------------- hand-designed kernels
def test_gaussian_blur_costs_2_5_times_less():
    k = init.gaussian(5, 1.2)
    g = one_layer((1, 3, 16, 16), lambda x: nn.depthwise_conv(
        x, 5, padding="same", bias=False, init=np.stack([k[None]] * 3)))
    out = run(g)
    first, second = convs(out)
    assert (first.attrs.kernel_shape, second.attrs.kernel_shape) == ((5, 1), (1, 5))
    assert first.attrs.group == second.attrs.group == 3
    assert graph_flops(g) / graph_flops(out) == 2.5          # 25 / (5 + 5) per output
    assert [n.op for n in out.nodes()] == ["Input", "Constant", "Conv", "Constant", "Conv"]
    (d,) = analyze_separable(g)
    assert d.replace and d.ranks == (1,) and d.error < 1e-6
    assert (d.flops_before, d.flops_after) == (graph_flops(g), graph_flops(out))
    assert d.intermediate_bytes == 3 * 16 * 16 * 4
    assert d.line().startswith("split conv1") and "2.50x" in d.line()
    assert_equivalent(g, out)


HAND = {"sobel_x": init.sobel(1), "sobel_y": init.sobel(0), "prewitt": init.prewitt(0),
        "box3": init.box(3), "box4": init.box(4),
        "gabor": init.gabor((5, 7), 1.0, 0.08, 0.15, 1.1, phi=0.6)}      # tau = 0: it factors


@pytest.mark.parametrize("name", HAND)
def test_hand_designed_kernels_split_exactly(name):
    k = HAND[name]
    g = one_layer((1, 1, 12, 12),
                  lambda x: nn.conv(x, 1, k.shape, padding="same", init=k[None, None]))
    out = run(g)
    assert [n.attrs.kernel_shape for n in convs(out)] == [(k.shape[0], 1), (1, k.shape[1])]
    np.testing.assert_allclose(chain_weight(out)[0, 0], k, rtol=0, atol=1e-6 * abs(k).max())
    assert graph_flops(out) < graph_flops(g)
    assert_equivalent(g, out)


def test_rotated_gabor_has_exact_rank_two():
    # an isotropic envelope times cos(f (x + y) / sqrt 2): cos a cos b - sin a sin b
    k = init.gabor((5, 5), 1.0, 0.1, 0.1, 1.0, tau=math.pi / 4)
    g = one_layer((1, 2, 12, 12), lambda x: nn.depthwise_conv(x, 5, padding="same",
                                                              init=np.stack([k[None]] * 2)))
    (d,) = analyze_separable(g)
    assert d.replace and d.ranks == (2,) and d.error < 1e-6   # 10 + 10 < 25 MACs per output
    out = run(g)
    assert weights(out)[0].shape == (4, 1, 5, 1) and weights(out)[1].shape == (2, 2, 1, 5)
    assert_equivalent(g, out)


def test_kernels_that_do_not_pay_are_kept(rng):
    m = nn.Model("kept")
    x = m.input("x", (1, 2, 16, 20))
    y = nn.depthwise_conv(x, 3, init=rng.standard_normal((2, 1, 3, 3)), name="random")
    y = nn.depthwise_conv(y, 2, init=np.stack([init.haar(2)[:1]] * 2), name="haar")
    y = nn.conv(y, 2, (1, 5), name="row")
    y = nn.conv(y, 3, 3, name="dense")                      # He init: full Jaderberg rank
    y = nn.depthwise_conv(y, (3, 5), stride=(1, 2), dilation=(1, 2), name="strided",
                          init=rank_one_bank(rng, 3, 3, 5))  # the 3x1 stage sees all 11 columns
    m.output(y, "y")
    g = m.build()
    reasons = {d.label: d.reason for d in analyze_separable(g)}
    assert "the rank along h exceeds 1" in reasons["random"]
    assert "the chain costs" in reasons["haar"]               # 2 + 2 MACs, larger intermediate
    assert reasons["row"] == "the kernel spans fewer than two axes"
    assert "the rank along h exceeds" in reasons["dense"]
    assert reasons["strided"] == "even a rank-1 chain costs more FLOPs than the conv"
    assert run(g).dump() == g.dump()


def test_weights_that_are_not_constants_are_kept():
    g = Graph("dynamic")
    x = g.add_input("x", TensorType((1, 1, 6, 6)))
    w = g.add_input("w", TensorType((1, 1, 3, 3)))
    (y,) = g.add_node("Conv", [x, w])
    g.add_output(y, "y")
    (d,) = analyze_separable(g)
    assert not d.replace and d.reason == "the weight is not a constant"
    assert run(g).dump() == g.dump()


# ---------------------------------------------------------------- Jaderberg (full convs)
def test_full_conv_of_low_rank_is_split(rng):
    w = low_rank(rng, 8, 4, 3, 3, 2)
    g = one_layer((1, 4, 10, 10), lambda x: nn.conv(x, 8, 3, padding=1, init=w,
                                                    bias=rng.standard_normal(8)))
    out = run(g)
    first, second = convs(out)
    assert [a.shape for a in weights(out)] == [(2, 4, 3, 1), (8, 2, 1, 3)]
    assert len(out.operands(first.name)) == 2 and len(out.operands(second.name)) == 3  # bias last
    (d,) = analyze_separable(g)
    assert d.ranks == (2,) and d.error < 1e-6
    np.testing.assert_allclose(chain_weight(out), w, rtol=0, atol=1e-5)
    assert_equivalent(g, out)


WINDOWS = {
    "same_stride2": {"stride": 2, "padding": "same"},
    "same_lower_stride2x3": {"stride": (2, 3), "padding": "same_lower"},
    "full_dilated": {"dilation": (2, 1), "padding": "full"},
    "asymmetric": {"padding": (1, 2, 0, 1)},
    "valid_strided_dilated": {"stride": (2, 1), "dilation": (2, 1), "padding": "valid"},
}
LAYERS = {
    "depthwise_x2": lambda rng, x, win: nn.depthwise_conv(
        x, (3, 5), multiplier=2, init=rank_one_bank(rng, 8, 3, 5), **win),
    "grouped": lambda rng, x, win: nn.conv(
        x, 4, (3, 5), groups=2, init=np.concatenate([low_rank(rng, 2, 2, 3, 5, 1)] * 2), **win),
    "full": lambda rng, x, win: nn.conv(x, 6, 3, init=low_rank(rng, 6, 4, 3, 3, 1),
                                        bias=rng.standard_normal(6), **win),
}


@pytest.mark.parametrize("window", WINDOWS)
@pytest.mark.parametrize("layer", LAYERS)
def test_strides_dilations_pads_and_groups(rng, layer, window):
    g = one_layer((1, 4, 13, 11), lambda x: LAYERS[layer](rng, x, WINDOWS[window]))
    (d,) = analyze_separable(g)
    assert d.replace, d.reason
    out = run(g)
    assert len(convs(out)) == 2 and all(n.attrs.auto_pad == "NOTSET" for n in convs(out))
    assert_equivalent(g, out)


@pytest.mark.parametrize("residual", ["pre", "post"])
def test_fused_conv_keeps_its_epilogue_on_the_last_stage(rng, residual):
    g = Graph("fused")
    x = g.add_input("x", TensorType((1, 2, 9, 9)))
    z = g.add_input("z", TensorType((1, 2, 9, 9)))
    w = g.add_constant(np.stack([init.sobel(0)[None], init.gaussian(3, 1.0)[None]]))
    b = g.add_constant(rng.standard_normal(2).astype(F32))
    attrs = {"group": 2, "auto_pad": "SAME_UPPER", "residual": residual,
             "activation": "LeakyRelu", "act_alpha": 0.1}
    (y,) = g.add_node("FusedConv", [x, w, b, z], attrs)
    g.add_output(y, "y")
    out = run(g)
    first, last = convs(out)
    assert first.op == "Conv" and len(out.operands(first.name)) == 2
    assert last.op == "FusedConv" and out.operands(last.name)[2:] == [b, z]
    epilogue = ("activation", "act_alpha", "residual")
    assert [last.attrs[k] for k in epilogue] == [attrs[k] for k in epilogue]
    assert_equivalent(g, out)


# ---------------------------------------------------------------- 3-D
def test_depthwise_3d_gaussian_becomes_three_convs():
    g1 = init.gaussian(3, 1.0).sum(1)                      # the normalized 1-D Gaussian
    k = np.einsum("i,j,l->ijl", g1, g1, g1)[None, None]
    g = one_layer((1, 2, 6, 8, 7), lambda x: nn.depthwise_conv(
        x, 3, stride=(1, 2, 1), padding="same", init=np.concatenate([k, 2 * k]).astype(F32)))
    out = run(g)
    assert [n.attrs.kernel_shape for n in convs(out)] == [(3, 1, 1), (1, 3, 1), (1, 1, 3)]
    assert [n.attrs.strides for n in convs(out)] == [(1, 1, 1), (1, 2, 1), (1, 1, 1)]
    (d,) = analyze_separable(g)
    assert d.ranks == (1, 1) and d.flops_before / d.flops_after > 2
    assert_equivalent(g, out)


def test_3d_full_conv_is_factored_twice(rng):
    factors = (rng.standard_normal(shape) for shape in [(2, 3, 3), (2, 2, 3), (4, 2, 3)])
    w = np.einsum("pci,qpj,mql->mcijl", *factors).astype(F32)
    g = one_layer((1, 3, 7, 6, 8), lambda x: nn.conv(x, 4, 3, padding=(1, 0, 2, 1, 0, 0), init=w))
    (d,) = analyze_separable(g)
    assert d.replace and d.ranks == (2, 2) and d.error < 1e-6
    out = run(g)
    assert [a.shape for a in weights(out)] == [(2, 3, 3, 1, 1), (2, 2, 1, 3, 1), (4, 2, 1, 1, 3)]
    assert_equivalent(g, out)


def test_3d_rank_one_per_pair_over_one_input_channel(rng):
    w = np.einsum("mi,mj,ml->mijl", *(rng.standard_normal((3, 3)) for _ in range(3)))[:, None]
    g = one_layer((1, 1, 6, 6, 6), lambda x: nn.conv(x, 3, 3, padding="same", init=w.astype(F32)))
    out = run(g)
    assert [n.attrs.group for n in convs(out)] == [1, 3, 3]
    assert [a.shape for a in weights(out)] == [(3, 1, 3, 1, 1), (3, 1, 1, 3, 1), (3, 1, 1, 1, 3)]
    assert_equivalent(g, out)


def test_axes_of_extent_one_ride_on_the_first_stage(rng):
    g = one_layer((1, 2, 7, 9, 8), lambda x: nn.depthwise_conv(
        x, (3, 1, 3), stride=(2, 2, 1), padding=(0, 1, 1, 1, 1, 0),
        init=rank_one_bank(rng, 2, 3, 3)[:, :, :, None]))
    out = run(g)
    first, second = convs(out)
    assert (first.attrs.strides, first.attrs.pads) == ((2, 2, 1), (0, 1, 0, 1, 1, 0))
    assert (second.attrs.strides, second.attrs.pads) == ((1, 1, 1), (0, 0, 1, 0, 0, 0))
    assert_equivalent(g, out)


# ---------------------------------------------------------------- approximate mode
@pytest.fixture
def noisy_blur(rng):
    k = init.gaussian(5, 1.5) + 1e-3 * rng.standard_normal((5, 5)).astype(F32)
    return k, one_layer((1, 1, 16, 16), lambda x: nn.conv(x, 1, 5, padding="same", bias=False,
                                                          init=k[None, None]))


def test_exact_mode_keeps_a_nearly_separable_kernel(noisy_blur):
    _, g = noisy_blur
    (d,) = analyze_separable(g)
    assert not d.replace and "rank along h exceeds" in d.reason
    assert run(g).dump() == g.dump()


def test_approximate_mode_splits_within_the_budget(noisy_blur):
    k, g = noisy_blur
    (d,) = analyze_separable(g, approximate=True, error_budget=0.05)
    assert d.replace and d.ranks == (1,) and 1e-3 < d.error <= 0.05
    out = run(g, separable_pass(approximate=True, error_budget=0.05))
    measured = np.linalg.norm(chain_weight(out)[0, 0] - k) / np.linalg.norm(k)
    assert measured == pytest.approx(d.error, rel=1e-4)
    x = {"x": np.random.default_rng(1).standard_normal((1, 1, 16, 16)).astype(F32)}
    want, got = cnnc.compile(g).run(x)["y"], cnnc.compile(out).run(x)["y"]
    assert np.linalg.norm(got - want) / np.linalg.norm(want) < 3 * d.error
    (tight,) = analyze_separable(g, approximate=True, error_budget=1e-4)
    assert not tight.replace


def test_approximate_full_conv_reports_its_error(rng):
    w = low_rank(rng, 8, 4, 3, 3, 2) + 0.01 * rng.standard_normal((8, 4, 3, 3)).astype(F32)
    g = one_layer((1, 4, 10, 10), lambda x: nn.conv(x, 8, 3, init=w))
    assert not analyze_separable(g)[0].replace
    (d,) = analyze_separable(g, approximate=True, error_budget=0.05)
    assert d.replace and d.ranks == (2,) and d.error <= 0.05
    out = run(g, separable_pass(approximate=True, error_budget=0.05))
    measured = np.linalg.norm(chain_weight(out) - w) / np.linalg.norm(w)
    assert measured == pytest.approx(d.error, rel=1e-4)


@pytest.mark.parametrize("kwargs", [{"approximate": True}, {"error_budget": 0.1},
                                    {"approximate": True, "error_budget": 0.0},
                                    {"approximate": True, "error_budget": 1.5},
                                    {"approximate": True, "error_budget": "big"},
                                    {"rank_tol": 0}])
def test_bad_settings_are_cnnc_errors(kwargs):
    with pytest.raises(CnncError, match="decompose_separable"):
        separable_pass(**kwargs)


# ---------------------------------------------------------------- contract and pipeline
def test_registration_contract_and_fixpoint():
    assert PASSES["decompose_separable"] is decompose_separable is separable_pass()
    assert "decompose_separable" in LEVELS[3]
    assert separable_pass(approximate=True, error_budget=0.1).ensures == ()
    k = init.box(3)
    g = one_layer((1, 1, 8, 8), lambda x: nn.conv(x, 1, 3, init=k[None, None]))
    out = run(g)
    assert not PROPERTIES[PROPERTY](g) and PROPERTIES[PROPERTY](out)
    assert run(out).dump() == out.dump()


def test_light_squeezenet():
    path = Path(onnx.__file__).parent / "backend/test/data/light/light_squeezenet.onnx"
    g = cnnc.load_onnx(path)
    out, report = PassManager(["decompose_separable"]).run(g)
    split = [d for d in analyze_separable(g) if d.replace]
    assert len(split) == 9 and all(d.kernel == (3, 3) for d in split)
    (stats,) = report.stats
    saved = sum(d.flops_before - d.flops_after for d in split)
    assert stats.flops_before - stats.flops_after == saved
    assert_equivalent(g, out, trials=1)
