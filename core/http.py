"""The one HTTP layer every target uses: timeouts, retries with backoff and jitter, ``Retry-After``,
a bounded total time, error classification and masked logging. Plugins never write their own retry loop.

* 429, 502/503/504/500 and connection failures (timeouts, resets, dropped connections) are retried.
* 401 / 403 raise ``AuthError`` at once (a configuration problem), with the server's ``x-error`` reason.
* 3xx redirects and TLS failures raise ``ConfigError`` at once with a hint about ``base_url``: retrying
  cannot fix an address that points elsewhere or a certificate that does not fit.
* Any other status is returned to the caller, which decides per batch (e.g. 422 → failed batch).
* ``total_timeout`` bounds the whole call — every attempt, every wait and every byte of every body: the body
  is read in chunks against the deadline, so a server dripping one byte per second (which never trips the
  per-read timeout) cannot hold a run (and its lease) forever. An answer larger than ``max_body`` is refused.
"""

from __future__ import annotations

import contextvars
import json as _json
import logging
import random
import re
import ssl
import time
from collections.abc import Callable, Mapping
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field

from .errors import AuthError, ConfigError, TransientError
from .secrets import mask

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# An IdoSell page of 100 clients is a few hundred KB; anything this large is not an answer we can use.
MAX_BODY = 32 * 1024 * 1024

# Who is asking, for metrics: the service sets the pipeline's target name around a run. Observers (the
# service's /metrics) see every attempt as (label, status code or error class name).
REQUEST_LABEL: contextvars.ContextVar[str | None] = contextvars.ContextVar("tradecredit_request_label", default=None)
_observers: list[Callable[[str, str], None]] = []


def add_request_observer(observer: Callable[[str, str], None]) -> Callable[[], None]:
    """Call ``observer(label, status)`` after every HTTP attempt; returns a function that removes it."""
    _observers.append(observer)
    return lambda: _observers.remove(observer) if observer in _observers else None


def _observe(client: httpx.Client, status: str) -> None:
    if _observers:
        label = REQUEST_LABEL.get() or client.base_url.host
        for observer in list(_observers):
            observer(label, status)


