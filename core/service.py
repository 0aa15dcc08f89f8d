"""``tradecredit service run``: every enabled pipeline on its own schedule, unattended, until stopped.

Scheduling is APScheduler's (interval and cron triggers with jitter, ``max_instances=1``, ``coalesce``), not
a hand-written loop. Never two runs of one pipeline at once: within the service by ``max_instances=1``, and
against runs started elsewhere (by hand, another server) by the run's lease. A run missed while the service
was down is caught up once at start, decided from the state store (when the pipeline last ran), not from
APScheduler's memory. Consecutive failures back off per pipeline; the first success resets it.

Stopping: SIGINT (Ctrl+C; WinSW and the Windows console send it as CTRL_C_EVENT), SIGTERM (systemd) and
SIGBREAK (CTRL_BREAK_EVENT on Windows) set one event. Nothing new starts; a running pipeline finishes the
batch it is writing, ends ``abandoned`` and releases its lease (``Lease.check``). The same event works on
Windows and Linux: no POSIX-only call is needed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from .config import Config, PipelineConfig, load_config
from .errors import ConfigError
from .http import REQUEST_LABEL, add_request_observer
from .lease import StopRequested
from .metrics import Health, MonitoringServer, ServiceMetrics, make_app
from .plugins import PluginHost, get_host
from .report import RunReport
from .state import StateStore
from .sync import run_pipeline

log = logging.getLogger("tradecredit.service")

CRON_FIELDS = ("minute", "hour", "day", "month", "day_of_week")


@dataclass
class Schedule:
    pipeline: str
    trigger: BaseTrigger
    period: timedelta  # the usual gap between two runs: the unit of the failure backoff
    describe: str


def trigger_for(p: PipelineConfig, cfg: Config) -> Schedule | None:
    """The pipeline's schedule (``every``/``cron``, else ``[service] every``), or None: not scheduled."""
    jitter = int(cfg.service.jitter.total_seconds()) or None if cfg.service.jitter else None
    tz = cfg.service.time_zone
    if p.cron is not None:
        fields = dict(zip(CRON_FIELDS, p.cron.split(), strict=True))
        trigger: BaseTrigger = CronTrigger(**fields, timezone=tz, jitter=jitter)
        now = datetime.now(UTC)
        first = trigger.get_next_fire_time(None, now)
        second = trigger.get_next_fire_time(first, first + timedelta(seconds=1)) if first else None
        period = (second - first) if first and second else timedelta(hours=1)
        return Schedule(p.name, trigger, period, f"cron {p.cron!r} ({tz})")
    every = p.every or cfg.service.every
    if every is None:
        return None
    jitter = min(jitter or 0, int(every.total_seconds() / 2)) or None  # jitter never swallows the interval
    return Schedule(p.name, IntervalTrigger(seconds=every.total_seconds(), timezone=tz, jitter=jitter), every,
                    f"every {every}")


def first_run_time(schedule: Schedule, last_started: datetime | None, now: datetime, *, catch_up: bool,
                   jitter: timedelta | None) -> datetime | None:
    """When the pipeline's first run in this service should be: ``now`` when its scheduled run was missed
    (once, however many were missed), the next due time otherwise; None leaves it to the trigger."""
    spread = timedelta(seconds=random.uniform(0, jitter.total_seconds())) if jitter else timedelta(0)
    if last_started is None:
        return now + spread if catch_up else None
    if isinstance(schedule.trigger, IntervalTrigger):
        due = last_started + schedule.period
    else:
        bare = CronTrigger(**{f.name: str(f) for f in schedule.trigger.fields if f.name in CRON_FIELDS},
                           timezone=schedule.trigger.timezone)
        due = bare.get_next_fire_time(None, last_started + timedelta(seconds=1))
    if due is None:
        return None
    if due <= now:
        return now + spread if catch_up else None
    return due


@dataclass
class PipelineState:
    failures: int = 0
    last_status: str | None = None


