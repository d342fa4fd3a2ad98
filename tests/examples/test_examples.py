"""The example models of examples/: each builds a verified graph, runs on the reference
backend with the documented output shapes and properties, and its script (``main()``, and
``cnnc run`` for LeNet) runs cleanly."""
import functools
import importlib.util
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

import cnnc
from cnnc import CnncError

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
MAIN_PRINTS = {  # example -> a line fragment its main() must print
    "lenet": "output probs: float32[1, 10], sum=1.000000",
    "alexnet": "output probs: float32[1, 1000], sum=1.000000",
    "resnet": "output probs: float32[1, 1000], sum=1.000000",
    "densenet_block": "output features: float32[1, 48, 16, 16]",
    "yolo_head": "output predictions: float32[1, 7, 7, 30]",
    "dilated_spp": "feature lengths [336, 336]: equal; weights of the two graphs identical",
    "stereo_3d": "output disparity float32[1, 32, 48]",
    "edge_gabor": "ok   Haar energy / image energy",
}


@functools.cache
def example(name: str):
    spec = importlib.util.spec_from_file_location(f"cnnc_example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(g: cnnc.Graph, **feeds) -> dict:
    """Verify, run on the reference backend, and check every output against its IR type."""
    g.verify()
    outs = cnnc.compile(g, target="reference").run(feeds)
    for (name, arr), (_, t) in zip(outs.items(), g.output_types().items()):
        assert arr.shape == t.shape and arr.dtype.name == t.dtype, (name, arr.shape, t)
        assert np.isfinite(arr).all(), name
    return outs


def ops(g: cnnc.Graph, op: str) -> list:
    return [n for n in g.nodes() if n.op == op]


def random_feeds(g: cnnc.Graph, rng) -> dict:
    return {k: rng.standard_normal(t.shape).astype(t.dtype) for k, t in g.input_types().items()}


def assert_distribution(p: np.ndarray):
    assert (p >= 0).all()
    np.testing.assert_allclose(p.sum(axis=-1), 1.0, rtol=1e-5)


# ----------------------------------------------------------------------------- each model
@pytest.mark.parametrize("kw", [{}, dict(batch=2, activation="relu", pool="max", classes=5)])
def test_lenet(kw, rng):
    g = example("lenet").build(**kw)
    probs = run(g, **random_feeds(g, rng))["probs"]
    assert probs.shape == (kw.get("batch", 1), kw.get("classes", 10))
    assert_distribution(probs)
    shapes = {n.label: n.types[0].shape for n in g.nodes()}
    assert shapes["C1"][1:] == (6, 28, 28) and shapes["S4"][1:] == (16, 5, 5)
    assert shapes["C5"][1:] == (120, 1, 1)


def test_lenet_bad_pool_is_a_cnnc_error():
    with pytest.raises(CnncError, match="pool mode"):
        example("lenet").build(pool="median")


def test_alexnet(rng):
    g = example("alexnet").build()
    probs = run(g, **random_feeds(g, rng))["probs"]
    assert probs.shape == (1, 1000)
    assert_distribution(probs)
    convs = {n.label: n for n in ops(g, "Conv")}
    assert [convs[f"conv{i}"].attrs["group"] for i in range(1, 6)] == [1, 2, 1, 2, 2]
    assert convs["conv1"].types[0].shape[2:] == (55, 55)
    assert len(ops(g, "LRN")) == 2 and len(ops(g, "Dropout")) == 2
    pools = ops(g, "MaxPool")
    assert [(p.attrs["kernel_shape"], p.attrs["strides"]) for p in pools] == [((3, 3), (2, 2))] * 3
    assert pools[-1].types[0].shape[2:] == (6, 6)


@pytest.mark.parametrize("layers", [(2, 2, 2, 2), (1, 2, 1, 1)])
def test_resnet(layers, rng):
    g = example("resnet").build(layers=layers, width=16, classes=10)
    probs = run(g, **random_feeds(g, rng))["probs"]
    assert probs.shape == (1, 10)
    assert_distribution(probs)
    assert len(ops(g, "Add")) == sum(layers)
    assert len(ops(g, "Conv")) == 1 + 2 * sum(layers) + 3          # stem, blocks, 3 projections
    assert len(ops(g, "BatchNormalization")) == len(ops(g, "Conv"))
    assert ops(g, "GlobalAveragePool")[0].types[0].shape == (1, 128, 1, 1)


@pytest.mark.parametrize("kw, out_channels", [({}, 48), ({"layers": 3, "growth": 8}, 20)])
def test_densenet_block(kw, out_channels, rng):
    g = example("densenet_block").build(**kw)
    features = run(g, **random_feeds(g, rng))["features"]
    assert features.shape == (1, out_channels, 16, 16)
    k = kw.get("growth", 12)
    channels = [n.types[0].shape[1] for n in ops(g, "Concat")]
    assert channels == [2 * k + k * (i + 1) for i in range(kw.get("layers", 6))]
    assert len(ops(g, "AveragePool")) == 1


@pytest.mark.parametrize("head", ["dense", "conv"])
@pytest.mark.parametrize("S, B, C", [(7, 2, 20), (5, 3, 4)])
def test_yolo_head(head, S, B, C, rng):
    g = example("yolo_head").build(S=S, B=B, C=C, head=head, width=8)
    pred = run(g, **random_feeds(g, rng))["predictions"]
    assert pred.shape == (1, S, S, B * 5 + C)


def test_yolo_head_rejects_unknown_head():
    with pytest.raises(CnncError, match="head must be"):
        example("yolo_head").build(head="anchor")


def test_yolo_decode_reads_the_documented_layout():
    S, B, C = 3, 2, 4
    pred = np.zeros((S, S, B * 5 + C), np.float32)
    pred[1, 2, 5:10] = [0.5, 0.25, 0.3, 0.4, 0.9]      # box 1 of the cell in row 1, column 2
    pred[1, 2, 10 + 3] = 0.8                           # class 3
    d = example("yolo_head").decode(pred, B, C)
    assert d["cx"][1, 2, 1] == pytest.approx((2 + 0.5) / S)
    assert d["cy"][1, 2, 1] == pytest.approx((1 + 0.25) / S)
    assert (d["w"][1, 2, 1], d["h"][1, 2, 1]) == pytest.approx((0.3, 0.4))
    assert d["cls"][1, 2, 1] == 3 and d["score"][1, 2, 1] == pytest.approx(0.72)


def test_dilated_spp_gives_one_length_for_any_size(rng):
    mod = example("dilated_spp")
    lengths = set()
    for h, w in [(48, 64), (37, 91), (20, 20)]:
        g = mod.build(height=h, width=w)
        outs = run(g, **random_feeds(g, rng))
        assert outs["logits"].shape == (1, 10)
        lengths.add(outs["features"].shape)
        dilations = [n.attrs["dilations"] for n in ops(g, "Conv")
                     if n.attrs["kernel_shape"] == (3, 3)]
        assert dilations[1:] == [(1, 1), (2, 2), (4, 4)]
        assert all(n.types[0].shape[2:] == (h, w) for n in ops(g, "Conv"))   # "same" keeps the size
    assert lengths == {(1, 16 * (1 + 4 + 16))}


def test_stereo_cost_volume_matches_its_definition(rng):
    mod = example("stereo_3d")
    left, right = rng.random((2, 1, 2, 3, 5), dtype=np.float32)
    vol = mod.cost_volume(left, right, max_disp=4)
    assert vol.shape == (1, 4, 4, 3, 5)
    for d in range(4):
        for x in range(5):
            np.testing.assert_array_equal(vol[0, :2, d, :, x], left[0, :, :, x])
            want = right[0, :, :, x - d] if x >= d else 0
            np.testing.assert_array_equal(vol[0, 2:, d, :, x], want)


@pytest.mark.parametrize("matching", ["gcnet", "ssd"])
def test_stereo_soft_argmin(matching):
    mod = example("stereo_3d")
    truth = mod.disparity_map(32, 48)
    left, right = mod.stereo_pair(np.random.default_rng(1), truth)
    g = mod.build(matching=matching)
    disp = run(g, cost_volume=mod.cost_volume(left, right, 16))["disparity"]
    assert disp.shape == (1, 32, 48)
    assert disp.min() >= 0 and disp.max() <= 15
    assert len(ops(g, "ConvTranspose")) == (matching == "gcnet")
    if matching == "ssd":   # hand-set block matching recovers the known disparities
        err = np.abs(disp[0] - truth)[np.arange(48) >= truth]
        assert (err < 1).mean() > 0.85 and np.median(err) < 0.1


def test_edge_gabor():
    mod = example("edge_gabor")
    image, geometry = mod.scene()
    g = mod.build()
    outs = run(g, image=image)
    assert {k: v.shape for k, v in outs.items()} == {
        "diff_x": (1, 1, 64, 95), "diff_y": (1, 1, 63, 96), "sobel": (1, 2, 64, 96),
        "gabor": (1, 4, 64, 96), "haar": (1, 4, 32, 48), "kmeans": (1, 8, 64, 96)}
    # the vertical-edge kernel peaks exactly at the box's left and right edges, with the sign
    # of the step (up into the bright box, down out of it)
    r0, r1, c0, c1 = geometry["box"]
    profile = outs["diff_x"][0, 0, r0 + 2:r1 - 2, :c1 + 5].mean(axis=0)
    assert profile.argmax() == c0 - 1 and profile.argmin() == c1 - 1
    checks = mod.checks(outs, image, geometry)
    assert [(what, v) for what, v, low, high in checks if not low < v < high] == []


# ----------------------------------------------------------------------------- the scripts
@pytest.mark.parametrize("name, expected", MAIN_PRINTS.items())
def test_main_runs(name, expected, capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", [str(EXAMPLES / f"{name}.py")])
    example(name).main()
    out = capsys.readouterr().out
    assert expected in out and "FAIL" not in out and "DIFFERENT" not in out


def test_every_example_is_tested():
    assert sorted(p.stem for p in EXAMPLES.glob("*.py")) == sorted(MAIN_PRINTS)


def test_edge_gabor_writes_a_png(tmp_path, capsys):
    path = tmp_path / "montage.png"
    example("edge_gabor").main(["--png", str(path)])
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    w, h = struct.unpack(">II", data[16:24])
    idat_len = struct.unpack(">I", data[33:37])[0]
    assert len(zlib.decompress(data[41:41 + idat_len])) == h * (w + 1)


def test_cli_runs_lenet():
    proc = subprocess.run([sys.executable, "-m", "cnnc", "run", str(EXAMPLES / "lenet.py")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "output probs: float32[1, 10]" in proc.stdout
