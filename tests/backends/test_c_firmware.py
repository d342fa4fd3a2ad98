"""The C model folder as firmware engineers use it: the header's macros (names, types and
shapes of the inputs and outputs, the model hash, cnnc's version, the weights' bytes and
section), weights read at run time (weights="external": <m>_load_weights), the weights placed
in a linker section of the user's choosing, CMake's install rules, and the driver reading
.npy, taking --iters and printing its latency."""
import re
import shutil
import subprocess

import numpy as np
import pytest
import test_c_model

import cnnc
import cnnc.dsl as nn
from cnnc.backends import c as cb
from cnnc.backends.base import read_manifest
from cnnc.ir import CnncError, Graph, TensorType


def small_model(name="fw"):
    return test_c_model.small_model(name)


def _macros(header: str) -> dict[str, str]:
    return dict(re.findall(r"^#define (\w+) (.+)$", header, flags=re.M))


def test_header_macros(tmp_path):
    folder = cb.generate(small_model(), tmp_path)
    d = _macros((folder / "fw.h").read_text())
    assert d["FW_NUM_INPUTS"] == "1" and d["FW_NUM_OUTPUTS"] == "1"
    assert d["FW_INPUT_0_NAME"] == '"x"' and d["FW_INPUT_0_TYPE"] == "float" and d["FW_INPUT_0_DTYPE"] == '"float32"'
    assert d["FW_OUTPUT_0_NAME"] == '"y"' and [d[f"FW_OUTPUT_0_DIM{i}"] for i in range(4)] == ["1u", "3u", "1u", "1u"]
    assert d["FW_CNNC_VERSION"] == f'"{cnnc.__version__}"' and re.fullmatch(r'"[0-9a-f]{16}"', d["FW_MODEL_HASH"])
    assert int(d["FW_WEIGHTS_BYTES"].rstrip("u")) > 0
    # the same model gives the same hash; other weights another one
    again = _macros((cb.generate(small_model(), tmp_path / "again") / "fw.h").read_text())
    assert again["FW_MODEL_HASH"] == d["FW_MODEL_HASH"]
    m = nn.Model("fw", seed=2)   # other random weights
    m.output(nn.global_avg_pool(nn.max_pool(nn.conv(m.input("x", (1, 2, 6, 6)), 3, 3, padding="same",
                                                    activation="relu"), 2)), "y")
    other = m.build()
    assert _macros((cb.generate(other, tmp_path / "other") / "fw.h").read_text())["FW_MODEL_HASH"] != d["FW_MODEL_HASH"]


def test_hostile_names_are_safe_c_strings(tmp_path):
    """An input named with quotes, backslashes, a newline, a trigraph and non-ASCII text is a
    C string literal that compiles to the same bytes."""
    name = 'in"pu\\t\n??=ŝ'
    g = Graph("names")
    x = g.add_input(name, TensorType((2, 3)))
    (y,) = g.add_node("Relu", [x])
    g.add_output(y, "out*/")
    folder = cb.generate(g, tmp_path)
    (folder / "probe.c").write_text('#include <stdio.h>\n#include "names.h"\n'
                                    'int main(void) { fputs(NAMES_INPUT_0_NAME, stdout); fputs("|", stdout); '
                                    'fputs(NAMES_OUTPUT_0_NAME, stdout); return 0; }\n')
    subprocess.run(["cc", "-std=c99", "-pedantic", "-Wall", "-Wextra", "-Werror", "-o", "probe", "probe.c"],
                   cwd=folder, check=True)
    out = subprocess.run([str(folder / "probe")], capture_output=True, check=True).stdout
    assert out == (name + "|out*/").encode()


