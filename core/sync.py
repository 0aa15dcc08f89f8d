"""The sync orchestrator: read → validate → match → payload → ledger diff → batched writes → state.

State moves forward only for customers the shop confirmed (Singer SDK's rule). A full snapshot diffed
against the ledger is the default because ERP "used" amounts change through payments, which touch no
modification timestamp of the customer card. A dry run reads and diffs and changes nothing anywhere.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import Any, Literal

from pydantic import TypeAdapter

from .adapters import (
    AdapterContext,
    AdapterT,
    ItemResult,
    ItemStatus,
    KeyValueCache,
    OutgoingItem,
    Source,
    Target,
)
from .batches import chunks
from .billing import BILLING, CREDIT, BillingRecord, CountryTable, ledger_target
from .billing_sync import BillingSync, outcome_key, split_written
from .book import changes, credit_facts
from .config import Config, ConfiguredAdapter, load_config
from .engine import DEFAULT_POLICY, CreditPolicy, ModeMapping, degrade_mode, effective_credit
from .errors import ConfigError, DataError, RunFailed, TradeCreditError, TransientError
from .lease import Lease, LeaseLostError, StopRequested
from .plugins import PluginHost, get_host
from .records import ControlMode, CreditRecord, RejectedRow, normalise_code
from .report import PLAN_CAP, PlannedChange, Problem, RunReport, completed_status, error_kind
from .secrets import mask
from .state import ItemRecord, OutcomeRecorder, StateCache, StateStore, dumps

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int | None], None]
"""``progress(stage, done, total)``; total is None while the size is unknown (reading)."""


@dataclass
class RunInfo:
    """What lifecycle hooks receive about the run in progress."""

    run_id: int | None
    pipeline: str
    source: str | None  # None only in ``on_error`` for a pipeline the config does not define
    target: str | None
    dry_run: bool
    full_refresh: bool
    as_of: datetime
    config: Config | None = None  # the run's validated config (plugin sections: ``config.sections``)


@dataclass
class BatchOutcome:
    index: int
    confirmed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    records: dict[str, CreditRecord] = field(default_factory=dict)  # confirmed key → the record written


def instantiate(
    adapter: ConfiguredAdapter[AdapterT], cache: KeyValueCache | None = None, policy: CreditPolicy = DEFAULT_POLICY,
    *, sync: Iterable[str] = (CREDIT,), countries: CountryTable | None = None,
) -> AdapterT:
    """A ready adapter for one config table: ``Source`` for ``config.sources``, ``Target`` for ``targets``."""
    cls = adapter.registered.cls
    return cls(adapter.options, AdapterContext(instance_name=adapter.name, cache=cache, policy=policy,
                                               sync=frozenset(sync), countries=countries or CountryTable()))


def _as_config(config: Config | str | Path, host: PluginHost) -> Config:
    return config if isinstance(config, Config) else load_config(config, host)


def read_records(
    source: Source[Any], as_of: datetime, progress: Progress | None = None, billing: BillingSync | None = None,
) -> tuple[dict[str, CreditRecord], list[Problem]]:
    """Read the whole snapshot; reject bad rows and every customer whose code collides with another's.

    Billing items of the stream go to ``billing`` (when the pipeline syncs billing)."""
    by_key: dict[str, list[CreditRecord]] = {}
    rejected: list[Problem] = []
    for n, item in enumerate(source.read(as_of), start=1):
        if billing is not None and billing.take(item):
            continue
        _refuse_unasked_billing(source, item)
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


def _refuse_unasked_billing(source: Source[Any], item: object) -> None:
    if isinstance(item, BillingRecord) or (isinstance(item, RejectedRow) and item.kind != CREDIT):
        raise DataError(f"source {source.name!r} yielded billing data, but the pipeline does not sync billing")


ANALYZE_AFTER = 1000
"""A run refreshes the state store's planner statistics when it has confirmed this many customers, whenever that
number doubled since, and at its end (PostgreSQL; see ``StateStore.analyze``)."""

UNMATCHED_RECHECK = timedelta(hours=6)
"""How long a code the shop had no account for is believed unmatched without asking again (docs/state.md)."""


def _unmatched_namespace(target: str) -> str:
    # Per target, not per pipeline: whether the shop has an account for a code does not depend on the ERP.
    return f"unmatched:{target}"


def match_codes(store: StateStore, target: Target[Any], info: RunInfo, codes: list[str]) -> dict[str, dict[str, Any]]:
    """``target.match`` with a "not found" cache: a code the shop had no account for is not asked again for
    ``UNMATCHED_RECHECK`` (measured from the run's ``as_of``), nor before ``--full-refresh``; so an unchanged
    rerun sends no request at all. A code found later drops its entry; a dry run reads but never writes it."""
    assert info.target is not None
    namespace = _unmatched_namespace(info.target)
    known: dict[str, Any] = {} if info.full_refresh else store.cache_get(namespace, codes)
    still = {c for c, checked in known.items() if _recent(checked, info.as_of)}
    asked = [c for c in codes if c not in still]
    matches = target.match(asked) if asked else {}
    if not store.read_only:
        missing = {c: info.as_of.isoformat() for c in asked if c not in matches}
        found = [c for c in asked if c in matches and c in known]
        if missing:
            store.cache_put(namespace, missing)
        if found:
            store.cache_delete(namespace, found)
    return matches


def _recent(checked: Any, as_of: datetime) -> bool:
    try:
        when = datetime.fromisoformat(str(checked))
    except ValueError:
        return False  # an unreadable entry is only a cache miss: the code is asked again
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return timedelta(0) <= as_of - when < UNMATCHED_RECHECK


def diff_fields(
    old: dict[str, Any] | None, new: dict[str, Any], code: str, *,
    old_source: Literal["ledger", "shop"] | None = "ledger", hidden: frozenset[str] = frozenset(),
    reasons: Mapping[str, str] | None = None,
) -> list[PlannedChange]:
    """The plan rows of one customer: fields whose value would change, and fields whose old value is unknown.

    ``old`` is the ledger payload (complete: a key missing there was never written) or what the shop reported
    (partial: a key missing there is unknown). ``hidden`` are the target's identity fields.
    """
    known = old or {}
    why = reasons or {}
    keys = set(new) | (set(known) if old_source == "ledger" else set())
    rows = []
    for k in sorted(keys - hidden):
        if k not in known:
            rows.append(PlannedChange(code=code, field=k, old=None, new=new.get(k), old_source=None,
                                      reason=why.get(k)))
        elif known[k] != new.get(k):
            rows.append(PlannedChange(code=code, field=k, old=known[k], new=new.get(k), old_source=old_source,
                                      reason=why.get(k)))
    return rows


_CURRENT = TypeAdapter(dict[str, dict[str, Any]])


def read_current(
    report: RunReport, target: Target[Any], items: list[OutgoingItem], progress: Progress | None = None
) -> dict[str, dict[str, Any]]:
    """Ask the target what the shop holds now for ``items`` (dry runs only). Never fails the run."""
    found: dict[str, dict[str, Any]] = {}
    wanted = {i.key for i in items}
    for n, chunk in enumerate(chunks(items, target.batch_size()), start=1):
        try:
            answer = _CURRENT.validate_python(target.current(chunk))
        except Exception as exc:  # noqa: BLE001 - a preview must not fail because the shop cannot be read
            unknown = len(items) - len(found)
            report.warnings.append(mask(
                f"could not read the shop's current values ({type(exc).__name__}: {exc}); "
                f"{unknown} customer(s) show \"before\" as unknown"
            ))
            # Stop here: a shop that failed after retries would make every further chunk wait out its retries.
            break
        found.update((k, v) for k, v in answer.items() if k in wanted)
        if progress:
            progress("preview", min(n * target.batch_size(), len(items)), len(items))
    return found


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
    stop: threading.Event | None = None,
) -> RunReport:
    """Run one pipeline and return its report (status ``ok``, or ``partial`` when customers failed or were
    rejected; failed customers are retried by the next run).

    A run that cannot complete raises instead: ``ConfigError`` (bad config, unknown or disabled pipeline,
    credentials refused), ``LockHeldError`` (another run holds the pipeline), ``TransientError`` (the shop
    or ERP unreachable after retries, also in the middle of the writes), ``StateError`` or anything
    unexpected, wrapped in ``RunFailed`` (the original is its ``__cause__``); ``KeyboardInterrupt`` passes
    unchanged. The exception carries the run's report as ``exc.report`` (status ``failed``, or ``locked``,
    with ``error`` and ``error_kind`` set); unless it is a dry run or the config could not be used, that
    report is also saved with the run. Customers the shop confirmed before the failure stay confirmed.
    The ``on_error`` hooks run before the exception propagates.

    The run holds its pipeline's lease while it runs (renewed by a heartbeat thread). A run whose lease was
    taken over (``LeaseLostError``), or whose ``stop`` event was set (``StopRequested``, a service stopping),
    ends before its next batch with status ``abandoned``.
    """
    host = host or get_host()
    as_of = as_of or datetime.now(UTC)
    report = RunReport(pipeline=pipeline, dry_run=dry_run, full_refresh=full_refresh, as_of=as_of,
                       started_at=datetime.now(UTC))
    info = RunInfo(None, pipeline, None, None, dry_run, full_refresh, as_of)
    store: StateStore | None = None
    lease: Lease | None = None
    source: Source[Any] | None = None
    target: Target[Any] | None = None
    failure: BaseException | None = None
    try:
        cfg = _as_config(config, host)
        info.config = cfg
        p = cfg.pipeline(pipeline)
        report.source = info.source = p.source
        report.target = info.target = p.target
        if not p.enabled:
            raise ConfigError(f"pipeline {pipeline!r} is disabled in the config (enabled = false)")
        # A dry run changes no state: it must not even create or migrate the store.
        store = StateStore.open(cfg.state.url, read_only=dry_run)
        if not dry_run:
            report.run_id = info.run_id = store.start_run(p.name, p.source, p.target, full_refresh=full_refresh)
            lease = store.acquire_lease(p.name, info.run_id, timeout=cfg.state.lease_timeout, stop=stop)
        host.hook.before_run(run=info)
        source = instantiate(cfg.sources[p.source], sync=p.sync, countries=cfg.billing.table())
        target = instantiate(cfg.targets[p.target], StateCache(store, f"target:{p.target}", read_only=dry_run),
                             cfg.engine.policy(), sync=p.sync)
        _execute(report, store, source, target, info, host, progress)
    except BaseException as exc:  # noqa: BLE001 - recorded, shown to on_error and re-raised below
        failure = exc
        kind = error_kind(exc)
        report.status = "locked" if kind == "locked" else "failed"
        if isinstance(exc, LeaseLostError | StopRequested):
            report.status = "abandoned"
        report.error_kind = kind
        report.error = mask(f"{type(exc).__name__}: {exc}")
    for adapter in (source, target):
        if adapter is not None:
            try:
                adapter.close()
            except Exception as exc:  # noqa: BLE001 - closing must not hide the real outcome
                log.warning("closing %s failed: %s", adapter.name, mask(exc))
    report.finished_at = datetime.now(UTC)
    if store is not None:
        try:
            if info.run_id is not None:
                store.finish_run(
                    info.run_id, report.status, report.counts.model_dump(), error=report.error,
                    report=report.model_dump(mode="json"),
                )
                if lease is not None:
                    store.release_lease(lease)
                if report.status != "locked":
                    store.prune(keep_runs=cfg.state.keep_runs, keep_days=cfg.state.keep_days, pipeline=pipeline)
        except Exception as exc:
            if failure is None:
                raise
            log.warning("could not record the failed run: %s", mask(exc))  # the run's own error matters more
        finally:
            store.close()
    _log_run(report)
    if failure is not None:
        error = _with_report(failure, report)
        host.hook.on_error(run=info, error=error, report=report)
        if error is failure:
            raise failure
        raise error from failure
    host.hook.after_run(run=info, report=report)
    return report


def _log_run(report: RunReport) -> None:
    """One log event per run (``--log-format json`` makes it one JSON line with these fields)."""
    seconds = (report.finished_at - report.started_at).total_seconds() if report.finished_at else None
    fields = {"event": "run", "pipeline": report.pipeline, "run_id": report.run_id, "status": report.status,
              "counts": report.counts.model_dump(), "duration_s": round(seconds, 3) if seconds is not None else None}
    if report.error:
        fields["error"] = report.error
    level = (logging.INFO if report.status in ("ok", "partial") or report.dry_run
             else logging.WARNING if report.status == "locked" else logging.ERROR)  # locked: another run works
    log.log(level, "pipeline %s run %s %s: %s", report.pipeline, report.run_id or "-", report.status,
            report.error or ", ".join(f"{k} {v}" for k, v in report.counts.model_dump().items()), extra=fields)


def run_pipelines(
    config: Config | str | Path,
    names: Iterable[str] | None = None,
    *,
    dry_run: bool = False,
    full_refresh: bool = False,
    as_of: datetime | None = None,
    host: PluginHost | None = None,
    progress: Progress | None = None,
    on_report: Callable[[RunReport], None] | None = None,
    stop: threading.Event | None = None,
) -> list[RunReport]:
    """Run the named pipelines (all enabled ones when ``names`` is empty), one after another.

    A pipeline that fails does not stop the others: its report (status ``failed`` or ``locked``, the
    ``report`` of ``run_pipeline``'s exception) takes its place in the list, and ``on_report`` sees every
    report as soon as its pipeline ends. Raises ``ConfigError`` only when the config itself cannot be used or
    enables no pipeline; ``KeyboardInterrupt`` stops everything. ``exit_code_for(reports)`` gives the
    combined exit code.
    """
    host = host or get_host()
    cfg = _as_config(config, host)
    selected = list(names or ()) or [p.name for p in cfg.pipelines if p.enabled]
    if not selected:
        raise ConfigError("the config defines no enabled pipeline")
    reports: list[RunReport] = []
    for name in selected:
        try:
            report = run_pipeline(cfg, name, dry_run=dry_run, full_refresh=full_refresh, as_of=as_of, host=host,
                                  progress=progress, stop=stop)
        except TradeCreditError as exc:  # run_pipeline reported and recorded it; go on with the next
            if exc.report is None:
                raise
            report = exc.report
        reports.append(report)
        if on_report is not None:
            on_report(report)
    return reports


def _with_report(exc: BaseException, report: RunReport) -> BaseException:
    """What ``run_pipeline`` raises: a typed error carrying the report, unexpected ones wrapped in ``RunFailed``.

    ``KeyboardInterrupt`` and other ``BaseException`` subclasses are not errors of the run: they pass unchanged.
    """
    if isinstance(exc, TradeCreditError):
        exc.report = report
        return exc
    if not isinstance(exc, Exception):
        return exc
    wrapped = RunFailed(report.error or type(exc).__name__)
    wrapped.report = report
    return wrapped


CHUNK = 1000
"""Records read, matched, diffed and written together: memory is O(chunk), not O(snapshot)."""

MATCH_AHEAD = 1000
"""Codes handed to ``Target.match`` at once: a multiple of 100, so lookups in pages of 100 end where the floor's do."""


def _execute(
    report: RunReport, store: StateStore, source: Source[Any], target: Target[Any], info: RunInfo, host: PluginHost,
    progress: Progress | None,
) -> None:
    """Stream the snapshot in chunks: read → match → diff → write → state per chunk, then drop the chunk.

    Duplicate codes are found before the first write through a compact index of the keys (``Source.keys``):
    records whose key may be a duplicate wait until the end, where duplicates are rejected and the others go on.
    A source without ``keys`` is read whole first (its records are then processed in chunks all the same).
    """
    run = _Stream(report, store, target, info, host, progress)
    if BILLING in source.context.sync:  # billing parts join the credit items of the same customers (one request)
        assert info.target is not None
        run.billing = BillingSync.start(store, info.pipeline, info.target, full_refresh=info.full_refresh)
    with _timed(report, "read"):
        suspects, items = _snapshot(source, info.as_of)
    held: dict[str, list[CreditRecord]] = {}
    finished = True
    while True:
        with _timed(report, "read"):
            chunk = list(islice(items, CHUNK))
        if not chunk:
            break
        records: list[CreditRecord] = []
        for item in chunk:
            if run.billing is not None and run.billing.take(item):
                continue
            _refuse_unasked_billing(source, item)
            if isinstance(item, RejectedRow):
                run.reject(Problem(code=item.code, erp_id=item.erp_id, reason=item.reason))
            elif isinstance(item, CreditRecord):
                key = item.key
                if suspects.maybe(key):
                    held.setdefault(key, []).append(item)
                else:
                    records.append(item)
            else:
                raise DataError(f"source {source.name!r} yielded {type(item).__name__}, not a CreditRecord/RejectedRow")
        report.counts.read += len(chunk)
        if progress:
            progress("reading", report.counts.read, None)
        run.feed(records)
        if run.unreachable is not None:
            finished = False  # the shop is gone: the rest is not read (the next run sends it)
            break
    if finished:
        run.feed(_settle_duplicates(run.reject, held), final=True)
    run.finish(complete=finished)


class _KeyIndex:
    """Which normalised keys may occur more than once: a 16 MiB bitmap of key hashes, then the exact hashes of
    the keys that hit a set bit. False positives only make a record wait until the end of the run."""

    BITS = 1 << 27

    def __init__(self, keys: Iterable[str] | None) -> None:
        self.everything = keys is None
        self.suspects: set[int] = set()
        if keys is None:
            return
        bitmap = bytearray(self.BITS >> 3)
        mask = self.BITS - 1
        for code in keys:
            h = hash(normalise_code(code))
            bit = h & mask
            if bitmap[bit >> 3] & (1 << (bit & 7)):
                self.suspects.add(h)
            else:
                bitmap[bit >> 3] |= 1 << (bit & 7)
        del bitmap

    def maybe(self, key: str) -> bool:
        return bool(self.suspects) and hash(key) in self.suspects


def _snapshot(source: Source[Any], as_of: datetime) -> tuple[_KeyIndex, Iterator[CreditRecord | RejectedRow | Any]]:
    keys = source.keys(as_of)
    if keys is not None:
        return _KeyIndex(keys), iter(source.read(as_of))
    # No cheap key list: hold the snapshot once (as every run did before streaming) and index its keys.
    items = list(source.read(as_of))
    return _KeyIndex(i.code for i in items if isinstance(i, CreditRecord)), iter(items)


def _settle_duplicates(reject: Callable[[Problem], None], held: dict[str, list[CreditRecord]]) -> list[CreditRecord]:
    """Reject every customer whose code collides with another's; return the held records that collide with none."""
    single: list[CreditRecord] = []
    for group in held.values():
        if len(group) == 1:
            single.append(group[0])
            continue
        codes = ", ".join(repr(r.code) for r in group)
        for r in group:
            reject(Problem(
                code=r.code, erp_id=r.erp_id,
                reason=f"duplicate customer code: {codes} differ only by case or spaces and would "
                "update the same shop account; fix the codes in the ERP",
            ))
    return single


class _Stream:
    """One run's chunked path from records to confirmed ledger entries, with the carry buffers that keep lookups
    and writes in full pages/batches across chunk ends (so the requests equal the floor's)."""

    def __init__(self, report: RunReport, store: StateStore, target: Target[Any], info: RunInfo,
                 host: PluginHost, progress: Progress | None) -> None:
        assert info.target is not None  # run_pipeline set it from the pipeline before calling
        self.report, self.store, self.target, self.info, self.host, self.progress = (
            report, store, target, info, host, progress)
        self.pipeline, self.target_name = info.pipeline, info.target
        self.native, self.policy = target.supported_modes(), target.mode_policy()
        self.modes: dict[ControlMode, ModeMapping] = {}
        self.reasons: dict[str, str] = {}  # masked reasons, shared: thousands of customers have the same one
        self.to_match: list[CreditRecord] = []
        self.to_write: list[OutgoingItem] = []
        self.unreachable: TransientError | None = None
        self.batch_index = 0
        self.written_total = 0
        self.next_analyze = ANALYZE_AFTER
        # Keys with a sticky outcome recorded before: an unchanged one among them leaves it (see record_outcomes).
        self.sticky = store.outcome_keys(info.pipeline, info.target)
        self.settled: list[str] = []
        # Only a target that wants to hear about unchanged customers makes the run keep their codes.
        self.confirms = type(target).confirm_unchanged is not Target.confirm_unchanged
        self.unchanged: dict[str, str] = {}  # code → key
        self.planned: list[OutgoingItem] = []  # dry run: the plan's items
        self.ledger_payloads: dict[str, dict[str, Any]] = {}  # dry run: key → last confirmed payload
        self.billing: BillingSync | None = None  # sync = [..., "billing"]: core/billing_sync.py
        self.sticky_items: list[ItemRecord] = []  # this chunk's rejected/unsupported/unmatched (audit trail)
        self.outcomes: OutcomeRecorder | None = None  # opened with the first chunk that has one (not in a dry run)

    def reject(self, problem: Problem) -> None:
        """A rejected customer: into the report (its first entries) and into the audit trail (every one)."""
        self.report.note("rejected", problem)
        self.sticky_items.append(ItemRecord(outcome_key(problem), problem.code, "rejected", problem.reason))

    def _record_sticky(self) -> None:
        """Record this chunk's sticky outcomes now: the report keeps only the first of them (REPORT_LIST_LIMIT)."""
        if self.info.dry_run or (not self.sticky_items and self.outcomes is not None):
            return
        assert self.info.run_id is not None
        if self.outcomes is None:
            self.outcomes = self.store.outcome_recorder(self.info.run_id, self.pipeline, self.target_name)
        items, self.sticky_items = self.sticky_items, []
        self.outcomes.add(items)

    def _mask(self, reason: object) -> str:
        text = str(reason)
        masked = self.reasons.get(text)
        if masked is None:
            masked = self.reasons[text] = mask(text)
        return masked

    def feed(self, records: list[CreditRecord], *, final: bool = False) -> None:
        report = self.report
        with _timed(report, "match"):
            asking: list[CreditRecord] = []
            for record in records:
                why_not = self.target.unsupported(record)  # never looked up: it costs no request
                if why_not is None:
                    asking.append(record)
                    continue
                problem = Problem(code=record.code, erp_id=record.erp_id, reason=self._mask(why_not.reason),
                                  currency=record.currency, reason_code=why_not.reason_code.value)
                report.note("unsupported", problem)
                self.sticky_items.append(ItemRecord(None, problem.code, "unsupported", problem.reason,
                                                    detail={"reason_code": problem.reason_code}))
            self.to_match.extend(asking)
            take = len(self.to_match) if final else len(self.to_match) // MATCH_AHEAD * MATCH_AHEAD
            ready, self.to_match = self.to_match[:take], self.to_match[take:]
            matches = match_codes(self.store, self.target, self.info, [r.code for r in ready]) if ready else {}
        with _timed(report, "diff"):
            self._diff(ready, matches)
        if self.info.dry_run:
            self.sticky_items.clear()  # a dry run records nothing
            return
        self._record_sticky()
        with _timed(report, "write"):
            size = self.target.batch_size()
            take = len(self.to_write) if final else len(self.to_write) // size * size
            sending, self.to_write = self.to_write[:take], self.to_write[take:]
            for start in range(0, len(sending), size):
                self._write_batch(sending[start:start + size])

    def _diff(self, ready: list[CreditRecord], matches: dict[str, dict[str, Any]]) -> None:
        report, counts, target = self.report, self.report.counts, self.target
        matched = [r for r in ready if r.code in matches]
        for record in ready:
            if record.code not in matches:
                report.note("unmatched", record.code)
                self.sticky_items.append(ItemRecord(None, record.code, "unmatched", "no shop account with this code"))
        # The ledger rows of this chunk only (one IN query); a full refresh compares with nothing.
        ledger = {} if self.info.full_refresh or not matched else self.store.load_ledger(
            self.pipeline, self.target_name, [r.key for r in matched])
        items: list[OutgoingItem] = []
        unchanged: list[str] = []
        for record in matched:
            key = record.key
            match = matches[record.code]
            try:
                mode = self.modes.get(record.control_mode) or self.modes.setdefault(
                    record.control_mode, degrade_mode(record.control_mode, self.native, self.policy)
                )
                payload = target.payload(record, match, mode)
            except (ValueError, DataError) as exc:
                self.reject(Problem(code=record.code, erp_id=record.erp_id, reason=mask(exc)))
                continue
            if mode.degraded:
                label = f"{mode.requested.value} → {mode.effective.value}"
                report.degraded_modes[label] = report.degraded_modes.get(label, 0) + 1
            previous = ledger.get(key)
            if previous is not None and previous.payload_text == dumps(payload):
                counts.unchanged += 1
                unchanged.append(key)
                if key in self.sticky:
                    self.settled.append(key)
                if self.confirms:
                    self.unchanged[record.code] = key
                continue
            # Decoding the old payload of every changed customer also makes a corrupt entry a loud error.
            old = previous.payload if previous is not None else None
            # The engine's verdict and the reason of each value travel with the item into the plan and the audit.
            verdict = effective_credit(record, target.context.policy, mode=mode.effective)
            # Built from values validated already: no second validation of the record per customer.
            items.append(OutgoingItem.model_construct(
                key=key, code=record.code, payload=payload, match=match, record=record, mode=mode, parts={},
                billing=None, reasons={k: v.value for k, v in target.value_reasons(record, mode).items()},
                previous=old, credit=credit_facts(record, verdict)))
            if self.info.dry_run and old is not None:
                self.ledger_payloads[key] = old
        if self.billing is not None:
            items = self.billing.merge(report, target, {r.key: r for r in matched}, matches, items, unchanged,
                                       reject=self.reject)
        counts.to_write += len(items)
        (self.planned if self.info.dry_run else self.to_write).extend(items)

    def _write_batch(self, batch: list[OutgoingItem]) -> None:
        report, counts, info, target = self.report, self.report.counts, self.info, self.target
        assert info.run_id is not None
        index, self.batch_index = self.batch_index, self.batch_index + 1
        outcome = BatchOutcome(index=index)
        confirmed: list[tuple[str, str, dict[str, Any] | str]] = []
        other_kinds: dict[str, list[tuple[str, str, dict[str, Any] | str]]] = {}  # billing: its own ledger entries
        trail: list[ItemRecord] = []
        results: dict[str, ItemResult] = {}
        if self.unreachable is None:
            self.store.check_lease(info.pipeline)  # a run that lost its lease, or is asked to stop, writes no more
            try:
                results = {r.key: r for r in target.write(batch)}
            except TransientError as exc:
                self.unreachable = exc
            counts.batches += 1
        stale = [i.code for i in batch if (r := results.get(i.key)) is not None and r.stale_match]
        if stale:
            target.forget_matches(stale)
        for item in batch:
            result = results.get(item.key)
            if result is not None and result.status is ItemStatus.CONFIRMED:
                shown = item.payload if result.written_payload is None else result.written_payload
                written = dumps(shown)
                if not item.parts:
                    confirmed.append((item.key, item.code, written))  # encoded once, for the ledger and the trail
                else:  # each kind's part goes to its own ledger entry
                    for kind, part in split_written(item, shown).items():
                        (confirmed if kind == CREDIT else other_kinds.setdefault(kind, [])).append(
                            (item.key, item.code, dumps(part)))
                detail = _written_detail(report, target, item, shown)
                trail.append(ItemRecord(item.key, item.code, "written", None, written, detail))
                outcome.confirmed.append(item.key)
                outcome.records[item.key] = item.record
                continue
            if result is not None:
                reason = mask(result.error or "the shop reported a failure without a message")
            elif self.unreachable is not None:
                reason = mask(f"not confirmed: the shop could not be reached after retries ({self.unreachable})")
            else:
                reason = "not confirmed: the shop's answer did not mention this customer"
            report.note("failed", Problem(code=item.code, erp_id=item.record.erp_id, reason=reason))
            trail.append(ItemRecord(item.key, item.code, "failed", reason, item.payload, {"credit": item.credit}))
            outcome.failed.append(item.key)
        self.store.record_batch(info.run_id, info.pipeline, self.target_name, confirmed, trail)
        # Billing's entries in a transaction of their own (fenced by the lease like credit's): if it fails, the next
        # run sends those billing values again, which is harmless (absolute values).
        for kind, rows in other_kinds.items():
            self.store.record_batch(info.run_id, info.pipeline, ledger_target(self.target_name, kind), rows, [])
            if kind == BILLING and report.billing is not None:
                report.billing.written += len(rows)
        counts.written += len(outcome.confirmed)
        counts.failed += len(outcome.failed)
        log.info("pipeline %s run %s batch %d: %d confirmed, %d failed", info.pipeline, info.run_id, index,
                 len(outcome.confirmed), len(outcome.failed),
                 extra={"event": "batch", "pipeline": info.pipeline, "run_id": info.run_id, "batch": index,
                        "counts": {"confirmed": len(outcome.confirmed), "failed": len(outcome.failed)}})
        self.host.hook.after_batch(run=info, batch=outcome)
        self.written_total += len(batch)
        if counts.written >= self.next_analyze:
            # PostgreSQL plans each chunk's ledger and cache reads (``key IN (…)``) from statistics; on a table
            # not analysed since it was small they become a scan of the pipeline's rows per chunk: quadratic.
            # Analysing whenever the ledger doubled keeps the plans right for O(log n) cheap ANALYZEs.
            self.store.analyze()
            self.next_analyze = 2 * counts.written
        if self.progress:
            self.progress("writing", self.written_total, None)

    def finish(self, *, complete: bool) -> None:
        report, counts, info = self.report, self.report.counts, self.info
        if not complete and self.to_write:
            # The shop became unreachable: what was diffed but not sent fails as "not reached" (retried next run).
            with _timed(report, "write"):
                size = self.target.batch_size()
                pending, self.to_write = self.to_write, []
                for start in range(0, len(pending), size):
                    self._write_batch(pending[start:start + size])
        counts.unmatched = report.total("unmatched")
        counts.rejected = report.total("rejected")
        counts.unsupported = report.total("unsupported")
        self._shop_holds()
        if info.dry_run:
            _plan(report, self.target, self.planned, self.ledger_payloads, self.progress,
                  self.billing.previous if self.billing else {})
            report.status = completed_status(counts)
            return
        if counts.written >= ANALYZE_AFTER:
            self.store.analyze()  # for the next run's reads
        # With the shop unreachable after retries, confirming unchanged customers would only wait out the retries.
        if self.unchanged and self.unreachable is None:
            with _timed(report, "confirm unchanged"):
                _confirm_unchanged(report, self.store, self.target, self.unchanged, info)
        self._record_sticky()
        assert self.outcomes is not None
        # Only outcomes that changed since they were last recorded got an audit row; the rest is counted.
        self.outcomes.finish(self.settled, complete=complete)
        if self.unreachable is not None:
            # The run could not complete, exactly as when the shop is unreachable while matching (exit 1): the
            # remaining customers were never tried. Confirmed batches stay in the ledger.
            raise self.unreachable
        report.status = completed_status(counts)

    def _shop_holds(self) -> None:
        """Say, for each rejected or unsupported customer, what the shop still holds (its last confirmed payload):
        nobody may believe the shop is in step for them."""
        # Billing problems: billing's own ledger says what the shop holds (BillingSync.merge).
        problems = [p for p in (*self.report.rejected, *self.report.unsupported) if p.code and p.kind == CREDIT]
        if not problems:
            return
        held = self.store.load_ledger(self.pipeline, self.target_name,
                                      list({normalise_code(p.code) for p in problems if p.code}))
        for problem in problems:
            entry = held.get(normalise_code(problem.code)) if problem.code else None
            if entry is not None:
                problem.shop_holds = entry.payload


def _plan(
    report: RunReport, target: Target[Any], outgoing: list[OutgoingItem], ledger_payloads: dict[str, dict[str, Any]],
    progress: Progress | None, billing_payloads: dict[str, dict[str, Any]] | None = None,
) -> None:
    """The dry-run plan: "before" from the ledger, else from the shop itself (``Target.current``), else unknown.

    Each data kind of an item is compared with its own ledger (``billing_payloads``: the billing ledger's)."""
    ledgers: dict[str, dict[str, dict[str, Any]]] = {CREDIT: ledger_payloads, BILLING: billing_payloads or {}}
    first_time = [i for i in outgoing if any(i.key not in ledgers[k] for k in i.kind_parts())]
    shop: dict[str, dict[str, Any]] = {}
    if first_time:
        with _timed(report, "read shop"):
            shop = read_current(report, target, first_time, progress)
    hidden = target.identity_fields
    for item in outgoing:
        for kind, part in item.kind_parts().items():
            old = ledgers[kind].get(item.key)
            if old is not None:
                rows = diff_fields(old, part, item.code, old_source="ledger", hidden=hidden, reasons=item.reasons)
            else:
                rows = diff_fields(shop.get(item.key), part, item.code, old_source="shop", hidden=hidden,
                                   reasons=item.reasons)
            report.plan.extend(r.model_copy(update={"kind": kind}) if kind != CREDIT else r for r in rows)


def _confirm_unchanged(
    report: RunReport, store: StateStore, target: Target[Any], unchanged: dict[str, str], info: RunInfo
) -> None:
    """Refresh the shop's data age for customers whose payload did not change. Never fails the run."""
    assert info.target is not None
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


def _written_detail(
    report: RunReport, target: Target[Any], item: OutgoingItem, written: dict[str, Any]
) -> dict[str, Any]:
    """What a confirmed write changed (old → new, each with its reason) and the engine's verdict, for the audit
    trail; the same rows become the real run's plan (its first ``PLAN_CAP`` fields; the rest are counted)."""
    rows = changes(item.previous, written, item.reasons, target.identity_fields)
    room = max(0, PLAN_CAP - len(report.plan))
    kind_of = {field: kind for kind, part in item.kind_parts().items() for field in part}
    report.plan.extend(
        PlannedChange(code=item.code, field=r["field"], old=r["old"], new=r["new"], reason=r["reason"],
                      old_source="ledger" if r["known_old"] else None, kind=kind_of.get(r["field"], CREDIT))
        for r in rows[:room]
    )
    report.plan_omitted += len(rows) - min(room, len(rows))
    return {"changes": rows, "credit": item.credit}
