"""Benchmark: build an Optima demo database and time the generator and one full read.

    .venv/bin/python bench/optima_read.py [--customers 100000] [--url sqlite:///optima-bench.db] [--billing]

``--billing`` also times the read with billing data on (``sync = ["credit", "billing"]``: 17 more columns of
``CDN.Kontrahenci`` selected and one ``BillingRecord`` built per customer), alternating the two reads
``--repeat`` times on the same database, and prints the best of each and the extra cost.
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
    parser.add_argument("--billing", action="store_true", help="also time the read with billing data on")
    parser.add_argument("--repeat", type=int, default=3, help="with --billing: reads of each kind (best counts)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.url or f"sqlite:///{Path(tmp) / 'optima-bench.db'}"
        stats = make_demo_db(url, args.customers, replace=True)
        print(f"generator: {stats.customers} customers + {stats.payments} payments in {stats.seconds:.1f} s")
        best: dict[str, float] = {}
        for _ in range(args.repeat if args.billing else 1):
            for sync in (("credit",), ("credit", "billing")) if args.billing else (("credit",),):
                context = AdapterContext(instance_name="bench", sync=frozenset(sync))
                source = OptimaSource(OptimaSource.Options(url=url, workstation=1), context)
                started = time.perf_counter()
                kinds = Counter(type(r).__name__ for r in source.read(datetime.now(UTC)))
                elapsed = time.perf_counter() - started
                source.close()
                total = sum(kinds.values())
                label = "+".join(sync)
                best[label] = min(best.get(label, elapsed), elapsed)
                print(f"read ({label}): {dict(kinds)} in {elapsed:.2f} s ({total / elapsed:,.0f} rows/s)")
            if args.billing:  # the statement alone: rows fetched, no records built
                for sync in (("credit",), ("credit", "billing")):
                    source = OptimaSource(OptimaSource.Options(url=url, workstation=1),
                                          AdapterContext(instance_name="bench", sync=frozenset(sync)))
                    started = time.perf_counter()
                    rows = sum(1 for _ in source._rows(datetime.now(UTC)))
                    elapsed = time.perf_counter() - started
                    source.close()
                    label = "rows " + "+".join(sync)
                    best[label] = min(best.get(label, elapsed), elapsed)
                    print(f"statement only ({'+'.join(sync)}): {rows} rows in {elapsed:.2f} s")
        if args.billing:
            print(f"best of {args.repeat}, statement only: credit {best['rows credit']:.2f} s, credit+billing "
                  f"{best['rows credit+billing']:.2f} s ({best['rows credit+billing'] - best['rows credit']:+.2f} s)")
            credit, both = best["credit"], best["credit+billing"]
            print(f"best of {args.repeat}: credit {credit:.2f} s, credit+billing {both:.2f} s, billing costs "
                  f"{both - credit:+.2f} s ({(both / credit - 1) * 100:+.0f} %) on {args.customers:,} customers")


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
