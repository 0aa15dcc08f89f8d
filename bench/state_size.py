"""State size after many runs of a 20,000-customer pipeline in which nothing changes (issue 11).

Usage: python -m bench.state_size [--runs 1000] [--customers 20000]

1,000 customers have no shop account and 874 are rejected as bad ERP data (the 1,874 sticky outcomes per run
of the issue's report): before, each run appended an audit row for every one of them and stored the whole run
report. Now they are recorded once, each run adds one capped run row, and the size must not grow with the
number of runs beyond those rows. Prints the SQLite file size (after a WAL checkpoint) and the row counts at
checkpoints, and the bytes each run adds.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from sqlalchemy import func, select
from tradecredit import ControlMode, CreditRecord, LimitState, RejectedRow, hookimpl, run_pipeline
from tradecredit.core.config import parse_config
from tradecredit.core.plugins import PluginHost
from tradecredit.core.state import StateStore, ledger, outcomes, run_items, runs
from tradecredit.testing import MEMORY_ROWS, FakeTarget, testing_plugin

NOW = datetime(2026, 11, 22, tzinfo=UTC)
UNMATCHED, REJECTED = 1000, 874


class SomeAccounts(FakeTarget):
    """The fake shop, where customers whose code starts with U have no account."""

    def match(self, codes):  # type: ignore[no-untyped-def]
        return {c: {"account": c.lower()} for c in codes if not c.startswith("U")}


class bench_plugin:
    @staticmethod
    @hookimpl
    def register_targets(register):  # type: ignore[no-untyped-def]
        register("some_accounts", SomeAccounts)


def dataset(n: int) -> list[CreditRecord | RejectedRow]:
    rows: list[CreditRecord | RejectedRow] = []
    for i in range(n - REJECTED):
        code = f"U{i:06}" if i < UNMATCHED else f"K{i:06}"
        rows.append(CreditRecord(source="erp", erp_id=str(i), code=code, is_business=True,
                                 limit_state=LimitState.LIMITED, credit_limit=Decimal(1000 + i % 500),
                                 used=Decimal(i % 700), control_mode=ControlMode.BLOCK, as_of=NOW))
    rows += [RejectedRow(source="erp", erp_id=str(n + i), code=f"R{i:06}",
                         reason="credit_limit -1.00 is negative") for i in range(REJECTED)]
    return rows


def size_of(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return sum(p.stat().st_size for p in db.parent.glob(db.name + "*"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--customers", type=int, default=20_000)
    args = parser.parse_args()
    host = PluginHost(strict=True)
    host.add_plugin(testing_plugin, name="testing")
    host.add_plugin(bench_plugin, name="bench")
    MEMORY_ROWS["bench"] = dataset(args.customers)
    checkpoints = sorted({1, 2, 10, 100, args.runs} | {args.runs // 2})
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "state.db"
        cfg = parse_config({
            "state": {"url": f"sqlite:///{db}"},
            "sources": {"erp": {"plugin": "memory", "dataset": "bench"}},
            "targets": {"shop": {"plugin": "some_accounts"}},
            "pipelines": [{"name": "p", "source": "erp", "target": "shop"}],
        }, host)
        print(f"{'runs':>6} {'state size':>14} {'tc_runs':>8} {'tc_run_items':>13} {'tc_outcomes':>12} "
              f"{'tc_ledger':>10} {'s/run':>7}")
        started = time.perf_counter()
        sizes: dict[int, int] = {}
        for n in range(1, args.runs + 1):
            report = run_pipeline(cfg, "p", host=host)
            if n > 1 and report.counts.to_write:
                raise SystemExit(f"run {n} wrote {report.counts.to_write} customers: nothing should change")
            if n in checkpoints:
                sizes[n] = size_of(db)
                store = StateStore.open(cfg.state.url)
                with store.engine.connect() as conn:
                    counts = [conn.execute(select(func.count()).select_from(t)).scalar() for t in
                              (runs, run_items, outcomes, ledger)]
                store.close()
                per_run = (time.perf_counter() - started) / n
                print(f"{n:>6} {sizes[n] / 1e6:>11.2f} MB {counts[0]:>8} {counts[1]:>13} {counts[2]:>12} "
                      f"{counts[3]:>10} {per_run:>7.2f}", flush=True)
        FakeTarget.reset()
    grown = sizes[args.runs] - sizes[2]
    print(f"\nafter run 2 → after run {args.runs}: +{grown / 1e6:.2f} MB, "
          f"{grown / max(1, args.runs - 2):,.0f} bytes per run (one run row with its capped report; "
          f"no audit rows: the {UNMATCHED + REJECTED:,} unchanged sticky outcomes are counted, not repeated)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
