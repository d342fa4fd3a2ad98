"""The command line: show/run/ops, and one clean error line (no traceback) on bad input."""
import re
import runpy

import numpy as np
import onnx
import pytest
from helpers import dynamic_convnet

import cnnc
from cnnc.backends import TARGETS
from cnnc.cli import main

MODEL = '''
import cnnc.dsl as nn

def build():
    m = nn.Model("cli_model")
    x = m.input("x", (1, 2, 6, 6))
    m.output(nn.conv(x, 3, 3, padding="same", activation="relu"), "y")
    return m.build()
'''

BROKEN = '''
import cnnc.dsl as nn

def build():
    m = nn.Model("broken")
    x = m.input("x", (1, 2, 6, 6))
    y = nn.conv(x, 3, 9)
    return m.build()
'''


@pytest.fixture
def model_file(tmp_path):
    p = tmp_path / "model.py"
    p.write_text(MODEL)
    return p


def test_show(model_file, capsys):
    assert main(["show", str(model_file)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("graph cli_model(%x: f32[1,2,6,6]) {") and "Relu" in out
    # sources by file name and line, no path of this machine
    assert "# model.py:7" in out and str(model_file.parent) not in out


def test_show_an_onnx_model_names_its_file_once(model_file, tmp_path, capsys):
    assert main(["export", str(model_file), "-o", str(tmp_path / "m.onnx")]) == 0
    capsys.readouterr()
    assert main(["show", str(tmp_path / "m.onnx")]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].endswith("{  # from m.onnx") and str(tmp_path) not in out
    assert "m.onnx" not in "\n".join(out.splitlines()[1:])


def test_show_summary(capsys):
    """Every layer as the C target compiles it, with its parameters, FLOPs and kernel, and
    totals that agree with the graph's."""
    from pathlib import Path
    from cnnc.cli import load_model
    from cnnc.passes import graph_flops
    example = Path(__file__).resolve().parent.parent / "examples" / "resnet.py"
    assert main(["show", str(example), "--summary", "--cpu", "generic", "--threads", "1"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("resnet18: 25 layers, planned for the c target (generic, 1 worker)")
    assert out[1].split() == ["layer", "op", "attributes", "output", "params", "FLOPs", "kernel"]
    stem = next(line for line in out if line.startswith("stem_conv"))
    assert "FusedConv" in stem and "kernel_shape=7x7, strides=2x2" in stem and "9,472" in stem and " cnnc_" in stem
    fc = next(line for line in out if line.startswith("fc "))
    assert "513,000" in fc and "1.02M" in fc
    g = cnnc.optimize(load_model(str(example)))
    params = sum(g.type_of(v).size for v in {v for n in g.nodes() for v in g.operands(n.name)
                                            if g.node(v.node).op == "Constant"})
    assert re.fullmatch(rf"total: {params:,} parameters, {graph_flops(g) / 1e6:.2f}M FLOPs, weights [0-9.]+ MiB, "
                        r"arena [0-9.]+ (KiB|MiB)", out[-1]), out[-1]


def test_run_with_given_input_and_save(model_file, tmp_path, capsys, rng):
    x = rng.standard_normal((1, 2, 6, 6)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    assert main(["run", str(model_file), "--input", f"x={tmp_path / 'x.npy'}", "--save", str(tmp_path / "o")]) == 0
    out = capsys.readouterr().out
    assert "input  x: f32[1,2,6,6] (given)" in out and "output y: float32[1, 3, 6, 6]" in out
    y = np.load(tmp_path / "o" / "y.npy")
    assert y.shape == (1, 3, 6, 6) and (y >= 0).all()


@pytest.mark.parametrize("argv,msg", [
    (["run", "no/such/model.py"], "does not exist"),
    (["run", "{model}", "--input", "x"], "NAME=FILE.npy"),
    (["run", "{model}", "--input", "x={tmp}/missing.npy"], "cannot read"),
    (["run", "{model}", "--input", "z={tmp}/x.npy"], "unknown 'z'"),
    (["run", "{model}", "--input", "x={tmp}/bad.npy"], "must be float32\\[1, 2, 6, 6\\]"),
    (["run", "{broken}"], r"layer 'conv1' \(Conv\) at .*broken.py:7: window of extent 9"),
    (["show", "{txt}"], "unsupported model file type"),
    (["compile", "{model}", "--target", "c", "-o", "{tmp}/out", "--precision", "tf32"],
     "target 'c' takes no option 'precision' for its model folder; it takes 'weights', 'build'"),
    (["compile", "{model}", "--target", "c", "-o", "{tmp}/out", "--db", "{tmp}"], "takes no option 'db'"),
    (["compile", "{model}", "--target", "cuda", "-o", "{tmp}/out", "--cpu", "znver3"], "takes no option 'cpu'"),
])
def test_errors_are_one_line(argv, msg, model_file, tmp_path, capsys):
    (tmp_path / "broken.py").write_text(BROKEN)
    (tmp_path / "m.txt").write_text("")
    np.save(tmp_path / "x.npy", np.zeros((1, 2, 6, 6), np.float32))
    np.save(tmp_path / "bad.npy", np.zeros((2, 6, 6), np.float32))
    argv = [a.format(model=model_file, tmp=tmp_path, broken=tmp_path / "broken.py", txt=tmp_path / "m.txt")
            for a in argv]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("cnnc: error: ") and len(err.strip().splitlines()) == 1, err
    assert re.search(msg, err), err


def test_onnx_model_with_input_shape_and_export(model_file, tmp_path, capsys):
    onnx_path = tmp_path / "m.onnx"
    assert main(["export", str(model_file), "-o", str(onnx_path)]) == 0
    assert "wrote" in capsys.readouterr().out
    assert main(["run", str(onnx_path)]) == 0
    assert "output y: float32[1, 3, 6, 6]" in capsys.readouterr().out
    assert main(["show", str(onnx_path), "--input-shape", "x=1,2,6,6"]) == 0
    assert main(["show", str(onnx_path), "--input-shape", "x=1,2,7,6"]) == 1
    assert "dim 2 = 7, the model fixes it to 6" in capsys.readouterr().err
    assert main(["show", str(onnx_path), "--input-shape", "x=1,two"]) == 1
    assert "expects NAME=d0,d1" in capsys.readouterr().err


def test_symbolic_onnx_needs_input_shape(tmp_path, capsys):
    p = tmp_path / "dyn.onnx"
    onnx.save(dynamic_convnet(), p)
    assert main(["run", str(p)]) == 1
    assert "dims 0 ('batch'), 2 ('h'), 3 ('w') are symbolic" in capsys.readouterr().err
    assert main(["run", str(p), "--input-shape", "x=2,3,5,5"]) == 0
    assert "output y: float32[2, 4]" in capsys.readouterr().out


def test_compile_with_passes_and_dump_ir(model_file, tmp_path, capsys):
    assert main(["compile", str(model_file), "--passes", "fuse_conv_norm_act,eliminate_dead_code",
                 "--dump-ir", str(tmp_path / "ir"), "-v"]) == 0
    out = capsys.readouterr().out
    assert "fuse_conv_norm_act" in out and "compiled for reference" in out
    assert (tmp_path / "ir" / "01_fuse_conv_norm_act.svg").is_file()
    assert "FusedConv" in (tmp_path / "ir" / "02_eliminate_dead_code.txt").read_text()
    assert main(["compile", str(model_file), "--passes", "nope"]) == 1
    assert "unknown pass 'nope'" in capsys.readouterr().err
    assert main(["run", str(model_file), "-O", "0", "-q"]) == 0


def test_compile_c_build_and_run_folder(model_file, tmp_path, capsys, rng):
    out = tmp_path / "gen"
    assert main(["compile", str(model_file), "--target", "c", "-o", str(out), "--build", "-q"]) == 0
    assert "built libcli_model.so and cli_model_main" in capsys.readouterr().out
    x = rng.standard_normal((1, 2, 6, 6)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    assert main(["run", str(out), "--input", f"x={tmp_path / 'x.npy'}", "--save", str(tmp_path / "o")]) == 0
    import cnnc
    from cnnc.cli import load_model
    want = cnnc.compile(load_model(str(model_file))).run({"x": x})["y"]
    np.testing.assert_allclose(np.load(tmp_path / "o" / "y.npy"), want, rtol=1e-5, atol=1e-6)
    assert main(["compile", str(model_file), "--target", "c"]) == 1
    assert "-o DIR" in capsys.readouterr().err
    assert main(["run", str(tmp_path)]) == 1
    assert "not a cnnc model folder" in capsys.readouterr().err


def test_compile_options_come_from_the_target_records(model_file):
    """An option of ``cnnc.compile`` that the target does not take is one CnncError naming
    the ones it takes (none is silently dropped)."""
    graph = runpy.run_path(str(model_file))["build"]()
    with pytest.raises(cnnc.CnncError, match="target 'c' takes no option 'precision'; it takes 'weights'"):
        cnnc.compile(graph, target="c", precision="tf32")
    with pytest.raises(cnnc.CnncError, match="target 'reference' takes no option 'cc'; it takes none"):
        cnnc.compile(graph, target="reference", cc="gcc")
    with pytest.raises(cnnc.CnncError, match="unknown target 'c99'"):
        cnnc.compile(graph, target="c99")
    for t in TARGETS.values():   # every record names importable functions and documents its options
        assert callable(t.function(t.compile)) and all(o.help for o in t.options.values())
        assert (t.write is None) == (t.load is None)
        if t.write:
            assert callable(t.function(t.write)) and callable(t.function(t.load))


def test_show_a_model_folder_and_a_folder_given_as_a_model(model_file, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["compile", str(model_file), "--target", "c", "-o", str(out), "-q"]) == 0
    capsys.readouterr()
    assert main(["show", str(out)]) == 0
    text = capsys.readouterr().out
    assert f"{out}: cnnc model folder of 'cli_model' for target c" in text
    assert "input  x: f32[1,2,6,6]" in text and "output y: f32[1,3,6,6]" in text and "cli_model.c (" in text
    assert main(["compile", str(out), "--target", "c", "-o", str(tmp_path / "o2")]) == 1
    err = capsys.readouterr().err
    assert "is a folder; this command takes a model file" in err and len(err.splitlines()) == 1
    assert main(["show", str(tmp_path)]) == 1
    assert "not a cnnc model folder" in capsys.readouterr().err


def test_export_writes_a_file_readable_by_others(model_file, tmp_path):
    import os
    old = os.umask(0o022)
    try:
        assert main(["export", str(model_file), "-o", str(tmp_path / "m.onnx")]) == 0
    finally:
        os.umask(old)
    assert (tmp_path / "m.onnx").stat().st_mode & 0o777 == 0o644


def test_ops_names_the_targets_of_each_op(capsys):
    assert main(["ops"]) == 0
    lines = {ln.split()[0]: ln for ln in capsys.readouterr().out.splitlines()}
    assert lines["Conv"].endswith("[reference, c, cuda, tvm, tvm-cuda]")
    assert lines["Input"].endswith("[all targets]")


def test_model_and_target_have_help(capsys):
    with pytest.raises(SystemExit):
        main(["compile", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "MODEL an .onnx file, or a .py file defining build()" in text
    assert "what to compile for (default reference): reference: the numpy interpreter" in text
    assert "--force" in text


def test_the_output_does_not_depend_on_where_the_model_lies(model_file, tmp_path):
    """The generated files name the source model by its file name alone."""
    import filecmp
    other = tmp_path / "elsewhere" / "deeper"
    other.mkdir(parents=True)
    (other / model_file.name).write_text(model_file.read_text())
    assert main(["compile", str(model_file), "--target", "c", "-o", str(tmp_path / "a"), "-q"]) == 0
    assert main(["compile", str(other / model_file.name), "--target", "c", "-o", str(tmp_path / "b"), "-q"]) == 0
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    match, mismatch, errors = filecmp.cmpfiles(tmp_path / "a", tmp_path / "b", names, shallow=False)
    assert not mismatch and not errors and len(match) == len(names)
    assert str(tmp_path) not in (tmp_path / "a" / "cli_model.h").read_text()


def test_the_pass_table_is_off_by_default(model_file, capsys):
    """`cnnc run` prints its outputs; the per-pass statistics only with -v."""
    assert main(["run", str(model_file)]) == 0
    out = capsys.readouterr().out
    assert "fuse_conv_norm_act" not in out and "nodes" not in out and "y:" in out
    assert main(["run", str(model_file), "-v"]) == 0
    assert "fuse_conv_norm_act" in capsys.readouterr().out
