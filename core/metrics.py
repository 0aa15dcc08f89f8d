"""``/healthz`` and ``/metrics`` of ``tradecredit service run``: a tiny WSGI app on prometheus_client.

Off by default and on loopback by default (``[service] listen``). No web framework: prometheus_client's
text exposition plus the standard library's WSGI server, in a daemon thread. Freshness is read from the state
store at each request, so it is right across restarts and also counts runs made by hand (``tradecredit run``).
"""

from __future__ import annotations

import json
import logging
import socketserver
import threading
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from .config import Config
from .report import RunReport
from .secrets import mask
from .serving import is_loopback
from .state import StateStore

log = logging.getLogger(__name__)

OUTCOMES = ("written", "failed", "rejected", "unmatched", "unchanged")


class _StateCollector:
    """Gauges read from the state store when scraped: last run, last confirmed sync, freshness."""

    def __init__(self, health: Health) -> None:
        self.health = health

    def collect(self) -> Iterator[GaugeMetricFamily]:
        last_run = GaugeMetricFamily("tradecredit_last_run_timestamp_seconds",
                                     "When the last run of the pipeline started (Unix time)", labels=["pipeline"])
        confirmed = GaugeMetricFamily("tradecredit_last_confirmed_sync_timestamp_seconds",
                                      "When the last run that completed (ok or partial) finished (Unix time)",
                                      labels=["pipeline"])
        freshness = GaugeMetricFamily("tradecredit_freshness_seconds",
                                      "Seconds since the last confirmed sync of the pipeline", labels=["pipeline"])
        healthy = GaugeMetricFamily("tradecredit_pipeline_healthy",
                                    "1 when the pipeline confirmed a sync within its max_age", labels=["pipeline"])
        for row in self.health.pipelines():
            if row["last_run"] is not None:
                last_run.add_metric([row["pipeline"]], row["last_run"].timestamp())
            if row["last_confirmed"] is not None:
                confirmed.add_metric([row["pipeline"]], row["last_confirmed"].timestamp())
                freshness.add_metric([row["pipeline"]], row["age_seconds"])
            healthy.add_metric([row["pipeline"]], 1.0 if row["healthy"] else 0.0)
        yield from (last_run, confirmed, freshness, healthy)


class Health:
    """What ``/healthz`` answers: every scheduled pipeline confirmed a sync within its ``max_age``."""

    def __init__(self, config: Config, store: StateStore, pipelines: Iterable[str]) -> None:
        self.config, self.store, self.names = config, store, list(pipelines)

    def pipelines(self, now: datetime | None = None) -> list[dict[str, Any]]:
        now = now or datetime.now(UTC)
        rows = []
        for name in self.names:
            max_age = self.config.max_age(self.config.pipeline(name))
            confirmed = self.store.last_confirmed(name)
            age = (now - confirmed).total_seconds() if confirmed else None
            rows.append({
                "pipeline": name, "last_run": self.store.last_started(name), "last_confirmed": confirmed,
                "age_seconds": age, "max_age_seconds": max_age.total_seconds() if max_age else None,
                "healthy": confirmed is not None and (max_age is None or age <= max_age.total_seconds()),  # type: ignore[operator]
            })
        return rows


class ServiceMetrics:
    """The service's Prometheus registry: state gauges plus counters fed by each run and each HTTP attempt."""

    def __init__(self, health: Health) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.registry.register(_StateCollector(health))
        self.customers = Counter("tradecredit_customers", "Customers per outcome, summed over runs",
                                 ["pipeline", "outcome"], registry=self.registry)
        self.runs = Counter("tradecredit_runs", "Runs per status", ["pipeline", "status"], registry=self.registry)
        self.http = Counter("tradecredit_http_requests", "HTTP attempts to each target, by status code or error",
                            ["target", "status"], registry=self.registry)
        self.duration = Histogram("tradecredit_run_duration_seconds", "Duration of a run", ["pipeline"],
                                  buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600), registry=self.registry)

    def observe_run(self, report: RunReport) -> None:
        self.runs.labels(report.pipeline, report.status).inc()
        counts = report.counts.model_dump()
        for outcome in OUTCOMES:
            if counts.get(outcome):
                self.customers.labels(report.pipeline, outcome).inc(counts[outcome])
        if report.finished_at is not None:
            self.duration.labels(report.pipeline).observe((report.finished_at - report.started_at).total_seconds())

    def observe_http(self, target: str, status: str) -> None:
        self.http.labels(target, status).inc()


def make_app(health: Health, metrics: ServiceMetrics) -> Callable[..., Iterable[bytes]]:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        try:
            if path == "/metrics":
                body, status, kind = generate_latest(metrics.registry), "200 OK", CONTENT_TYPE_LATEST
            elif path == "/healthz":
                rows = health.pipelines()
                ok = all(r["healthy"] for r in rows)
                body = json.dumps({"healthy": ok, "pipelines": rows}, default=str).encode()
                status, kind = ("200 OK" if ok else "503 Service Unavailable"), "application/json"
            else:
                body, status, kind = b"not found: try /healthz or /metrics\n", "404 Not Found", "text/plain"
        except Exception as exc:  # noqa: BLE001 - a health check that cannot read the state is not healthy
            body = mask(f"cannot read the state store: {exc}").encode()
            status, kind = "503 Service Unavailable", "text/plain; charset=utf-8"
        start_response(status, [("Content-Type", kind), ("Content-Length", str(len(body)))])
        return [body]

    return app


class _ThreadingServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        log.debug("http %s", format % args)


class MonitoringServer:
    """``/healthz`` and ``/metrics`` served from a daemon thread until ``stop``."""

    def __init__(self, host: str, port: int, app: Callable[..., Iterable[bytes]]) -> None:
        if not is_loopback(host):
            log.warning("health and metrics listen on %s, not loopback: anyone who can reach it can read them "
                        "(no authentication); prefer 127.0.0.1 behind the monitoring agent", host)
        self.server = make_server(host, port, app, server_class=_ThreadingServer, handler_class=_QuietHandler)
        self.address = (host, int(self.server.server_port))
        self.thread = threading.Thread(target=self.server.serve_forever, name="tc-monitoring", daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://{self.address[0]}:{self.address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
