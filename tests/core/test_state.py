"""The state store on SQLite and PostgreSQL: migrations, corruption is loud, locks, cache."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update
from tradecredit.core.errors import LockHeldError, StateError
from tradecredit.core.state import SCHEMA_VERSION, ItemRecord, StateCache, StateStore, check_state, ledger, meta


def test_migrations_create_a_versioned_schema_and_are_idempotent(tc_database_url):
    store = StateStore.open(tc_database_url)
    assert store.schema_version() == SCHEMA_VERSION
    assert store.migrate() == SCHEMA_VERSION
    store.close()
    assert StateStore.open(tc_database_url).schema_version() == SCHEMA_VERSION


def test_a_newer_schema_is_refused_not_reset(tc_database_url):
    store = StateStore.open(tc_database_url)
    with store.engine.begin() as conn:
        conn.execute(update(meta).where(meta.c.key == "schema_version").values(value=str(SCHEMA_VERSION + 1)))
    with pytest.raises(StateError, match="newer than this tradecredit"):
        StateStore.open(tc_database_url)


def test_corrupt_ledger_is_a_loud_error(tc_database_url):
    store = StateStore.open(tc_database_url)
    store.record_batch(1, "p", "t", [("a", "A", {"x": 1})], [ItemRecord("a", "A", "written")])
    assert store.load_ledger("p", "t")["a"].payload == {"x": 1}
    with store.engine.begin() as conn:
        conn.execute(update(ledger).values(payload="{not json"))
    with pytest.raises(StateError, match="corrupt"):
        _ = store.load_ledger("p", "t")["a"].payload


def test_ledger_moves_forward_per_customer(tc_database_url):
    store = StateStore.open(tc_database_url)
    store.record_batch(1, "p", "t", [("a", "A", {"v": 1}), ("b", "B", {"v": 1})], [])
    store.record_batch(2, "p", "t", [("a", "A", {"v": 2})], [])
    entries = store.load_ledger("p", "t")
    assert entries["a"].payload == {"v": 2} and entries["b"].payload == {"v": 1}
    assert store.load_ledger("p", "other") == {}


def test_lease_is_exclusive_per_pipeline_and_released(tc_database_url):
    store = StateStore.open(tc_database_url)
    first = store.acquire_lease("p", 1, timeout=timedelta(hours=1))
    with pytest.raises(LockHeldError, match="run 1"):
        store.acquire_lease("p", 2, timeout=timedelta(hours=1))
    other = store.acquire_lease("other", 3, timeout=timedelta(hours=1))  # other pipelines are independent
    first.release()
    store.acquire_lease("p", 4, timeout=timedelta(hours=1)).release()
    other.release()
    store.close()


def test_cache_is_namespaced_and_read_only_in_dry_runs(tc_database_url):
    store = StateStore.open(tc_database_url)
    cache = StateCache(store, "target:shop")
    cache.put_many("match", {"K1": {"login": "k1"}, "K2": {"login": "k2"}})
    assert cache.get_many("match", ["K1", "K3"]) == {"K1": {"login": "k1"}}
    assert StateCache(store, "target:other").get_many("match", ["K1"]) == {}
    dry = StateCache(store, "target:shop", read_only=True)
    dry.put_many("match", {"K9": {}})
    dry.delete("match", ["K1"])
    assert set(cache.get_many("match", ["K1", "K9"])) == {"K1"}
    cache.delete("match", ["K1"])
    assert cache.get_many("match", ["K1"]) == {}


def test_state_errors_mask_passwords():
    with pytest.raises(Exception) as info:
        StateStore.open("postgresql+psycopg://u:hunter2secret@127.0.0.1:1/x")
    assert "hunter2secret" not in str(info.value)


def test_insert_of_a_corrupt_version_value_is_loud(tc_database_url):
    store = StateStore.open(tc_database_url)
    with store.engine.begin() as conn:
        conn.execute(update(meta).values(value="banana"))
    with pytest.raises(StateError, match="schema_version"):
        store.schema_version()


def test_read_only_open_creates_nothing_reads_empty_and_refuses_writes(tmp_path):
    db = tmp_path / "missing" / "state.db"
    store = StateStore.open(f"sqlite:///{db}", read_only=True)
    assert (store.exists, store.empty) == (False, True)
    assert store.load_ledger("p", "t") == {} and store.cache_get("ns", ["k"]) == {} and store.history() == []
    with pytest.raises(StateError, match="read-only"):
        store.record_batch(1, "p", "t", [], [])
    with pytest.raises(StateError, match="read-only"):
        store.migrate()
    store.close()
    assert not db.parent.exists()


def test_read_only_open_of_a_migrated_store_reads_it(tc_database_url):
    writer = StateStore.open(tc_database_url)
    writer.record_batch(1, "p", "t", [("a", "A", {"x": 1})], [])
    writer.close()
    reader = StateStore.open(tc_database_url, read_only=True)
    assert not reader.empty and reader.load_ledger("p", "t")["a"].payload == {"x": 1}
    with pytest.raises(StateError, match="read-only"):
        reader.acquire_lease("p", 1, timeout=timedelta(hours=1))
    reader.close()


def test_read_only_open_refuses_a_newer_schema(tc_database_url):
    store = StateStore.open(tc_database_url)
    with store.engine.begin() as conn:
        conn.execute(update(meta).where(meta.c.key == "schema_version").values(value=str(SCHEMA_VERSION + 1)))
    store.close()
    with pytest.raises(StateError, match="newer than this tradecredit"):
        StateStore.open(tc_database_url, read_only=True)


def _lines(results):
    return {r.name: (r.status.value, r.detail) for r in results}


def test_check_state_on_a_store_that_does_not_exist_yet(tmp_path):
    db = tmp_path / "state.db"
    lines = _lines(check_state(f"sqlite:///{db}"))
    assert lines["reachable"][0] == "warn" and "first run creates it" in lines["reachable"][1]
    assert not db.exists(), "check must not create the store"


def test_check_state_reports_schema_and_locks(tc_database_url):
    from sqlalchemy import create_engine

    # An existing database without our tables (a fresh PostgreSQL database, an empty SQLite file).
    engine = create_engine(tc_database_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE unrelated (x INTEGER)")
    engine.dispose()
    pending = _lines(check_state(tc_database_url))
    assert pending["reachable"][0] == "ok"
    assert pending["schema"][0] == "warn" and "migrations pending" in pending["schema"][1]
    assert pending["locks"][0] == "warn"

    store = StateStore.open(tc_database_url)
    current = _lines(check_state(tc_database_url, lease_timeout=timedelta(hours=1)))
    assert current["schema"] == ("ok", f"version {SCHEMA_VERSION} (current)")
    assert current["locks"] == ("ok", "lock table present, no run in progress")
    lease = store.acquire_lease("p", 7, timeout=timedelta(hours=1))
    held = _lines(check_state(tc_database_url, lease_timeout=timedelta(hours=1)))
    assert held["locks"][0] == "ok" and "p by" in held["locks"][1] and "live" in held["locks"][1]
    lease.release()

    with store.engine.begin() as conn:
        conn.execute(update(meta).values(value=str(SCHEMA_VERSION + 1)))
    newer = _lines(check_state(tc_database_url))
    assert newer["schema"][0] == "fail" and "newer" in newer["schema"][1]
    store.close()


def test_check_state_on_an_unreachable_server_fails_masked():
    lines = _lines(check_state("postgresql+psycopg://u:hunter2secret@127.0.0.1:1/x"))
    assert lines["reachable"][0] == "fail" and "hunter2secret" not in lines["reachable"][1]
