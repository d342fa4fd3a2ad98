"""Progress of long work (the C compiler, nvcc, TVM builds, tuning) as one line on a
terminal: what is happening, how far along it is (steps done of all, or the seconds so far
for one long step), rewritten in place and finished with the time it took.  Nothing is
printed when stderr is not a terminal (a log, a pipe, a test), or with CNNC_PROGRESS=0.
"""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from contextlib import contextmanager

#: seconds between two redraws of a running step
TICK = 0.5


def enabled(stream=None) -> bool:
    """Whether progress is shown on ``stream`` (default stderr): a terminal, and not
    turned off with CNNC_PROGRESS=0."""
    stream = stream if stream is not None else sys.stderr
    if os.environ.get("CNNC_PROGRESS", "") == "0":
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class Progress:
    """A progress line: ``update(done, note)`` for work of ``total`` steps (or none), a
    ticking clock for one long step (``start_clock``), ``finish(note)`` to end it."""

    def __init__(self, what: str, total: int | None = None, stream=None):
        self.what, self.total = what, total
        self.stream = stream if stream is not None else sys.stderr
        self.on = enabled(self.stream)
        self.t0 = time.monotonic()
        self.done, self.note = 0, ""
        self._lock = threading.Lock()
        self._stop: threading.Event | None = None
        self._width = 0

    def _draw(self, end: str = "") -> None:
        if not self.on:
            return
        secs = time.monotonic() - self.t0
        count = f" {self.done}/{self.total}" if self.total else ""
        text = f"cnnc: {self.what}{count}{' ' + self.note if self.note else ''} ({secs:.0f} s)"
        with self._lock:
            self.stream.write("\r" + text.ljust(self._width) + end)
            self.stream.flush()
            self._width = 0 if end else len(text)

    def update(self, done: int | None = None, note: str = "") -> None:
        self.done = self.done + 1 if done is None else done
        self.note = note
        self._draw()

    def start_clock(self, poll=None) -> None:
        """Redraw every TICK seconds (the elapsed time) until ``finish``; ``poll()``, when
        given, is asked each time for ``(done, note)`` (or None: no news)."""
        if not self.on or self._stop is not None:
            return
        self._stop = threading.Event()

        def tick():
            while not self._stop.wait(TICK):
                news = poll() if poll is not None else None
                if news is not None:
                    self.done, self.note = news
                self._draw()
        threading.Thread(target=tick, daemon=True).start()
        self._draw()

    def finish(self, note: str = "done") -> None:
        if self._stop is not None:
            self._stop.set()
        self.note = note
        self._draw(end="\n")


@contextmanager
def step(what: str, stream=None):
    """One long step shown with a ticking clock; ``done`` or ``failed`` when it ends."""
    p = Progress(what, stream=stream)
    p.start_clock()
    try:
        yield p
    except BaseException:
        p.finish("failed")
        raise
    p.finish("done")


def run(cmd, what: str, **kwargs) -> subprocess.CompletedProcess:
    """``subprocess.run(cmd, **kwargs)`` shown as one step."""
    with step(what):
        return subprocess.run(cmd, **kwargs)
