"""The one HTTP layer every target uses: timeouts, retries with backoff and jitter, ``Retry-After``,
a bounded total time, error classification and masked logging. Plugins never write their own retry loop.

* 429, 502/503/504/500 and connection failures (timeouts, resets, dropped connections) are retried.
* 401 / 403 raise ``AuthError`` at once (a configuration problem), with the server's ``x-error`` reason.
* Any other status is returned to the caller, which decides per batch (e.g. 422 → failed batch).
"""

from __future__ import annotations

import contextvars
import logging
import random
import time
from collections.abc import Callable, Mapping
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field

from .errors import AuthError, TransientError
from .secrets import mask

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})

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

    model_config = ConfigDict(extra="forbid", frozen=True)

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
    ) -> None:
        self.retry = retry or RetryPolicy()
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
        attempt = 0
        label = what or f"{method} {url}"
        while True:
            attempt += 1
            retry_after: float | None = None
            try:
                self.requests_sent += 1
                response = self._client.request(method, url, json=json, params=params)
            except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
                _observe(self._client, type(exc).__name__)
                problem = f"{type(exc).__name__}: {exc}"
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


def _short_body(response: httpx.Response) -> str:
    try:
        text = response.text
    except Exception:  # noqa: BLE001
        return ""
    return text[:200]
