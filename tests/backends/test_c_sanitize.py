"""Generated C runs clean under AddressSanitizer and UndefinedBehaviorSanitizer: each
conformance case is built as the standalone driver with -fsanitize=address,undefined
(every report is fatal) and its outputs compared with the case's expected ones.

CI runs a deterministic sample (every 12th case); ``-m slow`` runs all of them."""
import sys
from pathlib import Path

import numpy as np
import pytest

import cnnc
from cnnc.backends import c as cb

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "conformance"))
from harness import bind_compile_time_inputs, node_cases  # noqa: E402
from helpers import SANITIZE  # noqa: E402
from skips import NODE_SKIPS  # noqa: E402

FLAGS = SANITIZE + ("-fno-omit-frame-pointer",)
CASES = sorted(set(node_cases()) - set(NODE_SKIPS))
SAMPLE = CASES[::12]


def run_sanitized(name, tmp_path):
    case = node_cases()[name]
    inputs, expected = case.data_sets[0]
    model, feeds = bind_compile_time_inputs(case.model, inputs)
    g = cnnc.load_onnx(model)
    folder = cb.generate(g, tmp_path / "gen")
    exe = cb.build_exe(folder, flags=("-O1", "-g"), sanitize_flags=FLAGS)
    outs = cb.run_exe(exe, [feeds[n] for n in g.input_types()], list(g.output_types().values()),
                      env={"ASAN_OPTIONS": "detect_leaks=0", "UBSAN_OPTIONS": "print_stacktrace=1"})
    for got, want in zip(outs, expected):
        want = np.asarray(want)
        if want.dtype.kind == "f":
            tol = 1e-4 if want.size and np.array_equal(want, np.round(want, 4)) else 1e-5
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=tol)
        else:
            np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("name", SAMPLE)
def test_sanitized_sample(name, tmp_path):
    run_sanitized(name, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(set(CASES) - set(SAMPLE)))
def test_sanitized_all(name, tmp_path):
    run_sanitized(name, tmp_path)
