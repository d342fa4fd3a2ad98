"""The C backend as a whole: the folder it writes, the rules generated code keeps
(C99, warning-free under gcc and clang, no malloc, names never escape, byte-identical),
weights as C arrays or a linked blob, the examples compiling under clang, and the
Makefile / CMake builds (test_backend_examples.py: the examples agree with the reference)."""
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import cnnc
import cnnc.dsl as nn
from cnnc.backends import c as cb
from cnnc.backends.base import read_manifest
from cnnc.ir import Graph, TensorType

ROOT = Path(__file__).resolve().parents[2]
HOSTILE = ['in"put', "a*/b", "line\nbreak", "back\\slash", "naïve ŝ", "int", "for", "return",
           "/* c */", "x; system(\"rm\");", "__LINE__"]


def small_model(name="small"):
    m = nn.Model(name, seed=1)
    x = m.input("x", (1, 2, 6, 6))
    y = nn.conv(x, 3, 3, padding="same", activation="relu")
    m.output(nn.global_avg_pool(nn.max_pool(y, 2)), "y")
    return m.build()


def hostile_model():
    g = Graph('evil"model*/\n')
    x = g.add_input(HOSTILE[0], TensorType((2, 3)))
    v = x
    for label in HOSTILE[1:]:
        (v,) = g.add_node("Relu" if len(label) % 2 else "Sigmoid", [v], label=label)
    w = g.add_constant(np.full((2, 3), 0.5, np.float32), label="const */ \"w\"")
    (out,) = g.add_node("Add", [v, w], label="add\\")
    g.add_output(out, 'out "*/ ŝ\n')
    g.add_output(x, "int")
    return g.verify()


def _code_outside_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return "\n".join(ln for ln in text.splitlines() if not ln.startswith("#include"))


def test_hostile_names_compile_run_and_never_escape(tmp_path, rng):
    g = hostile_model()
    m = cnnc.compile(g, target="c", out_dir=tmp_path)
    x = rng.standard_normal((2, 3)).astype(np.float32)
    got, want = m.run({HOSTILE[0]: x}), cnnc.compile(g).run({HOSTILE[0]: x})
    assert list(got) == list(want)
    for k in want:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-6, atol=1e-7)
    generated = [f for f in list(tmp_path.glob("*.c")) + list(tmp_path.glob("*.h")) if not f.name.startswith("cnnc_")]
    for f in generated + [tmp_path / "Makefile"]:
        text = f.read_text()
        assert text.isascii(), f
        code = _code_outside_comments(text)
        # the header's name macros are C strings (escaped: test_c_firmware.py compiles them)
        code = "\n".join(ln for ln in code.splitlines()
                         if not re.match(r"#define \w+_(NAME|DTYPE|CNNC_VERSION|MODEL_HASH) \"", ln))
        if not f.name.endswith("_main.c"):   # the driver's own messages are its only strings
            assert '"' not in code and "\\" not in code, f
        for label in HOSTILE:
            if not re.fullmatch(r"\w+", label):
                assert label not in code, (f, label)


def test_byte_identical_output(tmp_path):
    g = small_model()
    a, b = cb.generate(g, tmp_path / "a"), cb.generate(small_model(), tmp_path / "b")
    for f in sorted(a.iterdir()):
        assert f.read_bytes() == (b / f.name).read_bytes(), f.name
    header = (a / "small.c").read_text()
    assert "DO NOT EDIT" in header and f"cnnc {cnnc.__version__}" in header and "c/model.c.j2" in header


@pytest.mark.parametrize("weights", ["c", "blob"])
def test_weights_modes(tmp_path, rng, weights):
    g = small_model()
    m = cnnc.compile(g, target="c", out_dir=tmp_path, weights=weights)
    assert (tmp_path / "small_weights.bin").exists() == (weights == "blob")
    x = rng.standard_normal((1, 2, 6, 6)).astype(np.float32)
    np.testing.assert_allclose(m.run({"x": x})["y"], cnnc.compile(g).run({"x": x})["y"], rtol=1e-5, atol=1e-6)


