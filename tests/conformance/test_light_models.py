"""The nine light models (real architectures with constant weights) on every backend:
ONNX's own deterministic input against the stored output, and random inputs against
onnxruntime (constant weights hide indexing bugs that random inputs expose)."""
import json
import warnings
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

import cnnc
from harness import BACKENDS, require_backend
from helpers import compile_for

DATA = Path(onnx.__file__).parent / "backend" / "test" / "data"
MODELS = sorted(p.stem[len("light_"):] for p in (DATA / "light").glob("light_*.onnx"))


def test_all_nine_are_there():
    assert len(MODELS) == 9, MODELS


def _input(model: onnx.ModelProto):
    inits = {t.name for t in model.graph.initializer}
    (vi,) = [i for i in model.graph.input if i.name not in inits]
    return vi


@pytest.fixture(scope="module")
def compiled():
    cache = {}

    def get(name, backend):
        if (name, backend) not in cache:
            g = cnnc.load_onnx(DATA / "light" / f"light_{name}.onnx")
            cache[name, backend] = compile_for(g, backend)
        return cache[name, backend]
    return get


#: light models the CUDA emulator builds and runs in seconds; the other seven cost 15-90 s
#: each of g++ and CPU emulation (densenet121: 31 s of g++ alone), more than the CI budget
#: of the CUDA tests, so on cuda-emu they run with -m slow (scripts/gpu_check.sh runs all)
EMU_FAST = {"squeezenet", "shufflenet"}


def _cases():
    for backend in BACKENDS:
        for name in MODELS:
            slow = backend == "cuda-emu" and name not in EMU_FAST
            yield pytest.param(backend, name, marks=[pytest.mark.slow] if slow else [], id=f"{backend}-{name}")


@pytest.mark.parametrize("backend,name", list(_cases()))
def test_light_model(backend, name, compiled):
    from onnx.backend.test.runner import Runner
    require_backend(backend)
    model = onnx.load(str(DATA / "light" / f"light_{name}.onnx"))
    vi = _input(model)
    tol = json.loads((DATA / "real" / f"test_{name}" / "data.json").read_text())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        x = Runner.generate_dummy_data(vi, seed=0, name=name, random=False)
    want = numpy_helper.to_array(onnx.load_tensor(str(DATA / "light" / f"light_{name}_output_0.pb")))
    m = compiled(name, backend)
    (got,) = m.run({vi.name: x}).values()
    np.testing.assert_allclose(got, want, rtol=tol["rtol"], atol=tol["atol"])

    # random inputs against onnxruntime
    import onnxruntime as ort
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    xr = np.random.default_rng(1).standard_normal(x.shape).astype(np.float32)
    (ref,) = sess.run(None, {vi.name: xr})
    (got,) = m.run({vi.name: xr}).values()
    np.testing.assert_allclose(got, ref, rtol=1e-3, atol=1e-5)
