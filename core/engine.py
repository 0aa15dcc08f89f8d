"""Every trade-credit business rule, in one module with no I/O.

Plugins and storefronts call these functions; none of them re-implements a rule. See docs/engine.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from .money import ZERO, round_money, to_money
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


# --- policies -----------------------------------------------------------------------------------------------
class StaleFallback(StrEnum):
    DECIDE = "decide"  # decide on the old data, but say it is old
    WARN = "warn"  # let deferred orders through with the warning
    BLOCK = "block"  # refuse deferred orders until fresh data arrives
    ALLOW = "allow"  # let deferred orders through silently


class StalePolicy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    max_age: timedelta | None = timedelta(hours=24)
    fallback: StaleFallback = StaleFallback.DECIDE


class NoLimitPolicy(StrEnum):
    """What "no limit granted" (``LimitState.NONE``) means at checkout."""

    UNRESTRICTED = "unrestricted"  # limit control is off for the customer: the limit rule does not apply
    NO_CREDIT = "no_credit"  # treated as a limit of 0: no deferred credit


class LapsedPolicy(StrEnum):
    """What a lapsed dated limit (``LimitState.LAPSED``) means at checkout."""

    ZERO = "zero"  # a limit of 0: no deferred credit until a valid limit exists again
    NO_LIMIT = "no_limit"  # treated like "no limit granted" (then ``NoLimitPolicy`` decides)


class CreditPolicy(BaseModel):
    """The configurable part of the rules (``[engine]`` in the config); the same for every target."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    no_limit: NoLimitPolicy = NoLimitPolicy.UNRESTRICTED
    lapsed_limit: LapsedPolicy = LapsedPolicy.ZERO
    stale: StalePolicy = StalePolicy()


DEFAULT_POLICY = CreditPolicy()


# --- what a customer effectively gets ---------------------------------------------------------------------
class ValueReason(StrEnum):
    """Why an effective value is what it is. Stable, documented names (docs/engine.md): reports, audit rows and
    ``explain`` show them; never rename one."""

    FROM_ERP = "from_erp"  # the ERP's own value, as read
    UNLIMITED = "unlimited"  # explicitly unlimited in the ERP (XL nieograniczony): no limit rule
    NO_LIMIT_GRANTED = "no_limit_granted"  # no limit granted and [engine] no_limit = unrestricted: no limit rule
    ZERO_NO_LIMIT = "zero_no_limit"  # no limit granted and [engine] no_limit = no_credit: a limit of 0
    ZERO_BECAUSE_LAPSED = "zero_because_lapsed"  # the dated limit lapsed ([engine] lapsed_limit = zero): 0
    LAPSED_AS_NO_LIMIT = "lapsed_as_no_limit"  # the dated limit lapsed, [engine] lapsed_limit = no_limit
    BLOCKED_BY_OVERDUE = "blocked_by_overdue"  # overdue rule breached under BLOCK: no deferred credit at all
    MODE_ALLOW_NO_CAP = "mode_allow_no_cap"  # the shop enforces ALLOW: orders over the limit go through
    NOT_BUSINESS = "not_business"  # a private customer: credit limits apply to business entities only
    UNSUPPORTED_CURRENCY = "unsupported_currency"  # the target cannot represent the customer's currency


