"""Every light model and every DSL example of examples/ generates CUDA that nvcc compiles
for sm_80 and sm_90 with warnings as errors (model and standalone driver), without a GPU
(``cuda.nvcc_check``): the CI check of issue 7.  Weights go in a blob, so that compile
time is spent on the kernels.  Whether the kernels are right is checked on the CPU
emulator (tests/conformance, backend cuda-emu) and on a GPU by scripts/gpu_check.sh."""
import runpy
from pathlib import Path

import onnx
import pytest

import cnnc
from cnnc.backends import cuda

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"
LIGHT = sorted(p.stem[len("light_"):] for p in DATA.glob("light_*.onnx"))
EXAMPLES = sorted(p.stem for p in (ROOT / "examples").glob("*.py"))

pytestmark = pytest.mark.skipif(cuda.nvcc_path() is None, reason="nvcc (the CUDA toolkit) is not installed")


def test_there_is_something_to_check():
    assert len(LIGHT) == 9 and len(EXAMPLES) >= 8, (LIGHT, EXAMPLES)


@pytest.mark.parametrize("model", LIGHT)
def test_light_model_compiles_for_sm80_and_sm90(model, tmp_path):
    g = cnnc.load_onnx(DATA / f"light_{model}.onnx")
    cuda.nvcc_check(cuda.generate(g, tmp_path, weights="blob"), archs=("sm_80", "sm_90"))


@pytest.mark.parametrize("example", EXAMPLES)
def test_example_compiles_for_sm80_and_sm90(example, tmp_path):
    g = runpy.run_path(str(ROOT / "examples" / f"{example}.py"), run_name="nvcc")["build"]()
    cuda.nvcc_check(cuda.generate(g, tmp_path, weights="blob"), archs=("sm_80", "sm_90"))


def test_tf32_build_compiles(tmp_path):
    g = runpy.run_path(str(ROOT / "examples" / "lenet.py"), run_name="nvcc")["build"]()
    folder = cuda.generate(g, tmp_path, weights="blob", precision="tf32")
    assert "#define CNNC_TF32 1" in next(folder.glob("*.cu")).read_text().split("\n#include")[0]
    cuda.nvcc_check(folder, archs=("sm_80",))
