"""The record model: money, currency and limit-state rules; bad rows become RejectedRows with reasons."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from tradecredit import CreditRecord, LimitState, RejectedRow, record_or_rejection
from tradecredit.core.money import MoneyError, to_currency, to_money
from tradecredit.core.records import normalise_code

NOW = datetime(2026, 11, 22, tzinfo=UTC)
BASE = {"is_business": True, "limit_state": LimitState.LIMITED, "credit_limit": Decimal("10.00"), "as_of": NOW}


def test_money_is_exact_and_two_decimals():
    assert to_money("12,50") == Decimal("12.50")
    assert to_money(Decimal("3.1000")) == Decimal("3.10")
    assert to_money(7) == Decimal("7.00")
    with pytest.raises(MoneyError, match="more than two decimal places"):
        to_money(Decimal("1.005"))
    with pytest.raises(MoneyError, match="float"):
        to_money(0.1)
    with pytest.raises(MoneyError, match="not finite"):
        to_money(Decimal("NaN"))


def test_currency_is_iso_4217():
    assert to_currency(" eur ") == "EUR"
    for bad in ("XYZ", "PL", "", "złoty"):
        with pytest.raises(ValueError, match="ISO 4217"):
            to_currency(bad)


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"credit_limit": Decimal("-1.00")}, "credit_limit -1.00 is negative"),
        ({"credit_limit": None}, "credit_limit is required"),
        ({"credit_limit": Decimal("1.234")}, "more than two decimal places"),
        ({"currency": "ABC"}, "not an ISO 4217 code"),
        ({"used": 1.5}, "float"),
        ({"limit_state": LimitState.UNLIMITED}, "credit_limit must be empty"),
        ({"as_of": datetime(2026, 1, 1)}, "timezone-aware"),
    ],
)
def test_bad_rows_become_rejections_with_their_reason(fields, reason):
    row = record_or_rejection("src", 42, "K1", **{**BASE, **fields})
    assert isinstance(row, RejectedRow)
    assert reason in row.reason and row.erp_id == "42" and row.code == "K1"


def test_every_problem_of_a_row_is_reported_at_once():
    row = record_or_rejection("src", 1, "K1", **{**BASE, "currency": "ABC", "used": Decimal("0.001")})
    assert isinstance(row, RejectedRow)
    assert "currency" in row.reason and "used" in row.reason


def test_json_keeps_money_exact():
    r = CreditRecord(source="s", erp_id="1", code="K1", **BASE)
    assert '"credit_limit":"10.00"' in r.model_dump_json()


def test_codes_normalise_case_and_spaces():
    assert normalise_code(" Kh  001 ") == normalise_code("kh 001")
    assert normalise_code("KH001") != normalise_code("KH 001")
