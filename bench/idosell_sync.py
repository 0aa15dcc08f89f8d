"""Requests and wall time of a first sync, an unchanged rerun and a 1 % change, against the IdoSell sandbox.

    .venv/bin/python bench/idosell_sync.py [N]
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

from tradecredit import CreditRecord, LimitState, PluginOptions, Source, hookimpl, run_pipeline
from tradecredit.core.config import parse_config
from tradecredit.core.plugins import PluginHost
from tradecredit.plugins import idosell
from tradecredit.plugins.idosell.sandbox import start_sandbox

AS_OF = datetime.now(UTC)
RECORDS: list[CreditRecord] = []


class BenchSource(Source):
    Options: ClassVar[type[PluginOptions]] = PluginOptions

    def read(self, as_of: datetime):  # type: ignore[no-untyped-def]
        yield from RECORDS


class Plugin:
    @hookimpl
    def register_sources(self, register: Any) -> None:
        register("bench", BenchSource)


def _prepare(n: int, tmp: str) -> tuple[Any, PluginHost, Any]:
    """A sandbox with ``n`` shop accounts, a host with the bench source and IdoSell, and their config."""
    sb = start_sandbox(Path(tmp) / "shop.db", "bench-key")
    codes = [f"KH-{i:06d}" for i in range(n)]
    sb.add_clients({"login": f"firma_{i}", "code_external": c} for i, c in enumerate(codes))
    host = PluginHost(strict=True)
    host.add_plugin(Plugin(), name="bench")
    host.add_plugin(idosell, name="idosell")
    cfg = parse_config({
        "state": {"url": f"sqlite:///{tmp}/state.db"}, "sources": {"erp": {"plugin": "bench"}},
        "targets": {"shop": {"plugin": "idosell", "base_url": sb.url, "api_key": "bench-key"}},
        "pipelines": [{"name": "sync", "source": "erp", "target": "shop"}],
    }, host)
    RECORDS[:] = [CreditRecord(source="erp", erp_id=c, code=c, is_business=True, limit_state=LimitState.LIMITED,
                               credit_limit=Decimal(10000 + i), used=Decimal(i % 5000), as_of=AS_OF)
                  for i, c in enumerate(codes)]
    return sb, host, cfg


def main(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        sb, host, cfg = _prepare(n, tmp)
        for label in ("first sync", "unchanged rerun", "1 % changed"):
            if label == "1 % changed":
                for i in range(0, n, 100):
                    RECORDS[i] = RECORDS[i].model_copy(update={"used": Decimal(1)})
            before = len(sb.requests)
            t0 = time.perf_counter()
            report = run_pipeline(cfg, "sync", host=host, as_of=AS_OF)
            dt = time.perf_counter() - t0
            reqs = sb.requests[before:]
            gets = sum(r.op == "GET clients/clients" for r in reqs)
            puts = sum(r.op == "PUT clients/clients" for r in reqs)
            print(f"{label:16} {n} customers: written {report.counts.written:6}  GET {gets:4}  PUT {puts:4}  "
                  f"{dt:6.2f}s  ({report.counts.written / dt if dt else 0:8.0f} customers/s written)")
        sb.stop()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5000)


def unchanged_rerun_vs_first_sync(scale: float):  # type: ignore[no-untyped-def]
    """Whole pipeline against the IdoSell sandbox: the first sync (every customer written) against a rerun."""
    from bench.harness import Result

    n = max(500, int(5_000 * scale))
    with tempfile.TemporaryDirectory() as tmp:
        sb, host, cfg = _prepare(n, tmp)
        t0 = time.perf_counter()
        run_pipeline(cfg, "sync", host=host, as_of=AS_OF)
        first = time.perf_counter() - t0
        t0 = time.perf_counter()
        run_pipeline(cfg, "sync", host=host, as_of=AS_OF)
        rerun = time.perf_counter() - t0
        sb.stop()
    return Result("idosell: sync over HTTP", "first sync", first, "unchanged rerun", rerun, f"{n:,} customers")


BENCHMARKS = [unchanged_rerun_vs_first_sync]
