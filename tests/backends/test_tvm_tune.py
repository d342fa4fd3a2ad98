"""MetaSchedule tuning (``cnnc tune``): a tiny-trial smoke test of a real search (candidates
built and timed on this machine), the JSON database it writes, compiles that apply it (API
and CLI, outputs equal to the reference), and the command's one-line errors.  Real tuning
(hundreds of trials) is not run here."""
import contextlib
import importlib.util
import io
import json

import numpy as np
import pytest

import cnnc
from cnnc.cli import load_model, main

pytest.importorskip("tvm", reason="the tvm backend needs Apache TVM: pip install 'cnnc[tvm]'")
from cnnc.backends import tvm as tb  # noqa: E402

MODEL = '''
import cnnc.dsl as nn

def build():
    m = nn.Model("tiny_tune")
    x = m.input("image", (1, 3, 16, 16))
    m.output(nn.conv(x, 8, 3, padding="same", activation="relu"), "out")
    return m.build()
'''
TRIALS = 2


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    p = tmp_path_factory.mktemp("model") / "tiny.py"
    p.write_text(MODEL)
    return p


@pytest.fixture(scope="module")
def tuned(model_file, tmp_path_factory):
    """``cnnc tune`` once for the module (candidates timed on 1 thread): the database folder
    and what the command printed."""
    db = tmp_path_factory.mktemp("tune") / "db"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = main(["tune", str(model_file), "--target", "tvm", "--trials", str(TRIALS), "--db", str(db), "-q",
                   "--threads", "1"])
    assert rc == 0, out.getvalue()[-3000:]
    return db, out.getvalue()


def graph(model_file):
    """The graph ``cnnc tune``/``compile`` see: the model at the default level -O2."""
    return cnnc.optimize(load_model(str(model_file)))


def test_tune_writes_measured_records(tuned):
    db, printed = tuned
    kernels, measured, failed = tb.tuning_summary(db)
    # every kernel starts from its rule schedule, measured, then the search's TRIALS
    assert kernels >= 1 and measured >= kernels and measured + failed <= TRIALS + kernels
    assert f"holds {measured} measured candidates ({failed} failed) of {kernels} kernels" in printed
    assert f"cnnc compile --target tvm --db {db}" in printed
    assert "[INFO]" not in printed and "Total trials" not in printed   # MetaSchedule's logs go to db/logs only
    assert any((db / "logs").iterdir())
    records = [json.loads(line) for line in (db / "database_tuning_record.json").read_text().splitlines()]
    timed = [min(r[1][1]) for r in records if min(r[1][1]) < 1e9]
    assert timed and all(0 < t < 1.0 for t in timed)  # seconds, measured on this CPU
    assert records[0][1][2]["kind"] == "llvm"


def test_compile_applies_the_database(tuned, model_file, rng):
    db, _ = tuned
    g = graph(model_file)
    target = tb.host_target()
    mod = tb.lower(tb.blocked_graph(g, target))
    plain, applied = tb._prepare(mod, target, None), tb._prepare(mod, target, db)
    kernels = [gv.name_hint for gv, f in applied.functions.items() if "tirx.is_scheduled" in (f.attrs or {})]
    assert kernels, "MetaScheduleApplyDatabase applied no record"
    for name in kernels:  # the tuned schedule replaced the default kernel
        assert "tirx.is_scheduled" not in (plain[name].attrs or {})
        assert applied[name].script() != plain[name].script()
    feeds = {"image": rng.standard_normal((1, 3, 16, 16)).astype(np.float32)}
    want = cnnc.compile(g).run(feeds)["out"]
    got = cnnc.compile(g, target="tvm", db=db).run(feeds)["out"]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_tune_starts_from_the_rules_and_resumes(tuned, model_file, tmp_path):
    """Each kernel's first record is cnnc's rule schedule (the conv's register tile); a
    second run on the same database adds no seed, and --minutes ends it after its round."""
    db, _ = tuned
    records = [json.loads(line) for line in (db / "database_tuning_record.json").read_text().splitlines()]
    workloads = {r[0] for r in records}
    assert len(workloads) == tb.tuning_summary(db)[0]      # every kernel has a record
    assert any("CacheWrite" in json.dumps(r[1][0]) for r in records)   # RegisterTile's trace
    again = tmp_path / "again"
    import shutil
    shutil.copytree(db, again)
    before = len(records)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["tune", str(model_file), "--db", str(again), "--minutes", "0.001", "-q"]) == 0
    after = (again / "database_tuning_record.json").read_text().splitlines()
    assert len(after) >= before and len(after) - before <= 64   # at most one search round, no new seeds


