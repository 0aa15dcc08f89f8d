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
from tradecredit.core.state import StateStore, ledger, run_items, runs
from tradecredit.testing import MEMORY_ROWS, FakeTarget

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


def customer(code: str, limit: str = "1000.00", used: str = "0.00", mode=ControlMode.BLOCK) -> CreditRecord:
    return CreditRecord(
        source="erp", erp_id=code, code=code, is_business=True, limit_state=LimitState.LIMITED,
        credit_limit=Decimal(limit), used=Decimal(used), control_mode=mode, as_of=NOW,
    )



def make_config(host, tc_database_url, **target):
    return parse_config(
        {
            "state": {"url": tc_database_url},
            "sources": {"erp": {"plugin": "memory"}},
            "targets": {"shop": {"plugin": "fake", **target}},
            "pipelines": [{"name": "p", "source": "erp", "target": "shop"}],
        },
        host,
    )


def test_full_run_then_rerun_sends_nothing_then_only_changes(host, tc_database_url):
    MEMORY_ROWS["default"] = [customer(f"K{i:03}") for i in range(250)]
    cfg = make_config(host, tc_database_url)
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


def test_failed_customers_are_retried_next_run_and_confirmed_ones_are_not(host, tc_database_url):
    MEMORY_ROWS["default"] = [customer(c) for c in ("A", "B", "C")]
    cfg = make_config(host, tc_database_url)
    FakeTarget.script = [{"B"}]
    report = run_pipeline(cfg, "p", host=host)
    assert report.status == "partial" and report.exit_code == 4
    assert [(f.code, f.reason) for f in report.failed] == [("B", "shop refused B")]
    run_pipeline(cfg, "p", host=host)
    assert [c["code"] for c in FakeTarget.calls[-1]] == ["B"]

    store = StateStore.open(tc_database_url)
    with store.engine.connect() as conn:
        assert sorted(r.customer_key for r in conn.execute(select(ledger.c.customer_key))) == ["a", "b", "c"]
        outcomes = [(r.code, r.outcome) for r in conn.execute(select(run_items).order_by(run_items.c.id))]
    assert outcomes == [("A", "written"), ("B", "failed"), ("C", "written"), ("B", "written")]
    store.close()


def test_transient_failure_stops_writing_and_loses_nothing(host, tc_database_url):
    MEMORY_ROWS["default"] = [customer(f"K{i}") for i in range(5)]
    cfg = make_config(host, tc_database_url, batch_size=2)
    FakeTarget.script = [None, TransientError("HTTP 503 after 6 attempts")]
    with pytest.raises(TransientError) as info:
        run_pipeline(cfg, "p", host=host)
    report = info.value.report
    assert report.counts.written == 2 and report.counts.failed == 3 and len(FakeTarget.calls) == 2
    assert "could not be reached after retries" in report.failed[-1].reason
    assert (report.status, report.error_kind, report.exit_code) == ("failed", "error", 1)
    assert FakeTarget.unchanged_calls == [], "an unreachable shop is not asked to confirm anything else"
    store = StateStore.open(tc_database_url)
    assert store.history()[0]["status"] == "failed" and len(store.load_ledger("p", "shop")) == 2
    store.close()
    again = run_pipeline(cfg, "p", host=host)
    assert again.counts.written == 3 and again.counts.unchanged == 2


def test_an_unreachable_shop_exits_1_whether_matching_or_writing(host, tc_database_url, monkeypatch):
    """README: 1 = the run could not complete (shop unreachable after retries), at any stage."""
    MEMORY_ROWS["default"] = [customer("A")]
    cfg = make_config(host, tc_database_url)
    FakeTarget.script = [TransientError("HTTP 503 after 6 attempts")]
    with pytest.raises(TransientError) as writing:
        run_pipeline(cfg, "p", host=host)

    def unreachable(self, codes):
        raise TransientError("connect timeout after 6 attempts")

    monkeypatch.setattr(FakeTarget, "match", unreachable)
    with pytest.raises(TransientError) as matching:
        run_pipeline(cfg, "p", host=host)
    assert writing.value.report.exit_code == matching.value.report.exit_code == 1
    assert matching.value.report.error == "TransientError: connect timeout after 6 attempts"


