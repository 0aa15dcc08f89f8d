"""Every trade-credit business rule, in one module with no I/O.

Plugins and storefronts call these functions; none of them re-implements a rule. See docs/engine.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from .money import ZERO, to_money
from .records import ControlMode, CreditRecord, LimitState

# --- exact customer messages (seed 001, verbatim) ---------------------------------------------------------
BLOCK_MESSAGE_PL = (
    "Twój limit płatności został przekroczony. Nie możesz złożyć zamówienie z odroczoną formą płatności "
    "(Przelew). Celem wyjaśnienia skontaktuj się ze swoim opiekunem."
)
WARN_MESSAGE_PL = "Twój limit płatności został przekroczony."
BLOCK_MESSAGE_EN = (
    "Your payment limit has been exceeded. You cannot place an order with a deferred payment form "
    "(bank transfer). Please contact your account manager."
)
WARN_MESSAGE_EN = "Your payment limit has been exceeded."

# --- our own texts for a fallback on stale data (the seed has none; the limit may not be exceeded at all) ----
STALE_BLOCK_MESSAGE_PL = (
    "Nie możemy teraz potwierdzić Twojego limitu płatności, ponieważ dane z systemu księgowego są nieaktualne. "
    "Nie możesz złożyć zamówienia z odroczoną formą płatności (Przelew). Wybierz inną formę płatności "
    "lub skontaktuj się ze swoim opiekunem."
)
STALE_WARN_MESSAGE_PL = "Dane o Twoim limicie płatności są nieaktualne. Zamówienie sprawdzi Twój opiekun."
STALE_BLOCK_MESSAGE_EN = (
    "We cannot confirm your payment limit right now because the accounting data is out of date. You cannot "
    "place an order with a deferred payment form (bank transfer). Choose another payment form or contact "
    "your account manager."
)
STALE_WARN_MESSAGE_EN = "Your payment limit data is out of date. Your account manager will review the order."

# --- control modes from ERP settings ------------------------------------------------------------------
def mode_from_code(code: int | None, table: Mapping[int, ControlMode]) -> ControlMode:
    """Map a numeric ERP setting onto a mode through a (configurable) code table."""
    if code is None or code not in table:
        known = ", ".join(f"{k}={v.value}" for k, v in sorted(table.items()))
        raise ValueError(f"control-mode code {code!r} is not in the configured table ({known})")
    return table[code]


# --- payment forms ----------------------------------------------------------------------------------------
class PaymentForm(StrEnum):
    TRANSFER = "przelew"  # deferred: bank transfer on invoice terms
    CASH = "gotowka"
    ONLINE = "online"


DEFERRED_FORMS = frozenset({PaymentForm.TRANSFER})


def is_deferred(form: PaymentForm) -> bool:
    """Only deferred payment forms are ever restricted by a credit limit (seed 001)."""
    return form in DEFERRED_FORMS


# --- amounts and rules ------------------------------------------------------------------------------------
def available(record: CreditRecord, pending: Decimal = ZERO) -> Decimal | None:
    """Remaining credit: limit − used − pending. ``None`` when there is no limit to exhaust."""
    if record.limit_state is not LimitState.LIMITED or record.credit_limit is None:
        return None
    return to_money(record.credit_limit - record.used - to_money(pending))


def limit_breached(record: CreditRecord, amount: Decimal = ZERO, pending: Decimal = ZERO) -> bool:
    """A deferred order of ``amount`` is over the limit when used + pending + amount > limit."""
    if record.limit_state is not LimitState.LIMITED or record.credit_limit is None:
        return False
    return record.used + to_money(pending) + to_money(amount) > record.credit_limit


def overdue_breached(record: CreditRecord) -> bool:
    """The overdue rule is breached when overdue > overdue limit (no overdue limit, no rule)."""
    return record.overdue_limit is not None and record.overdue > record.overdue_limit


# --- checkout decision ------------------------------------------------------------------------------------
class Outcome(StrEnum):
    ALLOW = "allow"
    WARN = "warn"
    BLOCK = "block"



class Reason(StrEnum):
    NOT_DEFERRED = "payment_form_not_deferred"
    NOT_BUSINESS = "customer_not_business"
    NO_LIMIT = "no_limit_granted"
    UNLIMITED = "unlimited"
    WITHIN_LIMIT = "within_limit"
    LIMIT_EXCEEDED = "credit_limit_exceeded"
    OVERDUE_EXCEEDED = "overdue_limit_exceeded"
    MODE_ALLOW = "control_mode_allow"
    STALE_DATA = "stale_data"


class StaleFallback(StrEnum):
    DECIDE = "decide"  # decide on the old data, but say it is old
    WARN = "warn"  # let deferred orders through with the warning
    BLOCK = "block"  # refuse deferred orders until fresh data arrives
    ALLOW = "allow"  # let deferred orders through silently


class StalePolicy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    max_age: timedelta | None = timedelta(hours=24)
    fallback: StaleFallback = StaleFallback.DECIDE


class CheckoutDecision(BaseModel):
    model_config = ConfigDict(frozen=True)

    outcome: Outcome
    reasons: tuple[Reason, ...]
    message_pl: str | None
    message_en: str | None
    stale: bool = False
    data_age: timedelta | None = None
    available_before: Decimal | None = None
    available_after: Decimal | None = None

    @property
    def allowed(self) -> bool:
        return self.outcome is not Outcome.BLOCK


def _messages(outcome: Outcome, *, only_stale: bool = False) -> tuple[str | None, str | None]:
    """The customer message; ``only_stale`` when the outcome comes from the stale fallback, not a breach."""
    if outcome is Outcome.BLOCK:
        return (STALE_BLOCK_MESSAGE_PL, STALE_BLOCK_MESSAGE_EN) if only_stale else (BLOCK_MESSAGE_PL, BLOCK_MESSAGE_EN)
    if outcome is Outcome.WARN:
        return (STALE_WARN_MESSAGE_PL, STALE_WARN_MESSAGE_EN) if only_stale else (WARN_MESSAGE_PL, WARN_MESSAGE_EN)
    return None, None


def is_stale(as_of: datetime, now: datetime | None, policy: StalePolicy) -> bool:
    """Data is stale when it is older than the policy's maximum age (never, without a clock or a maximum)."""
    return now is not None and policy.max_age is not None and now - as_of > policy.max_age


