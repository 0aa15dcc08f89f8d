"""The credit controller's facts: what the engine decided for a customer, kept with every audit row that wrote it.

``credit_facts`` turns a record and its ``EffectiveCredit`` into plain JSON (amounts as strings) so that the audit
trail, ``tradecredit customers``/``history``/``explain`` and the web console all show the same verdict without
re-reading the ERP. ``changes`` are the old → new rows of one write. No I/O here.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from .engine import EffectiveCredit, ValueReason
from .records import CreditRecord, decimal_or_none

CREDIT_KEYS = ("name", "is_business", "currency", "limit_state", "credit_limit", "used", "overdue", "overdue_limit",
               "control_mode", "mode", "limit", "available", "headroom", "overdue_breached", "blocked", "reasons")
"""The keys of ``credit_facts``, in the order the audit trail stores them (append new ones, never reorder)."""
REASON_KEYS = ("limit", "shop_limit", "shop_debt")
"""The keys of ``EffectiveCredit.reasons()``, in the order the audit trail stores them."""


def credit_facts(record: CreditRecord, effective: EffectiveCredit) -> dict[str, Any]:
    """The ERP values and the engine's verdict on them, as kept in the audit trail (JSON-safe, amounts as text)."""
    available = effective.available(record.used)
    headroom = effective.headroom()
    return {
        "name": record.name,
        "is_business": record.is_business,
        "currency": record.currency,
        "limit_state": record.limit_state.value,
        "credit_limit": decimal_or_none(record.credit_limit),
        "used": decimal_or_none(record.used),
        "overdue": decimal_or_none(record.overdue),
        "overdue_limit": decimal_or_none(record.overdue_limit),
        "control_mode": record.control_mode.value,
        "mode": effective.mode.value,
        "limit": decimal_or_none(effective.limit),
        "available": decimal_or_none(available),
        "headroom": decimal_or_none(headroom),
        "overdue_breached": effective.overdue_breached,
        "blocked": effective.deferred_blocked or (headroom is not None and headroom <= 0),
        "reasons": effective.reasons(),
    }


def changes(
    old: Mapping[str, Any] | None, new: Mapping[str, Any], reasons: Mapping[str, str],
    hidden: frozenset[str] = frozenset(),
) -> list[dict[str, Any]]:
    """The old → new rows of one confirmed write: every key whose value changed (``old`` None: never confirmed)."""
    known = old or {}
    rows = []
    for key in sorted((set(new) | set(known)) - hidden):
        if old is not None and key in known and known[key] == new.get(key):
            continue
        rows.append({"field": key, "old": known.get(key) if old is not None else None, "new": new.get(key),
                     "known_old": old is not None, "reason": reasons.get(key)})
    return rows


def amount(value: Any) -> Decimal | None:
    """A facts amount back to a Decimal (None stays None)."""
    return None if value is None or value == "" else Decimal(str(value))


def utilisation(facts: Mapping[str, Any]) -> Decimal | None:
    """used / limit in percent (None: no limit rule, or a limit of 0 with nothing used)."""
    limit, used = amount(facts.get("limit")), amount(facts.get("used"))
    if limit is None or used is None:
        return None
    if limit == 0:
        return None if used <= 0 else Decimal(100) * 100  # anything used of nothing: off the scale
    return (used * 100 / limit).quantize(Decimal("0.1"))


def reason_of(facts: Mapping[str, Any], value: str) -> ValueReason | None:
    """The ValueReason of ``limit``/``shop_limit``/``shop_debt`` in ``facts``."""
    code = (facts.get("reasons") or {}).get(value)
    try:
        return ValueReason(code) if code else None
    except ValueError:  # a code of a newer tradecredit: shown as is elsewhere
        return None
