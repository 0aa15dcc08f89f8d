"""State that stays small: sticky outcomes recorded once, capped run reports, retention."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, select, update
from tradecredit import CreditRecord, LimitState, RejectedRow, run_pipeline
from tradecredit.core.config import parse_config
from tradecredit.core.report import REPORT_LIST_LIMIT, render_text
from tradecredit.core.state import REPORT_LIST_CAP, StateStore, outcomes, run_items, runs
from tradecredit.testing import MEMORY_ROWS

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


def rec(code: str, used: str = "0.00") -> CreditRecord:
    return CreditRecord(source="erp", erp_id=code, code=code, is_business=True, limit_state=LimitState.LIMITED,
                        credit_limit=Decimal("1000.00"), used=Decimal(used), as_of=NOW)


def bad(code: str, reason: str = "negative limit") -> RejectedRow:
    return RejectedRow(source="erp", erp_id=code, code=code, reason=reason)



def make_config(host, tc_database_url, **state):
    return parse_config({
        "state": {"url": tc_database_url, **state},
        "sources": {"erp": {"plugin": "memory"}},
        "targets": {"shop": {"plugin": "fake", "known_codes": [f"K{i}" for i in range(10)] + ["R1", "R2"]}},
        "pipelines": [{"name": "p", "source": "erp", "target": "shop"}],
    }, host)


def items_of(store: StateStore, run_id: int) -> list[tuple[str, str | None]]:
    return [(i["outcome"], i["code"]) for i in store.run_items(run_id)]


def test_unchanged_rejections_and_unmatched_customers_are_recorded_once(host, tc_database_url):
    MEMORY_ROWS["default"] = [rec("K1"), rec("K2"), rec("NOSHOP"), bad("R1"), bad("R2")]
    cfg = make_config(host, tc_database_url)
    first = run_pipeline(cfg, "p", host=host)
    second = run_pipeline(cfg, "p", host=host)
    store = StateStore.open(tc_database_url)
    assert sorted(items_of(store, first.run_id)) == [
        ("rejected", "R1"), ("rejected", "R2"), ("unmatched", "NOSHOP"), ("written", "K1"), ("written", "K2")]
    assert items_of(store, second.run_id) == [], "nothing changed: no audit row"
    assert store.run_trail(second.run_id) == {"not_repeated": {"rejected": 2, "unmatched": 1}}
    assert second.counts.rejected == 2 and second.counts.unmatched == 1, "the report still counts them all"

    MEMORY_ROWS["default"] = [rec("K1"), rec("K2"), rec("NOSHOP"), bad("R1", "limit above 10^13"), rec("R2")]
    third = run_pipeline(cfg, "p", host=host)
    assert sorted(items_of(store, third.run_id)) == [("rejected", "R1"), ("written", "R2")], \
        "a new reason is a change; a customer fixed in the ERP is written"
    MEMORY_ROWS["default"] = [rec("K1"), rec("K2"), bad("R1", "limit above 10^13"), rec("R2")]
    fourth = run_pipeline(cfg, "p", host=host)
    assert items_of(store, fourth.run_id) == [] and store.run_trail(fourth.run_id) == {
        "not_repeated": {"rejected": 1}}
    MEMORY_ROWS["default"] = [rec("K1"), rec("K2"), rec("NOSHOP"), bad("R1", "limit above 10^13"), rec("R2")]
    fifth = run_pipeline(cfg, "p", host=host)
    assert items_of(store, fifth.run_id) == [("unmatched", "NOSHOP")], "gone and back: recorded again"
    store.close()


def test_a_customer_that_leaves_a_sticky_outcome_unchanged_gets_a_row(host, tc_database_url):
    MEMORY_ROWS["default"] = [rec("K1")]
    cfg = make_config(host, tc_database_url)
    run_pipeline(cfg, "p", host=host)
    MEMORY_ROWS["default"] = [bad("K1", "code reused")]
    run_pipeline(cfg, "p", host=host)
    MEMORY_ROWS["default"] = [rec("K1")]  # the ledger still has K1's payload: unchanged, not written
    back = run_pipeline(cfg, "p", host=host)
    store = StateStore.open(tc_database_url)
    [row] = store.run_items(back.run_id)
    assert row["outcome"] == "unchanged" and "no longer rejected" in row["reason"]
    store.close()


def test_the_saved_report_is_capped_however_many_customers(host, tc_database_url):
    MEMORY_ROWS["default"] = [rec(f"X{i}") for i in range(500)]
    report = run_pipeline(make_config(host, tc_database_url), "p", host=host)
    assert len(report.unmatched) == 500 and report.unmatched_truncated == 0, "under the limit: the whole list"
    store = StateStore.open(tc_database_url)
    saved = store.engine.connect().execute(select(runs.c.report)).scalar()
    import json

    data = json.loads(saved)
    assert len(data["unmatched"]) == REPORT_LIST_CAP and data["unmatched_truncated"] == 500 - REPORT_LIST_CAP
    store.close()


def test_the_run_reports_lists_stop_at_the_limit_and_the_audit_trail_has_everyone(host, tc_database_url):
    n = REPORT_LIST_LIMIT + 234
    MEMORY_ROWS["default"] = [rec(f"X{i}") for i in range(n)] + [bad(f"B{i}") for i in range(n)]
    cfg = make_config(host, tc_database_url)
    report = run_pipeline(cfg, "p", host=host)
    assert report.unmatched == [f"X{i}" for i in range(REPORT_LIST_LIMIT)], "the first entries, in read order"
    assert report.unmatched_truncated == 234 and report.counts.unmatched == n
    assert len(report.rejected) == REPORT_LIST_LIMIT and report.rejected_truncated == 234
    assert report.counts.rejected == n and report.status == "partial"
    assert "No shop account for: X0, X1" in render_text(report) and f"and {n - 20} more" in render_text(report)
    assert f"Rejected ({n}), by reason:" in render_text(report)
    store = StateStore.open(tc_database_url)
    with store.engine.connect() as conn:
        recorded = dict(conn.execute(select(outcomes.c.outcome, func.count()).group_by(outcomes.c.outcome)).all())
        saved = json.loads(conn.execute(select(runs.c.report)).scalar())
    assert recorded == {"unmatched": n, "rejected": n}, "every customer's sticky outcome, beyond the report's list"
    assert len(store.run_items(report.run_id)) == 2 * n
    assert saved["unmatched_truncated"] == n - REPORT_LIST_CAP and len(saved["unmatched"]) == REPORT_LIST_CAP
    again = run_pipeline(cfg, "p", host=host)  # nothing changed: counted, no audit row (the trail says so)
    assert again.counts.unmatched == n and again.unmatched_truncated == 234
    assert store.run_items(again.run_id) == []
    store.close()


def test_retention_by_count_and_age_keeps_running_and_last_completed_runs(host, tc_database_url):
    MEMORY_ROWS["default"] = [rec("K1")]
    cfg = make_config(host, tc_database_url, keep_runs=3, keep_days=0)
    for _ in range(6):
        run_pipeline(cfg, "p", host=host)
    store = StateStore.open(tc_database_url)
    assert [r["id"] for r in store.history()] == [6, 5, 4], "applied after each run"
    with store.engine.connect() as conn:
        assert conn.execute(select(func.min(run_items.c.run_id))).scalar() is None or \
            conn.execute(select(func.min(run_items.c.run_id))).scalar() >= 4
    old = datetime.now(UTC) - timedelta(days=40)
    with store.engine.begin() as conn:
        conn.execute(update(runs).values(started_at=old))
        conn.execute(update(runs).where(runs.c.id == 6).values(status="failed"))
        conn.execute(update(runs).where(runs.c.id == 4).values(status="running"))
    deleted = store.prune(keep_runs=0, keep_days=30)
    assert deleted["runs"] == 1, "5 was the last completed run and 4 is running: only 6 goes"
    assert [r["id"] for r in store.history()] == [5, 4]
    store.close()