def decide_checkout(
    record: CreditRecord,
    order_amount: Decimal,
    payment_form: PaymentForm,
    pending: Decimal = ZERO,
    *,
    now: datetime | None = None,
    stale_policy: StalePolicy | None = None,
    mode: ControlMode | None = None,
) -> CheckoutDecision:
    """Decide an order at checkout.

    ``pending`` is the value of the customer's deferred-payment shop orders the ERP has not booked yet.
    ``mode`` overrides the record's control mode (a target that had to degrade it passes the effective
    mode). Non-deferred payment forms are never restricted.
    """
    amount = to_money(order_amount)
    pending = to_money(pending)
    policy = stale_policy or StalePolicy()
    age = (now - record.as_of) if now is not None else None
    stale = is_stale(record.as_of, now, policy)
    before = available(record, pending)
    after = None if before is None else to_money(before - amount)
    common = {"stale": stale, "data_age": age, "available_before": before, "available_after": after}

    if not is_deferred(payment_form):
        not_deferred = (Reason.NOT_DEFERRED,) + ((Reason.STALE_DATA,) if stale else ())
        return CheckoutDecision(outcome=Outcome.ALLOW, reasons=not_deferred, message_pl=None, message_en=None, **common)
    if not record.is_business:
        return CheckoutDecision(
            outcome=Outcome.ALLOW, reasons=(Reason.NOT_BUSINESS,), message_pl=None, message_en=None, **common
        )

    reasons: list[Reason] = []
    if record.limit_state is LimitState.NONE:
        reasons.append(Reason.NO_LIMIT)
    elif record.limit_state is LimitState.UNLIMITED:
        reasons.append(Reason.UNLIMITED)
    elif limit_breached(record, amount, pending):
        reasons.append(Reason.LIMIT_EXCEEDED)
    else:
        reasons.append(Reason.WITHIN_LIMIT)
    if overdue_breached(record):
        reasons.append(Reason.OVERDUE_EXCEEDED)
    breached = Reason.LIMIT_EXCEEDED in reasons or Reason.OVERDUE_EXCEEDED in reasons

    effective_mode = mode or record.control_mode
    outcome = Outcome.ALLOW
    if breached:
        outcome = Outcome(effective_mode.value)
        if effective_mode is ControlMode.ALLOW:
            reasons.append(Reason.MODE_ALLOW)

    only_stale = False
    if stale:
        reasons.append(Reason.STALE_DATA)
        if policy.fallback is not StaleFallback.DECIDE:
            only_stale = not breached
            outcome = Outcome(policy.fallback.value)

    pl, en = _messages(outcome, only_stale=only_stale)
    return CheckoutDecision(outcome=outcome, reasons=tuple(reasons), message_pl=pl, message_en=en, **common)


