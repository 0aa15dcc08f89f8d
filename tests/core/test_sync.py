"""The orchestrator end to end with the shipped fakes, on SQLite and PostgreSQL state stores."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select
from tradecredit import ControlMode, CreditRecord, LimitState, RejectedRow, TransientError, run_pipeline
from tradecredit.core.config import parse_config
from tradecredit.core.errors import AuthError, LockHeldError
from tradecredit.core.plugins import PluginHost
from tradecredit.core.state import StateStore, ledger, run_items, runs
from tradecredit.core.testing import MEMORY_ROWS, FakeTarget, testing_plugin

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


def customer(code: str, limit: str = "1000.00", used: str = "0.00", mode=ControlMode.BLOCK) -> CreditRecord:
    return CreditRecord(
        source="erp", erp_id=code, code=code, is_business=True, limit_state=LimitState.LIMITED,
        credit_limit=Decimal(limit), used=Decimal(used), control_mode=mode, as_of=NOW,
    )


@pytest.fixture
def host() -> PluginHost:
    h = PluginHost(strict=True)
    h.add_plugin(testing_plugin, name="testing")
    FakeTarget.reset()
    yield h
    FakeTarget.reset()
    MEMORY_ROWS.clear()


def make_config(host, state_url, **target):
    return parse_config(
        {
            "state": {"url": state_url},
            "sources": {"erp": {"plugin": "memory"}},
            "targets": {"shop": {"plugin": "fake", **target}},
            "pipelines": [{"name": "p", "source": "erp", "target": "shop"}],
        },
        host,
    )


def test_full_run_then_rerun_sends_nothing_then_only_changes(host, state_url):
    MEMORY_ROWS["default"] = [customer(f"K{i:03}") for i in range(250)]
    cfg = make_config(host, state_url)
    first = run_pipeline(cfg, "p", host=host)
    assert (first.counts.read, first.counts.written, first.counts.failed, first.counts.batches) == (250, 250, 0, 3)
    assert [len(c) for c in FakeTarget.calls] == [100, 100, 50]
    assert first.status == "ok" and first.exit_code == 0

    second = run_pipeline(cfg, "p", host=host)
    assert second.counts.unchanged == 250 and second.counts.to_write == 0
    assert len(FakeTarget.calls) == 3, "an unchanged rerun must send zero write requests"

    MEMORY_ROWS["default"][7] = customer("K007", used="10.00")
    MEMORY_ROWS["default"][9] = customer("K009", limit="2000.00")
    third = run_pipeline(cfg, "p", host=host)
    assert third.counts.written == 2 and [c["code"] for c in FakeTarget.calls[-1]] == ["K007", "K009"]

    refresh = run_pipeline(cfg, "p", host=host, full_refresh=True)
    assert refresh.counts.written == 250


def test_failed_customers_are_retried_next_run_and_confirmed_ones_are_not(host, state_url):
    MEMORY_ROWS["default"] = [customer(c) for c in ("A", "B", "C")]
    cfg = make_config(host, state_url)
    FakeTarget.script = [{"B"}]
    report = run_pipeline(cfg, "p", host=host)
    assert report.status == "partial" and report.exit_code == 4
    assert [(f.code, f.reason) for f in report.failed] == [("B", "shop refused B")]
    run_pipeline(cfg, "p", host=host)
    assert [c["code"] for c in FakeTarget.calls[-1]] == ["B"]

    store = StateStore.open(state_url)
    with store.engine.connect() as conn:
        assert sorted(r.customer_key for r in conn.execute(select(ledger.c.customer_key))) == ["a", "b", "c"]
        outcomes = [(r.code, r.outcome) for r in conn.execute(select(run_items).order_by(run_items.c.id))]
    assert outcomes == [("A", "written"), ("B", "failed"), ("C", "written"), ("B", "written")]
    store.close()


def test_transient_failure_stops_writing_and_loses_nothing(host, state_url):
    MEMORY_ROWS["default"] = [customer(f"K{i}") for i in range(5)]
    cfg = make_config(host, state_url, batch_size=2)
    FakeTarget.script = [None, TransientError("HTTP 503 after 6 attempts")]
    report = run_pipeline(cfg, "p", host=host)
    assert report.counts.written == 2 and report.counts.failed == 3 and len(FakeTarget.calls) == 2
    assert "could not be reached after retries" in report.failed[-1].reason
    again = run_pipeline(cfg, "p", host=host)
    assert again.counts.written == 3 and again.counts.unchanged == 2


def test_auth_error_stops_the_run_and_records_it(host, state_url):
    MEMORY_ROWS["default"] = [customer("A")]
    cfg = make_config(host, state_url)
    FakeTarget.script = [AuthError("HTTP 403 (Scope: clients, level: w)")]
    with pytest.raises(AuthError):
        run_pipeline(cfg, "p", host=host)
    store = StateStore.open(state_url)
    with store.engine.connect() as conn:
        row = conn.execute(select(runs.c.status, runs.c.error)).one()
    store.close()
    assert row.status == "failed" and "Scope: clients" in row.error
    assert run_pipeline(cfg, "p", host=host).counts.written == 1  # lock was released


def test_dry_run_plans_and_changes_nothing(host, state_url):
    MEMORY_ROWS["default"] = [customer("A", limit="500.00"), customer("B")]
    cfg = make_config(host, state_url)
    run_pipeline(cfg, "p", host=host)
    MEMORY_ROWS["default"][0] = customer("A", limit="750.00")
    calls_before = len(FakeTarget.calls)
    store = StateStore.open(state_url)
    runs_before = store.count(runs)
    dry = run_pipeline(cfg, "p", host=host, dry_run=True)
    assert len(FakeTarget.calls) == calls_before, "a dry run must not write"
    assert store.count(runs) == runs_before, "a dry run must not change state"
    store.close()
    assert dry.counts.to_write == 1 and dry.counts.written == 0 and dry.run_id is None
    assert [(c.code, c.field, c.old, c.new) for c in dry.plan] == [("A", "limit", "500.00", "750.00")]


def test_bad_rows_duplicates_and_unmatched_are_reported_and_the_rest_goes_on(host, state_url):
    MEMORY_ROWS["default"] = [
        customer("A"), customer("dup 1"), customer(" DUP  1".strip()), customer("Z"),
        RejectedRow(source="erp", erp_id="99", code="BAD", reason="credit_limit -5.00 is negative"),
    ]
    cfg = make_config(host, state_url, known_codes=["A", "dup 1", "DUP  1"])
    report = run_pipeline(cfg, "p", host=host)
    assert report.counts.read == 5 and report.counts.written == 1
    assert report.unmatched == ["Z"]
    reasons = {p.code: p.reason for p in report.rejected}
    assert reasons["BAD"] == "credit_limit -5.00 is negative"
    assert "duplicate customer code" in reasons["dup 1"] and "duplicate customer code" in reasons["DUP  1"]
    assert report.exit_code == 4


def test_modes_the_target_lacks_are_degraded_and_reported(host, state_url):
    MEMORY_ROWS["default"] = [customer("A", mode=ControlMode.WARN), customer("B", mode=ControlMode.BLOCK)]
    cfg = make_config(host, state_url, native_modes=["allow", "block"])
    report = run_pipeline(cfg, "p", host=host)
    assert report.degraded_modes == {"warn → allow": 1}
    assert FakeTarget.shop["A"]["mode"] == "allow" and FakeTarget.shop["B"]["mode"] == "block"


def test_second_concurrent_run_is_refused_by_the_lock(host, state_url):
    MEMORY_ROWS["default"] = [customer("A")]
    cfg = make_config(host, state_url)
    store = StateStore.open(state_url)
    from datetime import timedelta

    store.acquire_lock("p", 999, stale_after=timedelta(hours=1))
    with pytest.raises(LockHeldError, match="already running"):
        run_pipeline(cfg, "p", host=host)
    store.release_lock("p", 999)
    store.close()
    assert run_pipeline(cfg, "p", host=host).counts.written == 1


def test_racing_runs_only_one_gets_the_lock(host, state_url):
    """Two threads start the same pipeline at once: exactly one runs, the other is told the lock is held."""
    MEMORY_ROWS["default"] = [customer(f"K{i}") for i in range(50)]
    cfg = make_config(host, state_url)
    gate = threading.Barrier(2)
    outcomes: list[str] = []

    def go():
        gate.wait()
        try:
            run_pipeline(cfg, "p", host=host)
            outcomes.append("ran")
        except LockHeldError:
            outcomes.append("locked")
        except Exception as exc:  # noqa: BLE001 - any other failure must fail the test, not vanish in a thread
            outcomes.append(f"error: {exc}")

    threads = [threading.Thread(target=go) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(outcomes) == 2 and "ran" in outcomes and set(outcomes) <= {"ran", "locked"}, outcomes
    assert len(FakeTarget.shop) == 50


def test_lifecycle_hooks_see_the_run(host, state_url):
    from tradecredit import hookimpl

    seen: list[tuple[str, object]] = []

    class Recorder:
        @hookimpl
        def before_run(self, run):
            seen.append(("before", run.pipeline))

        @hookimpl
        def after_batch(self, run, batch):
            seen.append(("batch", len(batch.confirmed)))

        @hookimpl
        def after_run(self, run, report):
            seen.append(("after", report.counts.written))

    host.add_plugin(Recorder(), name="recorder")
    MEMORY_ROWS["default"] = [customer("A"), customer("B")]
    run_pipeline(make_config(host, state_url), "p", host=host)
    assert seen == [("before", "p"), ("batch", 2), ("after", 2)]


def test_a_corrupt_ledger_entry_is_a_loud_error_not_a_silent_resend(host, state_url):
    from sqlalchemy import update
    from tradecredit.core.errors import StateError

    MEMORY_ROWS["default"] = [customer("A")]
    cfg = make_config(host, state_url)
    run_pipeline(cfg, "p", host=host)
    store = StateStore.open(state_url)
    with store.engine.begin() as conn:
        conn.execute(update(ledger).values(payload="{truncated"))
    store.close()
    with pytest.raises(StateError, match="corrupt"):
        run_pipeline(cfg, "p", host=host, dry_run=True)
    with pytest.raises(StateError, match="corrupt"):
        run_pipeline(cfg, "p", host=host)


def test_unchanged_customers_are_confirmed_and_unknown_ones_resent(host, state_url):
    MEMORY_ROWS["default"] = [customer("A"), customer("B"), customer("C")]
    cfg = make_config(host, state_url)
    run_pipeline(cfg, "p", host=host)
    assert FakeTarget.unchanged_calls == []
    FakeTarget.forgotten = {"B"}  # the shop lost customer B since the last run
    second = run_pipeline(cfg, "p", host=host)
    assert FakeTarget.unchanged_calls == [["A", "B", "C"]]
    assert second.counts.written == 0 and "will be sent again next run: B" in second.warnings[0]
    third = run_pipeline(cfg, "p", host=host)
    assert [c["code"] for c in FakeTarget.calls[-1]] == ["B"] and third.counts.written == 1
    dry = run_pipeline(cfg, "p", host=host, dry_run=True)
    assert len(FakeTarget.unchanged_calls) == 2 and dry.counts.unchanged == 3, "a dry run confirms nothing"


def test_a_failing_unchanged_confirmation_is_a_warning_not_a_failure(host, state_url, monkeypatch):
    MEMORY_ROWS["default"] = [customer("A")]
    cfg = make_config(host, state_url)
    run_pipeline(cfg, "p", host=host)

    def broken(self, codes, as_of):
        raise TransientError("freshness endpoint down")

    monkeypatch.setattr(FakeTarget, "confirm_unchanged", broken)
    report = run_pipeline(cfg, "p", host=host)
    assert report.status == "ok" and "freshness endpoint down" in report.warnings[0]
