"""One writer at a time (issue 12), on SQLite and PostgreSQL: two ``tradecredit run`` processes on one
pipeline, started together again and again — exactly one writes; a killed holder's lease is taken over at once
on the same machine (docs/operations.md); a live holder's lease is never taken over, even with a lease_timeout
shorter than its run.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select
from tradecredit.core.state import lease_events, runs
from tradecredit.plugins.idosell.sandbox import start_sandbox

from .convergence import _write_csv

KEY = "one-writer-key-55aa"
CODES = [f"OW-{i}" for i in range(6)]
ROUNDS = int(os.environ.get("TC_RELIABILITY_RACES", "2"))


def _setup(folder: Path, state_url: str, shop_url: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tradecredit.toml").write_text(f"""
[state]
url = "{state_url}"
lease_timeout = "1s"

[sources.erp]
plugin = "csv"
path = "erp.csv"

[targets.shop]
plugin = "idosell"
base_url = "{shop_url}"
api_key = "{KEY}"
batch_size = 2

[[pipelines]]
name = "sync"
source = "erp"
target = "shop"
""", encoding="utf-8")


def _start(folder: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "tradecredit.core.cli", "run", "-c", "tradecredit.toml"],
                            cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _applied(log: list, since: int) -> Counter[str]:
    done: Counter[str] = Counter()
    for entry in log[since:]:
        if entry.op == "PUT clients/clients" and entry.status in (200, 207):
            done.update(r["clientsResult"]["requestReference"] for r in json.loads(entry.response)["results"]
                        if r.get("resultStatus") is True)
    return done


def _events(state_url: str) -> tuple[int, int]:
    engine = create_engine(state_url)
    try:
        with engine.connect() as conn:
            takeovers = conn.execute(select(func.count()).select_from(lease_events)
                                     .where(lease_events.c.event == "takeover")).scalar_one()
            running = conn.execute(select(func.count()).select_from(runs).where(runs.c.status == "running")
                                   ).scalar_one()
    finally:
        engine.dispose()
    return takeovers, running


def test_two_processes_started_together_exactly_one_writes(tc_database_url, tmp_path):
    rng = random.Random(7)
    shop = start_sandbox(tmp_path / "shop.db", KEY)
    try:
        shop.add_clients({"login": f"l-{c}", "code_external": c} for c in CODES)
        # every write takes 0.8 s: a run holds its lease ~2.5 s (longer than lease_timeout, 1 s, and than the
        # jitter of two process starts on a loaded machine)
        shop.inject("slow", op="PUT clients/clients", times=None, delay=0.8)
        _setup(tmp_path / "p", tc_database_url, shop.url)
        exits: Counter[int] = Counter()
        for _ in range(ROUNDS):
            erp = {c: (Decimal(rng.randrange(1000, 9000)), Decimal("0.00")) for c in CODES}
            _write_csv(tmp_path / "p" / "erp.csv", erp)
            since = len(shop.app.log)
            pair = [_start(tmp_path / "p"), _start(tmp_path / "p")]
            codes = [p.wait(timeout=60) for p in pair]
            exits.update(codes)
            applied = _applied(shop.app.log, since)
            assert applied == Counter(CODES), f"each customer written exactly once per round, got {applied}"
            assert sorted(codes) in ([0, 5], [0, 0]), codes  # 5: refused by the live lease; 0: nothing left
            for c in CODES:
                assert shop.client(f"l-{c}").limit == erp[c][0]
        takeovers, running = _events(tc_database_url)
    finally:
        shop.stop()
    assert takeovers == 0, "a live holder's lease was taken over"
    assert running == 0
    assert exits[5] >= 1, "the two processes never overlapped: the race was not tested"


def test_a_killed_holder_is_taken_over_at_once(tc_database_url, tmp_path):
    shop = start_sandbox(tmp_path / "shop.db", KEY)
    try:
        shop.add_clients({"login": f"l-{c}", "code_external": c} for c in CODES)
        shop.inject("slow", op="PUT clients/clients", times=None, delay=0.3)
        _setup(tmp_path / "p", tc_database_url, shop.url)
        erp = {c: (Decimal("4321.00"), Decimal("1.00")) for c in CODES}
        _write_csv(tmp_path / "p" / "erp.csv", erp)
        holder = _start(tmp_path / "p")
        deadline = time.monotonic() + 30
        while not any(e.op == "PUT clients/clients" for e in shop.app.log) and time.monotonic() < deadline:
            time.sleep(0.01)
        holder.kill()  # SIGKILL on POSIX, TerminateProcess on Windows: no chance to release the lease
        holder.wait()
        started = time.monotonic()
        successor = subprocess.run([sys.executable, "-m", "tradecredit.core.cli", "run", "-c", "tradecredit.toml"],
                                   cwd=tmp_path / "p", capture_output=True, text=True, timeout=60)
        took = time.monotonic() - started
        takeovers, running = _events(tc_database_url)
        shop.clear_faults()
        for c in CODES:
            client = shop.client(f"l-{c}")
            assert (client.limit, client.balance) == (Decimal("4321.00"), Decimal("-1.00"))
    finally:
        shop.stop()
    assert successor.returncode == 0, successor.stdout + successor.stderr
    assert "taken over" in successor.stderr
    assert takeovers == 1 and running == 0
    assert took < 10, f"the successor needed {took:.1f}s (a dead holder on this machine is taken over at once)"


@pytest.fixture(autouse=True)
def _quiet_sandbox_logs(caplog):
    caplog.set_level("WARNING")
