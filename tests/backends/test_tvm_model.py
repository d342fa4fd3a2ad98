"""The TVM backend as a whole: every op lowers, model folders (export_library + manifest)
written and run from the command line, CUDA libraries built without a GPU, hostile names,
and one clear error for a broken rule or a missing TVM (test_backend_examples.py: the
examples agree with the reference, before and after optimize)."""
import json
import runpy
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import cnnc
from cnnc.cli import main
from cnnc.ir import Graph, TensorType, all_ops
from cnnc.ir import opdef

pytest.importorskip("tvm", reason="the tvm backend needs Apache TVM: pip install 'cnnc[tvm]'")

LIGHT = Path(__import__("onnx").__file__).parent / "backend" / "test" / "data" / "light"
LIGHT_MODELS = sorted(p.stem[len("light_"):] for p in LIGHT.glob("light_*.onnx"))


def test_every_op_has_a_lowering_rule():
    missing = sorted(n for n, op in all_ops().items() if op.tvm is None and n not in ("Input", "Constant"))
    assert missing == []


@pytest.mark.parametrize("model", LIGHT_MODELS)
def test_light_models_build_for_cuda(model):
    """tvm-cuda compiles every light model (optimized: fused ops too) to CUDA, without a GPU
    (running needs one); DLight's rules schedule every kernel of them."""
    g = cnnc.optimize(cnnc.load_onnx(LIGHT / f"light_{model}.onnx"))
    m = cnnc.compile(g, target="tvm-cuda")
    assert m.target == "tvm-cuda"
    assert m.schedules["unscheduled"] == 0 and m.schedules.get("cnnc.GpuThreads", 0) == 0, m.schedules
    assert m.schedules.get("dlight.Matmul", 0) >= 1, m.schedules
    def modules(mod):
        yield mod
        for imported in mod.imports:
            yield from modules(imported)
    cuda = [mod for mod in modules(m.executable.mod) if mod.kind == "cuda"]
    assert cuda and "__global__" in cuda[0].inspect_source()


MODEL = '''
import cnnc.dsl as nn

def build():
    m = nn.Model("tvm_cli")
    x = m.input("x", (1, 2, 6, 6))
    y = nn.conv(x, 4, 3, padding="same", activation="relu")
    m.output(nn.max_pool(y, 2), "y")
    return m.build()
'''


@pytest.fixture
def model_file(tmp_path):
    p = tmp_path / "model.py"
    p.write_text(MODEL)
    return p