class Service:
    """The scheduler, the per-pipeline backoff, the monitoring server and the stop event."""

    def __init__(self, config: Config, host: PluginHost, stop: threading.Event | None = None) -> None:
        self.config, self.host = config, host
        self.stop = stop or threading.Event()
        self.schedules = [s for p in config.pipelines if p.enabled and (s := trigger_for(p, config))]
        if not self.schedules:
            raise ConfigError("no enabled pipeline has a schedule: set every = \"15m\" or cron = \"…\" on a "
                              "pipeline, or [service] every for all of them")
        self.states = {s.pipeline: PipelineState() for s in self.schedules}
        self.store = StateStore.open(config.state.url)  # the service runs for real: create and migrate now
        self.health = Health(config, self.store, [s.pipeline for s in self.schedules])
        self.metrics = ServiceMetrics(self.health)
        self.monitoring: MonitoringServer | None = None
        self.console: Any = None  # the web console's RunningServer when [console] serve_in_service (issue 15)
        self._running = 0
        self._idle = threading.Condition()
        self.scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(max_workers=max(1, len(self.schedules)))},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone=config.service.time_zone,
        )
        self._unobserve: Callable[[], None] | None = None
        if not logging.getLogger().isEnabledFor(logging.DEBUG):
            logging.getLogger("apscheduler").setLevel(logging.WARNING)  # our own events say what ran

    def start(self) -> None:
        now = datetime.now(UTC)
        for s in self.schedules:
            first = first_run_time(s, self.store.last_started(s.pipeline), now, catch_up=self.config.service.catch_up,
                                   jitter=self.config.service.jitter)
            extra: dict[str, Any] = {"next_run_time": first} if first is not None else {}
            self.scheduler.add_job(self._run, s.trigger, args=[s], id=s.pipeline, name=s.pipeline, **extra)
        self._unobserve = add_request_observer(self.metrics.observe_http)
        address = self.config.service.address()
        if address is not None:
            self.monitoring = MonitoringServer(*address, make_app(self.health, self.metrics))
        if self.config.console.serve_in_service:
            from .console.app import create_app as console_app  # the web stack only when the console is wanted
            from .serving import serve_in_thread

            host, port = self.config.console.address()
            self.console = serve_in_thread(console_app(self.config), host, port)
            log.info("console on %s/", self.console.url)
        self.scheduler.start()
        for job in self.scheduler.get_jobs():
            schedule = next(s for s in self.schedules if s.pipeline == job.id)
            log.info("pipeline %s scheduled %s; next run %s", job.id, schedule.describe,
                     f"{job.next_run_time:%Y-%m-%d %H:%M:%S %Z}" if job.next_run_time else "by its schedule",
                     extra={"event": "scheduled", "pipeline": job.id, "schedule": schedule.describe})
        unscheduled = [p.name for p in self.config.pipelines if p.enabled and p.name not in self.states]
        if unscheduled:
            log.warning("pipelines without a schedule are not run by the service: %s", ", ".join(unscheduled))
        if self.monitoring:
            log.info("health and metrics on %s/healthz and /metrics", self.monitoring.url)

    def _run(self, schedule: Schedule) -> None:
        if self.stop.is_set():
            return
        name = schedule.pipeline
        with self._idle:
            self._running += 1
        token = REQUEST_LABEL.set(self.config.pipeline(name).target)
        try:
            try:
                report = run_pipeline(self.config, name, host=self.host, stop=self.stop)
            except Exception as exc:  # recorded by run_pipeline; one failing run never stops the service
                failed = getattr(exc, "report", None)
                if not isinstance(failed, RunReport):
                    log.exception("pipeline %s: unexpected error outside the run", name)
                    return
                if isinstance(exc, StopRequested):
                    return
                report = failed
            self.metrics.observe_run(report)
            self._after(schedule, report)
        finally:
            REQUEST_LABEL.reset(token)
            with self._idle:
                self._running -= 1
                self._idle.notify_all()

    def _after(self, schedule: Schedule, report: RunReport) -> None:
        state = self.states[schedule.pipeline]
        state.last_status = report.status
        if report.status in ("ok", "partial"):
            if state.failures:
                log.info("pipeline %s recovered after %d failed run(s)", schedule.pipeline, state.failures,
                         extra={"event": "recovered", "pipeline": schedule.pipeline, "failures": state.failures})
            state.failures = 0
            return
        if report.status == "locked":
            return  # another run is doing the work: not a failure of ours
        state.failures += 1
        if state.failures < 2:
            return  # the first failure waits for the next regular run
        delay = min(self.config.service.backoff_max, schedule.period * 2 ** (state.failures - 1))
        when = datetime.now(UTC) + delay
        try:
            self.scheduler.modify_job(schedule.pipeline, next_run_time=when)
        except Exception:  # noqa: BLE001 - the scheduler is shutting down
            return
        log.warning("pipeline %s failed %d times in a row: next try in %s (%s)", schedule.pipeline,
                    state.failures, delay, f"{when:%H:%M:%S %Z}",
                    extra={"event": "backoff", "pipeline": schedule.pipeline, "failures": state.failures,
                           "delay_s": delay.total_seconds()})

    def wait(self) -> None:
        # A short timeout keeps the main thread responsive to signals on every platform.
        while not self.stop.wait(0.5):
            pass

    def shutdown(self) -> bool:
        """Stop scheduling, let a running pipeline finish its batch; False when it did not end in time."""
        self.stop.set()
        log.info("service stopping: no new runs; waiting up to %s for running ones", self.config.service.stop_timeout)
        self.scheduler.shutdown(wait=False)
        deadline = self.config.service.stop_timeout.total_seconds()
        with self._idle:
            ended = self._idle.wait_for(lambda: self._running == 0, timeout=deadline)
        if self.monitoring:
            self.monitoring.stop()
        if self.console is not None:
            self.console.stop()
        if self._unobserve:
            self._unobserve()
        if ended:
            self.store.close()
        log.info("service stopped" if ended else "service stopped with a run still going (its lease is taken over "
                 "by the next run)", extra={"event": "stopped", "clean": ended})
        return ended


