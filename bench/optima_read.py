"""Benchmark: build an Optima demo database and time the generator and one full read.

    .venv/bin/python bench/optima_read.py [--customers 100000] [--url sqlite:///optima-bench.db]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from tradecredit import AdapterContext
from tradecredit.plugins.optima import OptimaSource, make_demo_db


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--url", default=None, help="default: a SQLite file in a temporary folder")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.url or f"sqlite:///{Path(tmp) / 'optima-bench.db'}"
        stats = make_demo_db(url, args.customers, replace=True)
        print(f"generator: {stats.customers} customers + {stats.payments} payments in {stats.seconds:.1f} s")
        source = OptimaSource(OptimaSource.Options(url=url, workstation=1), AdapterContext(instance_name="bench"))
        started = time.perf_counter()
        kinds = Counter(type(r).__name__ for r in source.read(datetime.now(UTC)))
        elapsed = time.perf_counter() - started
        source.close()
        total = sum(kinds.values())
        print(f"read: {dict(kinds)} in {elapsed:.1f} s ({total / elapsed:,.0f} rows/s)")


if __name__ == "__main__":
    main()


def set_based_read_vs_query_per_customer(scale: float):  # type: ignore[no-untyped-def]
    """The plugin's one streamed query against the naive design: one query per customer (N+1)."""
    from sqlalchemy import create_engine, text

    from bench.harness import Result, best_of

    n = max(500, int(5_000 * scale))
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'optima-bench.db'}"
        make_demo_db(url, n, replace=True)
        as_of = datetime.now(UTC)
        engine = create_engine(url)

        def per_customer() -> None:
            with engine.connect() as conn:
                ids = [r[0] for r in conn.execute(text("SELECT Knt_KntId FROM Kontrahenci WHERE Knt_PodmiotTyp = 1"))]
                for kid in ids:
                    conn.execute(text("SELECT * FROM Kontrahenci WHERE Knt_KntId = :k"), {"k": kid}).one()
                    conn.execute(
                        text("SELECT SUM(BZd_KwotaSys - BZd_KwotaRozSys) FROM BnkZdarzenia WHERE BZd_PodmiotTyp = 1 "
                             "AND BZd_PodmiotID = :k AND BZd_Rozliczono = 1 AND BZd_Kierunek > 0"), {"k": kid}
                    ).scalar()

        def set_based() -> None:
            source = OptimaSource(OptimaSource.Options(url=url, workstation=1), AdapterContext(instance_name="b"))
            for _ in source.read(as_of):
                pass
            source.close()

        baseline = best_of(per_customer, repeat=3)
        candidate = best_of(set_based, repeat=3)
        engine.dispose()
    return Result("optima: read", "query per customer", baseline, "one set-based query", candidate,
                  f"{n:,} customers")


BENCHMARKS = [set_based_read_vs_query_per_customer]
