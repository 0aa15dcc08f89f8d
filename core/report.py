"""The run report: what was read, unchanged, written, failed, rejected, unsupported and unmatched, and how long
it took.

It is the same object for the library (``run_pipeline`` returns it), the CLI (``--json`` prints it) and the
state store (saved with the run). Every string in it has gone through secret masking.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from enum import IntEnum
from typing import Any, Literal

from pydantic import BaseModel, Field, computed_field

from .errors import ConfigError, LockHeldError, PluginError
from .secrets import mask


class ExitCode(IntEnum):
    """Exit codes of ``tradecredit run`` (documented in the README)."""

    OK = 0
    ERROR = 1  # the run could not complete (system error, shop unreachable after retries)
    USAGE = 2  # bad command line
    CONFIG = 3  # invalid configuration or credentials refused (401/403)
    PARTIAL = 4  # the run completed but some customers failed or were rejected (status "partial")
    LOCKED = 5  # another run of the same pipeline holds the lock


ErrorKind = Literal["config", "locked", "error"]
"""Why a run stopped: configuration or credentials (exit 3), the lock (exit 5), anything else (exit 1)."""

_KIND_EXIT = {"config": ExitCode.CONFIG, "locked": ExitCode.LOCKED, "error": ExitCode.ERROR}

# Several pipelines in one invocation exit with the most severe code, which is not the largest number: a
# configuration error needs a person, a failed run needs a look, a partial run retries itself next time and
# a held lock means another run is doing the work.
_SEVERITY = (ExitCode.OK, ExitCode.LOCKED, ExitCode.PARTIAL, ExitCode.ERROR, ExitCode.CONFIG)


def error_kind(exc: BaseException) -> ErrorKind:
    """Classify an exception that stopped a run (the one place that maps errors to exit codes)."""
    if isinstance(exc, LockHeldError):
        return "locked"
    if isinstance(exc, ConfigError | PluginError):  # AuthError is a ConfigError
        return "config"
    return "error"


def exit_code_for_error(exc: BaseException) -> ExitCode:
    return _KIND_EXIT[error_kind(exc)]


class Counts(BaseModel):
    read: int = 0
    rejected: int = 0
    unsupported: int = 0
    unmatched: int = 0
    unchanged: int = 0
    to_write: int = 0
    written: int = 0
    failed: int = 0
    batches: int = 0


class BillingCounts(BaseModel):
    """The billing kind's own counts (its customers are also in ``counts``, which counts customers)."""

    read: int = 0
    rejected: int = 0
    warnings: int = 0
    unchanged: int = 0
    to_write: int = 0
    written: int = 0


class Problem(BaseModel):
    code: str | None = None
    erp_id: str | None = None
    reason: str
    kind: Literal["credit", "billing"] = Field(default="credit", description="the data kind the problem is about")
    reason_code: str | None = Field(default=None, description="machine-readable reason (e.g. unsupported_currency)")
    currency: str | None = Field(default=None, description="the customer's currency (unsupported customers)")
    shop_holds: dict[str, Any] | None = Field(
        default=None,
        description="what the shop still holds for this customer: the last payload it confirmed (ledger); the shop "
        "is NOT in step with the ERP for them until the problem is fixed",
    )


RunStatus = Literal["ok", "partial", "failed", "locked"]

REPORT_LIST_LIMIT = 1000
"""Entries a run report keeps of each per-customer list (``rejected``, ``unsupported``, ``unmatched``, ``failed``);
the rest is counted in ``<list>_truncated`` (and every customer in ``counts``). Without it the lists grow with the
customers: ~100k entries, ~70 MiB, at 1M customers. The audit trail (``tc_outcomes``/``tc_run_items``) still has
every customer."""

ListName = Literal["rejected", "unsupported", "unmatched", "failed"]


def completed_status(counts: Counts) -> RunStatus:
    """The status of a run that completed: ``partial`` ⇔ customers failed or were rejected (⇔ exit code 4).

    Unsupported and unmatched customers are steady states, not problems of the run.
    """
    return "partial" if counts.failed or counts.rejected else "ok"


class PlannedChange(BaseModel):
    """One field a dry run would change. ``old`` is only as good as ``old_source`` says."""

    code: str
    field: str
    old: Any = None
    new: Any = None
    old_source: Literal["ledger", "shop"] | None = Field(
        default=None,
        description="ledger: last value the shop confirmed to tradecredit; shop: read from the shop during this "
        "dry run (Target.current); None: unknown (old is then None too)",
    )
    kind: Literal["credit", "billing"] = Field(default="credit", description="the data kind of the field")
    reason: str | None = Field(default=None, description="why the new value is what it is: a ValueReason code "
                               "(docs/engine.md), when the target names one (Target.value_reasons)")


PLAN_CAP = 1000
"""Written fields a real run's report keeps in ``plan`` (the audit trail has all): a large first sync stays small."""