def install_stop_handlers(stop: threading.Event) -> None:
    """SIGINT, SIGTERM and (Windows) SIGBREAK set ``stop``. Only the main thread may install them."""
    if threading.current_thread() is not threading.main_thread():
        return

    def handler(signum: int, _frame: Any) -> None:
        log.info("received %s", signal.Signals(signum).name)
        stop.set()

    for name in ("SIGINT", "SIGTERM", "SIGBREAK"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), handler)


def run_service(
    config_path: str | Path, *, host: PluginHost | None = None, stop: threading.Event | None = None,
    on_started: Callable[[Service], None] | None = None, hard_exit: bool | None = None,
) -> int:
    """Run the service until ``stop`` is set (or a stop signal arrives). Returns the exit code (0: clean stop).

    ``hard_exit`` (default: when called from the main thread) ends the process at once if a run did not finish
    within ``stop_timeout``, so a service manager's stop never hangs on a stuck ERP query.
    """
    host = host or get_host()
    config = load_config(config_path, host)
    service = Service(config, host, stop)
    main = threading.current_thread() is threading.main_thread()
    install_stop_handlers(service.stop)
    service.start()
    if on_started is not None:
        on_started(service)
    with contextlib.suppress(KeyboardInterrupt):  # a Ctrl+C that arrived before the handler was installed
        service.wait()
    clean = service.shutdown()
    if not clean and (main if hard_exit is None else hard_exit):
        for handler in logging.getLogger().handlers:
            handler.flush()
        sys.stderr.flush()
        os._exit(1)
    return 0 if clean else 1


__all__ = ["Service", "first_run_time", "run_service", "trigger_for"]
