import re
import sys
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))  # tests/helpers.py
# the backend tests reuse the attribute grids of tests/ops (``from test_conv import CONV_CASES``)
sys.path.insert(1, str(Path(__file__).parent / "ops"))


@pytest.fixture
def rng():
    return np.random.default_rng(0)


# Conformance outcomes per backend, one summary line each (``reference: N passed, M
# skipped, K failed``).  Kept here, in the initial conftest, so that the controller of a
# pytest-xdist run has the hooks whatever paths are given.  Case and model names have no
# hyphen, so the backend is everything before the last one.
_CONFORMANCE: dict = defaultdict(Counter)
_CONFORMANCE_ID = re.compile(r"test_(?P<kind>node_case|light_model|pytorch_case)\[(?P<backend>[\w-]+)-[^-\]]+\]")
_KIND = {"node_case": "node cases", "light_model": "light models", "pytorch_case": "PyTorch-exported models"}


def pytest_runtest_logreport(report):
    m = _CONFORMANCE_ID.search(report.nodeid)
    if m and (report.when == "call" or (report.when == "setup" and report.outcome != "passed")):
        _CONFORMANCE[m["backend"], _KIND[m["kind"]]][report.outcome] += 1


def pytest_terminal_summary(terminalreporter):
    if not _CONFORMANCE:
        return
    terminalreporter.section("cnnc conformance")
    for (backend, kind), c in sorted(_CONFORMANCE.items()):
        terminalreporter.write_line(f"{backend}: {c['passed']} passed, {c['skipped']} skipped, "
                                    f"{c['failed']} failed ({kind})")
