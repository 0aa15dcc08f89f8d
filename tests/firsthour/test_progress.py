"""The progress bar of long steps (``tradecredit run`` on a terminal, ``tradecredit demo``)."""

from __future__ import annotations

import io

from tradecredit.core.progress import TerminalProgress
from tradecredit.plugins.optima import make_demo_db


def test_the_bar_fills_and_is_erased():
    out = io.StringIO()
    bar = TerminalProgress(enabled=True, stream=out)
    bar("writing", 5, 10)
    bar("writing", 10, 10)
    assert "[###############---------------] 5/10" in out.getvalue()
    assert "[##############################] 10/10" in out.getvalue()
    bar("reading", 3000, None)
    assert "reading   3000 …" in out.getvalue()
    bar.close()
    assert out.getvalue().endswith("\r")


def test_nothing_is_drawn_when_stderr_is_no_terminal():
    out = io.StringIO()  # isatty() is False: a log file or a pipe
    bar = TerminalProgress(stream=out)
    bar("writing", 1, 2)
    bar.close()
    assert out.getvalue() == ""


def test_building_the_demo_database_reports_progress(tmp_path):
    seen: list[tuple[str, int, int | None]] = []
    make_demo_db(f"sqlite:///{(tmp_path / 'o.db').as_posix()}", customers=120, payments=1200,
                 progress=lambda stage, done, total: seen.append((stage, done, total)))
    assert ("payments", 1200, 1200) in seen and ("cards", 120, 120) in seen
    done = [d for stage, d, _ in seen if stage == "payments"]
    assert done == sorted(done)
