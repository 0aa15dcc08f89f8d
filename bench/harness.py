"""Timing helpers shared by the benchmark modules."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class Result:
    name: str
    baseline_label: str
    baseline_s: float
    candidate_label: str
    candidate_s: float
    unit: str = ""  # e.g. "10,000 customers"

    @property
    def ratio(self) -> float:
        return self.baseline_s / self.candidate_s if self.candidate_s else float("inf")


def best_of(func: Callable[[], object], repeat: int = 3) -> float:
    """Median wall time of ``repeat`` runs (seconds)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return statistics.median(times)
