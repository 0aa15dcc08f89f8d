"""``service run``: schedules from the config, catch-up once, backoff, graceful stop, /healthz and /metrics."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest
from tradecredit import ControlMode, CreditRecord, LimitState, TransientError
from tradecredit.core.config import parse_config
from tradecredit.core.errors import ConfigError
from tradecredit.core.service import Service, first_run_time, trigger_for
from tradecredit.core.state import StateStore
from tradecredit.testing import MEMORY_ROWS, FakeTarget

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


def customer(code: str, used: str = "0.00") -> CreditRecord:
    return CreditRecord(source="erp", erp_id=code, code=code, is_business=True, limit_state=LimitState.LIMITED,
                        credit_limit=Decimal("1000.00"), used=Decimal(used), control_mode=ControlMode.BLOCK, as_of=NOW)



def config(host, tc_database_url, pipelines=None, **service):
    return parse_config({
        "state": {"url": tc_database_url},
        "service": {"jitter": None, **service} if "jitter" not in service else service,
        "sources": {"erp": {"plugin": "memory"}},
        "targets": {"shop": {"plugin": "fake"}},
        "pipelines": pipelines or [{"name": "p", "source": "erp", "target": "shop", "every": "0.3s"}],
    }, host)


def test_schedules_are_validated_with_their_paths(host, tc_sqlite_url):
    with pytest.raises(ConfigError) as info:
        config(host, tc_sqlite_url, [
            {"name": "a", "source": "erp", "target": "shop", "every": "5 parsecs"},
            {"name": "b", "source": "erp", "target": "shop", "cron": "61 * * * *"},
            {"name": "c", "source": "erp", "target": "shop", "every": "5m", "cron": "*/5 * * * *"},
        ], listen="host:port", backof_max="1h")
    problems = "\n".join(info.value.problems)
    assert "pipelines[0].every: '5 parsecs' is not a duration" in problems
    assert "pipelines[1].cron: '61 * * * *' is not a cron expression" in problems
    assert "pipelines[2]: give either every or cron, not both" in problems
    assert "service.listen: 'host:port': expected host:port" in problems
    assert "service.backof_max: unknown option" in problems
    cfg = config(host, tc_sqlite_url, [{"name": "a", "source": "erp", "target": "shop", "cron": "*/15 6-22 * * 1-5"}],
                 listen=9464, every="1h30m")
    assert cfg.service.address() == ("127.0.0.1", 9464), "a bare port listens on loopback"
    assert cfg.service.every == timedelta(hours=1, minutes=30)
    assert trigger_for(cfg.pipelines[0], cfg).period == timedelta(minutes=15)


def test_a_missed_run_is_caught_up_once_and_a_recent_one_keeps_its_rhythm(host, tc_sqlite_url):
    cfg = config(host, tc_sqlite_url, [{"name": "p", "source": "erp", "target": "shop", "every": "5m"}])
    schedule = trigger_for(cfg.pipelines[0], cfg)
    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    assert first_run_time(schedule, None, now, catch_up=True, jitter=None) == now, "never ran: run now"
    down_for_a_day = now - timedelta(days=1)
    assert first_run_time(schedule, down_for_a_day, now, catch_up=True, jitter=None) == now, "288 missed: one run"
    assert first_run_time(schedule, down_for_a_day, now, catch_up=False, jitter=None) is None
    recent = now - timedelta(minutes=2)
    assert first_run_time(schedule, recent, now, catch_up=True, jitter=None) == recent + timedelta(minutes=5)
    spread = first_run_time(schedule, None, now, catch_up=True, jitter=timedelta(seconds=30))
    assert now <= spread <= now + timedelta(seconds=30)

    cron = config(host, tc_sqlite_url, [{"name": "p", "source": "erp", "target": "shop", "cron": "0 6 * * *"}])
    daily = trigger_for(cron.pipelines[0], cron)
    yesterday_6 = datetime(2026, 12, 1, 5, 0, tzinfo=UTC)  # 06:00 Warsaw
    assert first_run_time(daily, yesterday_6, datetime(2026, 12, 2, 5, 30, tzinfo=UTC), catch_up=True,
                          jitter=None) == datetime(2026, 12, 2, 5, 30, tzinfo=UTC)
    assert first_run_time(daily, yesterday_6, datetime(2026, 12, 1, 20, 0, tzinfo=UTC), catch_up=True,
                          jitter=None) == datetime(2026, 12, 2, 5, 0, tzinfo=UTC)


def wait_for(condition, timeout=20.0):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.05)


def test_the_service_runs_on_schedule_serves_health_and_stops_cleanly(host, tc_database_url):
    MEMORY_ROWS["default"] = [customer(f"K{i}") for i in range(5)]
    cfg = config(host, tc_database_url, listen="127.0.0.1:0")
    service = Service(cfg, host)
    service.start()
    try:
        url = service.monitoring.url
        store = StateStore.open(tc_database_url, read_only=True)
        wait_for(lambda: sum(r["status"] == "ok" for r in store.history("p")) >= 3)
        assert {r["status"] for r in store.history("p")} <= {"ok", "running"}
        health = httpx.get(f"{url}/healthz")
        assert health.status_code == 200 and health.json()["pipelines"][0]["healthy"]
        metrics = httpx.get(f"{url}/metrics").text
        assert 'tradecredit_customers_total{outcome="written",pipeline="p"} 5.0' in metrics
        assert 'tradecredit_runs_total{pipeline="p",status="ok"}' in metrics
        assert "tradecredit_freshness_seconds{pipeline=\"p\"}" in metrics
        assert "tradecredit_run_duration_seconds_count{pipeline=\"p\"}" in metrics
        assert httpx.get(f"{url}/nope").status_code == 404
        store.close()
    finally:
        assert service.shutdown(), "a clean stop"
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/healthz")
    check = StateStore.open(tc_database_url, read_only=True)
    assert check.leases() == [] and all(r["status"] != "running" for r in check.history("p"))
    check.close()


def test_health_is_503_when_a_pipeline_has_not_synced_within_max_age(host, tc_database_url):
    MEMORY_ROWS["default"] = [customer("A")]
    cfg = config(host, tc_database_url, [{"name": "p", "source": "erp", "target": "shop", "every": "1h",
                                    "max_age": "1h"}], listen="127.0.0.1:0", catch_up=False)
    service = Service(cfg, host)
    service.start()
    try:
        answer = httpx.get(f"{service.monitoring.url}/healthz")
        assert answer.status_code == 503 and answer.json()["pipelines"][0]["last_confirmed"] is None
    finally:
        service.shutdown()


def test_consecutive_failures_back_off_and_the_first_success_resets(host, tc_database_url):
    MEMORY_ROWS["default"] = [customer("A")]
    cfg = config(host, tc_database_url, [{"name": "p", "source": "erp", "target": "shop", "every": "0.2s"}],
                 backoff_max="1s")
    FakeTarget.script = [TransientError("down")] * 4
    service = Service(cfg, host)
    service.start()
    try:
        store = StateStore.open(tc_database_url, read_only=True)
        wait_for(lambda: service.states["p"].failures >= 3)
        job = service.scheduler.get_job("p")
        gap = (job.next_run_time - datetime.now(UTC)).total_seconds()
        assert 0.3 < gap <= 1.0, f"third failure in a row waits 0.2 × 4 = 0.8 s, not 0.2 s ({gap})"
        wait_for(lambda: service.states["p"].last_status == "ok")
        assert service.states["p"].failures == 0 and store.history("p")[0]["status"] in ("ok", "running")
        store.close()
    finally:
        service.shutdown()


def test_a_stop_during_a_run_ends_it_after_the_current_batch_and_releases_the_lease(host, tc_database_url):
    MEMORY_ROWS["default"] = [customer(f"K{i:03}") for i in range(300)]
    cfg = parse_config({
        "state": {"url": tc_database_url}, "service": {"jitter": None},
        "sources": {"erp": {"plugin": "memory"}}, "targets": {"shop": {"plugin": "fake", "batch_size": 10}},
        "pipelines": [{"name": "p", "source": "erp", "target": "shop", "every": "1h"}],
    }, host)
    in_batch, release = threading.Event(), threading.Event()
    original = FakeTarget.write

    def slow_write(self, items):
        in_batch.set()
        release.wait(5)
        return original(self, items)

    FakeTarget.write = slow_write  # type: ignore[method-assign]
    service = Service(cfg, host)
    try:
        service.start()
        assert in_batch.wait(10)
        stopper = threading.Thread(target=service.shutdown)
        stopper.start()
        time.sleep(0.2)
        release.set()  # the batch in flight is answered...
        stopper.join(10)
    finally:
        FakeTarget.write = original  # type: ignore[method-assign]
    assert len(FakeTarget.calls) == 1, "... and no further batch is sent"
    store = StateStore.open(tc_database_url, read_only=True)
    assert store.history("p")[0]["status"] == "abandoned" and store.leases() == []
    assert len(store.load_ledger("p", "shop")) == 10
    store.close()
