"""The sync orchestrator: read → validate → match → payload → ledger diff → batched writes → state.

State moves forward only for customers the shop confirmed (Singer SDK's rule). A full snapshot diffed
against the ledger is the default because ERP "used" amounts change through payments, which touch no
modification timestamp of the customer card. A dry run reads and diffs and changes nothing anywhere.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .adapters import AdapterContext, ItemStatus, OutgoingItem, Source, Target
from .config import Config, ConfiguredAdapter, load_config
from .engine import ModeMapping, degrade_mode
from .errors import ConfigError, DataError, TransientError
from .plugins import PluginHost, get_host
from .records import ControlMode, CreditRecord, RejectedRow
from .report import PlannedChange, Problem, RunReport
from .secrets import mask
from .state import ItemRecord, StateCache, StateStore, dumps

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int | None], None]
"""``progress(stage, done, total)``; total is None while the size is unknown (reading)."""


@dataclass
class RunInfo:
    """What lifecycle hooks receive about the run in progress."""

    run_id: int | None
    pipeline: str
    source: str
    target: str
    dry_run: bool
    full_refresh: bool
    as_of: datetime


@dataclass
class BatchOutcome:
    index: int
    confirmed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def instantiate(adapter: ConfiguredAdapter, cache: Any = None) -> Any:
    cls = adapter.registered.cls
    return cls(adapter.options, AdapterContext(instance_name=adapter.name, cache=cache))


def _as_config(config: Config | str | Path, host: PluginHost) -> Config:
    return config if isinstance(config, Config) else load_config(config, host)


def read_records(
    source: Source, as_of: datetime, progress: Progress | None = None
) -> tuple[dict[str, CreditRecord], list[Problem]]:
    """Read the whole snapshot; reject bad rows and every customer whose code collides with another's."""
    by_key: dict[str, list[CreditRecord]] = {}
    rejected: list[Problem] = []
    for n, item in enumerate(source.read(as_of), start=1):
        if isinstance(item, RejectedRow):
            rejected.append(Problem(code=item.code, erp_id=item.erp_id, reason=item.reason))
        elif isinstance(item, CreditRecord):
            by_key.setdefault(item.key, []).append(item)
        else:
            raise DataError(f"source {source.name!r} yielded {type(item).__name__}, not a CreditRecord/RejectedRow")
        if progress and n % 1000 == 0:
            progress("reading", n, None)
    records: dict[str, CreditRecord] = {}
    for key, group in by_key.items():
        if len(group) == 1:
            records[key] = group[0]
            continue
        codes = ", ".join(repr(r.code) for r in group)
        for r in group:
            rejected.append(
                Problem(
                    code=r.code, erp_id=r.erp_id,
                    reason=f"duplicate customer code: {codes} differ only by case or spaces and would "
                    "update the same shop account; fix the codes in the ERP",
                )
            )
    return records, rejected


def diff_fields(old: dict[str, Any] | None, new: dict[str, Any], code: str) -> list[PlannedChange]:
    if old is None:
        return [PlannedChange(code=code, field=k, old=None, new=v) for k, v in sorted(new.items())]
    keys = sorted(set(old) | set(new))
    return [PlannedChange(code=code, field=k, old=old.get(k), new=new.get(k)) for k in keys if old.get(k) != new.get(k)]


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for i in range(0, len(items), max(1, size)):
        yield items[i : i + size]


