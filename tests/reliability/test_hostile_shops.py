"""Hostile shops (issue 12): every broken answer is a clear per-batch failure or a clean stop within the
configured total time — never a traceback (``RunFailed``), never a ledger entry for an unconfirmed customer,
never a lease left behind.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from tradecredit import run_pipeline
from tradecredit.core.config import parse_config
from tradecredit.core.errors import AuthError, ConfigError, RunFailed, TradeCreditError
from tradecredit.core.plugins import PluginHost
from tradecredit.core.state import StateStore, locks
from tradecredit.plugins import idosell
from tradecredit.sdk import CreditRecord, LimitState
from tradecredit.testing import MEMORY_ROWS, testing_plugin

from .hostile import ANSWERS, HostileShop

AS_OF = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
CODES = [f"KH-{i}" for i in range(1, 6)]
# one HTTP call may take at most TOTAL seconds, whatever the shop does
TOTAL = 1.5
RETRY = {"max_attempts": 3, "backoff_initial": 0.05, "backoff_max": 0.2, "total_timeout": TOTAL, "jitter": 0.5}
# the run: one match call and (a transient failure stops the writing) at most two PUT calls, plus overhead
BUDGET = 3 * TOTAL + 3.0
CONFIRMING = {"gzip ok", "endless paging"}  # the only answers under which a customer may be confirmed


def records() -> list[CreditRecord]:
    return [CreditRecord(source="erp", erp_id=c, code=c, is_business=True, limit_state=LimitState.LIMITED,
                         credit_limit=Decimal("1000.00"), used=Decimal("12.34"), as_of=AS_OF) for c in CODES]


def run(shop_url: str, tmp_path: Path, **target: Any) -> tuple[Any, BaseException | None, float, str]:
    host = PluginHost(strict=True)
    host.add_plugin(testing_plugin, name="testing")
    host.add_plugin(idosell, name="idosell")
    state = f"sqlite:///{tmp_path / 'state.db'}"
    MEMORY_ROWS["hostile"] = list(records())
    config = parse_config({
        "state": {"url": state},
        "sources": {"erp": {"plugin": "memory", "dataset": "hostile"}},
        "targets": {"shop": {"plugin": "idosell", "base_url": shop_url, "api_key": "hostile-key-1234",
                             "batch_size": 2, "timeout": 0.7, "connect_timeout": 0.7, "retry": RETRY, **target}},
        "pipelines": [{"name": "sync", "source": "erp", "target": "shop"}],
    }, host)
    started = time.monotonic()
    error: BaseException | None = None
    try:
        report = run_pipeline(config, "sync", host=host, as_of=AS_OF)
    except TradeCreditError as exc:
        error, report = exc, exc.report
    return report, error, time.monotonic() - started, state


def check_invariants(report: Any, error: BaseException | None, elapsed: float, state: str,
                     confirming: bool) -> None:
    assert not isinstance(error, RunFailed), f"an unexpected exception escaped: {error!r} ({error.__cause__!r})"
    assert elapsed < BUDGET, f"the run took {elapsed:.1f}s, more than the configured bound {BUDGET}s"
    assert report is not None
    assert "Traceback" not in (report.error or "") and all("Traceback" not in p.reason for p in report.failed)
    store = StateStore.open(state)
    try:
        ledger = store.load_ledger("sync", "shop")
        with store.engine.connect() as conn:
            held = conn.execute(select(locks)).all()
    finally:
        store.close()
    assert held == [], "the run left its lease behind"
    if confirming:
        assert set(ledger) == {c.lower() for c in CODES}
    else:
        assert ledger == {}, f"ledger entries for customers the shop never confirmed: {sorted(ledger)}"
        assert report.status in ("failed", "partial")
        # a clear reason: the run's error, or every customer's failure
        assert report.error or len(report.failed) == len(CODES)


@pytest.mark.parametrize("name", sorted(ANSWERS))
def test_every_hostile_answer_is_a_clean_failure(name, tmp_path):
    with HostileShop() as shop:
        shop.answer = ANSWERS[name]
        report, error, elapsed, state = run(shop.url, tmp_path)
        gets = shop.count("GET")
    check_invariants(report, error, elapsed, state, confirming=name in CONFIRMING)
    if name in ("301", "302"):
        assert isinstance(error, ConfigError) and "base_url" in str(error) and "redirect" in str(error)
        assert gets == 1, "a redirect is not retried"
    if name in ("401", "403"):
        assert isinstance(error, AuthError) and gets == 1
    if name == "endless paging":
        assert gets <= 3, f"{gets} GETs for one page of codes: paging is not bounded"
    if name == "mismatched 207":
        assert {p.code for p in report.failed} == set(CODES)  # none confirmed by position
    if name in ("dripping", "slow headers"):
        assert "gave up" in (report.error or "") + " ".join(p.reason for p in report.failed)


def test_tls_failure_is_not_retried_and_names_base_url(tmp_path):
    with HostileShop() as shop:
        # https:// to a plain-HTTP port: the TLS handshake fails (as with a wrong certificate or host)
        report, error, elapsed, state = run(shop.url.replace("http://", "https://"), tmp_path)
    check_invariants(report, error, elapsed, state, confirming=False)
    assert isinstance(error, ConfigError) and "TLS" in str(error) and "base_url" in str(error)
    assert elapsed < 2.0, "a TLS failure must not be retried"
