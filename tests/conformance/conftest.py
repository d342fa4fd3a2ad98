"""Collects conformance outcomes per backend and prints one summary line for each:
``reference: N passed, M skipped, K failed`` (works under pytest-xdist too)."""
import re
from collections import Counter, defaultdict

from harness import BACKENDS

_RESULTS: dict[tuple[str, str], Counter] = defaultdict(Counter)
_ID = re.compile(r"test_(?P<kind>node_case|light_model)\[(?P<backend>"
                 + "|".join(map(re.escape, sorted(BACKENDS, key=len, reverse=True))) + ")-")
_KIND = {"node_case": "node cases", "light_model": "light models"}


def pytest_runtest_logreport(report):
    m = _ID.search(report.nodeid)
    if not m:
        return
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        _RESULTS[m["backend"], _KIND[m["kind"]]][report.outcome] += 1


def pytest_terminal_summary(terminalreporter):
    if not _RESULTS:
        return
    terminalreporter.section("cnnc conformance")
    for (backend, kind), c in sorted(_RESULTS.items()):
        terminalreporter.write_line(f"{backend}: {c['passed']} passed, {c['skipped']} skipped, "
                                    f"{c['failed']} failed ({kind})")
