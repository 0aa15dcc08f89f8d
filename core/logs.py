"""Logging for the CLI and the service: readable lines on a terminal, or JSON lines; an optional rotating file.

Every handler gets the masking filter (``core.secrets``), so secrets never reach a terminal, a file or a
collector. Events the orchestrator logs with ``extra={"event": …}`` (one per run and per batch, and errors)
carry their fields (pipeline, run id, counts, duration) into the JSON lines.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from .secrets import install_log_masking, mask

LogFormat = Literal["text", "json"]

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Fields a LogRecord always has; everything else came in through ``extra=`` and belongs in the JSON line.
_STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
ROTATE_BYTES = 10 * 1024 * 1024
ROTATE_KEEP = 5


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``ts``, ``level``, ``logger``, ``message``, the event's own fields, and
    ``traceback`` when the record carries one. Strings are masked once more (``extra`` fields too)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["traceback"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["traceback"] = record.exc_text
        return mask(json.dumps(line, ensure_ascii=False, default=str))


def configure_logging(
    level: int, *, fmt: LogFormat = "text", log_file: str | Path | None = None, stream: Any = None
) -> None:
    """(Re)configure the root logger: stderr in ``fmt``, plus a rotating ``log_file`` (10 MB × 5, UTF-8)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_tradecredit", False):
            root.removeHandler(handler)
            handler.close()
    formatter: logging.Formatter = JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT)
    handlers: list[logging.Handler] = [logging.StreamHandler(stream or sys.stderr)]
    if log_file is not None:
        path = Path(log_file)
        path.parent.mkdir(parents=True, exist_ok=True)
        # RotatingFileHandler renames files; on Windows that works as long as no other process holds the log.
        handlers.append(logging.handlers.RotatingFileHandler(path, maxBytes=ROTATE_BYTES, backupCount=ROTATE_KEEP,
                                                             encoding="utf-8"))
    for handler in handlers:
        handler.setFormatter(formatter)
        handler._tradecredit = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(level)
    install_log_masking()