class RetryPolicy(BaseModel):
    """How hard to try before a batch is given up for this run (it is retried on the next run)."""

    # strict: ``max_attempts = "3"`` in the config file is a mistake, not a number to guess at
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    max_attempts: int = Field(6, ge=1, le=20)
    backoff_initial: float = Field(0.5, gt=0, description="seconds before the first retry")
    backoff_max: float = Field(30.0, gt=0, description="cap of one wait")
    total_timeout: float = Field(120.0, gt=0, description="give up when the next wait would pass this")
    jitter: float = Field(0.5, ge=0, le=1, description="fraction of each wait that is randomised")


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Parse ``Retry-After`` (seconds, or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None
    return max(0.0, when - (now if now is not None else time.time()))


class HttpClient:
    """A thin wrapper over ``httpx.Client`` with the retry and classification rules above."""

    def __init__(
        self,
        base_url: str,
        *,
        headers: Mapping[str, str] | None = None,
        timeout: float = 30.0,
        connect_timeout: float = 10.0,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        user_agent: str = "tradecredit",
        max_body: int = MAX_BODY,
    ) -> None:
        self.retry = retry or RetryPolicy()
        self.max_body = max_body
        self._timeout = (timeout, connect_timeout)
        self._sleep = sleep
        self._client = httpx.Client(
            base_url=base_url,
            headers={"User-Agent": user_agent, "Accept": "application/json", **dict(headers or {})},
            timeout=httpx.Timeout(timeout, connect=connect_timeout),
            transport=transport,
        )
        self.requests_sent = 0
        self.retries = 0

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _wait(self, attempt: int, retry_after: float | None) -> float:
        p = self.retry
        base = min(p.backoff_max, p.backoff_initial * (2.0 ** (attempt - 1)))
        wait = base * (1 - p.jitter) + random.uniform(0, base * p.jitter)
        if retry_after is not None:
            wait = max(wait, retry_after)
        return wait

    def request(
        self,
        method: str,
        url: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        what: str = "",
    ) -> httpx.Response:
        """Send a request, retrying transient failures; return the first non-retryable response."""
        started = time.monotonic()
        deadline = started + self.retry.total_timeout
        attempt = 0
        label = what or f"{method} {url}"
        while True:
            attempt += 1
            retry_after: float | None = None
            try:
                self.requests_sent += 1
                response = self._attempt(method, url, json, params, deadline, label)
            except _Deadline as exc:
                _observe(self._client, "Deadline")
                raise TransientError(
                    f"{label}: gave up after {attempt} attempt(s) in {time.monotonic() - started:.1f}s: {exc} "
                    f"(total_timeout = {self.retry.total_timeout:g}s)"
                ) from None
            except httpx.ConnectError as exc:
                _observe(self._client, type(exc).__name__)
                if _is_tls(exc):
                    raise ConfigError(
                        f"{label}: the TLS handshake with {self._client.base_url.host} failed ({mask(exc)}); check "
                        "base_url: it must be the shop's own https:// address, whose certificate names that host"
                    ) from None
                problem = f"{type(exc).__name__}: {exc}"
            except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
                _observe(self._client, type(exc).__name__)
                problem = f"{type(exc).__name__}: {exc}"
            except httpx.DecodingError as exc:
                _observe(self._client, type(exc).__name__)
                # A body that cannot be decoded (bad gzip, bad charset) will be as bad on the next attempt.
                raise TransientError(f"{label}: the shop's answer could not be decoded ({mask(exc)})") from None
            else:
                _observe(self._client, str(response.status_code))
                if response.status_code in (401, 403):
                    reason = response.headers.get("x-error") or _short_body(response)
                    raise AuthError(
                        f"{label}: HTTP {response.status_code} — the shop refused the API key"
                        + (f" ({mask(reason)})" if reason else "")
                        + (". The key lacks this scope; grant it in the shop's API key settings."
                           if response.status_code == 403 else ". Check the key.")
                    )
                if 300 <= response.status_code < 400:
                    where = response.headers.get("location")
                    raise ConfigError(
                        f"{label}: HTTP {response.status_code} — the shop redirects"
                        + (f" to {mask(where)}" if where else "")
                        + "; set base_url to the shop's current https:// address (redirects are not followed: "
                        "the API key would go along to wherever they point)"
                    )
                if response.status_code not in RETRY_STATUSES:
                    return response
                problem = f"HTTP {response.status_code}"
                retry_after = retry_after_seconds(response.headers.get("Retry-After"))
            elapsed = time.monotonic() - started
            wait = self._wait(attempt, retry_after)
            if attempt >= self.retry.max_attempts or elapsed + wait > self.retry.total_timeout:
                raise TransientError(
                    f"{label}: gave up after {attempt} attempt(s) in {elapsed:.1f}s, last: {mask(problem)}"
                )
            self.retries += 1
            log.info("%s: %s, retry %d in %.2fs", label, mask(problem), attempt, wait)
            self._sleep(wait)

    def _attempt(self, method: str, url: str, json: Any, params: Mapping[str, Any] | None, deadline: float,
                 label: str) -> httpx.Response:
        """One attempt, its body read in chunks against ``deadline`` (the call's, not the attempt's)."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise _Deadline("no time left for another attempt")
        read, connect = self._timeout
        # No single wait may outlast the call's deadline either (a server that never answers at all).
        timeout = httpx.Timeout(min(read, remaining), connect=min(connect, remaining))
        content = None if json is None else encode_json(json)
        headers = None if content is None else {"Content-Type": "application/json"}
        with self._client.stream(method, url, content=content, headers=headers, params=params,
                                 timeout=timeout) as response:
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > self.max_body:
                    raise TransientError(f"{label}: the shop's answer is larger than {self.max_body} bytes; refused")
                chunks.append(chunk)
                if time.monotonic() > deadline:
                    raise _Deadline(f"the answer was still arriving ({size} bytes so far)")
            # The body as ``read()`` would have kept it; httpx serves .content/.json() from this attribute.
            response._content = b"".join(chunks)
        return response


_DECIMAL_MARK = "\x00decimal:"
_DECIMAL_TOKEN = re.compile(r'"\\u0000decimal:(-?\d+(?:\.\d+)?)"')


def encode_json(body: Any) -> bytes:
    """JSON with every ``Decimal`` written as the exact number it is (``json`` would need a float first, and a
    float turns 12345678901234567.89 into 1.2345678901234568e+16)."""

    def mark(value: Any) -> Any:
        if isinstance(value, Decimal):
            if not value.is_finite():
                raise ValueError(f"{value} cannot be sent as a JSON number")
            return f"{_DECIMAL_MARK}{format(value, 'f')}"
        raise TypeError(f"{type(value).__name__} is not JSON serializable")

    text = _json.dumps(body, default=mark, ensure_ascii=False, separators=(",", ":"))
    return _DECIMAL_TOKEN.sub(lambda m: m.group(1), text).encode("utf-8")


class _Deadline(Exception):
    """The call's ``total_timeout`` passed (inside an attempt)."""


def _is_tls(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return True
        seen = seen.__cause__ or seen.__context__
    return "CERTIFICATE_VERIFY_FAILED" in str(exc) or "SSL" in str(exc)


def _short_body(response: httpx.Response) -> str:
    try:
        text = response.text
    except Exception:  # noqa: BLE001
        return ""
    return text[:200]
