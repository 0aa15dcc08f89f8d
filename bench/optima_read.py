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
