"""Measure the XL demo generator and the XL read at scale.

    .venv/bin/python bench/xl_demo.py [CUSTOMERS] [URL]

Defaults: 100,000 customers into a temporary SQLite file. Prints generate/write/read seconds and peak RSS.
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


if __name__ == "__main__":
    main()