def test_auth_error_stops_the_run_and_records_it(host, tc_database_url):
    MEMORY_ROWS["default"] = [customer("A")]
    cfg = make_config(host, tc_database_url)
    FakeTarget.script = [AuthError("HTTP 403 (Scope: clients, level: w)")]
    with pytest.raises(AuthError) as info:
        run_pipeline(cfg, "p", host=host)
    assert (info.value.report.status, info.value.report.exit_code) == ("failed", 3)
    store = StateStore.open(tc_database_url)
    with store.engine.connect() as conn:
        row = conn.execute(select(runs.c.status, runs.c.error)).one()
    store.close()
    assert row.status == "failed" and "Scope: clients" in row.error
    assert run_pipeline(cfg, "p", host=host).counts.written == 1  # lock was released


def test_dry_run_plans_and_changes_nothing(host, tc_database_url):
    MEMORY_ROWS["default"] = [customer("A", limit="500.00"), customer("B")]
    cfg = make_config(host, tc_database_url)
    run_pipeline(cfg, "p", host=host)
    MEMORY_ROWS["default"][0] = customer("A", limit="750.00")
    calls_before = len(FakeTarget.calls)
    store = StateStore.open(tc_database_url)
    runs_before = store.count(runs)
    dry = run_pipeline(cfg, "p", host=host, dry_run=True)
    assert len(FakeTarget.calls) == calls_before, "a dry run must not write"
    assert store.count(runs) == runs_before, "a dry run must not change state"
    store.close()
    assert dry.counts.to_write == 1 and dry.counts.written == 0 and dry.run_id is None
    assert [(c.code, c.field, c.old, c.new) for c in dry.plan] == [("A", "limit", "500.00", "750.00")]


def test_bad_rows_duplicates_and_unmatched_are_reported_and_the_rest_goes_on(host, tc_database_url):
    MEMORY_ROWS["default"] = [
        customer("A"), customer("dup 1"), customer(" DUP  1".strip()), customer("Z"),
        RejectedRow(source="erp", erp_id="99", code="BAD", reason="credit_limit -5.00 is negative"),
    ]
    cfg = make_config(host, tc_database_url, known_codes=["A", "dup 1", "DUP  1"])
    report = run_pipeline(cfg, "p", host=host)
    assert report.counts.read == 5 and report.counts.written == 1
    assert report.unmatched == ["Z"]
    reasons = {p.code: p.reason for p in report.rejected}
    assert reasons["BAD"] == "credit_limit -5.00 is negative"
    assert "duplicate customer code" in reasons["dup 1"] and "duplicate customer code" in reasons["DUP  1"]
    assert report.exit_code == 4


def test_modes_the_target_lacks_are_degraded_and_reported(host, tc_database_url):
    MEMORY_ROWS["default"] = [customer("A", mode=ControlMode.WARN), customer("B", mode=ControlMode.BLOCK)]
    cfg = make_config(host, tc_database_url, native_modes=["allow", "block"])
    report = run_pipeline(cfg, "p", host=host)
    assert report.degraded_modes == {"warn → allow": 1}
    assert FakeTarget.shop["A"]["mode"] == "allow" and FakeTarget.shop["B"]["mode"] == "block"


def test_second_concurrent_run_is_refused_by_the_lock(host, tc_database_url):
    MEMORY_ROWS["default"] = [customer("A")]
    cfg = make_config(host, tc_database_url)
    store = StateStore.open(tc_database_url)
    from datetime import timedelta

    lease = store.acquire_lease("p", 999, timeout=timedelta(hours=1))
    with pytest.raises(LockHeldError, match="already running") as info:
        run_pipeline(cfg, "p", host=host)
    assert (info.value.report.status, info.value.report.exit_code) == ("locked", 5)
    assert store.history()[0]["status"] == "locked"
    lease.release()
    store.close()
    assert run_pipeline(cfg, "p", host=host).counts.written == 1


