"""``tradecredit check``: connect to every source and target of a config and say what works.

Each adapter's own ``check`` runs inside its own ``try`` so one broken connection does not hide the rest.
For each pipeline it also reads the source once to count customers (per limit state: lapsed dated limits are
counted apart), asks the target how many it can match, counts the customers it cannot represent
(``unsupported``), says what the shop still holds for customers rejected as bad data, and reports every
control mode the target would have to degrade.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any

from pydantic import BaseModel

from .adapters import CheckResult, CheckStatus, Source, Target
from .billing import BILLING
from .billing_sync import BillingSync
from .config import Config, ConfiguredAdapter, PipelineConfig
from .engine import LapsedPolicy, degrade_mode
from .records import LimitState, normalise_code
from .report import held_text
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
            # A source synced with billing in any pipeline also checks its billing columns.
            kinds = {k for p in config.pipelines if p.source == adapter.name for k in p.sync}
            source = instantiate(adapter, sync=kinds or ("credit",), countries=config.billing.table())
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
            target = instantiate(adapter, policy=config.engine.policy())
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
            lines += _guarded(f"pipeline {p.name}", partial(_pipeline_check, config, p, as_of, store))
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


def _billing_read(billing: BillingSync) -> CheckResult:
    """What the billing data read gives: records, rejections by reason, NIP checksum warnings."""
    warned = sum(1 for b in billing.records.values() if b.warnings)
    reasons = Counter(p.reason for p in billing.rejected)
    detail = (f"billing data: {len(billing.records)} customer(s) readable, {len(billing.rejected)} rejected, "
              f"{warned} with a NIP failing the Polish checksum (a warning)")
    if reasons:
        detail += "; " + "; ".join(f"{n}× {why}" for why, n in reasons.most_common(3))
    return CheckResult(name="billing read", status=CheckStatus.WARN if billing.rejected or warned else CheckStatus.OK,
                       detail=detail)


def _pipeline_check(
    config: Config, p: PipelineConfig, as_of: datetime, store: StateStore | None = None
) -> list[CheckResult]:
    source = instantiate(config.sources[p.source], sync=p.sync, countries=config.billing.table())
    target = instantiate(config.targets[p.target], policy=config.engine.policy(), sync=p.sync)
    billing = BillingSync(ledger={}, confirmed={}) if BILLING in p.sync else None
    try:
        records, rejected = read_records(source, as_of, billing=billing)
        states = Counter(r.limit_state for r in records.values())
        by_state = ", ".join(f"{states[s]} {s.value}" for s in LimitState if states[s])
        results = [CheckResult(
            name="read", status=CheckStatus.WARN if rejected else CheckStatus.OK,
            detail=f"{len(records)} customer(s) readable ({by_state or 'none'}), {len(rejected)} rejected as bad data",
        )]
        if billing is not None:
            results.append(_billing_read(billing))
        if states[LimitState.LAPSED]:
            policy = config.engine.policy()
            results.append(CheckResult(name="lapsed limits", status=CheckStatus.WARN, detail=(
                f"{states[LimitState.LAPSED]} customer(s) have a limited card whose dated limit is not valid today; "
                f"[engine] lapsed_limit = {policy.lapsed_limit.value}: "
                + ("no deferred credit until a valid limit exists (limit 0)" if policy.lapsed_limit is LapsedPolicy.ZERO
                   else f"treated as no limit granted ([engine] no_limit = {policy.no_limit.value})"))))
        if store is not None:
            results += _held(store, p, rejected)
        codes = [r.code for r in records.values()]
        results += target.check(codes)
        unsupported: Counter[tuple[str, str]] = Counter()
        for r in records.values():
            why = target.unsupported(r)
            if why is not None:
                unsupported[(r.currency, why.reason)] += 1
        if unsupported:
            detail = "; ".join(f"{n} in {cur}: {why}" for (cur, why), n in sorted(unsupported.items()))
            results.append(CheckResult(name="unsupported", status=CheckStatus.WARN, detail=(
                f"{sum(unsupported.values())} customer(s) the target cannot represent are reported as unsupported "
                f"(not written, not failing the run) — {detail}")))
        by_name = {r.name: i for i, r in enumerate(results)}
        modes = Counter(r.control_mode for r in records.values())
        for mode, n in sorted(modes.items()):
            own = by_name.get(f"mode {mode.value}")
            if own is not None:  # the target described its own mapping of this mode: add the count only
                described = results[own]
                results[own] = described.model_copy(update={"detail": f"{n} customer(s): {described.detail}"})
                continue
            try:
                mapping = degrade_mode(mode, target.supported_modes(), target.mode_policy())
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


def _held(store: StateStore, p, rejected) -> list[CheckResult]:  # type: ignore[no-untyped-def]
    """Customers rejected as bad data for whom the shop still holds values this pipeline wrote earlier."""
    ledger = store.load_ledger(p.name, p.target)
    held = [(r.code, ledger[normalise_code(r.code)].payload) for r in rejected
            if r.code and normalise_code(r.code) in ledger]
    if not held:
        return []
    shown = "; ".join(f"{code}: {held_text(payload)}" for code, payload in held[:5])
    more = f" … and {len(held) - 5} more" if len(held) > 5 else ""
    return [CheckResult(name="rejected but held", status=CheckStatus.WARN, detail=(
        f"{len(held)} rejected customer(s) still have older values in the shop (last confirmed), so the shop is "
        f"not in step for them — {shown}{more}"))]
