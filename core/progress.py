"""A one-line progress bar on stderr for long steps (a run's read/preview/write stages, building a demo database).

Drawn only when stderr is a terminal (or ``enabled=True``): a log file or a pipe gets no carriage returns. Callable
as ``progress(stage, done, total)``, the orchestrator's ``Progress`` signature; ``total=None`` while the size is
unknown (counting up).
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

WIDTH = 30


class TerminalProgress:
    def __init__(self, *, enabled: bool | None = None, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self._started = time.monotonic()
        self._stage: str | None = None
        self._drawn = 0

    def __call__(self, stage: str, done: int, total: int | None) -> None:
        if not self.enabled:
            return
        if stage != self._stage:
            self._stage, self._started = stage, time.monotonic()
        elapsed = time.monotonic() - self._started
        if total:
            filled = int(WIDTH * min(done, total) / total)
            line = f"{stage:9} [{'#' * filled}{'-' * (WIDTH - filled)}] {done}/{total} {elapsed:5.1f}s"
        else:
            line = f"{stage:9} {done} … {elapsed:5.1f}s"
        self.stream.write("\r" + line.ljust(self._drawn))
        self.stream.flush()
        self._drawn = len(line)

    def close(self) -> None:
        """Erase the bar (the next output starts on a clean line)."""
        if self.enabled and self._drawn:
            self.stream.write("\r" + " " * self._drawn + "\r")
            self.stream.flush()
        self._drawn = 0
        self._stage = None
