"""Progress of long work: one line rewritten in place on a terminal (what, steps done or
seconds so far, how it ended), nothing when the stream is not a terminal or with
CNNC_PROGRESS=0."""
import io
import sys
import time

from cnnc.ir import progress


class Tty(io.StringIO):
    def isatty(self):
        return True


def test_a_line_on_a_terminal(monkeypatch):
    monkeypatch.delenv("CNNC_PROGRESS", raising=False)
    out = Tty()
    p = progress.Progress("tuning net", total=10, stream=out)
    p.update(3, "candidates")
    p.update(7, "candidates")
    p.finish("done")
    text = out.getvalue()
    assert text.count("\r") == 3 and text.endswith("\n")
    assert "cnnc: tuning net 3/10 candidates (0 s)" in text and "cnnc: tuning net 7/10 done" in text


def test_a_step_ticks_and_says_how_it_ended(monkeypatch):
    monkeypatch.setattr(progress, "TICK", 0.01)
    out = Tty()
    with progress.step("compiling m.c", stream=out):
        time.sleep(0.05)
    text = out.getvalue()
    assert text.count("cnnc: compiling m.c") >= 3 and text.rstrip().endswith("done (0 s)")
    out = Tty()
    try:
        with progress.step("compiling m.c", stream=out):
            raise ValueError
    except ValueError:
        pass
    assert "failed" in out.getvalue()


def test_quiet_off_a_terminal_or_when_turned_off(monkeypatch):
    out = io.StringIO()
    p = progress.Progress("x", stream=out)
    p.update(1)
    p.finish()
    assert out.getvalue() == ""
    monkeypatch.setenv("CNNC_PROGRESS", "0")
    tty = Tty()
    progress.Progress("x", stream=tty).finish()
    assert tty.getvalue() == ""


def test_run_is_subprocess_run():
    res = progress.run([sys.executable, "-c", "print(42)"], "probe", capture_output=True, text=True)
    assert res.returncode == 0 and res.stdout.strip() == "42"


def test_a_clock_shows_what_poll_reports(monkeypatch):
    """start_clock(poll): each tick shows poll's (done, note); None keeps the last."""
    monkeypatch.setattr(progress, "TICK", 0.01)
    reports = iter([None, (3, "candidates"), None])
    out = Tty()
    p = progress.Progress("tuning net", total=10, stream=out)
    p.start_clock(lambda: next(reports, None))
    time.sleep(0.08)
    p.finish("done")
    assert "cnnc: tuning net 3/10 candidates" in out.getvalue()
