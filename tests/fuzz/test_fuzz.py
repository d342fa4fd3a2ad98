"""The seeded mutation fuzzer (``fuzzlib``): every mutant of a few ONNX node cases and a light
model either runs and agrees with onnxruntime, or is refused with one CnncError; no other
exception, no crash, no hang, nothing left behind, and a bounded peak RSS (the worker has an
address-space limit, so an allocation beyond it is reported, not survived)."""
from collections import Counter

import pytest

pytest.importorskip("onnxruntime", reason="the fuzzer compares with onnxruntime")

from fuzzlib import BAD, MEMORY_LIMIT, fuzz, table  # noqa: E402


def _check(results, n):
    bad = [r for r in results if r["outcome"] in BAD]
    detail = "\n".join(f"#{r['index']} {r['seed']} [{r['kind']}]: {r['outcome']}: {r['detail']}" for r in bad[:20])
    assert not bad, f"{table(results)}\n{detail}"
    counts = Counter(r["outcome"] for r in results)
    assert len(results) == n
    # both outcomes are exercised: the mutants are neither all refused nor all harmless
    assert counts["error"] >= n // 4 and counts["agree"] >= n // 10, table(results)
    assert max(r["maxrss_kb"] for r in results) * 1024 < MEMORY_LIMIT // 2


def test_mutants_are_refused_or_agree(tmp_path):
    """About 30 s: 360 mutants, one in eight of those that run also compiled to C."""
    _check(fuzz(360, seed=2026, root=tmp_path, c_every=8), 360)
    assert sorted(p.name for p in (tmp_path / "tmp").iterdir()) == []


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 7, 99])
def test_many_mutants(tmp_path, seed):
    """About 3 minutes each: 2,200 mutants."""
    _check(fuzz(2200, seed=seed, root=tmp_path, c_every=8), 2200)