def test_cli_compile_tvm_and_run_folder(model_file, tmp_path, capsys, rng):
    out = tmp_path / "gen"
    assert main(["compile", str(model_file), "--target", "tvm", "-o", str(out), "-q"]) == 0
    assert "built tvm_cli.so for the host CPU" in capsys.readouterr().out
    manifest = json.loads((out / "cnnc_manifest.json").read_text())
    assert manifest["target"] == "tvm" and manifest["library"] == "tvm_cli.so"
    assert manifest["inputs"] == [{"name": "x", "dtype": "float32", "shape": [1, 2, 6, 6]}]
    assert "llvm" in manifest["tvm_target"]
    x = rng.standard_normal((1, 2, 6, 6)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    assert main(["run", str(out), "--input", f"x={tmp_path / 'x.npy'}", "--save", str(tmp_path / "o")]) == 0
    assert "target tvm" in capsys.readouterr().out
    from cnnc.cli import load_model
    want = cnnc.compile(load_model(str(model_file))).run({"x": x})["y"]
    np.testing.assert_allclose(np.load(tmp_path / "o" / "y.npy"), want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(cnnc.backends.load(out).run({"x": x})["y"], want, rtol=1e-5, atol=1e-6)
    assert main(["run", str(model_file), "--target", "tvm", "-q"]) == 0


def test_cli_tvm_cuda_folder_builds_without_a_gpu(model_file, tmp_path, capsys):
    out = tmp_path / "gen"
    assert main(["compile", str(model_file), "--target", "tvm-cuda", "--arch", "sm_90", "-o", str(out), "-q"]) == 0
    assert "for CUDA sm_90" in capsys.readouterr().out
    manifest = json.loads((out / "cnnc_manifest.json").read_text())
    assert manifest["target"] == "tvm-cuda" and manifest["arch"] == "sm_90"
    assert (out / "tvm_cli.so").stat().st_size > 0
    import tvm
    if not tvm.cuda(0).exist:  # loading or running it is one clear error here
        with pytest.raises(cnnc.CnncError, match="CUDA"):
            cnnc.backends.load(out).run({"x": np.zeros((1, 2, 6, 6), np.float32)})
    assert main(["compile", str(model_file), "--target", "tvm-cuda", "--arch", "volta", "-o", str(out)]) == 1
    assert "sm_80 or sm_90" in capsys.readouterr().err
    assert main(["compile", str(model_file), "--target", "tvm", "--arch", "sm_80", "-o", str(out)]) == 1
    assert "target 'tvm' takes no option 'arch'" in capsys.readouterr().err


def test_hostile_names(rng):
    g = Graph('evil"; rm -rf / #')
    x = g.add_input('in"put\n*/ {}', TensorType((2, 3), "float32"))
    w = g.add_constant(rng.standard_normal((2, 3)).astype(np.float32), "w\\0")
    (y,) = g.add_node("Add", [x, w], {})
    (z,) = g.add_node("Relu", [y], {})
    g.add_output(z, "out put ÿ")
    g.add_output(y, "sum")
    feeds = {'in"put\n*/ {}': rng.standard_normal((2, 3)).astype(np.float32)}
    got, want = cnnc.compile(g, target="tvm").run(feeds), cnnc.compile(g).run(feeds)
    assert list(got) == list(want) == ["out put ÿ", "sum"]
    for k in want:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-6)


def test_a_wrong_rule_is_caught_at_its_node(monkeypatch, model_file, tmp_path, capsys):
    relu = opdef.get_op("Relu")
    monkeypatch.setitem(opdef._REGISTRY, "Relu", replace(relu, tvm=lambda req, xs, b: b.R.sum(xs[0])))
    g = runpy.run_path(str(model_file))["build"]()
    with pytest.raises(cnnc.CnncError, match=r"TVM lowering of .* output 0 is float32\[\], expected float32\[1, 4, 6, 6\]"):
        cnnc.compile(g, target="tvm")
    out = tmp_path / "never"
    assert main(["compile", str(model_file), "-O", "0", "--target", "tvm", "-o", str(out), "-q"]) == 1
    assert "TVM lowering of" in capsys.readouterr().err
    assert not out.exists()   # nothing half-written


def test_missing_lowering_is_one_error(monkeypatch, model_file):
    for name in ("Relu", "MaxPool"):
        monkeypatch.setitem(opdef._REGISTRY, name, replace(opdef.get_op(name), tvm=None))
    g = runpy.run_path(str(model_file))["build"]()
    with pytest.raises(cnnc.ir.UnsupportedError, match="no TVM lowering for ops MaxPool, Relu"):
        cnnc.compile(g, target="tvm")


def test_missing_tvm_names_the_extra(model_file):
    """Without TVM importable, asking for a tvm target is one cnnc error naming the extra."""
    code = (f"import sys; sys.modules['tvm'] = None\n"
            f"from cnnc.cli import main\n"
            f"sys.exit(main(['compile', {str(model_file)!r}, '--target', 'tvm', '-o', 'x', '-q']))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 1, res.stderr
    assert res.stderr.startswith("cnnc: error: the tvm targets need Apache TVM")
    assert "pip install 'cnnc[tvm]'" in res.stderr and "Traceback" not in res.stderr


def test_tvm_builds_without_warnings(capfd, rng):
    """Linear Resize and reflect Pad lower to Relax's take with in-bound constant indices, in
    "clip" mode: TOPI's default "fast" mode printed a warning per take ("Fast mode segfaults
    when there are out-of-bounds indices"), dozens for a text detector."""
    import cnnc.dsl as nn
    m = nn.Model("quiet")
    x = m.input("x", (1, 4, 8, 8))
    m.output(nn.pad(nn.resize(x, scale=2, mode="linear"), (0, 0, 1, 1, 0, 0, 1, 1), mode="reflect"), "y")
    g = m.build()
    capfd.readouterr()
    model = cnnc.compile(g, "tvm")
    out = capfd.readouterr()
    assert "Warning" not in out.err + out.out and "segfault" not in out.err + out.out
    feeds = {"x": rng.standard_normal((1, 4, 8, 8)).astype(np.float32)}
    np.testing.assert_allclose(model.run(feeds)["y"], cnnc.compile(g).run(feeds)["y"], rtol=1e-5, atol=1e-6)