# --- what a storefront shows ------------------------------------------------------------------------------
class StorefrontView(BaseModel):
    """What the page header and the customer zone show (seed 001). Amounts are ``None`` when hidden."""

    model_config = ConfigDict(frozen=True)

    visible: bool
    header_granted: Decimal | None = None
    header_remaining: Decimal | None = None
    header_overdue: Decimal | None = None
    zone_available: Decimal | None = None
    zone_overdue_limit: Decimal | None = None
    currency: str = "PLN"


def _positive(value: Decimal | None) -> Decimal | None:
    return value if value is not None and value > 0 else None


def storefront_view(record: CreditRecord, pending: Decimal = ZERO, *, feature_enabled: bool = True) -> StorefrontView:
    """Header: granted limit, remaining limit, overdue payments, each only when > 0; only for businesses.

    The customer zone shows the available limit and the overdue-payments limit.
    """
    if not feature_enabled or not record.is_business:
        return StorefrontView(visible=False, currency=record.currency)
    remaining = available(record, pending)
    return StorefrontView(
        visible=True,
        header_granted=_positive(record.credit_limit),
        header_remaining=_positive(remaining),
        header_overdue=_positive(record.overdue),
        zone_available=remaining,
        zone_overdue_limit=record.overdue_limit,
        currency=record.currency,
    )


# --- mode degradation -------------------------------------------------------------------------------------
DEFAULT_DEGRADATION: Mapping[ControlMode, tuple[ControlMode, ...]] = {
    # A warning the target cannot show: let the order through (the ERP wanted it to go through).
    ControlMode.WARN: (ControlMode.ALLOW, ControlMode.BLOCK),
    ControlMode.ALLOW: (ControlMode.WARN, ControlMode.BLOCK),
    ControlMode.BLOCK: (ControlMode.WARN, ControlMode.ALLOW),
}


class ModeMapping(BaseModel):
    model_config = ConfigDict(frozen=True)
    requested: ControlMode
    effective: ControlMode

    @property
    def degraded(self) -> bool:
        return self.requested is not self.effective

    def describe(self) -> str:
        if not self.degraded:
            return f"{self.requested.value}: enforced natively"
        return f"{self.requested.value}: not supported by the target, enforced as {self.effective.value}"


def degrade_mode(
    mode: ControlMode,
    native: Iterable[ControlMode],
    policy: Mapping[ControlMode, ControlMode | tuple[ControlMode, ...]] | None = None,
) -> ModeMapping:
    """Map ``mode`` onto what the target can enforce, by ``policy`` (falling back to the default order)."""
    native_set = frozenset(native)
    if not native_set:
        raise ValueError("a target must enforce at least one control mode")
    if mode in native_set:
        return ModeMapping(requested=mode, effective=mode)
    chosen = (policy or {}).get(mode)
    candidates = (chosen,) if isinstance(chosen, ControlMode) else tuple(chosen or ()) or DEFAULT_DEGRADATION[mode]
    for candidate in candidates:
        if candidate in native_set:
            return ModeMapping(requested=mode, effective=candidate)
    raise ValueError(
        f"policy maps {mode.value} to {', '.join(c.value for c in candidates)}, "
        f"but the target enforces only {', '.join(sorted(m.value for m in native_set))}"
    )
