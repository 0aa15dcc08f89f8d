"""Measure the XL demo generator and the XL read at scale.

    .venv/bin/python bench/xl_demo.py [CUSTOMERS] [URL]

Defaults: 100,000 customers into a temporary SQLite file. Prints generate/write/read seconds and peak RSS.
``python -m bench --only xl`` runs the ratio benchmark below (one set-based query vs. a query per customer).
"""

from __future__ import annotations

try:
    import resource
except ImportError:  # Windows
    resource = None  # type: ignore[assignment]
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

from tradecredit import AdapterContext, RejectedRow
from tradecredit.plugins.xl import XlOptions, XlSource
from tradecredit.plugins.xl.demo import generate, write


def _peak_mib() -> str:
    return "n/a" if resource is None else f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}"


def main() -> None:
    customers = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    url = sys.argv[2] if len(sys.argv) > 2 else f"sqlite:///{Path(tempfile.mkdtemp()) / 'xl-bench.db'}"
    today = date(2025, 3, 10)
    t0 = time.perf_counter()
    data = generate(customers, seed=1, today=today)
    t1 = time.perf_counter()
    counts = write(url, data)
    t2 = time.perf_counter()
    del data
    rss_before = _peak_mib()
    options = XlOptions(url=url, control_mode="block", include_reservations=True,
                        include_documents_without_payments=True)
    source = XlSource(options, AdapterContext(instance_name="bench"))
    records = rejected = 0
    t3 = time.perf_counter()
    for item in source.read(datetime(2025, 3, 10, 11, tzinfo=UTC)):
        rejected += isinstance(item, RejectedRow)
        records += 1
    t4 = time.perf_counter()
    source.close()
    print(f"rows: {counts}")
    print(f"generate {t1 - t0:.1f} s, write {t2 - t1:.1f} s, read {t4 - t3:.1f} s "
          f"({records} items, {rejected} rejected, {len(source.statements)} statements)")
    print(f"peak RSS {_peak_mib()} MiB (after generating: {rss_before} MiB)")



def set_based_read_vs_query_per_customer(scale: float):  # type: ignore[no-untyped-def]
    """The plugin's one streamed query against the naive design: per card, its payer's limit and debt (N+1)."""
    from sqlalchemy import create_engine, text
    from tradecredit.plugins.xl.xldates import to_xl_date

    from bench.harness import Result, best_of

    n = max(500, int(5_000 * scale))
    today = date(2025, 3, 10)
    day = to_xl_date(today)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'xl-bench.db'}"
        write(url, generate(n, seed=1, today=today))
        engine = create_engine(url)

        def per_customer() -> None:
            with engine.connect() as conn:
                cards = conn.execute(text(
                    'SELECT "Knt_GIDNumer", CASE WHEN COALESCE("Knt_KnPParam", 0) = 0 THEN "Knt_GIDNumer" '
                    'ELSE "Knt_KnPNumer" END FROM "KntKarty" WHERE COALESCE("Knt_Archiwalny", 0) = 0')).all()
                for _card, payer in cards:
                    conn.execute(text(
                        'SELECT * FROM "KntLimityK" WHERE "KLK_KntNumer" = :p AND "KLK_DataOd" <= :d '
                        'AND "KLK_DataDo" >= :d ORDER BY "KLK_DataOd" DESC, "KLK_Id" DESC LIMIT 1'),
                        {"p": payer, "d": day}).first()
                    conn.execute(text(
                        'SELECT SUM("TrP_Pozostaje"), SUM(CASE WHEN "TrP_Termin" < :d THEN "TrP_Pozostaje" END) '
                        'FROM "TraPlat" JOIN "KntKarty" ON "Knt_GIDNumer" = "TrP_KntNumer" '
                        'WHERE "TrP_Typ" = 2 AND COALESCE("TrP_Rozliczona", 0) = 0 AND CASE WHEN '
                        'COALESCE("Knt_KnPParam", 0) = 0 THEN "Knt_GIDNumer" ELSE "Knt_KnPNumer" END = :p'),
                        {"p": payer, "d": day}).one()

        def set_based() -> None:
            source = XlSource(XlOptions(url=url, control_mode="block"), AdapterContext(instance_name="bench"))
            for _ in source.read(datetime(2025, 3, 10, 11, tzinfo=UTC)):
                pass
            source.close()

        baseline = best_of(per_customer, repeat=3)
        candidate = best_of(set_based, repeat=3)
        engine.dispose()
    return Result("xl: read", "query per customer", baseline, "one set-based query", candidate, f"{n:,} customers")


BENCHMARKS = [set_based_read_vs_query_per_customer]


if __name__ == "__main__":
    main()
