"""ONNX node conformance cases (the CNN subset of shared/conformance) on every backend."""
import pytest
from harness import BACKENDS, node_cases, require_backend, run_node_case
from skips import BACKEND_SKIPS, NODE_SKIPS

CASES = sorted(node_cases())


def test_case_count():
    """shared/conformance/README.md: 563 cases with onnx 1.23.2."""
    import onnx
    if onnx.__version__ == "1.23.2":
        assert len(CASES) == 563


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("backend", BACKENDS)
def test_node_case(backend, name):
    reason = NODE_SKIPS.get(name) or BACKEND_SKIPS.get(backend, {}).get(name)
    if reason:
        pytest.skip(reason)
    require_backend(backend)
    run_node_case(node_cases()[name], backend)


def test_the_op_list_is_in_the_repository():
    """The tests read nothing outside the repository (a clone anywhere runs them); the copy
    agrees with shared/conformance/cnn_ops.txt where that is beside the clone."""
    from pathlib import Path
    from harness import CNN_OPS
    root = Path(__file__).resolve().parents[2]
    assert root in CNN_OPS.parents and CNN_OPS.is_file()
    shared = root.parent / "shared" / "conformance" / "cnn_ops.txt"
    if shared.is_file():
        assert shared.read_text() == CNN_OPS.read_text()
