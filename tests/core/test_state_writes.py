"""The state write path (issue 13): upserts instead of delete-then-insert, each payload encoded once."""

from __future__ import annotations

from sqlalchemy import event, select
from tradecredit.core.state import ItemRecord, StateStore, dumps, ledger, run_items


def statements(store: StateStore) -> list[str]:
    seen: list[str] = []
    event.listen(store.engine, "before_cursor_execute",
                 lambda _c, _cur, statement, _p, _ctx, _many: seen.append(statement.strip().split()[0].upper()))
    return seen


def test_ledger_and_cache_are_upserted_without_deleting(tc_database_url):
    store = StateStore.open(tc_database_url)
    seen = statements(store)
    store.record_batch(1, "p", "t", [("a", "A", {"v": 1}), ("b", "B", {"v": 1})], [])
    store.record_batch(2, "p", "t", [("a", "A", dumps({"v": 2})), ("c", "C", {"v": 3})],
                       [ItemRecord("a", "A", "written", None, dumps({"v": 2}))])
    store.cache_put("ns", {"x": 1, "y": 2})
    store.cache_put("ns", {"x": 3})
    assert "DELETE" not in seen, "the ledger and the cache move forward by upserts only"
    entries = store.load_ledger("p", "t")
    assert {k: e.payload for k, e in entries.items()} == {"a": {"v": 2}, "b": {"v": 1}, "c": {"v": 3}}
    assert store.cache_get("ns", ["x", "y"]) == {"x": 3, "y": 2}
    with store.engine.connect() as conn:
        assert conn.execute(select(run_items.c.payload)).scalars().all() == ['{"v":2}'], \
            "a payload given as text is stored as it is"
        assert conn.execute(select(ledger.c.run_id).where(ledger.c.customer_key == "a")).scalar() == 2
    store.analyze()  # PostgreSQL: statistics refreshed; elsewhere nothing happens
    store.close()


def test_a_growing_ledger_is_analysed_whenever_it_doubled(tc_postgres_url, monkeypatch):
    """PostgreSQL plans each chunk's ``key IN (…)`` reads from statistics: a ledger analysed while it was empty would
    be scanned whole per chunk (quadratic over a first sync), so the run analyses it at 1,000, 2,000, 4,000 … rows."""
    from datetime import UTC, datetime
    from decimal import Decimal

    from sqlalchemy import func, text
    from tradecredit import CreditRecord, LimitState, run_pipeline
    from tradecredit.core.config import parse_config
    from tradecredit.core.plugins import PluginHost
    from tradecredit.testing import MEMORY_ROWS, FakeTarget, testing_plugin

    host = PluginHost(strict=True)
    host.add_plugin(testing_plugin, name="testing")
    FakeTarget.reset()
    now = datetime(2026, 11, 22, tzinfo=UTC)
    MEMORY_ROWS["default"] = [CreditRecord(source="erp", erp_id=str(i), code=f"K{i:05}", is_business=True,
                                           limit_state=LimitState.LIMITED, credit_limit=Decimal("1.00"), as_of=now)
                              for i in range(4100)]
    analysed: list[int] = []
    original = StateStore.analyze

    def spy(self):
        with self.engine.connect() as conn:
            analysed.append(int(conn.execute(select(func.count()).select_from(ledger)).scalar() or 0))
        original(self)

    monkeypatch.setattr(StateStore, "analyze", spy)
    cfg = parse_config({"state": {"url": tc_postgres_url}, "sources": {"erp": {"plugin": "memory"}},
                        "targets": {"shop": {"plugin": "fake"}},
                        "pipelines": [{"name": "p", "source": "erp", "target": "shop"}]}, host)
    try:
        assert run_pipeline(cfg, "p", host=host).counts.written == 4100
    finally:
        MEMORY_ROWS.clear()
        FakeTarget.reset()
    assert analysed == [1000, 2000, 4000, 4100]
    store = StateStore.open(tc_postgres_url)
    with store.engine.connect() as conn:
        last = conn.execute(text("SELECT last_analyze FROM pg_stat_user_tables WHERE relname = 'tc_ledger'")).scalar()
    store.close()
    assert last is not None