@contextmanager
def _timed(report: RunReport, stage: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        report.durations[stage] = round(report.durations.get(stage, 0.0) + time.perf_counter() - start, 4)


def run_pipeline(
    config: Config | str | Path,
    pipeline: str,
    *,
    dry_run: bool = False,
    full_refresh: bool = False,
    as_of: datetime | None = None,
    host: PluginHost | None = None,
    progress: Progress | None = None,
) -> RunReport:
    """Run one pipeline and return its report.

    Raises ``ConfigError`` (bad config, credentials refused), ``LockHeldError`` (another run holds the
    pipeline) and ``StateError``; every other failure ends the run with status ``failed`` in the report.
    Customers that fail to write make the status ``partial`` and are retried by the next run.
    """
    host = host or get_host()
    cfg = _as_config(config, host)
    p = cfg.pipeline(pipeline)
    if not p.enabled:
        raise ConfigError(f"pipeline {pipeline!r} is disabled in the config (enabled = false)")
    as_of = as_of or datetime.now(UTC)
    started = datetime.now(UTC)
    store = StateStore.open(cfg.state.url)
    report = RunReport(
        pipeline=p.name, source=p.source, target=p.target, dry_run=dry_run, full_refresh=full_refresh,
        as_of=as_of, started_at=started,
    )
    run_id: int | None = None
    source: Source | None = None
    target: Target | None = None
    try:
        if not dry_run:
            run_id = store.start_run(p.name, p.source, p.target, full_refresh=full_refresh)
            report.run_id = run_id
            try:
                store.acquire_lock(p.name, run_id, stale_after=cfg.state.lock_timeout)
            except Exception:
                store.finish_run(run_id, "locked", report.counts.model_dump(), error="lock held by another run")
                raise
        info = RunInfo(run_id, p.name, p.source, p.target, dry_run, full_refresh, as_of)
        try:
            host.call_lifecycle("before_run", run=info)
            source = instantiate(cfg.sources[p.source])
            target = instantiate(
                cfg.targets[p.target], StateCache(store, f"target:{p.target}", read_only=dry_run)
            )
            _execute(report, store, source, target, info, host, progress)
        except BaseException as exc:
            report.status = "failed"
            report.error = mask(f"{type(exc).__name__}: {exc}")
            host.call_lifecycle("on_error", run=info, error=exc)
            raise
        finally:
            for adapter in (source, target):
                if adapter is not None:
                    try:
                        adapter.close()
                    except Exception as exc:  # noqa: BLE001 - closing must not hide the real outcome
                        log.warning("closing %s failed: %s", adapter.name, mask(exc))
            report.finished_at = datetime.now(UTC)
            if run_id is not None:
                store.finish_run(
                    run_id, report.status, report.counts.model_dump(), error=report.error,
                    report=report.model_dump(mode="json"),
                )
                store.release_lock(p.name, run_id)
        host.call_lifecycle("after_run", run=info, report=report)
        return report
    finally:
        store.close()


def _execute(
    report: RunReport, store: StateStore, source: Source, target: Target, info: RunInfo, host: PluginHost,
    progress: Progress | None,
) -> None:
    counts = report.counts
    with _timed(report, "read"):
        records, rejected = read_records(source, info.as_of, progress)
    report.rejected = rejected
    counts.read = len(records) + len(rejected)
    counts.rejected = len(rejected)

    with _timed(report, "match"):
        matches = target.match([r.code for r in records.values()])
    outgoing: list[OutgoingItem] = []
    ledger = {} if info.full_refresh else store.load_ledger(info.pipeline, info.target)
    native, policy = target.native_modes, target.mode_policy()
    modes: dict[ControlMode, ModeMapping] = {}
    unchanged: dict[str, str] = {}  # code → key
    with _timed(report, "diff"):
        for key, record in records.items():
            if record.code not in matches:
                report.unmatched.append(record.code)
                continue
            try:
                mode = modes.get(record.control_mode) or modes.setdefault(
                    record.control_mode, degrade_mode(record.control_mode, native, policy)
                )
                payload = target.payload(record, matches[record.code], mode)
            except (ValueError, DataError) as exc:
                report.rejected.append(Problem(code=record.code, erp_id=record.erp_id, reason=mask(exc)))
                continue
            if mode.degraded:
                label = f"{mode.requested.value} → {mode.effective.value}"
                report.degraded_modes[label] = report.degraded_modes.get(label, 0) + 1
            previous = ledger.get(key)
            if previous is not None and previous.payload_text == dumps(payload):
                counts.unchanged += 1
                unchanged[record.code] = key
                continue
            # Decoding the old payload of every changed customer also makes a corrupt entry a loud error.
            old_payload = previous.payload if previous is not None else None
            outgoing.append(
                OutgoingItem(key=key, code=record.code, payload=payload, match=matches[record.code],
                             record=record, mode=mode)
            )
            if info.dry_run:
                report.plan.extend(diff_fields(old_payload, payload, record.code))
    counts.unmatched = len(report.unmatched)
    counts.rejected = len(report.rejected)
    counts.to_write = len(outgoing)

    if not info.dry_run:
        with _timed(report, "write"):
            _write(report, store, target, outgoing, info, host, progress)
        if unchanged:
            with _timed(report, "confirm unchanged"):
                _confirm_unchanged(report, store, target, unchanged, info)
        unmatched_items = [ItemRecord(None, code, "unmatched", "no shop account with this code") for code in
                           report.unmatched]
        rejected_items = [ItemRecord(None, p.code, "rejected", p.reason) for p in report.rejected]
        if info.run_id is not None:
            store.record_batch(info.run_id, info.pipeline, info.target, [], [*rejected_items, *unmatched_items])
    report.status = "partial" if counts.failed else "ok"


def _confirm_unchanged(
    report: RunReport, store: StateStore, target: Target, unchanged: dict[str, str], info: RunInfo
) -> None:
    """Refresh the shop's data age for customers whose payload did not change. Never fails the run."""
    try:
        statuses = target.confirm_unchanged(list(unchanged), info.as_of)
    except Exception as exc:  # noqa: BLE001 - the writes already succeeded; this is only data age
        report.warnings.append(mask(f"could not confirm unchanged customers to the shop: {exc}"))
        return
    unknown = [code for code, status in statuses.items() if status == "unknown" and code in unchanged]
    if unknown:
        store.forget_customers(info.pipeline, info.target, [unchanged[c] for c in unknown])
        report.warnings.append(
            f"{len(unknown)} unchanged customer(s) are unknown to the shop and will be sent again next run: "
            + ", ".join(unknown[:10]) + (" …" if len(unknown) > 10 else "")
        )


def _write(
    report: RunReport, store: StateStore, target: Target, outgoing: list[OutgoingItem], info: RunInfo,
    host: PluginHost, progress: Progress | None,
) -> None:
    counts = report.counts
    assert info.run_id is not None
    batches = list(_chunks(outgoing, target.batch_size()))
    aborted: str | None = None
    for index, batch in enumerate(batches):
        outcome = BatchOutcome(index=index)
        confirmed: list[tuple[str, str, dict[str, Any]]] = []
        trail: list[ItemRecord] = []
        if aborted is None:
            try:
                results = {r.key: r for r in target.write(batch)}
            except TransientError as exc:
                aborted = mask(exc)
                results = {}
            counts.batches += 1
        else:
            results = {}
        stale = [i.code for i in batch if (r := results.get(i.key)) is not None and r.stale_match]
        if stale:
            target.forget_matches(stale)
        for item in batch:
            result = results.get(item.key)
            if result is not None and result.status is ItemStatus.CONFIRMED:
                confirmed.append((item.key, item.code, item.payload))
                trail.append(ItemRecord(item.key, item.code, "written", None, item.payload))
                outcome.confirmed.append(item.key)
                continue
            if result is not None:
                reason = mask(result.error or "the shop reported a failure without a message")
            elif aborted is not None:
                reason = f"not confirmed: the shop could not be reached after retries ({aborted})"
            else:
                reason = "not confirmed: the shop's answer did not mention this customer"
            report.failed.append(Problem(code=item.code, erp_id=item.record.erp_id, reason=reason))
            trail.append(ItemRecord(item.key, item.code, "failed", reason, item.payload))
            outcome.failed.append(item.key)
        store.record_batch(info.run_id, info.pipeline, info.target, confirmed, trail)
        counts.written += len(outcome.confirmed)
        counts.failed += len(outcome.failed)
        host.call_lifecycle("after_batch", run=info, batch=outcome)
        if progress:
            progress("writing", min((index + 1) * target.batch_size(), len(outgoing)), len(outgoing))
