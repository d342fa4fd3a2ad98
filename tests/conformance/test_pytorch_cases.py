"""ONNX's PyTorch-exported suites (``pytorch-converted``, ``pytorch-operator``: 117 models
of opsets 6 and below, IR version 3, shipped in the onnx package) on every backend: the
legacy forms go through the ops' versioned importers (``broadcast``/``axis`` on the binary
ops and Gemm, BatchNormalization's ``is_test``/``consumed_inputs``, PRelu's per-channel
slope of shape (C,)), and initializers listed among the graph inputs are constants."""
import pytest
from harness import BACKENDS, pytorch_cases, require_backend, run_model_case

CASES = sorted(pytorch_cases())


def test_case_count():
    import onnx
    if onnx.__version__ == "1.23.2":
        assert len(CASES) == 117


@pytest.mark.parametrize("name", CASES, ids=[c.replace("pytorch-", "").replace("/", ".") for c in CASES])
@pytest.mark.parametrize("backend", BACKENDS)
def test_pytorch_case(backend, name):
    require_backend(backend)
    run_model_case(pytorch_cases()[name], backend)
