"""The notify plugin against a real SMTP server (STARTTLS + login) and a real webhook receiver on loopback."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import tradecredit.plugins.notify as notify
from tradecredit import ControlMode, CreditRecord, LimitState, TransientError, run_pipeline
from tradecredit.core.config import parse_config
from tradecredit.core.errors import ConfigError
from tradecredit.testing import MEMORY_ROWS, FakeTarget

from .conftest import SMTP_PASSWORD, notify_section

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


def customer(code: str, used: str, limit: str = "1000.00", mode: ControlMode = ControlMode.BLOCK) -> CreditRecord:
    return CreditRecord(source="erp", erp_id=code, code=code, is_business=True, limit_state=LimitState.LIMITED,
                        credit_limit=Decimal(limit), used=Decimal(used), control_mode=mode, as_of=NOW)


@pytest.fixture
def host(host, monkeypatch):
    """The shared test host (tests/conftest.py) plus the notify plugin, with the SMTP password in the env."""
    monkeypatch.setenv("TC_SMTP_PASSWORD", SMTP_PASSWORD)
    host.add_plugin(notify, name="notify")
    return host


def config(host, tc_database_url, box, hook, pipeline=None, **extra):
    return parse_config({
        "state": {"url": tc_database_url},
        "sources": {"erp": {"plugin": "memory"}},
        "targets": {"shop": {"plugin": "fake"}},
        "pipelines": [{"name": "p", "source": "erp", "target": "shop", **(pipeline or {})}],
        "notify": notify_section(box, hook, **extra),
    }, host)


def fail(cfg, host, times):
    for _ in range(times):
        FakeTarget.script = [TransientError("HTTP 503 after 6 attempts")]
        with pytest.raises(TransientError):
            run_pipeline(cfg, "p", host=host)


def test_one_alert_per_failure_episode_and_one_on_recovery(host, tc_database_url, smtp_server, webhook_receiver,
                                                             caplog):
    MEMORY_ROWS["default"] = [customer("A", "100.00")]
    cfg = config(host, tc_database_url, smtp_server, webhook_receiver)
    fail(cfg, host, 3)
    assert webhook_receiver.events() == ["failed"]
    assert smtp_server.subjects() == ["[tradecredit] p: synchronizacja nie powiodła się"]
    assert smtp_server.tls_sessions == 1 and smtp_server.logins == ["alerts@example.test"], "STARTTLS, then login"
    body = smtp_server.messages[0].get_content()
    assert "HTTP 503 after 6 attempts" in body and "nie będą zgłaszane osobno" in body
    assert webhook_receiver.posts[0]["text"].startswith("[tradecredit] p: synchronizacja nie powiodła się")

    assert run_pipeline(cfg, "p", host=host).status == "ok"
    assert webhook_receiver.events() == ["failed", "recovered"]
    assert "po 3 nieudanych przebiegach" in smtp_server.messages[-1].get_content()
    run_pipeline(cfg, "p", host=host)
    MEMORY_ROWS["default"] = [customer("A", "200.00")]
    fail(cfg, host, 1)  # a new episode is announced again, once
    assert webhook_receiver.events() == ["failed", "recovered", "failed"]
    assert SMTP_PASSWORD not in caplog.text


def test_limit_crossings_are_announced_once_from_what_the_shop_confirmed(host, tc_database_url, smtp_server,
                                                                         webhook_receiver):
    cfg = config(host, tc_database_url, smtp_server, webhook_receiver)
    MEMORY_ROWS["default"] = [customer("A", "500.00"), customer("B", "900.00"), customer("C", "100.00")]
    run_pipeline(cfg, "p", host=host)
    assert webhook_receiver.posts == [], "the first run records the levels; B was already over 80 %"

    MEMORY_ROWS["default"] = [customer("A", "850.00"), customer("B", "950.00"), customer("C", "100.00")]
    run_pipeline(cfg, "p", host=host)
    assert webhook_receiver.events() == ["limit"] and webhook_receiver.posts[0]["customers"] == ["A"]
    assert "A: wykorzystano 85 % limitu (850,00\xa0zł z 1\xa0000,00\xa0zł)" in smtp_server.messages[-1].get_content()

    MEMORY_ROWS["default"] = [customer("A", "860.00"), customer("B", "1000.00"), customer("C", "100.00")]
    run_pipeline(cfg, "p", host=host)  # A still in the 80 % band: no news; B used everything under BLOCK
    assert webhook_receiver.events() == ["limit", "blocked"] and webhook_receiver.posts[1]["customers"] == ["B"]

    run_pipeline(cfg, "p", host=host)  # nothing changed, nothing written, nothing announced
    MEMORY_ROWS["default"] = [customer("A", "100.00"), customer("B", "1000.00"), customer("C", "100.00")]
    run_pipeline(cfg, "p", host=host)  # A paid: remembered silently
    MEMORY_ROWS["default"][0] = customer("A", "900.00")
    run_pipeline(cfg, "p", host=host)  # ... so crossing 80 % again is news
    assert webhook_receiver.events() == ["limit", "blocked", "limit"]


def test_stale_data_is_announced_once_per_episode_in_english(host, tc_database_url, smtp_server, webhook_receiver):
    MEMORY_ROWS["default"] = [customer("A", "100.00")]
    cfg = config(host, tc_database_url, smtp_server, webhook_receiver, pipeline={"max_age": "1s"}, language="en",
                 failures_before_alert=5)
    run_pipeline(cfg, "p", host=host)
    time.sleep(1.2)
    MEMORY_ROWS["default"] = [customer("A", "150.00")]
    fail(cfg, host, 3)
    assert webhook_receiver.events() == ["stale"], "stale, but not yet 5 failures"
    assert smtp_server.subjects() == ["[tradecredit] p: the shop's trade-credit data is stale"]
    MEMORY_ROWS["default"] = [customer("A", "200.00")]
    run_pipeline(cfg, "p", host=host)
    assert webhook_receiver.events() == ["stale", "recovered"]


def test_an_undelivered_alert_is_retried_and_one_channel_down_does_not_stop_the_other(
        host, tc_database_url, smtp_server, webhook_receiver):
    MEMORY_ROWS["default"] = [customer("A", "100.00")]
    cfg = config(host, tc_database_url, smtp_server, webhook_receiver)
    run_pipeline(cfg, "p", host=host)
    MEMORY_ROWS["default"] = [customer("A", "150.00")]
    webhook_receiver.fail_next = 1
    fail(cfg, host, 2)
    assert len(smtp_server.messages) == 1 and webhook_receiver.posts == []  # mail got through: episode announced
    cfg.sections["notify"].smtp.port = 1  # type: ignore[attr-defined]  # mail relay gone, webhook still down
    webhook_receiver.fail_next = 1
    assert run_pipeline(cfg, "p", host=host).status == "ok"  # the recovery could not be delivered...
    run_pipeline(cfg, "p", host=host)  # ... so the next run announces it (by webhook)
    assert webhook_receiver.events() == ["recovered"]


def test_the_notify_section_is_validated_with_paths(host, tc_database_url, smtp_server, webhook_receiver):
    base = {"state": {"url": tc_database_url}, "sources": {}, "targets": {}, "pipelines": []}
    with pytest.raises(ConfigError) as info:
        parse_config({**base, "notify": {"language": "de", "smtp": {"host": "x", "prot": 25, "sender": "a@b.c",
                                                                    "to": []}}}, host)
    problems = info.value.problems
    assert any(p.startswith("notify.language:") for p in problems)
    assert "notify.smtp.prot: unknown option (check the spelling)" in problems
    assert any(p.startswith("notify.smtp.to:") for p in problems)
    with pytest.raises(ConfigError, match="at least one channel"):
        parse_config({**base, "notify": {}}, host)
    with pytest.raises(ConfigError, match="notfy: unknown section"):
        parse_config({**base, "notfy": {}}, host)


def test_a_pipeline_blocked_by_a_hung_live_run_goes_stale_and_is_announced(host, tc_database_url, smtp_server,
                                                                            webhook_receiver):
    from datetime import timedelta

    from tradecredit.core.errors import LockHeldError
    from tradecredit.core.state import StateStore

    MEMORY_ROWS["default"] = [customer("A", "100.00")]
    cfg = config(host, tc_database_url, smtp_server, webhook_receiver, pipeline={"max_age": "1s"})
    run_pipeline(cfg, "p", host=host)
    store = StateStore.open(tc_database_url)
    lease = store.acquire_lease("p", 999, timeout=timedelta(minutes=5))  # alive and renewing, but never ends
    try:
        time.sleep(1.2)
        for _ in range(2):
            with pytest.raises(LockHeldError):
                run_pipeline(cfg, "p", host=host)
    finally:
        lease.release()
        store.close()
    assert webhook_receiver.events() == ["stale"], "no 'failed' alert: a held lease is not a failure"