def test_the_budget_running_out_mid_search_ends_it(model_file, tmp_path, monkeypatch):
    """--minutes spent after the first measured round (TVM's scheduler still picking tasks
    round-robin): the search stops there, that round recorded, and tune returns."""
    checks = []

    def out_of_time(self):   # not at the start; spent at the first round's end
        checks.append(1)
        return len(checks) > 1

    monkeypatch.setattr(tb._TuneState, "out_of_time", out_of_time)
    db = tb.tune(graph(model_file), tmp_path / "db", trials=16, trials_per_iter=4, minutes=30)
    kernels, measured, failed = tb.tuning_summary(db)
    assert len(checks) == 2 and kernels >= 2
    assert kernels < measured + failed <= kernels + 4     # the seeds, then one round of 4


def test_cli_compile_with_the_database(tuned, model_file, tmp_path, capsys, rng):
    db, _ = tuned
    out = tmp_path / "gen"
    assert main(["compile", str(model_file), "--target", "tvm", "--db", str(db), "-o", str(out), "-q"]) == 0
    assert "built tiny_tune.so" in capsys.readouterr().out
    feeds = {"image": rng.standard_normal((1, 3, 16, 16)).astype(np.float32)}
    want = cnnc.compile(graph(model_file)).run(feeds)["out"]
    np.testing.assert_allclose(cnnc.backends.load(out).run(feeds)["out"], want, rtol=1e-5, atol=1e-6)


def one_line_error(capsys, text):
    err = capsys.readouterr().err
    assert err.startswith("cnnc: error: ") and err.count("\n") == 1 and text in err, err


def test_cli_tune_errors(model_file, tmp_path, capsys):
    db = str(tmp_path / "db")
    tune = ["tune", str(model_file), "-q", "--db", db]
    with pytest.raises(SystemExit):  # tune has its own --target choices; compile's default is untouched
        main(tune + ["--target", "c"])
    assert "invalid choice: 'c' (choose from 'tvm', 'tvm-cuda')" in capsys.readouterr().err
    assert main(tune + ["--trials", "0"]) == 1
    one_line_error(capsys, "--trials must be a positive integer")
    assert main(tune + ["--minutes", "0"]) == 1
    one_line_error(capsys, "--minutes must be a positive number")
    assert main(tune + ["--trials-per-task", "-3"]) == 1
    one_line_error(capsys, "--trials-per-task must be a positive integer")
    assert main(tune + ["--threads", "0"]) == 1
    one_line_error(capsys, "threads must be an int from 1 to 64")
    assert main(tune + ["--target", "tvm-cuda", "--threads", "2"]) == 1
    one_line_error(capsys, "--threads applies to the tvm target")
    assert main(tune + ["--arch", "sm_80"]) == 1
    one_line_error(capsys, "--arch applies to GPU targets")
    assert main(tune + ["--target", "tvm-cuda", "--arch", "volta"]) == 1
    one_line_error(capsys, "sm_80 or sm_90")
    import tvm
    if not tvm.cuda(0).exist:  # candidates are timed on the GPU
        assert main(tune + ["--target", "tvm-cuda"]) == 1
        one_line_error(capsys, "times every candidate on a CUDA GPU, and this machine has none")
    (tmp_path / "file").write_text("")
    assert main(["tune", str(model_file), "-q", "--db", str(tmp_path / "file"), "--trials", "1"]) == 1
    one_line_error(capsys, "is not a directory")
    with pytest.raises(SystemExit):  # --db is required
        main(["tune", str(model_file)])
    capsys.readouterr()
    # a folder that is no database: compile says so
    (tmp_path / "empty").mkdir()
    assert main(["compile", str(model_file), "--target", "tvm", "--db", str(tmp_path / "empty"),
                 "-o", str(tmp_path / "gen"), "-q"]) == 1
    one_line_error(capsys, "not a MetaSchedule database")


def test_missing_worker_dependency_is_one_error(monkeypatch, model_file, tmp_path):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "cloudpickle" else real(name, *a))
    tb._require_tuning_support.cache_clear()
    try:
        with pytest.raises(cnnc.CnncError, match=r"tuning needs cloudpickle .*pip install 'cnnc\[tvm\]'"):
            tb.tune(graph(model_file), tmp_path / "db", trials=1)
    finally:
        tb._require_tuning_support.cache_clear()
