"""cnnc verify: a target against onnxruntime (or the reference) on the same inputs."""
import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

import cnnc
import cnnc.dsl as nn
from cnnc.cli import main
from cnnc.verify import ulp_distance

ort = pytest.importorskip("onnxruntime", reason="verify compares with onnxruntime")


def small():
    m = nn.Model("vnet", seed=4)
    x = m.input("x", (1, 3, 8, 8))
    y = nn.conv(x, 8, 3, padding="same", activation="relu")
    y = nn.conv(y, 4, 3, stride=2, padding="same")
    m.output(nn.global_avg_pool(y), "y")
    return m.build()


def test_ulp_distance():
    one = np.float32(1.0)
    assert ulp_distance(np.array([one]), np.array([np.nextafter(one, np.float32(2))]))[0] == 1
    assert ulp_distance(np.array([-0.0], np.float32), np.array([0.0], np.float32))[0] == 0
    tiny = np.float32(1e-45)
    assert ulp_distance(np.array([-tiny]), np.array([tiny]))[0] == 2
    assert ulp_distance(np.array([np.nan], np.float32), np.array([np.nan], np.float32))[0] == 0
    assert ulp_distance(np.array([np.nan], np.float32), np.array([1.0], np.float32))[0] == np.iinfo(np.int32).max


def test_python_api_agrees_on_c():
    report = cnnc.verify(small(), target="c")
    assert isinstance(report, cnnc.VerifyReport) and report.ok and report.expected_from == "onnxruntime"
    (out,) = report.outputs
    assert out.name == "y" and out.shape == (1, 4, 1, 1) and out.max_abs < 1e-5 and len(out.worst) == 4
    assert "ok: every output within tolerance" in str(report)


def _one_d_model(tmp_path):
    """A 1-D padded conv with an Inf weight: onnxruntime multiplies the zero padding (NaN at
    the borders), cnnc skips padding taps (finite there): a real disagreement."""
    w = np.ones((1, 1, 3), np.float32)
    w[0, 0, 0] = np.inf
    node = helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1])
    model = helper.make_model(helper.make_graph(
        [node], "oned", [helper.make_tensor_value_info("x", TensorProto.FLOAT, (1, 1, 6))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, (1, 1, 6))], [numpy_helper.from_array(w, "w")]),
        opset_imports=[helper.make_opsetid("", 17)])
    path = tmp_path / "oned.onnx"
    path.write_bytes(model.SerializeToString())
    return path


def test_cli_exit_codes(tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.linspace(1, 2, 6, dtype=np.float32).reshape(1, 1, 6))
    path = _one_d_model(tmp_path)
    assert main(["verify", str(path), "--input", f"x={tmp_path / 'x.npy'}"]) == 1
    out = capsys.readouterr().out
    assert "c against onnxruntime" in out and "y: max abs inf" in out and "at (0, 0, 0): MISMATCH" in out
    (tmp_path / "broken.onnx").write_bytes(b"\x08\x07garbage")
    assert main(["verify", str(tmp_path / "broken.onnx")]) == 2
    assert "not a valid ONNX" in capsys.readouterr().err


def test_per_layer_finds_the_first_differing_node():
    """The CUDA target at TF32 precision (on the CPU emulator) rounds conv operands to 10-bit
    mantissas: against a tight tolerance, the first conv is the first node that differs."""
    report = cnnc.verify(small(), target="cuda", emulate=True, precision="tf32", atol=0, rtol=1e-7,
                         per_layer=True)
    assert not report.ok
    assert report.first_bad_node is not None and "Conv" in report.first_bad_node
    assert report.first_bad_node.startswith("conv1")
    assert "first differing node: conv1" in str(report)


def test_reference_when_onnxruntime_cannot_run_it(monkeypatch):
    import builtins
    real = builtins.__import__

    def no_ort(name, *a, **k):
        if name == "onnxruntime":
            raise ImportError(name)
        return real(name, *a, **k)
    monkeypatch.setattr(builtins, "__import__", no_ort)
    report = cnnc.verify(small(), target="c")
    assert report.ok and report.expected_from == "reference" and "not installed" in report.note