@dataclass(frozen=True, slots=True)
class EffectiveCredit:
    """What a customer effectively gets, with the reason of every value (``effective_credit``).

    ``limit`` is the limit the limit rule applies (``None``: no limit rule). ``shop_limit``/``shop_debt`` are
    what a shop that only knows "limit − debt − pending ≥ order" must hold to let through exactly the deferred
    orders the engine lets through under ``mode`` (``shop_limit`` ``None``: no cap, the target's "unlimited").
    """

    mode: ControlMode
    limit: Decimal | None
    limit_reason: ValueReason
    overdue_breached: bool
    shop_limit: Decimal | None
    shop_limit_reason: ValueReason
    shop_debt: Decimal
    shop_debt_reason: ValueReason

    @property
    def deferred_blocked(self) -> bool:
        """Every deferred order is refused, whatever its amount (the overdue rule under BLOCK)."""
        return self.shop_limit_reason is ValueReason.BLOCKED_BY_OVERDUE

    def available(self, used: Decimal, pending: Decimal = ZERO) -> Decimal | None:
        """Remaining credit by the limit rule: limit − used − pending (``None``: no limit to exhaust)."""
        return None if self.limit is None else to_money(self.limit - used - to_money(pending))

    def headroom(self, pending: Decimal = ZERO) -> Decimal | None:
        """The largest deferred order the customer can place now (``None``: no cap; never below 0)."""
        if self.shop_limit is None:
            return None
        return max(to_money(self.shop_limit - self.shop_debt - to_money(pending)), ZERO)

    def reasons(self) -> dict[str, str]:
        """Field → reason code, for reports (``{"limit": "zero_because_lapsed", …}``)."""
        return {"limit": self.limit_reason.value, "shop_limit": self.shop_limit_reason.value,
                "shop_debt": self.shop_debt_reason.value}


def _limit_rule(record: CreditRecord, policy: CreditPolicy) -> tuple[Decimal | None, ValueReason]:
    """The limit the limit rule applies to ``record`` and why (``None``: the rule does not apply)."""
    state = record.limit_state
    if state is LimitState.LIMITED and record.credit_limit is not None:
        return record.credit_limit, ValueReason.FROM_ERP
    if state is LimitState.UNLIMITED:
        return None, ValueReason.UNLIMITED
    if state is LimitState.LAPSED:
        if policy.lapsed_limit is LapsedPolicy.ZERO:
            return ZERO, ValueReason.ZERO_BECAUSE_LAPSED
        limit, _ = _no_limit(policy)
        return limit, ValueReason.LAPSED_AS_NO_LIMIT
    return _no_limit(policy)


def _no_limit(policy: CreditPolicy) -> tuple[Decimal | None, ValueReason]:
    if policy.no_limit is NoLimitPolicy.NO_CREDIT:
        return ZERO, ValueReason.ZERO_NO_LIMIT
    return None, ValueReason.NO_LIMIT_GRANTED


def effective_credit(
    record: CreditRecord, policy: CreditPolicy | None = None, *, mode: ControlMode | None = None
) -> EffectiveCredit:
    """THE decision of what ``record``'s customer effectively gets; every target and storefront derives from it.

    ``mode`` is the mode the target enforces (after ``degrade_mode``; default: the record's own). Business or
    private is left to the caller: ``decide_checkout`` never restricts private customers, a target whose shop
    has no such notion writes them like businesses (its documented policy).
    """
    policy = policy or DEFAULT_POLICY
    mode = mode or record.control_mode
    limit, limit_reason = _limit_rule(record, policy)
    overdue = overdue_breached(record)
    used = to_money(record.used)
    if mode is ControlMode.BLOCK and overdue:
        # No available credit by the shop's own rule, also when "used" is negative (a prepayment, net payables):
        # limit 0 and a debt of at least 0 leave nothing, whatever the pending orders.
        debt_reason = ValueReason.FROM_ERP if used >= 0 else ValueReason.BLOCKED_BY_OVERDUE
        return EffectiveCredit(mode, limit, limit_reason, overdue, ZERO, ValueReason.BLOCKED_BY_OVERDUE,
                               max(used, ZERO), debt_reason)
    if mode is not ControlMode.BLOCK:
        # ALLOW and WARN let every deferred order through (WARN with the warning): nothing to cap.
        return EffectiveCredit(mode, limit, limit_reason, overdue, None, ValueReason.MODE_ALLOW_NO_CAP, used,
                               ValueReason.FROM_ERP)
    return EffectiveCredit(mode, limit, limit_reason, overdue, limit, limit_reason, used, ValueReason.FROM_ERP)


