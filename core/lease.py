"""Who holds a run's lease, whether that holder is still alive, and the heartbeat that keeps a lease live.

A run's lock is a lease in the state store (``tc_locks``): the holder renews it from a background thread
every few seconds, and a lease nobody renewed within ``[state] lease_timeout`` is taken over by the next run.
On the same host a lease whose process is gone is taken over at once. The process is identified by its pid
*and* its start time, so a pid the operating system gave to another program after a reboot does not keep a
dead run's lease alive. psutil answers both questions on Windows and Linux alike (no signals, no /proc).

The SQL (acquire, renew, take over, release) lives in ``core.state``; this module has no SQL.
"""

from __future__ import annotations

import logging
import os
import platform
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import psutil

from .errors import TradeCreditError
from .secrets import mask

log = logging.getLogger(__name__)

# The heartbeat renews a lease this many times per lease_timeout, but at least every HEARTBEAT_MAX: a holder
# has several chances to renew before anyone may take its lease over.
RENEWALS_PER_TIMEOUT = 4
HEARTBEAT_MAX = timedelta(seconds=5)
HEARTBEAT_MIN = timedelta(seconds=0.05)


class LeaseLostError(TradeCreditError):
    """This run's lease was taken over (it was not renewed in time) or released by ``state unlock --force``."""


class StopRequested(TradeCreditError):
    """The service is stopping: the run ends between two batches; what was confirmed stays confirmed."""


@dataclass(frozen=True)
class Holder:
    """The process that holds (or held) a lease."""

    host: str
    pid: int
    started: float | None  # the process's start time (epoch seconds), to tell a reused pid from the holder

    @classmethod
    def this_process(cls) -> Holder:
        return cls(platform.node(), os.getpid(), process_start_time(os.getpid()))

    def describe(self, run_id: int) -> str:
        return f"{self.host} pid {self.pid} run {run_id}"


def process_start_time(pid: int) -> float | None:
    try:
        return float(psutil.Process(pid).create_time())
    except (psutil.Error, OSError):
        return None


def process_gone(holder: Holder) -> bool:
    """True when ``holder`` is on this host and its process no longer runs (or its pid now belongs to another
    program). A holder on another host is never "gone" from here: only its lease's expiry can tell."""
    if holder.host != platform.node() or holder.pid <= 0:
        return False
    if not psutil.pid_exists(holder.pid):
        return True
    started = process_start_time(holder.pid)
    if started is None:
        return not psutil.pid_exists(holder.pid)
    if holder.started is not None and abs(started - holder.started) > 1.0:
        return True  # the pid was reused by a process started later
    try:
        return psutil.Process(holder.pid).status() == psutil.STATUS_ZOMBIE
    except (psutil.Error, OSError):
        return True


def heartbeat_interval(timeout: timedelta) -> timedelta:
    return max(HEARTBEAT_MIN, min(HEARTBEAT_MAX, timeout / RENEWALS_PER_TIMEOUT))


class Lease:
    """A lease this process holds; renewed by a daemon thread until ``release``.

    ``check()`` is called by the run before each write to the shop: it raises ``LeaseLostError`` once the
    heartbeat learned the lease is no longer ours, or when no renewal has succeeded for ``timeout`` (the store
    was unreachable: another runner may legitimately take the lease by now), and ``StopRequested`` when the
    service asked the run to stop.
    """

    def __init__(
        self, pipeline: str, run_id: int, holder: Holder, timeout: timedelta,
        renew: Callable[[Lease], bool], release: Callable[[Lease], None], expires_at: datetime,
        stop: threading.Event | None = None,
    ) -> None:
        self.pipeline, self.run_id, self.holder, self.timeout = pipeline, run_id, holder, timeout
        self._renew, self._release = renew, release
        self.expires_at = expires_at
        self.stop = stop
        self.lost_reason: str | None = None
        self.renewals = 0
        self._valid_until = time.monotonic() + timeout.total_seconds()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Lease:
        self._thread = threading.Thread(target=self._beat, name=f"lease-{self.pipeline}-{self.run_id}", daemon=True)
        self._thread.start()
        return self

    def _beat(self) -> None:
        interval = heartbeat_interval(self.timeout).total_seconds()
        while not self._done.wait(interval):
            try:
                still_ours = self._renew(self)
            except Exception as exc:  # noqa: BLE001 - a store hiccup: try again at the next beat
                log.warning("pipeline %s run %s: could not renew its lease: %s", self.pipeline, self.run_id,
                            mask(exc))
                continue
            if not still_ours:
                self.lost_reason = "its lease was taken over by another run or released with `state unlock --force`"
                log.error("pipeline %s run %s: %s; the run stops before its next batch", self.pipeline,
                          self.run_id, self.lost_reason)
                return
            self.renewals += 1
            self._valid_until = time.monotonic() + self.timeout.total_seconds()

    def check(self) -> None:
        if self.lost_reason is None and time.monotonic() > self._valid_until:
            self.lost_reason = (f"its lease could not be renewed for {self.timeout} (state store unreachable?) "
                                "and may have been taken over")
        if self.lost_reason is not None:
            raise LeaseLostError(f"pipeline {self.pipeline!r} run {self.run_id}: {self.lost_reason}; "
                                 "customers not yet confirmed are sent by the next run")
        if self.stop is not None and self.stop.is_set():
            raise StopRequested(f"pipeline {self.pipeline!r} run {self.run_id}: stopped by a service stop request; "
                                "customers not yet confirmed are sent by the next run")

    def release(self) -> None:
        self._done.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(5.0)
        self._release(self)