def test_racing_runs_only_one_gets_the_lock(host, tc_database_url):
    """Two threads start the same pipeline at once: exactly one runs, the other is told the lock is held."""
    MEMORY_ROWS["default"] = [customer(f"K{i}") for i in range(50)]
    cfg = make_config(host, tc_database_url)
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


def test_lifecycle_hooks_see_the_run(host, tc_database_url):
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
    run_pipeline(make_config(host, tc_database_url), "p", host=host)
    assert seen == [("before", "p"), ("batch", 2), ("after", 2)]


def test_a_corrupt_ledger_entry_is_a_loud_error_not_a_silent_resend(host, tc_database_url):
    from sqlalchemy import update
    from tradecredit.core.errors import StateError

    MEMORY_ROWS["default"] = [customer("A")]
    cfg = make_config(host, tc_database_url)
    run_pipeline(cfg, "p", host=host)
    store = StateStore.open(tc_database_url)
    with store.engine.begin() as conn:
        conn.execute(update(ledger).values(payload="{truncated"))
    store.close()
    with pytest.raises(StateError, match="corrupt"):
        run_pipeline(cfg, "p", host=host, dry_run=True)
    with pytest.raises(StateError, match="corrupt"):
        run_pipeline(cfg, "p", host=host)


def test_unchanged_customers_are_confirmed_and_unknown_ones_resent(host, tc_database_url):
    MEMORY_ROWS["default"] = [customer("A"), customer("B"), customer("C")]
    cfg = make_config(host, tc_database_url)
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


def test_a_failing_unchanged_confirmation_is_a_warning_not_a_failure(host, tc_database_url, monkeypatch):
    MEMORY_ROWS["default"] = [customer("A")]
    cfg = make_config(host, tc_database_url)
    run_pipeline(cfg, "p", host=host)

    def broken(self, codes, as_of):
        raise TransientError("freshness endpoint down")

    monkeypatch.setattr(FakeTarget, "confirm_unchanged", broken)
    report = run_pipeline(cfg, "p", host=host)
    assert report.status == "ok" and "freshness endpoint down" in report.warnings[0]


# --- dry-run preview of a first sync (Target.current, identity fields) --------------------------------------


def test_first_dry_run_shows_what_the_shop_holds_now(host, tc_database_url):
    MEMORY_ROWS["default"] = [customer("A", limit="1000.00"), customer("B", limit="50.00")]
    FakeTarget.shop["A"] = {"account": "a", "limit": "400.00", "used": "0.00", "mode": "block", "other": 1}
    cfg = make_config(host, tc_database_url, batch_size=1)
    dry = run_pipeline(cfg, "p", host=host, dry_run=True)
    assert FakeTarget.current_calls == [["A"], ["B"]], "asked in chunks of batch_size()"
    rows = [(c.code, c.field, c.old, c.new, c.old_source) for c in dry.plan]
    assert rows == [
        ("A", "limit", "400.00", "1000.00", "shop"),  # equal used/mode are no change; the identity is no row
        ("B", "limit", None, "50.00", None),  # the shop does not know B: unknown, not "empty"
        ("B", "mode", None, "block", None),
        ("B", "used", None, "0.00", None),
    ]
    assert dry.counts.to_write == 2 and dry.warnings == []

    run_pipeline(cfg, "p", host=host)
    FakeTarget.current_calls.clear()
    MEMORY_ROWS["default"] = [customer("A", limit="900.00"), customer("B", limit="50.00"), customer("C")]
    dry = run_pipeline(cfg, "p", host=host, dry_run=True)
    assert FakeTarget.current_calls == [["C"]], "customers in the ledger are not read from the shop"
    assert [(c.code, c.field, c.old, c.old_source) for c in dry.plan if c.code == "A"] == [
        ("A", "limit", "1000.00", "ledger")
    ]
    assert {c.old_source for c in dry.plan if c.code == "C"} == {None}


