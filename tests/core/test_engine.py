"""The engine's rules, case by case from both seeds, plus property tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tradecredit.core import engine as e
from tradecredit.core.engine import Outcome, PaymentForm, Reason
from tradecredit.core.records import ControlMode, CreditRecord, LimitState

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
D = Decimal


def rec(limit="1000.00", used="0.00", overdue="0.00", overdue_limit=None, mode=ControlMode.BLOCK,
        state=LimitState.LIMITED, business=True, as_of=NOW, currency="PLN") -> CreditRecord:
    return CreditRecord(
        source="t", erp_id="1", code="K1", is_business=business, limit_state=state,
        credit_limit=D(limit) if state is LimitState.LIMITED else None, used=D(used), overdue=D(overdue),
        overdue_limit=None if overdue_limit is None else D(overdue_limit), control_mode=mode, as_of=as_of,
        currency=currency,
    )


# --- seed 001, line by line ------------------------------------------------------------------------------
# Each row: the seed's statement (our paraphrase), then a case that shows it. Record: limit 1000, used 900 unless
# the row says otherwise; 100.00 reaches the limit exactly (not over), 200.00 goes over it.
SEED_001_LINES = [
    # "brak / Zezwalaj: after the limit is exceeded no action is taken, the customer orders normally"
    ("brak: over the limit, order goes through", dict(mode=ControlMode.ALLOW), "200.00", PaymentForm.TRANSFER,
     Outcome.ALLOW, (Reason.LIMIT_EXCEEDED, Reason.MODE_ALLOW), None, None),
    # "ostrzeżenie / Ostrzegaj: a warning about the exceeded limit appears; the customer can still order"
    ("ostrzeżenie: over the limit, warned", dict(mode=ControlMode.WARN), "200.00", PaymentForm.TRANSFER,
     Outcome.WARN, (Reason.LIMIT_EXCEEDED,), e.WARN_MESSAGE_PL, e.WARN_MESSAGE_EN),
    # "blokada / Blokuj: after the limit is exceeded the customer cannot place the order"
    ("blokada: over the limit, refused", dict(mode=ControlMode.BLOCK), "200.00", PaymentForm.TRANSFER,
     Outcome.BLOCK, (Reason.LIMIT_EXCEEDED,), e.BLOCK_MESSAGE_PL, e.BLOCK_MESSAGE_EN),
    # the modes act only "po przekroczeniu limitu": within the limit every mode lets the order through
    ("ostrzeżenie: exactly at the limit, no warning", dict(mode=ControlMode.WARN), "100.00", PaymentForm.TRANSFER,
     Outcome.ALLOW, (Reason.WITHIN_LIMIT,), None, None),
    ("blokada: exactly at the limit, placed", dict(mode=ControlMode.BLOCK), "100.00", PaymentForm.TRANSFER,
     Outcome.ALLOW, (Reason.WITHIN_LIMIT,), None, None),
    # "limits are checked for orders with a payment form of type przelew"; "customers can still order with
    # non-deferred forms (gotówka, płatności online)"
    ("blokada: over the limit, cash goes through", dict(mode=ControlMode.BLOCK), "200.00", PaymentForm.CASH,
     Outcome.ALLOW, (Reason.NOT_DEFERRED,), None, None),
    ("blokada: over the limit, online payment goes through", dict(mode=ControlMode.BLOCK), "200.00",
     PaymentForm.ONLINE, Outcome.ALLOW, (Reason.NOT_DEFERRED,), None, None),
    # "Limit przeterminowanych płatności: the maximum overdue amount up to which the customer may buy"
    ("blokada: overdue above its limit, refused although credit is left",
     dict(mode=ControlMode.BLOCK, used="0.00", overdue="300.01", overdue_limit="300.00"), "10.00",
     PaymentForm.TRANSFER, Outcome.BLOCK, (Reason.WITHIN_LIMIT, Reason.OVERDUE_EXCEEDED), e.BLOCK_MESSAGE_PL,
     e.BLOCK_MESSAGE_EN),
    ("ostrzeżenie: overdue exactly at its limit, no warning",
     dict(mode=ControlMode.WARN, used="0.00", overdue="300.00", overdue_limit="300.00"), "10.00",
     PaymentForm.TRANSFER, Outcome.ALLOW, (Reason.WITHIN_LIMIT,), None, None),
    # "limits are set on the card of a customer with the status podmiot gospodarczy"
    ("blokada: a private customer is never restricted", dict(mode=ControlMode.BLOCK, business=False), "200.00",
     PaymentForm.TRANSFER, Outcome.ALLOW, (Reason.NOT_BUSINESS,), None, None),
]


@pytest.mark.parametrize(("case", "fields", "amount", "form", "outcome", "reasons", "pl", "en"), SEED_001_LINES,
                         ids=[row[0] for row in SEED_001_LINES])
def test_seed_001_line_by_line(case, fields, amount, form, outcome, reasons, pl, en):
    record = rec(**{"limit": "1000.00", "used": "900.00", **fields})
    d = e.decide_checkout(record, D(amount), form, now=NOW)
    assert (d.outcome, d.reasons, d.message_pl, d.message_en) == (outcome, reasons, pl, en)


def test_seed_001_messages_are_verbatim():
    assert e.BLOCK_MESSAGE_PL == (
        "Twój limit płatności został przekroczony. Nie możesz złożyć zamówienie z odroczoną formą płatności "
        "(Przelew). Celem wyjaśnienia skontaktuj się ze swoim opiekunem."
    )
    assert e.WARN_MESSAGE_PL == "Twój limit płatności został przekroczony."
    assert e.WARN_MESSAGE_EN == "Your payment limit has been exceeded."
    assert e.BLOCK_MESSAGE_EN.startswith(e.WARN_MESSAGE_EN) and "(bank transfer)" in e.BLOCK_MESSAGE_EN


@pytest.mark.parametrize("form", [PaymentForm.CASH, PaymentForm.ONLINE])
def test_seed_001_cash_and_online_are_never_restricted(form):
    d = e.decide_checkout(rec(limit="0.00", used="5000.00", overdue="99.00", overdue_limit="0.00"), D("1e6"), form)
    assert d.outcome is Outcome.ALLOW and d.reasons == (Reason.NOT_DEFERRED,) and d.message_pl is None


def test_seed_001_overdue_limit_breach_triggers_the_mode_alone():
    record = rec(limit="10000.00", used="0.00", overdue="500.01", overdue_limit="500.00", mode=ControlMode.BLOCK)
    d = e.decide_checkout(record, D("1.00"), PaymentForm.TRANSFER)
    assert d.outcome is Outcome.BLOCK
    assert Reason.OVERDUE_EXCEEDED in d.reasons and Reason.WITHIN_LIMIT in d.reasons


def test_seed_001_limits_apply_only_to_business_entities():
    d = e.decide_checkout(rec(limit="0.00", business=False), D("10.00"), PaymentForm.TRANSFER)
    assert d.outcome is Outcome.ALLOW and d.reasons == (Reason.NOT_BUSINESS,)


def test_numeric_mode_codes_go_through_a_table():
    assert e.mode_from_code(2, {0: ControlMode.ALLOW, 2: ControlMode.BLOCK}) is ControlMode.BLOCK
    with pytest.raises(ValueError, match="not in the configured table"):
        e.mode_from_code(7, {0: ControlMode.ALLOW})


# --- seed 000, line by line ------------------------------------------------------------------------------
# "When judging whether a new order may be added, the shop counts both the balance transferred from Optima
# and the balance of shop orders not yet transferred to Optima." Limit 1000 in every row.
SEED_000_LINES = [
    # (case, used (balance from the ERP), pending (shop orders not in the ERP yet), order, outcome, available)
    ("ERP balance alone, order fits exactly", "600.00", "0.00", "400.00", Outcome.ALLOW, "400.00"),
    ("ERP balance alone, one grosz over", "600.00", "0.00", "400.01", Outcome.BLOCK, "400.00"),
    ("pending shop orders count too, fits exactly", "600.00", "300.00", "100.00", Outcome.ALLOW, "100.00"),
    ("pending shop orders count too, over", "600.00", "300.00", "100.01", Outcome.BLOCK, "100.00"),
    ("once the ERP booked the orders they are in the balance, not pending", "900.00", "0.00", "100.00",
     Outcome.ALLOW, "100.00"),
    ("pending orders alone can use up the limit", "0.00", "1000.00", "0.01", Outcome.BLOCK, "0.00"),
]


@pytest.mark.parametrize(("case", "used", "pending", "order", "outcome", "left"), SEED_000_LINES,
                         ids=[row[0] for row in SEED_000_LINES])
def test_seed_000_line_by_line(case, used, pending, order, outcome, left):
    record = rec(limit="1000.00", used=used, mode=ControlMode.BLOCK)
    assert e.available(record, pending=D(pending)) == D(left)
    d = e.decide_checkout(record, D(order), PaymentForm.TRANSFER, pending=D(pending), now=NOW)
    assert d.outcome is outcome


def test_three_limit_states_stay_distinct():
    none = e.decide_checkout(rec(state=LimitState.NONE), D("1e6"), PaymentForm.TRANSFER)
    unlimited = e.decide_checkout(rec(state=LimitState.UNLIMITED), D("1e6"), PaymentForm.TRANSFER)
    zero = e.decide_checkout(rec(limit="0.00"), D("0.01"), PaymentForm.TRANSFER)
    assert none.reasons == (Reason.NO_LIMIT,) and none.outcome is Outcome.ALLOW
    assert unlimited.reasons == (Reason.UNLIMITED,) and unlimited.outcome is Outcome.ALLOW
    assert zero.reasons == (Reason.LIMIT_EXCEEDED,) and zero.outcome is Outcome.BLOCK
    assert e.available(rec(state=LimitState.NONE)) is None
    assert e.available(rec(limit="0.00")) == D("0.00")


def test_stale_data_is_flagged_and_follows_the_fallback():
    old = rec(as_of=NOW - timedelta(hours=30), used="0.00")
    d = e.decide_checkout(old, D("10.00"), PaymentForm.TRANSFER, now=NOW)
    assert d.stale and Reason.STALE_DATA in d.reasons and d.outcome is Outcome.ALLOW
    policy = e.StalePolicy(max_age=timedelta(hours=24), fallback=e.StaleFallback.BLOCK)
    d = e.decide_checkout(old, D("10.00"), PaymentForm.TRANSFER, now=NOW, stale_policy=policy)
    # nothing was exceeded: the customer is told the data is old, not that the limit was exceeded
    assert d.outcome is Outcome.BLOCK and d.message_pl == e.STALE_BLOCK_MESSAGE_PL
    over = e.decide_checkout(old, D("999999.00"), PaymentForm.TRANSFER, now=NOW, stale_policy=policy)
    assert over.outcome is Outcome.BLOCK and over.message_pl == e.BLOCK_MESSAGE_PL
    warn = e.StalePolicy(max_age=timedelta(hours=24), fallback=e.StaleFallback.WARN)
    d = e.decide_checkout(old, D("10.00"), PaymentForm.TRANSFER, now=NOW, stale_policy=warn)
    assert d.outcome is Outcome.WARN and d.message_en == e.STALE_WARN_MESSAGE_EN
    fresh = e.decide_checkout(rec(), D("10.00"), PaymentForm.TRANSFER, now=NOW, stale_policy=policy)
    assert not fresh.stale


# --- storefront view (seed 001: header shows each value only when > 0) -------------------------------------
def test_storefront_header_shows_only_positive_values():
    v = e.storefront_view(rec(limit="5000.00", used="1200.00", overdue="0.00", overdue_limit="300.00"))
    assert (v.header_granted, v.header_remaining, v.header_overdue) == (D("5000.00"), D("3800.00"), None)
    assert (v.zone_available, v.zone_overdue_limit) == (D("3800.00"), D("300.00"))
    exhausted = e.storefront_view(rec(limit="1000.00", used="1500.00", overdue="250.00"))
    assert exhausted.header_remaining is None and exhausted.header_overdue == D("250.00")
    assert exhausted.zone_available == D("-500.00")


def test_storefront_hides_everything_for_private_customers_and_when_switched_off():
    assert not e.storefront_view(rec(business=False)).visible
    assert not e.storefront_view(rec(), feature_enabled=False).visible


def test_format_pln():
    from tradecredit.core.money import format_pln

    nbsp = "\u00a0"
    assert format_pln(D("12345.67")) == f"12{nbsp}345,67{nbsp}zł"
    assert format_pln(D("-5")) == f"-5,00{nbsp}zł"
    assert format_pln(D("1234567.8"), "EUR") == f"1{nbsp}234{nbsp}567,80{nbsp}EUR"


# --- mode degradation ---------------------------------------------------------------------------------------
def test_degradation_default_policy_and_override():
    only_block = {ControlMode.BLOCK}
    assert not e.degrade_mode(ControlMode.BLOCK, only_block).degraded
    warn = e.degrade_mode(ControlMode.WARN, {ControlMode.ALLOW, ControlMode.BLOCK})
    assert warn.effective is ControlMode.ALLOW and warn.degraded and "enforced as allow" in warn.describe()
    both = {ControlMode.ALLOW, ControlMode.BLOCK}
    strict = e.degrade_mode(ControlMode.WARN, both, {ControlMode.WARN: ControlMode.BLOCK})
    assert strict.effective is ControlMode.BLOCK
    assert e.degrade_mode(ControlMode.WARN, only_block).effective is ControlMode.BLOCK
    with pytest.raises(ValueError, match="enforces only block"):
        e.degrade_mode(ControlMode.WARN, only_block, {ControlMode.WARN: ControlMode.ALLOW})


# --- properties ---------------------------------------------------------------------------------------------
money = st.decimals(min_value=0, max_value=10**9, places=2, allow_nan=False, allow_infinity=False)
records = st.builds(
    rec,
    limit=money.map(str), used=money.map(str), overdue=money.map(str),
    overdue_limit=st.none() | money.map(str), mode=st.sampled_from(list(ControlMode)),
    state=st.sampled_from(list(LimitState)), business=st.booleans(),
)


@given(record=records, amount=money, pending=money, form=st.sampled_from([PaymentForm.CASH, PaymentForm.ONLINE]))
def test_property_cash_and_online_never_restricted(record, amount, pending, form):
    assert e.decide_checkout(record, amount, form, pending).outcome is Outcome.ALLOW


@given(record=records, a=money, b=money, pending=money, form=st.sampled_from(list(PaymentForm)))
def test_property_never_more_permissive_as_the_amount_grows(record, a, b, pending, form):
    small, large = sorted((a, b))
    d_small = e.decide_checkout(record, small, form, pending)
    d_large = e.decide_checkout(record, large, form, pending)
    severity = list(Outcome)  # allow < warn < block
    assert severity.index(d_large.outcome) >= severity.index(d_small.outcome)


@given(x=st.floats(allow_nan=True, allow_infinity=True))
def test_property_no_float_ever_touches_money(x):
    from tradecredit.core.money import MoneyError, to_money

    with pytest.raises(MoneyError):
        to_money(x)
    with pytest.raises(ValueError, match="float"):
        CreditRecord(source="t", erp_id="1", code="K1", is_business=True, limit_state=LimitState.LIMITED,
                     credit_limit=x, as_of=NOW)


@given(record=records, amount=money, pending=money)
def test_property_decision_amounts_are_exact_decimals(record, amount, pending):
    d = e.decide_checkout(record, amount, PaymentForm.TRANSFER, pending)
    for value in (d.available_before, d.available_after):
        assert value is None or (isinstance(value, Decimal) and value == value.quantize(D("0.01")))


# --- effective_credit: every value with its reason (issue 10) ------------------------------------------------
V = e.ValueReason


@pytest.mark.parametrize(
    ("record", "policy", "mode", "limit", "shop_limit", "shop_debt", "reasons"),
    [
        (rec(limit="500.00", used="100.00"), e.CreditPolicy(), None, "500.00", "500.00", "100.00",
         (V.FROM_ERP, V.FROM_ERP, V.FROM_ERP)),
        (rec(state=LimitState.LAPSED, used="100.00"), e.CreditPolicy(), None, "0.00", "0.00", "100.00",
         (V.ZERO_BECAUSE_LAPSED, V.ZERO_BECAUSE_LAPSED, V.FROM_ERP)),
        (rec(state=LimitState.LAPSED), e.CreditPolicy(lapsed_limit=e.LapsedPolicy.NO_LIMIT), None, None, None,
         "0.00", (V.LAPSED_AS_NO_LIMIT, V.LAPSED_AS_NO_LIMIT, V.FROM_ERP)),
        (rec(state=LimitState.NONE), e.CreditPolicy(), None, None, None, "0.00",
         (V.NO_LIMIT_GRANTED, V.NO_LIMIT_GRANTED, V.FROM_ERP)),
        (rec(state=LimitState.NONE), e.CreditPolicy(no_limit=e.NoLimitPolicy.NO_CREDIT), None, "0.00", "0.00",
         "0.00", (V.ZERO_NO_LIMIT, V.ZERO_NO_LIMIT, V.FROM_ERP)),
        (rec(state=LimitState.UNLIMITED), e.CreditPolicy(), None, None, None, "0.00",
         (V.UNLIMITED, V.UNLIMITED, V.FROM_ERP)),
        # the overdue block with a prepayment: no credit left by limit − debt − pending
        (rec(used="-300.00", overdue="50.00", overdue_limit="10.00"), e.CreditPolicy(), None, "1000.00", "0.00",
         "0.00", (V.FROM_ERP, V.BLOCKED_BY_OVERDUE, V.BLOCKED_BY_OVERDUE)),
        (rec(used="300.00", overdue="50.00", overdue_limit="10.00"), e.CreditPolicy(), None, "1000.00", "0.00",
         "300.00", (V.FROM_ERP, V.BLOCKED_BY_OVERDUE, V.FROM_ERP)),
        (rec(used="300.00", overdue="50.00", overdue_limit="10.00"), e.CreditPolicy(), ControlMode.ALLOW, "1000.00",
         None, "300.00", (V.FROM_ERP, V.MODE_ALLOW_NO_CAP, V.FROM_ERP)),
    ],
)
def test_effective_credit_values_and_reasons(record, policy, mode, limit, shop_limit, shop_debt, reasons):
    got = e.effective_credit(record, policy, mode=mode)
    as_money = lambda v: None if v is None else D(v)  # noqa: E731
    assert (got.limit, got.shop_limit, got.shop_debt) == (as_money(limit), as_money(shop_limit), D(shop_debt))
    assert (got.limit_reason, got.shop_limit_reason, got.shop_debt_reason) == reasons
    assert got.reasons() == {"limit": reasons[0].value, "shop_limit": reasons[1].value, "shop_debt": reasons[2].value}


def test_a_lapsed_limit_is_decided_as_a_limit_of_0_with_its_own_reason():
    d = e.decide_checkout(rec(state=LimitState.LAPSED), D("0.01"), PaymentForm.TRANSFER)
    assert d.outcome is Outcome.BLOCK and d.reasons == (Reason.LIMIT_LAPSED, Reason.LIMIT_EXCEEDED)
    assert d.limit_reason is V.ZERO_BECAUSE_LAPSED and d.available_before == D("0.00")
    view = e.storefront_view(rec(state=LimitState.LAPSED, used="20.00"))
    assert (view.zone_available, view.header_granted, view.limit_reason) == (D("-20.00"), None, V.ZERO_BECAUSE_LAPSED)
    assert e.decide_checkout(rec(state=LimitState.NONE), D("1e6"), PaymentForm.TRANSFER).allowed


def test_order_totals_vat_per_rate_on_the_net_sum():
    t = e.order_totals([(D("0.05"), 3, D(23)), (D("3999.00"), 1, D(23)), (D("10.00"), 1, D(0))])
    assert (t.net, t.vat, t.gross) == (D("4009.15"), D("919.80"), D("4928.95"))  # 23 % of 3 999,15 = 919,8045
    assert [r[0] for r in t.by_rate] == [D(0), D(23)]
    assert e.gross_of(D("3999.00"), D(23)) == D("4918.77")
    with pytest.raises(ValueError, match="negative"):
        e.order_totals([(D("1.00"), 1, D(-5))])
