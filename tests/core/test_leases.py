"""Run leases on SQLite and PostgreSQL: a killed run never blocks syncing, a live holder is never taken over.

Issue 12, defects 1 and 2: before leases, a killed run's lock stopped every later run for 6 hours (exit 5)
while ``check`` said OK and the dead run stayed ``running``; and a short ``lock_timeout`` let a second run take
a live run's lock, so customers were written twice.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    insert,
    select,
    update,
)
from tradecredit import ControlMode, CreditRecord, LimitState, run_pipeline
from tradecredit.core.config import parse_config
from tradecredit.core.errors import LockHeldError
from tradecredit.core.lease import Holder, LeaseLostError, StopRequested
from tradecredit.core.state import (
    SCHEMA_VERSION,
    StateStore,
    check_state,
    lease_events,
    ledger,
    locks,
    runs,
)
from tradecredit.testing import MEMORY_ROWS, FakeTarget

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def customer(code: str, used: str = "0.00") -> CreditRecord:
    return CreditRecord(source="erp", erp_id=code, code=code, is_business=True, limit_state=LimitState.LIMITED,
                        credit_limit=Decimal("1000.00"), used=Decimal(used), control_mode=ControlMode.BLOCK, as_of=NOW)



def make_config(host, tc_database_url, **state):
    return parse_config(
        {
            "state": {"url": tc_database_url, **state},
            "sources": {"erp": {"plugin": "memory"}},
            "targets": {"shop": {"plugin": "fake", "batch_size": 10}},
            "pipelines": [{"name": "p", "source": "erp", "target": "shop"}],
        },
        host,
    )


HOLDER_SCRIPT = textwrap.dedent("""
    import sys, time
    from datetime import timedelta
    from tradecredit.core.state import StateStore
    store = StateStore.open(sys.argv[1])
    run_id = store.start_run("p", "erp", "shop", full_refresh=False)
    store.acquire_lease("p", run_id, timeout=timedelta(seconds=float(sys.argv[2])))
    print(run_id, flush=True)
    time.sleep(600)
""")


def start_holder(tc_database_url: str, timeout_s: float) -> tuple[subprocess.Popen[str], int]:
    """Another process that runs pipeline ``p``: it holds the lease and renews it until it is killed."""
    proc = subprocess.Popen([sys.executable, "-c", HOLDER_SCRIPT, tc_database_url, str(timeout_s)],
                            stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline() if proc.stdout else ""
    assert line.strip().isdigit(), f"holder did not start: {line!r}"
    return proc, int(line)


def test_a_killed_run_is_taken_over_at_once_and_marked_abandoned(host, tc_database_url):
    """Defect 1: the killed run's lease is taken over by the very next run (same host, process gone)."""
    MEMORY_ROWS["default"] = [customer("A"), customer("B")]
    cfg = make_config(host, tc_database_url)  # lease_timeout 60 s by default: the dead pid is what frees it
    proc, dead_run = start_holder(tc_database_url, 60)
    proc.kill()  # SIGKILL on POSIX, TerminateProcess on Windows: no cleanup runs
    proc.wait()

    before = {r.name: r for r in check_state(tc_database_url, lease_timeout=cfg.state.lease_timeout)}
    assert before["locks"].status == "fail" and "dead run" in before["locks"].detail
    assert "is gone" in before["locks"].detail

    report = run_pipeline(cfg, "p", host=host)
    assert report.status == "ok" and report.counts.written == 2

    store = StateStore.open(tc_database_url)
    dead = next(r for r in store.history() if r["id"] == dead_run)
    assert dead["status"] == "abandoned" and "is gone" in dead["error"]
    assert f"taken over by run {report.run_id}" in dead["error"]
    [event] = store.lease_events("p")
    assert (event["event"], event["previous_run_id"], event["run_id"]) == ("takeover", dead_run, report.run_id)
    assert store.leases() == [], "the run released its lease"
    store.close()
    after = {r.name: r for r in check_state(tc_database_url, lease_timeout=cfg.state.lease_timeout)}
    assert after["locks"].status == "ok"


def test_a_live_holder_keeps_its_lease_however_long_it_runs(host, tc_database_url):
    """Defect 2: a live run renews its lease, so even a very short lease_timeout never lets another run in."""
    MEMORY_ROWS["default"] = [customer("A")]
    # 1.5 s rather than less: on a loaded CI machine a heartbeat every timeout/3 can be late by a few hundred ms,
    # and a late heartbeat is exactly what the lease must treat as a hung holder.
    cfg = make_config(host, tc_database_url, lease_timeout="1.5s")
    proc, live_run = start_holder(tc_database_url, 1.5)
    try:
        for _ in range(4):  # well past two lease timeouts
            time.sleep(0.9)
            with pytest.raises(LockHeldError, match=f"run {live_run}"):
                run_pipeline(cfg, "p", host=host)
        assert FakeTarget.calls == [], "nothing was written while the live holder ran"
        store = StateStore.open(tc_database_url, read_only=True)
        [held] = store.leases()
        assert held.run_id == live_run and held.dead is None
        with store.engine.connect() as conn:
            assert conn.execute(select(locks.c.beats)).scalar() >= 3, "the heartbeat renews the lease"
        store.close()
    finally:
        proc.kill()
        proc.wait()
    assert run_pipeline(cfg, "p", host=host).counts.written == 1