def test_a_failing_current_is_a_warning_and_shows_unknown(host, tc_database_url):
    MEMORY_ROWS["default"] = [customer("A"), customer("B")]
    FakeTarget.shop["A"] = {"account": "a", "limit": "400.00", "used": "0.00", "mode": "block"}
    FakeTarget.current_error = TransientError("HTTP 503 after 6 attempts")
    dry = run_pipeline(make_config(host, tc_database_url, batch_size=1), "p", host=host, dry_run=True)
    assert dry.status == "ok" and dry.exit_code == 0
    assert len(FakeTarget.current_calls) == 1, "the first failure stops further reads"
    assert "HTTP 503" in dry.warnings[0] and "2 customer(s)" in dry.warnings[0]
    assert {c.old_source for c in dry.plan} == {None} and len(dry.plan) == 6


def test_plan_text_says_where_before_came_from(host, tc_database_url):
    from tradecredit.core.report import render_text

    MEMORY_ROWS["default"] = [customer("A"), customer("B")]
    cfg = make_config(host, tc_database_url)
    run_pipeline(cfg, "p", host=host)
    MEMORY_ROWS["default"] = [customer("A", limit="5.00"), customer("B"), customer("C")]
    FakeTarget.shop["C"] = {"used": "7.00"}
    text = render_text(run_pipeline(cfg, "p", host=host, dry_run=True))
    assert "before" in text and "shop now (last confirmed)" not in text
    lines = text.splitlines()
    assert any(line.split()[:4] == ["A", "limit", "1000.00", "(ledger)"] for line in lines)
    assert any(line.split()[:4] == ["C", "used", "7.00", "(shop", ] for line in lines)
    assert any(line.split()[:3] == ["C", "limit", "?"] for line in lines)
    assert not any(line.split()[1:2] == ["account"] for line in lines if line.startswith("  "))


def test_diff_fields_against_ledger_and_shop():
    from tradecredit.core.sync import diff_fields

    new = {"login": "x", "limit": "1", "used": "2"}
    ledger_rows = diff_fields({"login": "x", "limit": "0", "gone": "9", "used": "2"}, new, "K",
                              old_source="ledger", hidden=frozenset({"login"}))
    assert [(r.field, r.old, r.new, r.old_source) for r in ledger_rows] == [
        ("gone", "9", None, "ledger"), ("limit", "0", "1", "ledger")
    ]
    shop_rows = diff_fields({"limit": "1", "extra": "?"}, new, "K", old_source="shop", hidden=frozenset({"login"}))
    assert [(r.field, r.old, r.old_source) for r in shop_rows] == [("used", None, None)]


# --- a dry run changes no state ----------------------------------------------------------------------------


def test_dry_run_on_a_missing_store_creates_nothing(host, tc_database_url):
    from sqlalchemy import create_engine, inspect
    from sqlalchemy.engine import make_url

    url = make_url(tc_database_url)
    if url.get_backend_name() == "sqlite":  # in a folder that does not exist either
        from pathlib import Path

        db = Path(url.database).parent / "not-yet" / "state.db"
        tc_database_url = f"sqlite:///{db}"
    MEMORY_ROWS["default"] = [customer("A")]
    dry = run_pipeline(make_config(host, tc_database_url), "p", host=host, dry_run=True)
    assert dry.counts.to_write == 1 and {c.old_source for c in dry.plan} == {None}
    if url.get_backend_name() == "sqlite":
        assert not db.exists() and not db.parent.exists()
    else:
        engine = create_engine(tc_database_url)
        assert inspect(engine).get_table_names() == [], "no table may be created or migrated"
        engine.dispose()


def test_dry_run_on_an_unmigrated_sqlite_file_leaves_it_untouched(host, tmp_path):
    import sqlite3

    db = tmp_path / "state.db"
    sqlite3.connect(db).close()  # exists, empty: e.g. created by a DBA ahead of the first run
    before = db.read_bytes()
    MEMORY_ROWS["default"] = [customer("A")]
    dry = run_pipeline(make_config(host, f"sqlite:///{db}"), "p", host=host, dry_run=True)
    assert dry.counts.to_write == 1 and db.read_bytes() == before


# --- errors: reports on the exception, on_error, keep going ------------------------------------------------