# --- amounts and rules ------------------------------------------------------------------------------------
def available(record: CreditRecord, pending: Decimal = ZERO, policy: CreditPolicy | None = None) -> Decimal | None:
    """Remaining credit: limit − used − pending, with the effective limit (a lapsed limit is 0 by default).

    ``None`` when there is no limit to exhaust.
    """
    limit, _ = _limit_rule(record, policy or DEFAULT_POLICY)
    return None if limit is None else to_money(limit - record.used - to_money(pending))


def limit_breached(
    record: CreditRecord, amount: Decimal = ZERO, pending: Decimal = ZERO, policy: CreditPolicy | None = None
) -> bool:
    """A deferred order of ``amount`` is over the limit when used + pending + amount > limit."""
    limit, _ = _limit_rule(record, policy or DEFAULT_POLICY)
    if limit is None:
        return False
    return record.used + to_money(pending) + to_money(amount) > limit


def overdue_breached(record: CreditRecord) -> bool:
    """The overdue rule is breached when overdue > overdue limit (no overdue limit, no rule)."""
    return record.overdue_limit is not None and record.overdue > record.overdue_limit


# --- credit exposure is gross -----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class OrderTotals:
    """An order's net, VAT and gross totals; VAT per rate on the sum of the net values (as on an invoice)."""

    net: Decimal
    vat: Decimal
    gross: Decimal
    by_rate: tuple[tuple[Decimal, Decimal, Decimal, Decimal], ...]  # (rate %, net, vat, gross), rates ascending


def order_totals(lines: Iterable[tuple[Decimal, Decimal | int, Decimal]]) -> OrderTotals:
    """Totals of ``(unit net price, quantity, VAT rate in %)`` lines. Orders count against a limit gross:
    receivables in the ERP are invoice amounts with VAT."""
    nets: dict[Decimal, Decimal] = {}
    for unit, quantity, rate in lines:
        rate = Decimal(rate)
        if rate < 0:
            raise ValueError(f"VAT rate {rate} is negative")
        nets[rate] = nets.get(rate, ZERO) + to_money(unit) * Decimal(quantity)
    by_rate = []
    for rate in sorted(nets):
        net = round_money(nets[rate])
        vat = round_money(net * rate / 100)
        by_rate.append((rate, net, vat, net + vat))
    net = sum((r[1] for r in by_rate), ZERO)
    vat = sum((r[2] for r in by_rate), ZERO)
    return OrderTotals(net=net, vat=vat, gross=net + vat, by_rate=tuple(by_rate))


def gross_of(net: Decimal, vat_rate: Decimal) -> Decimal:
    """The gross value of one net amount at ``vat_rate`` %."""
    return order_totals([(net, 1, vat_rate)]).gross


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
    LIMIT_LAPSED = "limit_lapsed"
    WITHIN_LIMIT = "within_limit"
    LIMIT_EXCEEDED = "credit_limit_exceeded"
    OVERDUE_EXCEEDED = "overdue_limit_exceeded"
    MODE_ALLOW = "control_mode_allow"
    STALE_DATA = "stale_data"


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
    limit_reason: ValueReason = ValueReason.FROM_ERP

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


_STATE_REASON = {
    ValueReason.NO_LIMIT_GRANTED: Reason.NO_LIMIT, ValueReason.ZERO_NO_LIMIT: Reason.NO_LIMIT,
    ValueReason.UNLIMITED: Reason.UNLIMITED, ValueReason.ZERO_BECAUSE_LAPSED: Reason.LIMIT_LAPSED,
    ValueReason.LAPSED_AS_NO_LIMIT: Reason.LIMIT_LAPSED,
}