def test_external_weights(tmp_path, rng):
    """weights="external": <m>_weights.bin is read by the program and handed to
    <m>_load_weights; a run before it, or weights of the wrong size, is CNNC_ERR_WEIGHTS."""
    g = small_model()
    m = cnnc.compile(g, target="c", out_dir=tmp_path / "m", weights="external")
    folder = tmp_path / "m"
    assert read_manifest(folder)[0]["weights_mode"] == "external"
    assert not (folder / "fw_weights.S").exists() and (folder / "fw_weights.bin").is_file()
    x = rng.standard_normal((1, 2, 6, 6)).astype(np.float32)
    want = cnnc.compile(g).run({"x": x})["y"]
    np.testing.assert_allclose(m.run({"x": x})["y"], want, rtol=1e-5, atol=1e-6)
    # the driver, with the default weights file beside it and with --weights
    exe = cb.build_exe(folder)
    (y,) = cb.run_exe(exe, [x], [TensorType((1, 3, 1, 1))])
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-6)
    (folder / "fw_weights.bin").rename(tmp_path / "w.bin")
    np.save(tmp_path / "x.npy", x)
    res = subprocess.run([str(exe), str(tmp_path / "x.npy"), str(tmp_path / "y.npy")], cwd=folder,
                         capture_output=True, text=True)
    assert res.returncode == 1 and "cannot open fw_weights.bin" in res.stderr
    subprocess.run([str(exe), "--weights", str(tmp_path / "w.bin"), str(tmp_path / "x.npy"), str(tmp_path / "y.npy")],
                   cwd=folder, check=True)
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), want, rtol=1e-5, atol=1e-6)
    # a program that runs before loading, then loads a wrong size, then the right weights
    (folder / "probe.c").write_text(
        '#include <stdio.h>\n#include <string.h>\n#include "fw.h"\n'
        'static float in[FW_INPUT_0_SIZE], out[FW_OUTPUT_0_SIZE];\n'
        'static _Alignas(64) unsigned char arena[FW_ARENA_BYTES + 1], w[FW_WEIGHTS_BYTES + 64];\n'
        'int main(void) {\n'
        '    printf("%d ", (int)fw_run(in, out, arena, FW_ARENA_BYTES));\n'
        '    printf("%d ", (int)fw_load_weights(w, FW_WEIGHTS_BYTES - 4));\n'
        '    printf("%d ", (int)fw_load_weights(w + 4, FW_WEIGHTS_BYTES));\n'
        '    printf("%d\\n", (int)fw_load_weights(w, FW_WEIGHTS_BYTES));\n    return 0;\n}\n')
    subprocess.run(["cc", "-std=c11", "-Wall", "-Wextra", "-Werror", "-o", "probe", "probe.c", "libfw.a", "-lm"],
                   cwd=folder, check=True, capture_output=True) if (folder / "libfw.a").exists() else \
        subprocess.run(["cc", "-std=c11", "-Wall", "-Wextra", "-Werror", "-o", "probe", "probe.c", "fw.c", "-lm"],
                       cwd=folder, check=True)
    out = subprocess.run([str(folder / "probe")], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["8", "8", "8", "0"]


def test_the_cuda_target_refuses_external_weights(tmp_path):
    from cnnc.backends import cuda
    with pytest.raises(CnncError, match="weights='external'.* is the c target's"):
        cuda.generate(small_model(), tmp_path, weights="external")


@pytest.mark.parametrize("weights", ["c", "blob"])
def test_weights_in_a_section_of_ones_choice(tmp_path, weights):
    folder = cb.generate(small_model(), tmp_path, weights=weights)
    nbytes = int(_macros((folder / "fw.h").read_text())["FW_WEIGHTS_BYTES"].rstrip("u"))
    src = "fw.c" if weights == "c" else "fw_weights.S"
    subprocess.run(["cc", "-std=c99", "-O2", "-c", src, "-o", "w.o", "-DFW_WEIGHTS_SECTION=\".flash_weights\""],
                   cwd=folder, check=True)
    sections = subprocess.run(["objdump", "-h", str(folder / "w.o")], capture_output=True, text=True, check=True).stdout
    line = next(ln for ln in sections.splitlines() if ".flash_weights" in ln)
    assert int(line.split()[2], 16) >= nbytes * (0.9 if weights == "c" else 1)


def test_driver_npy_iters_and_latency(tmp_path, rng):
    folder = cb.generate(small_model(), tmp_path / "m")
    exe = cb.build_exe(folder)
    x = rng.standard_normal((1, 2, 6, 6)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    res = subprocess.run([str(exe), "--iters", "3", str(tmp_path / "x.npy"), str(tmp_path / "y.npy")],
                         capture_output=True, text=True, check=True, env={"CNNC_THREADS": "1"})
    assert re.search(r"latency over 3 runs: mean [0-9.]+ ms, min [0-9.]+ ms", res.stdout), res.stdout
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), cnnc.compile(small_model()).run({"x": x})["y"],
                               rtol=1e-5, atol=1e-6)
    np.save(tmp_path / "bad.npy", x.astype(np.float64))
    res = subprocess.run([str(exe), str(tmp_path / "bad.npy"), str(tmp_path / "y.npy")], capture_output=True, text=True)
    assert res.returncode == 1 and "must have dtype '<f4'" in res.stderr


@pytest.mark.skipif(shutil.which("cmake") is None, reason="the install rules are checked with cmake, not installed")
@pytest.mark.parametrize("weights", ["blob", "external"])
def test_cmake_install(tmp_path, weights):
    folder = cb.generate(small_model(), tmp_path / "m", weights=weights)
    build, prefix = tmp_path / "build", tmp_path / "prefix"
    subprocess.run(["cmake", "-S", str(folder), "-B", str(build), f"-DCMAKE_INSTALL_PREFIX={prefix}"],
                   check=True, capture_output=True)
    subprocess.run(["cmake", "--build", str(build)], check=True, capture_output=True)
    subprocess.run(["cmake", "--install", str(build)], check=True, capture_output=True)
    files = {p.relative_to(prefix).as_posix() for p in prefix.rglob("*") if p.is_file()}
    assert {"include/fw.h", "include/cnnc_status.h"} <= files and any(f.endswith("libfw.a") for f in files)
    assert ("share/fw/fw_weights.bin" in files) == (weights == "external")


@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None,
                    reason="the Cortex-M4 build needs arm-none-eabi-gcc (apt-get install gcc-arm-none-eabi "
                           "libnewlib-arm-none-eabi; .ci/run installs it)")
def test_cortex_m4_build():
    """scripts/cortex_m_size.py: two small models' generic C compiles for a Cortex-M4 with
    hard float, warning-free, and their sizes are printed."""
    import sys
    from pathlib import Path
    root = Path(__file__).resolve().parents[2]
    res = subprocess.run([sys.executable, str(root / "scripts" / "cortex_m_size.py")], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    rows = [ln.split() for ln in res.stdout.splitlines()[1:]]
    assert [r[0] for r in rows] == ["lenet5", "edge_gabor"] and all(int(v) > 0 for r in rows for v in r[1:])