def test_on_error_sees_lock_unknown_and_disabled_pipelines(host, tc_database_url):
    from datetime import timedelta

    from tradecredit import ConfigError, hookimpl

    seen: list[tuple[str, str | None, str]] = []

    class Recorder:
        @hookimpl
        def on_error(self, run, error):
            seen.append((run.pipeline, run.target, type(error).__name__))

    host.add_plugin(Recorder(), name="recorder")
    MEMORY_ROWS["default"] = [customer("A")]
    cfg = parse_config(
        {
            "state": {"url": tc_database_url},
            "sources": {"erp": {"plugin": "memory"}},
            "targets": {"shop": {"plugin": "fake"}},
            "pipelines": [{"name": "p", "source": "erp", "target": "shop"},
                          {"name": "off", "source": "erp", "target": "shop", "enabled": False}],
        },
        host,
    )
    store = StateStore.open(tc_database_url)
    lease = store.acquire_lease("p", 999, timeout=timedelta(hours=1))
    with pytest.raises(LockHeldError):
        run_pipeline(cfg, "p", host=host)
    lease.release()
    store.close()
    with pytest.raises(ConfigError) as unknown:
        run_pipeline(cfg, "nope", host=host)
    with pytest.raises(ConfigError, match="disabled"):
        run_pipeline(cfg, "off", host=host)
    assert seen == [("p", "shop", "LockHeldError"), ("nope", None, "ConfigError"), ("off", "shop", "ConfigError")]
    report = unknown.value.report
    assert (report.status, report.exit_code, report.source) == ("failed", 3, None)


def test_run_pipelines_runs_every_enabled_pipeline_and_keeps_going(host, tc_database_url, monkeypatch):
    import tradecredit
    from tradecredit.core.report import exit_code_for

    MEMORY_ROWS["default"] = [customer("A")]
    MEMORY_ROWS["other"] = [customer("B")]
    cfg = parse_config(
        {
            "state": {"url": tc_database_url},
            "sources": {"erp": {"plugin": "memory"}, "erp2": {"plugin": "memory", "dataset": "other"}},
            "targets": {"shop": {"plugin": "fake"}},
            "pipelines": [
                {"name": "first", "source": "erp", "target": "shop"},
                {"name": "off", "source": "erp", "target": "shop", "enabled": False},
                {"name": "second", "source": "erp2", "target": "shop"},
            ],
        },
        host,
    )
    FakeTarget.script = [AuthError("HTTP 401")]  # the first pipeline's write is refused
    seen: list[str] = []
    reports = tradecredit.run_pipelines(cfg, host=host, on_report=lambda r: seen.append(r.pipeline))
    assert [r.pipeline for r in reports] == seen == ["first", "second"]
    assert [(r.status, r.exit_code) for r in reports] == [("failed", 3), ("ok", 0)]
    assert FakeTarget.shop == {"B": FakeTarget.shop["B"]}
    assert exit_code_for(reports) == 3
    named = tradecredit.run_pipelines(cfg, ["second", "nope"], host=host, dry_run=True)
    assert [(r.pipeline, r.status) for r in named] == [("second", "ok"), ("nope", "failed")]
    assert tradecredit.check_config is not None


def test_exit_code_for_takes_the_most_severe():
    from tradecredit.core.report import ExitCode, RunReport, exit_code_for

    def rep(**kw):
        return RunReport(pipeline="p", as_of=NOW, started_at=NOW, **kw)

    partial = rep(status="partial")  # the exit code follows the status: one truth (issue 10, case 9)
    partial.counts.failed = 1
    locked, failed = rep(status="locked"), rep(status="failed", error_kind="error")
    assert exit_code_for([]) == ExitCode.OK
    assert exit_code_for([rep(), locked, partial]) == ExitCode.PARTIAL
    assert exit_code_for([partial, failed]) == ExitCode.ERROR
    assert exit_code_for([failed, LockHeldError("x"), AuthError("y")]) == ExitCode.CONFIG
    assert partial.model_dump()["exit_code"] == 4, "the JSON report carries its exit code"
