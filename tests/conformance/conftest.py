"""Collects conformance outcomes per backend and prints one summary line for each:
``reference: N passed, M skipped, K failed`` (works under pytest-xdist too)."""
import re
from collections import Counter, defaultdict

_RESULTS: dict[str, Counter] = defaultdict(Counter)
_ID = re.compile(r"test_(?:node_case|light_model)\[(?P<backend>[\w-]+)-")


def pytest_runtest_logreport(report):
    m = _ID.search(report.nodeid)
    if not m:
        return
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        _RESULTS[m["backend"]][report.outcome] += 1


def pytest_terminal_summary(terminalreporter):
    if not _RESULTS:
        return
    terminalreporter.section("cnnc conformance")
    for backend, c in sorted(_RESULTS.items()):
        terminalreporter.write_line(f"{backend}: {c['passed']} passed, {c['skipped']} skipped, "
                                    f"{c['failed']} failed")
