"""The example models of examples/ agree with the reference, before and after
``cnnc.optimize``, on every backend of ``helpers.BACKENDS`` (on cuda-emu with ``-m slow``:
the emulator takes seconds a model)."""
import runpy
from pathlib import Path

import numpy as np
import pytest
from helpers import backend_params, compile_for

import cnnc

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(p.stem for p in (ROOT / "examples").glob("*.py"))


@pytest.mark.parametrize("backend,example", backend_params(
    "example", EXAMPLES, marks=lambda backend, i: [pytest.mark.slow] if backend == "cuda-emu" else []))
def test_examples_agree_with_reference(backend, example, rng):
    g = runpy.run_path(str(ROOT / "examples" / f"{example}.py"), run_name=f"{backend}_test")["build"]()
    feeds = {k: rng.standard_normal(t.shape).astype(t.dtype) for k, t in g.input_types().items()}
    for graph in (g, cnnc.optimize(g)):
        got, want = compile_for(graph, backend).run(feeds), cnnc.compile(graph).run(feeds)
        for k in want:
            np.testing.assert_allclose(got[k], want[k], rtol=1e-4, atol=1e-4, err_msg=f"{example}:{k}")
