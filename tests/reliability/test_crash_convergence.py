"""Crash convergence, fast mode (``make test``): a few dozen seeded schedules of faulty, killed runs, each
followed by a clean run; see convergence.py for the schedule and every check. ``make reliability`` runs the
long mode (hundreds of schedules) and writes its figures to docs/reliability.md.

The base seed is printed; rerun one schedule with ``TC_RELIABILITY_SEED=<seed>``.
"""

from __future__ import annotations

import os

import pytest

from .convergence import run_schedule, summary

BASE = int(os.environ.get("TC_RELIABILITY_SEED", "20261201"))
COUNT = int(os.environ.get("TC_RELIABILITY_SCHEDULES", "20"))


@pytest.mark.parametrize("offset", range(COUNT))
def test_a_crash_schedule_converges(offset, tmp_path, record_property):
    seed = BASE + offset
    print(f"crash schedule seed {seed} (TC_RELIABILITY_SEED={seed} TC_RELIABILITY_SCHEDULES=1 to replay)")
    outcome = run_schedule(seed, tmp_path / "schedule")
    record_property("outcome", summary([outcome]))
    assert outcome.problems == [], f"seed {seed}: " + "\n".join(outcome.problems)
    assert outcome.runs >= 1
