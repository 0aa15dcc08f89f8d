"""How long a killed run blocks its pipeline: from the kill to the moment the next runner holds the lease.

Usage: python -m bench.lease_takeover [--repeat 20] [--postgres URL]

* same host: the holder is a real process renewing its lease; it is killed (SIGKILL / TerminateProcess) and a
  second runner tries to take the lease every 10 ms. The dead pid frees it at once.
* other host: a holder on a host we cannot see stops renewing (the lease row as a crashed remote runner left
  it); the lease is free once ``lease_timeout`` has passed since its last renewal (2 s here; 60 s default).
"""

from __future__ import annotations

import argparse
import logging
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert
from tradecredit.core.errors import LockHeldError
from tradecredit.core.state import StateStore, locks

HOLDER = textwrap.dedent("""
    import sys, time
    from datetime import timedelta
    from tradecredit.core.state import StateStore
    store = StateStore.open(sys.argv[1])
    store.acquire_lease("p", int(sys.argv[2]), timeout=timedelta(seconds=60))
    print("held", flush=True)
    time.sleep(600)
""")


def take(store: StateStore, run_id: int, timeout: timedelta) -> float:
    while True:
        try:
            store.acquire_lease("p", run_id, timeout=timeout, heartbeat=False).release()
            return time.perf_counter()
        except LockHeldError:
            time.sleep(0.01)


def same_host(url: str, repeat: int) -> list[float]:
    store = StateStore.open(url)
    times = []
    for i in range(repeat):
        proc = subprocess.Popen([sys.executable, "-c", HOLDER, url, str(1000 + i)], stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        killed = time.perf_counter()
        proc.kill()
        proc.wait()
        times.append(take(store, 5000 + i, timedelta(seconds=60)) - killed)
    store.close()
    return times


def other_host(url: str, repeat: int, timeout: timedelta) -> list[float]:
    store = StateStore.open(url)
    times = []
    for i in range(repeat):
        now = datetime.now(UTC)
        with store.engine.begin() as conn:  # the last renewal of a runner on another server, then silence
            conn.execute(insert(locks).values(pipeline="p", run_id=9000 + i, holder=f"erp-02 pid 4242 run {9000 + i}",
                                              acquired_at=now, host="erp-02", pid=4242, heartbeat_at=now,
                                              expires_at=now + timeout, beats=7))
        silent = time.perf_counter()
        times.append(take(store, 9500 + i, timeout) - silent)
    store.close()
    return times


def show(label: str, times: list[float]) -> None:
    print(f"{label:44} median {statistics.median(times) * 1000:8.1f} ms   max {max(times) * 1000:8.1f} ms   "
          f"(n={len(times)})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--postgres", help="also measure on this PostgreSQL database URL")
    args = parser.parse_args()
    logging.getLogger("tradecredit").setLevel(logging.ERROR)  # each takeover logs a warning: not news here
    with tempfile.TemporaryDirectory() as tmp:
        engines = {"SQLite": f"sqlite:///{Path(tmp) / 'state.db'}"}
        if args.postgres:
            engines["PostgreSQL"] = args.postgres
        for name, url in engines.items():
            show(f"{name}: killed holder, same host", same_host(url, args.repeat))
            show(f"{name}: silent holder, other host (timeout 2 s)", other_host(url, max(3, args.repeat // 4),
                                                                             timedelta(seconds=2)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