def test_an_expired_lease_of_another_host_is_taken_over_a_renewed_one_is_not(tc_database_url):
    store = StateStore.open(tc_database_url)
    now = datetime.now(UTC)
    with store.engine.begin() as conn:
        conn.execute(insert(runs).values(id=41, pipeline="p", source="s", target="t", started_at=now,
                                         status="running", full_refresh=False))
        conn.execute(insert(locks).values(
            pipeline="p", run_id=41, holder="erp-server pid 77 run 41", acquired_at=now, host="erp-server",
            pid=77, heartbeat_at=now, expires_at=now + timedelta(seconds=30), beats=3))
    with pytest.raises(LockHeldError, match="erp-server pid 77"):  # renewed 0 s ago, on a host we cannot see
        store.acquire_lease("p", 42, timeout=HOUR)
    with store.engine.begin() as conn:
        conn.execute(update(locks).values(heartbeat_at=now - timedelta(seconds=90),
                                          expires_at=now - timedelta(seconds=30)))
    lease = store.acquire_lease("p", 43, timeout=HOUR)
    assert store.history()[-1]["status"] == "abandoned"
    assert "not renewed since" in store.lease_events("p")[0]["reason"]
    lease.release()
    store.close()


def test_two_runners_racing_for_a_dead_lease_only_one_wins(tc_database_url):
    store = StateStore.open(tc_database_url)
    old = datetime.now(UTC) - HOUR
    with store.engine.begin() as conn:
        conn.execute(insert(locks).values(pipeline="p", run_id=1, holder="gone pid 5 run 1", acquired_at=old,
                                          host="gone", pid=5, heartbeat_at=old, expires_at=old, beats=0))
    stores = [StateStore.open(tc_database_url) for _ in range(4)]
    gate = threading.Barrier(len(stores))
    outcomes: list[str] = []

    def take(s: StateStore, run_id: int) -> None:
        gate.wait()
        try:
            s.acquire_lease("p", run_id, timeout=HOUR, heartbeat=False)
            outcomes.append("won")
        except LockHeldError:
            outcomes.append("held")

    threads = [threading.Thread(target=take, args=(s, 10 + i)) for i, s in enumerate(stores)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["held", "held", "held", "won"], outcomes
    assert len(store.lease_events("p")) == 1
    for s in stores:
        s.close()
    store.close()


def test_a_run_that_lost_its_lease_writes_no_more_and_moves_no_ledger(host, tc_database_url):
    MEMORY_ROWS["default"] = [customer(f"K{i:02}") for i in range(30)]
    cfg = make_config(host, tc_database_url)
    original_write = FakeTarget.write

    def write_then_lose(self, items):
        results = original_write(self, items)
        if len(FakeTarget.calls) == 2:  # someone takes the lease over while batch 2 is at the shop
            store = StateStore.open(tc_database_url)
            with store.engine.begin() as conn:
                conn.execute(update(locks).values(run_id=999, holder="other pid 1 run 999"))
            store.close()
        return results

    FakeTarget.write = write_then_lose  # type: ignore[method-assign]
    try:
        with pytest.raises(LeaseLostError) as info:
            run_pipeline(cfg, "p", host=host)
    finally:
        FakeTarget.write = original_write  # type: ignore[method-assign]
    report = info.value.report
    assert report.status == "abandoned" and report.exit_code == 1
    assert len(FakeTarget.calls) == 2, "no batch is sent after the lease is gone"
    store = StateStore.open(tc_database_url)
    assert len(store.load_ledger("p", "shop")) == 10, "batch 2's answer is not recorded: the lease was not ours"
    assert store.history()[0]["status"] == "abandoned"
    store.close()


def test_a_stop_request_ends_the_run_between_batches(host, tc_database_url):
    MEMORY_ROWS["default"] = [customer(f"K{i:02}") for i in range(30)]
    cfg = make_config(host, tc_database_url)
    stop = threading.Event()
    original_write = FakeTarget.write

    def write_then_stop(self, items):
        stop.set()
        return original_write(self, items)

    FakeTarget.write = write_then_stop  # type: ignore[method-assign]
    try:
        with pytest.raises(StopRequested) as info:
            run_pipeline(cfg, "p", host=host, stop=stop)
    finally:
        FakeTarget.write = original_write  # type: ignore[method-assign]
    assert info.value.report.status == "abandoned" and len(FakeTarget.calls) == 1
    store = StateStore.open(tc_database_url)
    assert len(store.load_ledger("p", "shop")) == 10 and store.leases() == []
    store.close()
    assert run_pipeline(cfg, "p", host=host).counts.written == 20


def test_unlock_refuses_a_live_lease_without_force(tc_database_url):
    store = StateStore.open(tc_database_url)
    run_id = store.start_run("p", "s", "t", full_refresh=False)
    lease = store.acquire_lease("p", run_id, timeout=HOUR)
    with pytest.raises(LockHeldError, match="live run"):
        store.unlock("p")
    info = store.unlock("p", force=True)
    assert info is not None and info.run_id == run_id
    assert store.history()[0]["status"] == "abandoned"
    assert store.lease_events("p")[0]["event"] == "unlock"
    with pytest.raises(LeaseLostError):  # the forced-out holder learns it at its next check
        time.sleep(0.01)
        assert not store.renew_lease(lease)
        lease.lost_reason = lease.lost_reason or "released"
        lease.check()
    assert store.unlock("p") is None
    store.close()


def test_unlock_of_a_dead_holder_needs_no_force(tc_database_url):
    store = StateStore.open(tc_database_url)
    gone = Holder("somewhere", 1, None)
    old = datetime.now(UTC) - HOUR
    with store.engine.begin() as conn:
        conn.execute(insert(locks).values(pipeline="p", run_id=3, holder=gone.describe(3), acquired_at=old,
                                          host=gone.host, pid=gone.pid, heartbeat_at=old, expires_at=old, beats=9))
    assert store.unlock("p").dead
    store.close()


# A tradecredit 1 store, exactly as schema version 1 created it (frozen here: migration 2 must upgrade it).
V1 = MetaData()
Table("tc_meta", V1, Column("key", String(100), primary_key=True), Column("value", Text, nullable=False))
Table("tc_runs", V1, Column("id", Integer, primary_key=True, autoincrement=True),
      Column("pipeline", String(200), nullable=False, index=True), Column("source", String(200), nullable=False),
      Column("target", String(200), nullable=False), Column("started_at", DateTime(timezone=True), nullable=False),
      Column("finished_at", DateTime(timezone=True)), Column("status", String(20), nullable=False),
      Column("full_refresh", Boolean, nullable=False, default=False), Column("counts", Text),
      Column("error", Text), Column("report", Text))
Table("tc_ledger", V1, Column("pipeline", String(200), primary_key=True),
      Column("target", String(200), primary_key=True), Column("customer_key", String(200), primary_key=True),
      Column("code", String(200), nullable=False), Column("payload", Text, nullable=False),
      Column("confirmed_at", DateTime(timezone=True), nullable=False), Column("run_id", Integer, nullable=False))
Table("tc_run_items", V1, Column("id", Integer, primary_key=True, autoincrement=True),
      Column("run_id", Integer, nullable=False, index=True), Column("customer_key", String(200)),
      Column("code", String(200)), Column("outcome", String(20), nullable=False), Column("reason", Text),
      Column("payload", Text), Column("at", DateTime(timezone=True), nullable=False))
Table("tc_locks", V1, Column("pipeline", String(200), primary_key=True), Column("run_id", Integer, nullable=False),
      Column("holder", String(300), nullable=False), Column("acquired_at", DateTime(timezone=True), nullable=False))
Table("tc_cache", V1, Column("namespace", String(200), primary_key=True), Column("key", String(200), primary_key=True),
      Column("value", Text, nullable=False), Column("updated_at", DateTime(timezone=True), nullable=False))


def test_a_v1_store_upgrades_and_its_crashed_lock_is_taken_over(host, tc_database_url):
    import platform

    engine = create_engine(tc_database_url)
    V1.create_all(engine)
    started = datetime.now(UTC) - timedelta(minutes=5)
    with engine.begin() as conn:
        conn.execute(insert(V1.tables["tc_meta"]).values(key="schema_version", value="1"))
        conn.execute(insert(V1.tables["tc_runs"]).values(id=7, pipeline="p", source="erp", target="shop",
                                                         started_at=started, status="running", full_refresh=False))
        conn.execute(insert(V1.tables["tc_ledger"]).values(
            pipeline="p", target="shop", customer_key="a", code="A", confirmed_at=started, run_id=6,
            payload='{"account":"a","limit":"1000.00","mode":"block","used":"0.00"}'))
        # A v1 lock of a process on this host that no longer exists (pid 2**22 + 1 is above Linux's pid_max).
        conn.execute(insert(V1.tables["tc_locks"]).values(
            pipeline="p", run_id=7, holder=f"{platform.node()} pid {2**22 + 1} run 7", acquired_at=started))
    engine.dispose()

    MEMORY_ROWS["default"] = [customer("A"), customer("B")]
    report = run_pipeline(make_config(host, tc_database_url), "p", host=host)
    assert report.status == "ok" and (report.counts.unchanged, report.counts.written) == (1, 1)
    store = StateStore.open(tc_database_url)
    assert store.schema_version() == SCHEMA_VERSION == 3
    assert next(r for r in store.history() if r["id"] == 7)["status"] == "abandoned"
    with store.engine.connect() as conn:
        assert len(conn.execute(select(lease_events)).all()) == 1
        assert {r.customer_key for r in conn.execute(select(ledger))} == {"a", "b"}
    store.close()
