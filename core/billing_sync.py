"""The orchestrator's billing kind: its own ledger entries, diff and plan rows, merged into credit's batches.

Kept apart from ``core.sync`` so the credit path stays as it is: ``sync`` calls ``BillingSync`` at four points
(reading, after the credit diff, the dry-run plan, recording a confirmed batch). A customer whose credit and
billing both changed is one item of one request (``OutgoingItem.parts`` says which part each ledger keeps); a
change of one kind never resends the other, because each kind is compared with its own ledger entry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from .adapters import OutgoingItem, Target
from .billing import BILLING, CREDIT, BillingRecord, ledger_target
from .engine import degrade_mode
from .errors import DataError
from .records import CreditRecord, RejectedRow, normalise_code
from .report import BillingCounts, Problem, RunReport
from .secrets import mask
from .state import LedgerEntry, StateStore, dumps

MAX_WARNINGS = 50  # per run: a database of unchecked tax ids must not bury the report's other warnings


@dataclass
class BillingSync:
    """One run's billing data: what the source read, the billing ledger, and the counts."""

    ledger: dict[str, LedgerEntry]  # the billing ledger ({} with --full-refresh)
    confirmed: dict[str, LedgerEntry]  # the whole billing ledger (what the shop still holds)
    records: dict[str, BillingRecord] = field(default_factory=dict)
    rejected: list[Problem] = field(default_factory=list)
    previous: dict[str, dict[str, Any]] = field(default_factory=dict)  # key → last confirmed billing payload
    counts: BillingCounts = field(default_factory=BillingCounts)

    @classmethod
    def start(cls, store: StateStore, pipeline: str, target: str, *, full_refresh: bool) -> BillingSync:
        confirmed = store.load_ledger(pipeline, ledger_target(target, BILLING))
        return cls(ledger={} if full_refresh else confirmed, confirmed=confirmed)

    def take(self, item: object) -> bool:
        """Keep a billing item of the source's stream; False for anything else (credit's)."""
        if isinstance(item, BillingRecord):
            self.records[item.key] = item
            self.counts.read += 1
            return True
        if isinstance(item, RejectedRow) and item.kind == BILLING:
            self.counts.read += 1
            self.rejected.append(Problem(code=item.code, erp_id=item.erp_id, kind=BILLING,
                                         reason=mask(f"billing data: {item.reason}")))
            return True
        return False

    def merge(
        self, report: RunReport, target: Target[Any], records: Mapping[str, CreditRecord],
        matches: Mapping[str, dict[str, Any]], outgoing: list[OutgoingItem], unchanged: Iterable[str] = (),
        reject: Callable[[Problem], None] | None = None,
    ) -> list[OutgoingItem]:
        """Credit's outgoing items with each changed customer's billing part added (or a billing-only item).

        ``unchanged`` are the keys of customers whose credit is unchanged: one sent for its billing data is counted
        as sent, not as unchanged (``counts`` counts customers once). Works on the whole read or on one chunk of
        it at a time: each call takes the billing data of ``records`` and the rejections read since the last call.
        Its rejected customers go to ``reject`` (the run's: report and audit trail), else only to the report.
        """
        credit_unchanged = set(unchanged)
        report.billing = self.counts
        problems, self.rejected = self.rejected, []
        position = {item.key: n for n, item in enumerate(outgoing)}
        result = list(outgoing)
        for key, record in records.items():
            billing = self.records.pop(key, None)
            if billing is None or record.code not in matches:
                continue  # no billing data (its billing row was rejected: reported) or no shop account (reported)
            for warning in billing.warnings:
                if self.counts.warnings < MAX_WARNINGS:
                    report.warnings.append(mask(f"{billing.code}: billing data: {warning}"))
                self.counts.warnings += 1
            match = matches[record.code]
            try:
                part = target.billing_payload(billing, match)
            except (ValueError, DataError) as exc:
                problems.append(Problem(code=billing.code, erp_id=billing.erp_id, kind=BILLING,
                                        reason=mask(f"billing data: {exc}")))
                continue
            previous = self.ledger.get(key)
            if previous is not None and previous.payload_text == dumps(part):
                self.counts.unchanged += 1
                continue
            if previous is not None:
                self.previous[key] = previous.payload
            self.counts.to_write += 1
            if key in position:
                item = result[position[key]]
                result[position[key]] = item.model_copy(update={
                    "payload": {**item.payload, **part}, "parts": {CREDIT: item.payload, BILLING: part},
                    "billing": billing,
                })
            else:
                mode = degrade_mode(record.control_mode, target.supported_modes(), target.mode_policy())
                result.append(OutgoingItem(key=key, code=record.code, payload=part, match=match, record=record,
                                           mode=mode, parts={BILLING: part}, billing=billing))
                if key in credit_unchanged:
                    report.counts.unchanged -= 1
        if self.counts.warnings > MAX_WARNINGS:
            report.warnings.append(f"… and {self.counts.warnings - MAX_WARNINGS} more billing data warnings")
        for problem in problems:
            entry = self.confirmed.get(normalise_code(problem.code)) if problem.code else None
            if entry is not None:
                problem.shop_holds = entry.payload
        self.counts.rejected += len(problems)
        for problem in problems:  # the run's ``reject`` also records it in the audit trail
            (reject or partial(report.note, "rejected"))(problem)
        report.counts.rejected = report.total("rejected")
        return result


def split_written(item: OutgoingItem, written: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """kind → what that kind's ledger keeps of a confirmed item (``written`` may differ from the payload when the
    target re-addressed the customer: its values win)."""
    return {kind: {k: written.get(k, v) for k, v in part.items()} for kind, part in item.kind_parts().items()}


def outcome_key(problem: Problem) -> str | None:
    """The audit trail's identity of a sticky outcome: billing's is its own, beside the customer's credit one."""
    if problem.kind == CREDIT or not problem.code:
        return None
    return f"{problem.kind}:{normalise_code(problem.code)}"