def test_no_malloc_in_library(tmp_path):
    cnnc.compile(small_model(), target="c", out_dir=tmp_path)
    syms = subprocess.run(["nm", "-D", "--undefined-only", str(tmp_path / "libsmall.so")],
                          capture_output=True, text=True, check=True).stdout
    for bad in ("malloc", "calloc", "realloc", "free"):
        assert not re.search(rf"\b{bad}\b", syms), syms


@pytest.mark.parametrize("cpu", ["generic", "native"])
@pytest.mark.parametrize("cc", ["gcc", "clang"])
def test_warning_free_under_gcc_and_clang(tmp_path, cc, cpu):
    """The generic build is strict C99 (-pedantic); the native one, with its ISA flags and
    vector extensions, is warning-free too."""
    if shutil.which(cc) is None:
        pytest.skip(f"{cc} is not installed (.ci/run installs clang)")
    folder = cb.generate(small_model(), tmp_path, cpu=cpu)
    flags = ["-pedantic"] if cpu == "generic" else read_manifest(folder)[0]["cflags"]
    for src in ("small.c", "small_main.c", "cnnc_pool.c"):
        subprocess.run([cc, "-std=c99", "-Wall", "-Wextra", "-Werror", *flags, "-O2", "-c", src,
                        "-o", "/dev/null"], cwd=folder, check=True)


def test_makefile_and_cmake_build(tmp_path, rng):
    folder = cb.generate(small_model(), tmp_path / "m", weights="blob")
    subprocess.run(["make", "-s"], cwd=folder, check=True, capture_output=True)
    assert (folder / "libsmall.a").exists() and (folder / "small_main").exists()
    x = rng.standard_normal((1, 2, 6, 6)).astype(np.float32)
    (y,) = cb.run_exe(folder / "small_main", [x], [TensorType((1, 3, 1, 1))])
    np.testing.assert_allclose(y, cnnc.compile(small_model()).run({"x": x})["y"], rtol=1e-5, atol=1e-6)
    if shutil.which("cmake"):
        build = tmp_path / "cmake"
        subprocess.run(["cmake", "-S", str(folder), "-B", str(build)], check=True, capture_output=True)
        subprocess.run(["cmake", "--build", str(build)], check=True, capture_output=True)


def test_compiler_error_is_one_cnnc_error_with_file_and_line(tmp_path):
    folder = cb.generate(small_model(), tmp_path)
    src = folder / "small.c"
    src.write_text(src.read_text().replace("return CNNC_OK;", "return CNNC_OK + ;"))
    with pytest.raises(cnnc.CnncError, match=r"small\.c:\d+"):
        cb.build_library(folder)


def test_arena_checks(tmp_path, rng):
    m = cnnc.compile(small_model(), target="c", out_dir=tmp_path)
    assert m.arena_bytes > 0 and m.arena_bytes % 64 == 0
    x = rng.standard_normal((1, 2, 6, 6)).astype(np.float32)
    ffi = m._ffi
    out = np.empty((1, 3, 1, 1), np.float32)
    args = [ffi.from_buffer("float[]", x), ffi.from_buffer("float[]", out)]
    assert m._run_fn(*args, ffi.from_buffer(m._arena), m.arena_bytes - 64, ffi.NULL) == 2   # too small
    assert m._run_fn(*args, ffi.NULL, m.arena_bytes, ffi.NULL) == 1                          # null
    unaligned = np.zeros(m.arena_bytes + 128, np.uint8)
    off = (-unaligned.ctypes.data) % 64 + 1
    assert m._run_fn(*args, ffi.from_buffer(unaligned[off:]), m.arena_bytes, ffi.NULL) == 3  # misaligned
    hook = ffi.new("int[8]")    # a parallel hook whose run function is NULL
    assert m._run_fn(*args, ffi.from_buffer(m._arena), m.arena_bytes, hook) == 6


