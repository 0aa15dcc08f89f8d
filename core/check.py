"""``tradecredit check``: connect to every source and target of a config and say what works.

Each adapter's own ``check`` runs inside its own ``try`` so one broken connection does not hide the rest.
For each pipeline it also reads the source once to count customers, asks the target how many it can match,
and reports every control mode the target would have to degrade.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any

from pydantic import BaseModel

from .adapters import CheckResult, CheckStatus, Source, Target
from .config import Config, ConfiguredAdapter, PipelineConfig
from .engine import degrade_mode
from .secrets import mask
from .state import StateStore, check_state
from .sync import instantiate, read_records


class CheckLine(BaseModel):
    subject: str  # "source optima_main", "target shop", "pipeline x"
    result: CheckResult


def _guarded(subject: str, call: Callable[[], list[CheckResult] | CheckResult]) -> list[CheckLine]:
    try:
        results = call()
        return [CheckLine(subject=subject, result=r) for r in (results if isinstance(results, list) else [results])]
    except Exception as exc:  # noqa: BLE001 - every failure becomes a FAIL line
        return [CheckLine(subject=subject, result=CheckResult(
            name="error", status=CheckStatus.FAIL, detail=mask(f"{type(exc).__name__}: {exc}")))]


def check_config(config: Config, *, as_of: datetime | None = None) -> list[CheckLine]:
    """Every line of ``tradecredit check``: the state store, each source and target, each pipeline."""
    as_of = as_of or datetime.now(UTC)
    lines = _guarded("state", lambda: check_state(config.state.url, lease_timeout=config.state.lease_timeout))
    for name, adapter in config.sources.items():
        def source_check(adapter: ConfiguredAdapter[Source[Any]] = adapter) -> list[CheckResult]:
            source = instantiate(adapter)
            try:
                return source.check(as_of) or [CheckResult(name="connect", status=CheckStatus.OK)]
            finally:
                source.close()
        lines += _guarded(f"source {name}", source_check)
    in_pipelines = {p.target for p in config.pipelines}
    for name, target_adapter in config.targets.items():
        if name in in_pipelines:
            continue  # checked below, with the codes of each pipeline's source
        def target_check(adapter: ConfiguredAdapter[Target[Any]] = target_adapter) -> list[CheckResult]:
            target = instantiate(adapter)
            try:
                return target.check(None) or [CheckResult(name="connect", status=CheckStatus.OK)]
            finally:
                target.close()
        lines += _guarded(f"target {name}", target_check)
    try:
        store: StateStore | None = StateStore.open(config.state.url, read_only=True)
    except Exception:  # noqa: BLE001 - the state line above already says why; freshness is then unknown
        store = None
    try:
        for p in config.pipelines:
            lines += _guarded(f"pipeline {p.name}", partial(_pipeline_check, config, p, as_of))
            if store is not None:
                lines += _guarded(f"pipeline {p.name}", partial(_freshness, config, store, p.name, as_of))
    finally:
        if store is not None:
            store.close()
    return lines


def _freshness(config: Config, store: StateStore, pipeline: str, now: datetime) -> CheckResult:
    """How old the data the shop decides on is: the last run that confirmed writes, against ``[engine] max_age``."""
    done = [r for r in store.history(pipeline, limit=100) if r["status"] in ("ok", "partial") and r["finished_at"]]
    if not done:
        return CheckResult(name="freshness", status=CheckStatus.WARN,
                           detail="never synced: the shop holds no data from this pipeline yet")
    last = done[0]["finished_at"]
    age = now - last
    max_age = config.engine.max_age
    stale = max_age is not None and age > max_age
    detail = f"last successful run {last:%Y-%m-%d %H:%M} UTC, {age.total_seconds() / 3600:.1f} h ago"
    if stale:
        detail += f": older than [engine] max_age ({max_age}); the shop decides on old ERP data, run it more often"
    return CheckResult(name="freshness", status=CheckStatus.WARN if stale else CheckStatus.OK, detail=detail)


def _pipeline_check(config: Config, p: PipelineConfig, as_of: datetime) -> list[CheckResult]:
    source = instantiate(config.sources[p.source])
    target = instantiate(config.targets[p.target])
    try:
        records, rejected = read_records(source, as_of)
        results = [CheckResult(
            name="read", status=CheckStatus.WARN if rejected else CheckStatus.OK,
            detail=f"{len(records)} customer(s) readable, {len(rejected)} rejected as bad data",
        )]
        codes = [r.code for r in records.values()]
        results += target.check(codes)
        by_name = {r.name: i for i, r in enumerate(results)}
        modes = Counter(r.control_mode for r in records.values())
        for mode, n in sorted(modes.items()):
            own = by_name.get(f"mode {mode.value}")
            if own is not None:  # the target described its own mapping of this mode: add the count only
                described = results[own]
                results[own] = described.model_copy(update={"detail": f"{n} customer(s): {described.detail}"})
                continue
            try:
                mapping = degrade_mode(mode, target.native_modes, target.mode_policy())
            except ValueError as exc:
                results.append(CheckResult(name=f"mode {mode.value}", status=CheckStatus.FAIL, detail=str(exc)))
                continue
            results.append(CheckResult(
                name=f"mode {mode.value}",
                status=CheckStatus.WARN if mapping.degraded else CheckStatus.OK,
                detail=f"{n} customer(s): {mapping.describe()}",
            ))
        return results
    finally:
        source.close()
        target.close()
