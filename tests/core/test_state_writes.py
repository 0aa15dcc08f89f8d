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
