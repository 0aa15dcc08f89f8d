"""Masking of secrets in every line we print, log or store.

Masking only "secret fields" misses passwords inside database URLs and ODBC connection strings, so we do
three things: remember every secret value that config resolution produced, mask URL passwords, and mask
``PWD=``/``Password=`` pairs of ODBC strings. ``mask()`` is applied by the log filter, the report renderer
and the CLI's error printer.
"""

from __future__ import annotations

import logging
import re
import threading
import traceback
from urllib.parse import unquote

MASK = "***"

_lock = threading.Lock()
_known: set[str] = set()

# scheme://user:password@host  (password up to the last '@' before the host part)
_URL_PASSWORD = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^:/?#@\s]*:)(?P<pw>[^@\s/]*)(?P<at>@)")
# ODBC / ADO style key=value;  PWD=..., Password=..., also {braced;values}
_ODBC_PASSWORD = re.compile(
    r"(?i)(?P<head>\b(?:pwd|password|api[_-]?key|secret|token)\s*=\s*)(?P<pw>\{[^}]*\}|[^;&\s'\"]+)"
)
# HTTP headers as they appear in logs and reprs
_HEADER_SECRET = re.compile(r"(?i)(?P<head>(?:x-api-key|authorization)['\"]?\s*[:=]\s*['\"]?)(?P<pw>[^'\"\s,}]+)")


def register_secret(value: str | None) -> None:
    """Remember a secret value so that ``mask`` hides it wherever it appears."""
    if not value or len(value) < 4:  # masking tiny strings would shred ordinary text
        return
    with _lock:
        _known.add(value)
        decoded = unquote(value)
        if decoded != value:
            _known.add(decoded)


def forget_secrets() -> None:
    """Drop remembered secrets (used by tests that build many configs)."""
    with _lock:
        _known.clear()


def mask(text: object) -> str:
    """Return ``text`` with every known secret and every embedded password replaced by ``***``."""
    s = str(text)
    with _lock:
        known = sorted(_known, key=len, reverse=True)
    for value in known:
        if value in s:
            s = s.replace(value, MASK)
    s = _URL_PASSWORD.sub(lambda m: f"{m['head']}{MASK}{m['at']}" if m["pw"] else m[0], s)
    s = _ODBC_PASSWORD.sub(lambda m: f"{m['head']}{MASK}", s)
    s = _HEADER_SECRET.sub(lambda m: f"{m['head']}{MASK}", s)
    return s


class MaskingFilter(logging.Filter):
    """A logging filter that masks the fully formatted message of every record, and its traceback.

    The traceback is formatted here and masked (kept as ``exc_text``), so ``-v`` shows where an unexpected
    error came from without ever printing a secret that an exception message or a local carried.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken format string must not hide the log line
            message = str(record.msg)
        record.msg = mask(message)
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = mask("".join(traceback.format_exception(*record.exc_info)).rstrip())
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = mask(record.exc_text)
        if record.stack_info:
            record.stack_info = mask(record.stack_info)
        return True


def install_log_masking(logger: logging.Logger | None = None) -> None:
    """Attach the masking filter to every handler of ``logger`` (the root logger by default)."""
    target = logger or logging.getLogger()
    for handler in target.handlers:
        if not any(isinstance(f, MaskingFilter) for f in handler.filters):
            handler.addFilter(MaskingFilter())