class RunReport(BaseModel):
    run_id: int | None = None
    pipeline: str
    source: str | None = None  # None when the pipeline is not in the config (or the config did not load)
    target: str | None = None
    dry_run: bool = False
    full_refresh: bool = False
    status: str = "ok"  # ok | partial | failed | locked | abandoned (as in tc_runs); partial ⇔ exit code 4
    as_of: datetime
    started_at: datetime
    finished_at: datetime | None = None
    durations: dict[str, float] = Field(default_factory=dict, description="seconds per stage")
    counts: Counts = Field(default_factory=Counts)
    rejected: list[Problem] = Field(default_factory=list)
    unsupported: list[Problem] = Field(
        default_factory=list, description="customers the target cannot represent (e.g. currency): not written, "
        "not failing the run"
    )
    unmatched: list[str] = Field(default_factory=list)
    failed: list[Problem] = Field(default_factory=list)
    rejected_truncated: int = Field(default=0, description="rejected customers beyond the first REPORT_LIST_LIMIT")
    unsupported_truncated: int = Field(default=0, description="unsupported customers beyond the first "
                                       "REPORT_LIST_LIMIT")
    unmatched_truncated: int = Field(default=0, description="unmatched codes beyond the first REPORT_LIST_LIMIT")
    failed_truncated: int = Field(default=0, description="failed customers beyond the first REPORT_LIST_LIMIT")
    plan: list[PlannedChange] = Field(default_factory=list)
    plan_omitted: int = Field(default=0, description="a real run's plan keeps the first PLAN_CAP written fields; "
                              "this many more were written (every one is in the audit trail)")
    degraded_modes: dict[str, int] = Field(default_factory=dict)
    warnings: list[str] = Field(default_factory=list, description="problems that did not fail the run")
    billing: BillingCounts | None = Field(default=None, description="billing data (sync = [..., \"billing\"])")
    error: str | None = None
    error_kind: ErrorKind | None = Field(default=None, description="why a failed run stopped; drives exit_code")

    @computed_field  # type: ignore[prop-decorator]  # mypy rejects decorators over @property; pydantic's way
    @property
    def exit_code(self) -> ExitCode:
        """The exit code of ``tradecredit run`` for this report (README, "Exit codes")."""
        if self.status == "locked":
            return ExitCode.LOCKED
        if self.status in ("failed", "abandoned"):  # abandoned: lost its lease, or stopped by the service
            return _KIND_EXIT[self.error_kind or "error"]
        if self.status == "partial":
            return ExitCode.PARTIAL
        return ExitCode.OK

    def to_json(self) -> str:
        return mask(self.model_dump_json(indent=2))

    def note(self, name: ListName, entry: Problem | str) -> None:
        """Add ``entry`` to the list ``name``, or only count it once the list holds ``REPORT_LIST_LIMIT``."""
        entries: list[Any] = getattr(self, name)
        if len(entries) < REPORT_LIST_LIMIT:
            entries.append(entry)
        else:
            setattr(self, f"{name}_truncated", getattr(self, f"{name}_truncated") + 1)

    def total(self, name: ListName) -> int:
        """Every entry of the list ``name``: those kept and those only counted."""
        return len(getattr(self, name)) + int(getattr(self, f"{name}_truncated"))


def exit_code_for(outcomes: Iterable[RunReport | BaseException]) -> ExitCode:
    """The most severe exit code of several runs (reports, or errors that stopped a run before it had one)."""
    codes = [o.exit_code if isinstance(o, RunReport) else exit_code_for_error(o) for o in outcomes]
    return max(codes, key=_SEVERITY.index, default=ExitCode.OK)