def decide_checkout(
    record: CreditRecord,
    order_amount: Decimal,
    payment_form: PaymentForm,
    pending: Decimal = ZERO,
    *,
    now: datetime | None = None,
    stale_policy: StalePolicy | None = None,
    mode: ControlMode | None = None,
    policy: CreditPolicy | None = None,
) -> CheckoutDecision:
    """Decide an order at checkout.

    ``order_amount`` and ``pending`` are gross (with VAT: the ERP's receivables are invoice amounts).
    ``pending`` is the value of the customer's deferred-payment shop orders the ERP has not booked yet.
    ``mode`` overrides the record's control mode (a target that had to degrade it passes the effective
    mode). ``policy`` is the ``[engine]`` policy (``stale_policy``, when given, replaces its stale part).
    Non-deferred payment forms are never restricted.
    """
    policy = policy or DEFAULT_POLICY
    stale_rules = stale_policy or policy.stale
    amount = to_money(order_amount)
    pending = to_money(pending)
    effective = effective_credit(record, policy, mode=mode)
    age = (now - record.as_of) if now is not None else None
    stale = is_stale(record.as_of, now, stale_rules)
    before = effective.available(record.used, pending)
    after = None if before is None else to_money(before - amount)
    common = {"stale": stale, "data_age": age, "available_before": before, "available_after": after,
              "limit_reason": effective.limit_reason}

    if not is_deferred(payment_form):
        not_deferred = (Reason.NOT_DEFERRED,) + ((Reason.STALE_DATA,) if stale else ())
        return CheckoutDecision(outcome=Outcome.ALLOW, reasons=not_deferred, message_pl=None, message_en=None, **common)
    if not record.is_business:
        return CheckoutDecision(
            outcome=Outcome.ALLOW, reasons=(Reason.NOT_BUSINESS,), message_pl=None, message_en=None, **common
        )

    reasons: list[Reason] = []
    if effective.limit_reason in _STATE_REASON:
        reasons.append(_STATE_REASON[effective.limit_reason])
    if effective.limit is not None:
        over = record.used + pending + amount > effective.limit
        reasons.append(Reason.LIMIT_EXCEEDED if over else Reason.WITHIN_LIMIT)
    if effective.overdue_breached:
        reasons.append(Reason.OVERDUE_EXCEEDED)
    breached = Reason.LIMIT_EXCEEDED in reasons or Reason.OVERDUE_EXCEEDED in reasons

    outcome = Outcome.ALLOW
    if breached:
        outcome = Outcome(effective.mode.value)
        if effective.mode is ControlMode.ALLOW:
            reasons.append(Reason.MODE_ALLOW)

    only_stale = False
    if stale:
        reasons.append(Reason.STALE_DATA)
        if stale_rules.fallback is not StaleFallback.DECIDE:
            only_stale = not breached
            outcome = Outcome(stale_rules.fallback.value)

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
    limit_reason: ValueReason = ValueReason.FROM_ERP


def _positive(value: Decimal | None) -> Decimal | None:
    return value if value is not None and value > 0 else None


def storefront_view(
    record: CreditRecord, pending: Decimal = ZERO, *, feature_enabled: bool = True, policy: CreditPolicy | None = None
) -> StorefrontView:
    """Header: granted limit, remaining limit, overdue payments, each only when > 0; only for businesses.

    The customer zone shows the available limit (by the effective limit: a lapsed limit leaves 0 − used) and
    the overdue-payments limit; ``limit_reason`` says why the limit is what it is.
    """
    if not feature_enabled or not record.is_business:
        return StorefrontView(visible=False, currency=record.currency)
    limit, reason = _limit_rule(record, policy or DEFAULT_POLICY)
    remaining = None if limit is None else to_money(limit - record.used - to_money(pending))
    return StorefrontView(
        visible=True,
        header_granted=_positive(limit),
        header_remaining=_positive(remaining),
        header_overdue=_positive(record.overdue),
        zone_available=remaining,
        zone_overdue_limit=record.overdue_limit,
        currency=record.currency,
        limit_reason=reason,
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
