"""Crash convergence, fast mode (``make test``): a few dozen seeded schedules of faulty, killed runs, each
followed by a clean run; see convergence.py for the schedule and every check. ``make reliability`` runs the
long mode (hundreds of schedules) and writes its figures to docs/reliability.md.

The schedules run three at a time (their runs are subprocesses waiting on the shop most of the time). The base
seed is printed; replay one schedule with ``TC_RELIABILITY_SEED=<seed> TC_RELIABILITY_SCHEDULES=1``.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor

from .convergence import run_schedule, summary

BASE = int(os.environ.get("TC_RELIABILITY_SEED", "20261201"))
COUNT = int(os.environ.get("TC_RELIABILITY_SCHEDULES", "24"))
PARALLEL = 3


def test_crash_schedules_converge(tmp_path):
    print(f"crash schedules: seeds {BASE}…{BASE + COUNT - 1} (TC_RELIABILITY_SEED, TC_RELIABILITY_SCHEDULES)")
    with ThreadPoolExecutor(PARALLEL) as pool:
        outcomes = list(pool.map(lambda i: run_schedule(BASE + i, tmp_path / f"s{i}"), range(COUNT)))
    figures = summary(outcomes)
    print(json.dumps(figures))
    broken = {o.seed: o.problems for o in outcomes if o.problems}
    assert broken == {}, "\n".join(f"seed {seed}: {'; '.join(p)}" for seed, p in broken.items())
    assert figures["divergences"] == 0
    # the schedules really crashed and faulted (else they prove nothing)
    assert sum(figures["kills"].values()) >= COUNT // 3 and sum(figures["faults"].values()) >= COUNT // 3
