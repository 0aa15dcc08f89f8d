"""Orchestrator benchmarks: what the ledger saves on a rerun, and the engine's decision cost."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from tradecredit import ControlMode, CreditRecord, LimitState, PaymentForm, decide_checkout, run_pipeline
from tradecredit.core.config import parse_config
from tradecredit.core.plugins import PluginHost
from tradecredit.testing import MEMORY_ROWS, FakeTarget, testing_plugin

from bench.harness import Result, best_of

NOW = datetime(2026, 11, 22, tzinfo=UTC)


def _records(n: int) -> list[CreditRecord]:
    return [
        CreditRecord(source="erp", erp_id=str(i), code=f"K{i:06}", is_business=True, limit_state=LimitState.LIMITED,
                     credit_limit=Decimal(1000 + i % 500), used=Decimal(i % 700), control_mode=ControlMode.BLOCK,
                     as_of=NOW)
        for i in range(n)
    ]


def unchanged_rerun_vs_full_refresh(scale: float) -> Result:
    """A rerun with no ERP change (ledger diff, zero writes) against a full refresh of every customer."""
    n = max(1000, int(20_000 * scale))
    host = PluginHost(strict=True)
    host.add_plugin(testing_plugin, name="testing")
    MEMORY_ROWS["bench"] = _records(n)
    with tempfile.TemporaryDirectory() as tmp:
        cfg = parse_config({
            "state": {"url": f"sqlite:///{Path(tmp) / 'state.db'}"},
            "sources": {"erp": {"plugin": "memory", "dataset": "bench"}},
            "targets": {"shop": {"plugin": "fake"}},
            "pipelines": [{"name": "p", "source": "erp", "target": "shop"}],
        }, host)
        run_pipeline(cfg, "p", host=host)
        full = best_of(lambda: run_pipeline(cfg, "p", host=host, full_refresh=True), repeat=3)
        rerun = best_of(lambda: run_pipeline(cfg, "p", host=host), repeat=3)
    FakeTarget.reset()
    MEMORY_ROWS.pop("bench", None)
    return Result("sync: unchanged rerun vs full refresh", "full refresh", full, "ledger rerun", rerun,
                  f"{n:,} customers")


def checkout_decision(scale: float) -> Result:
    """The engine's checkout decision against building the record it decides on (the floor of any caller)."""
    n = max(1000, int(50_000 * scale))
    records = _records(n)
    amount = Decimal("250.00")
    build = best_of(lambda: _records(n), repeat=3)
    decide = best_of(lambda: [decide_checkout(r, amount, PaymentForm.TRANSFER) for r in records], repeat=3)
    return Result("engine: checkout decisions", "build records", build, "decide", decide, f"{n:,} decisions")


BENCHMARKS = [unchanged_rerun_vs_full_refresh, checkout_decision]