def test_overlapping_buffers_are_refused(tmp_path, rng):
    """An output that shares a byte with an input, or a buffer inside the arena, is
    CNNC_ERR_OVERLAP (7), and nothing is written."""
    m = cnnc.compile(small_model(), target="c", out_dir=tmp_path)
    ffi = m._ffi
    x = rng.standard_normal((1, 2, 6, 6)).astype(np.float32)
    arena = ffi.from_buffer(m._arena)
    base = x.copy()
    flat = x.reshape(-1)
    for off in (0, 5, 69):  # the output's 3 floats at the start of, inside, or at the end of the input's 72
        assert m._run_fn(ffi.from_buffer("float[]", x), ffi.from_buffer("float[]", flat[off:off + 3]),
                         arena, m.arena_bytes, ffi.NULL) == 7
    np.testing.assert_array_equal(x, base)
    out = np.empty((1, 3, 1, 1), np.float32)
    assert m._run_fn(ffi.from_buffer("float[]", x), ffi.from_buffer("float[]", m._arena[:12].view(np.float32)),
                     arena, m.arena_bytes, ffi.NULL) == 7                    # the output in the arena
    assert m._run_fn(ffi.from_buffer("float[]", m._arena[-4:].view(np.float32)), ffi.from_buffer("float[]", out),
                     arena, m.arena_bytes, ffi.NULL) == 7                    # the input's start in the arena
    # adjacent buffers share no byte: fine
    both = np.empty(72 + 3, np.float32)
    both[:72] = x.reshape(-1)
    assert m._run_fn(ffi.from_buffer("float[]", both[:72]), ffi.from_buffer("float[]", both[72:]),
                     arena, m.arena_bytes, ffi.NULL) == 0
    np.testing.assert_allclose(both[72:], m.run({"x": x})[next(iter(m.outputs))].reshape(-1), rtol=0, atol=0)


EXAMPLES = sorted(p.stem for p in (ROOT / "examples").glob("*.py"))


LIGHT = Path(__import__("onnx").__file__).parent / "backend" / "test" / "data" / "light"


@pytest.mark.parametrize("model", sorted(p.stem[len("light_"):] for p in LIGHT.glob("light_*.onnx")
                                         if not p.stem.endswith("_0")))
def test_light_models_compile_under_clang(model, tmp_path):
    """gcc builds every light model in the conformance run; clang compiles them here."""
    if shutil.which("clang") is None:
        pytest.skip("clang is not installed (.ci/run installs it)")
    g = cnnc.optimize(cnnc.load_onnx(LIGHT / f"light_{model}.onnx"))
    folder = cb.generate(g, tmp_path, weights="blob")
    (src,) = [p.name for p in folder.glob("*.c") if not p.name.endswith("_main.c") and not p.name.startswith("cnnc_")]
    cflags = read_manifest(folder)[0]["cflags"]   # the ISA's vector code too
    subprocess.run(["clang", "-std=c99", "-Wall", "-Wextra", "-Werror", "-O1", *cflags, "-c", src, "-o", "/dev/null"],
                   cwd=folder, check=True)


@pytest.mark.parametrize("example", EXAMPLES)
def test_examples_compile_under_clang(example, tmp_path):
    if shutil.which("clang") is None:
        pytest.skip("clang is not installed (.ci/run installs it)")
    import runpy
    g = runpy.run_path(str(ROOT / "examples" / f"{example}.py"), run_name="clang")["build"]()
    folder = cb.generate(cnnc.optimize(g), tmp_path)
    cflags = read_manifest(folder)[0]["cflags"]
    for src in folder.glob("*.c"):
        subprocess.run(["clang", "-std=c99", "-Wall", "-Wextra", "-Werror", "-O1", *cflags, "-c", src.name,
                        "-o", "/dev/null"], cwd=folder, check=True)
