"""The state store on SQLite and PostgreSQL: migrations, corruption is loud, locks, cache."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update
from tradecredit.core.errors import LockHeldError, StateError
from tradecredit.core.state import SCHEMA_VERSION, ItemRecord, StateCache, StateStore, ledger, meta


def test_migrations_create_a_versioned_schema_and_are_idempotent(state_url):
    store = StateStore.open(state_url)
    assert store.schema_version() == SCHEMA_VERSION
    assert store.migrate() == SCHEMA_VERSION
    store.close()
    assert StateStore.open(state_url).schema_version() == SCHEMA_VERSION


def test_a_newer_schema_is_refused_not_reset(state_url):
    store = StateStore.open(state_url)
    with store.engine.begin() as conn:
        conn.execute(update(meta).where(meta.c.key == "schema_version").values(value=str(SCHEMA_VERSION + 1)))
    with pytest.raises(StateError, match="newer than this tradecredit"):
        StateStore.open(state_url)


def test_corrupt_ledger_is_a_loud_error(state_url):
    store = StateStore.open(state_url)
    store.record_batch(1, "p", "t", [("a", "A", {"x": 1})], [ItemRecord("a", "A", "written")])
    assert store.load_ledger("p", "t")["a"].payload == {"x": 1}
    with store.engine.begin() as conn:
        conn.execute(update(ledger).values(payload="{not json"))
    with pytest.raises(StateError, match="corrupt"):
        _ = store.load_ledger("p", "t")["a"].payload


def test_ledger_moves_forward_per_customer(state_url):
    store = StateStore.open(state_url)
    store.record_batch(1, "p", "t", [("a", "A", {"v": 1}), ("b", "B", {"v": 1})], [])
    store.record_batch(2, "p", "t", [("a", "A", {"v": 2})], [])
    entries = store.load_ledger("p", "t")
    assert entries["a"].payload == {"v": 2} and entries["b"].payload == {"v": 1}
    assert store.load_ledger("p", "other") == {}


def test_lock_is_exclusive_and_a_stale_one_is_taken_over(state_url):
    store = StateStore.open(state_url)
    store.acquire_lock("p", 1, stale_after=timedelta(hours=1))
    with pytest.raises(LockHeldError, match="run 1"):
        store.acquire_lock("p", 2, stale_after=timedelta(hours=1))
    store.acquire_lock("other", 3, stale_after=timedelta(hours=1))  # other pipelines are independent
    store.acquire_lock("p", 4, stale_after=timedelta(0))  # the holder is "older" than 0: taken over
    with pytest.raises(LockHeldError, match="run 4"):
        store.acquire_lock("p", 5, stale_after=timedelta(hours=1))
    store.release_lock("p", 1)  # releasing someone else's lock does nothing
    with pytest.raises(LockHeldError):
        store.acquire_lock("p", 6, stale_after=timedelta(hours=1))
    store.release_lock("p", 4)
    store.acquire_lock("p", 7, stale_after=timedelta(hours=1))


def test_cache_is_namespaced_and_read_only_in_dry_runs(state_url):
    store = StateStore.open(state_url)
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


def test_insert_of_a_corrupt_version_value_is_loud(state_url):
    store = StateStore.open(state_url)
    with store.engine.begin() as conn:
        conn.execute(update(meta).values(value="banana"))
    with pytest.raises(StateError, match="schema_version"):
        store.schema_version()