def text_table(rows: Sequence[tuple[object, ...]], header: tuple[str, ...]) -> list[str]:
    """A plain-text table: a header line, a rule, one line per row, columns padded to their widest cell."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return out


def render_text(report: RunReport, *, limit: int = 20) -> str:
    """A readable report for a credit controller: summary first, then every problem (first ``limit``)."""
    c = report.counts
    if report.dry_run:
        kind = "DRY RUN — nothing was written"
    else:
        kind = f"run #{report.run_id}" if report.run_id is not None else "not started"
    route = f" ({report.source} → {report.target})" if report.source and report.target else ""
    lines = [f"Pipeline {report.pipeline}{route}, {kind}"]
    if report.status in ("failed", "locked", "abandoned") and not report.durations:
        # Stopped before reading anything (config, lock, state store): a table of zeros would only mislead.
        lines.append(f"status: {report.status.upper()}")
    else:
        lines += [
            f"ERP data as of {report.as_of:%Y-%m-%d %H:%M:%S %Z}; status: {report.status.upper()}",
            "",
            *text_table(
                [
                    ("read from the ERP", str(c.read)),
                    ("rejected (bad data; reasons below)", str(c.rejected)),
                    ("not representable by the shop (unsupported)", str(c.unsupported)),
                    ("no account in the shop", str(c.unmatched)),
                    ("unchanged since last confirmed write", str(c.unchanged)),
                    ("to write" if report.dry_run else "sent", str(c.to_write)),
                    ("confirmed by the shop", str(c.written)),
                    ("failed (retried next run)", str(c.failed)),
                ],
                ("customers", "count"),
            ),
        ]
    if report.billing is not None:
        b = report.billing
        lines += ["", f"Billing data: {b.read} read, {b.rejected} rejected, {b.unchanged} unchanged, "
                      f"{b.to_write} {'to write' if report.dry_run else 'sent'}, {b.written} confirmed, "
                      f"{b.warnings} warning(s)"]
    if report.degraded_modes:
        lines += ["", "Control modes the target cannot enforce natively:"]
        lines += [f"  {k}: {v} customer(s)" for k, v in sorted(report.degraded_modes.items())]
    lists: tuple[tuple[str, ListName], ...] = (
        ("Rejected", "rejected"), ("Unsupported by the shop (not written, not an error)", "unsupported"),
        ("Failed writes", "failed"))
    for title, name in lists:
        problems: list[Problem] = getattr(report, name)
        if problems:
            lines += ["", f"{title} ({report.total(name)}), by reason:"]
            if report.total(name) > len(problems):
                lines.append(f"  (the first {len(problems)} of them; the audit trail has every customer)")
            lines += _by_reason(problems, limit)
    held = [p for p in (*report.rejected, *report.unsupported) if p.shop_holds]
    if held:
        lines += ["", f"Not in step: the shop still holds older values for {len(held)} of them (last confirmed):"]
        lines += [f"  {p.code}: {held_text(p.shop_holds or {})}" for p in held[:limit]]
        if len(held) > limit:
            lines.append(f"  … and {len(held) - limit} more (use --json for all)")
    if report.unmatched:
        shown = ", ".join(report.unmatched[:limit])
        hidden = report.total("unmatched") - min(limit, len(report.unmatched))
        more = f" … and {hidden} more" if hidden > 0 else ""
        lines += ["", f"No shop account for: {shown}{more}"]
    if report.plan:
        if report.dry_run:
            lines += [
                "",
                f"Planned changes ({len(report.plan)} field(s)). \"before\" is what the shop holds, as far as we know:",
                "  (ledger) = last value the shop confirmed to tradecredit; (shop now) = read from the shop for this",
                "  preview; ? = unknown (not in the ledger, and the shop did not say)",
            ]
        else:
            lines += [
                "",
                f"Written and confirmed by the shop ({len(report.plan) + report.plan_omitted} field(s)). \"before\" is "
                "the value the shop",
                "  had confirmed before this run (ledger); ? = never confirmed by this pipeline",
            ]
        rows = [(p.code, p.field if p.kind == "credit" else f"{p.field} ({p.kind})", before_text(p), _fmt(p.new),
                 p.reason or "") for p in report.plan[: limit * 5]]
        after = "after sync" if report.dry_run else "written"
        lines += ["  " + r for r in text_table(rows, ("customer", "field", "before", after, "why (reason code)"))]
        unshown = max(0, len(report.plan) - limit * 5) + report.plan_omitted
        if unshown > 0:
            lines.append(f"  … {unshown} more" + (" (use --json for all)" if not report.plan_omitted else
                                                " (`state history --run` lists every one)"))
    if report.warnings:
        lines += ["", "Warnings:"] + [f"  {w}" for w in report.warnings]
    if report.durations:
        lines += ["", "Durations: " + ", ".join(f"{k} {v:.2f}s" for k, v in report.durations.items())]
    if report.error:
        lines += ["", f"Error: {report.error}"]
    return mask("\n".join(lines))


def _by_reason(problems: list[Problem], limit: int) -> list[str]:
    """Group problems that share a reason: a credit controller reads 3 reasons, not 300 lines."""
    groups: dict[str, list[Problem]] = {}
    for p in problems:
        groups.setdefault(p.reason, []).append(p)
    lines = []
    for reason, group in sorted(groups.items(), key=lambda kv: -len(kv[1]))[:limit]:
        codes = ", ".join(p.code or f"ERP id {p.erp_id or '?'}" for p in group[:10])
        more = f" … and {len(group) - 10} more" if len(group) > 10 else ""
        lines += [f"  {len(group)}× {reason}", f"      {codes}{more}"]
    if len(groups) > limit:
        lines.append(f"  … {len(groups) - limit} more reasons (use --json for all)")
    return lines


def _fmt(value: Any) -> str:
    return "—" if value is None else str(value)


def held_text(payload: dict[str, Any]) -> str:
    """``field = value, …`` of a payload the shop confirmed (for "the shop still holds …" lines)."""
    return ", ".join(f"{k} = {_fmt(v)}" for k, v in sorted(payload.items()))


def render_change(change: dict[str, Any]) -> str:
    """One audit change (``core.book.changes``): ``field: old → new (reason)``; ``?`` for a never confirmed old."""
    before = _fmt(change.get("old")) if change.get("known_old", True) else "?"
    why = f" ({change['reason']})" if change.get("reason") else ""
    return f"{change['field']}: {before} → {_fmt(change.get('new'))}{why}"


_SOURCE_MARK = {"ledger": "(ledger)", "shop": "(shop now)"}


def before_text(change: PlannedChange) -> str:
    """The plan's "before" value with where it came from: last confirmed by us, read from the shop now, or ?."""
    if change.old_source is None:
        return "?"
    return f"{_fmt(change.old)} {_SOURCE_MARK[change.old_source]}"
