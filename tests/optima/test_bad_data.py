"""Every kind of bad card is rejected with its reason; the rest of the read goes on (SQLite and PostgreSQL).

The tables are created "loose" (every column nullable, four-decimal amounts) so the databases can hold
what a damaged or hand-edited Optima database could.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from tradecredit import CreditRecord, LimitState, RejectedRow
from tradecredit.core.records import normalise_code

AS_OF = datetime(2025, 3, 10, 11, 0, tzinfo=UTC)
D = Decimal
NULL_CODE_ID = 900

CASES = {
    # code: (column overrides, words the reason must contain)
    "NULL-FLAG": ({"Knt_LimitFlag": None}, "Knt_LimitFlag is NULL"),
    "NULL-LIMIT": ({"Knt_LimitFlag": 1, "Knt_LimitKredytu": None}, "Knt_LimitKredytu"),
    "NULL-USED": ({"Knt_LimitKredytuWykorzystany": None}, "Knt_LimitKredytuWykorzystany"),
    "NULL-WAL": ({"Knt_LimitKredytuWal": None}, "limit currency"),
    "NULL-TYP": ({"Knt_PodmiotTyp": None}, "Knt_PodmiotTyp is NULL"),
    "NULL-NIEAKT": ({"Knt_Nieaktywny": None}, "Knt_Nieaktywny is NULL"),
    "NEGATIVE": ({"Knt_LimitFlag": 1, "Knt_LimitKredytu": D("-100.00")}, "negative"),
    "NEG-OVERDUE": ({"Knt_LimitPrzeterKredytFlag": 1, "Knt_LimitPrzeterKredytWartosc": D("-5.00")}, "negative"),
    "XYZ": ({"Knt_LimitFlag": 1, "Knt_LimitKredytu": D("100.00"), "Knt_LimitKredytuWal": "XYZ"}, "ISO 4217"),
    "DECIMALS": ({"Knt_LimitFlag": 1, "Knt_LimitKredytu": D("100.125")}, "more than two decimal places"),
    "FLAG-7": ({"Knt_LimitFlag": 7}, "Knt_LimitFlag = 7 is neither 0 nor 1"),
    "NULL-FINALNY": ({"Knt_Finalny": None}, "Knt_Finalny is NULL (business/private flag"),
    "NULL-PRZETER-FLAG": ({"Knt_LimitPrzeterKredytFlag": None}, "Knt_LimitPrzeterKredytFlag is NULL"),
    "NULL-PRZETER-WART": ({"Knt_LimitPrzeterKredytWartosc": None}, "Knt_LimitPrzeterKredytWartosc is NULL"),
    "USED-DECIMALS": ({"Knt_LimitKredytuWykorzystany": D("12.345")},
                      "Knt_LimitKredytuWykorzystany: amount '12.345"),  # '12.345' (SQLite), '12.3450' (PostgreSQL)
}


@pytest.fixture
def bad_db(tc_database_url, optima_db):
    db = optima_db(tc_database_url, loose=True)
    for code, (overrides, _) in CASES.items():
        db.card(code, **overrides)
    db.card("GOOD", Knt_LimitFlag=1, Knt_LimitKredytu=D("1000.00"))
    db.card("ZERO", Knt_LimitFlag=1, Knt_LimitKredytu=D("0.00"))
    sub_cent = db.card("PAY-DECIMALS")
    db.pay(sub_cent, "10.005")
    null_pay = db.card("PAY-NULL")
    db.pay(null_pay, "10.00", BZd_KwotaRozSys=None)
    null_state = db.card("PAY-NULL-STATE")
    db.pay(null_state, "10.00", BZd_Rozliczono=None)
    null_subject = db.card("PAY-NULL-SUBJECT")
    db.pay(null_subject, "10.00", BZd_PodmiotTyp=None)
    db.card(None, Knt_KntId=NULL_CODE_ID, Knt_Nazwa1="code is NULL")
    db.card("", Knt_Nazwa1="no code")
    # duplicates differing only by case and spaces: the reader lets both through, the orchestrator rejects
    db.card("Dup Firma")
    db.card(" dup  FIRMA ")
    return db.commit()


@pytest.mark.parametrize("code", sorted(CASES))
def test_bad_card_is_rejected_with_its_reason(bad_db, optima_source, read_all, code):
    records, rejected = read_all(optima_source(bad_db.url), AS_OF)
    assert code not in records
    assert CASES[code][1] in rejected[code].reason
    assert rejected[code].erp_id is not None and rejected[code].source == "erp"
    assert records["GOOD"].credit_limit == D("1000.00")  # the run goes on


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("PAY-DECIMALS", "more than two decimal places"),
        ("PAY-NULL", "NULL amounts, dates or status"),
        ("PAY-NULL-STATE", "NULL amounts, dates or status"),
        ("PAY-NULL-SUBJECT", "1 open payment(s) in CDN.BnkZdarzenia with BZd_PodmiotID = "),
        ("", "code"),
    ],
)
def test_bad_payments_reject_their_customer(bad_db, optima_source, read_all, code, reason):
    _, rejected = read_all(optima_source(bad_db.url, used="computed"), AS_OF)
    assert reason in rejected[code].reason


def test_every_row_is_accounted_for(bad_db, optima_source):
    results = list(optima_source(bad_db.url).read(AS_OF))
    assert len(results) == len(bad_db.cards_committed)
    assert all(isinstance(r, CreditRecord | RejectedRow) for r in results)


def test_a_zero_limit_is_a_limit_of_0_by_default_and_reject_is_an_option(bad_db, optima_source, read_all):
    """Case 2: a limit cut to 0 is a credit controller's "no deferred credit", not bad data."""
    records, rejected = read_all(optima_source(bad_db.url), AS_OF)
    assert "ZERO" not in rejected
    assert (records["ZERO"].limit_state, records["ZERO"].credit_limit) == (LimitState.LIMITED, D("0.00"))
    records, rejected = read_all(optima_source(bad_db.url, zero_limit="reject"), AS_OF)
    assert "ZERO" not in records and 'zero_limit = "reject"' in rejected["ZERO"].reason


def test_duplicate_codes_both_come_through_for_the_orchestrator(bad_db, optima_source, read_all):
    records, _ = read_all(optima_source(bad_db.url), AS_OF)
    dups = [r for r in records.values() if r.key == normalise_code("Dup Firma")]
    assert sorted(r.code for r in dups) == ["Dup Firma", "dup  FIRMA"]
    assert next(r for r in dups if r.code == "dup  FIRMA").extra["raw_code"] == " dup  FIRMA "


@pytest.mark.parametrize("used", ["stored", "computed"])
def test_bad_card_amounts_are_rejected_whichever_used_basis(bad_db, optima_source, read_all, used):
    """The stored used value is checked even when 'computed' replaces it: check would compare a wrong number."""
    records, rejected = read_all(optima_source(bad_db.url, used=used), AS_OF)
    assert "more than two decimal places" in rejected["USED-DECIMALS"].reason
    assert "more than two decimal places" in rejected["DECIMALS"].reason
    assert "GOOD" in records


def test_payment_with_a_null_subject_type_is_not_dropped(bad_db, optima_source, read_all):
    """A NULL BZd_PodmiotTyp could be this customer's payment: the card is rejected rather than under-counted."""
    _, rejected = read_all(optima_source(bad_db.url, used="computed"), AS_OF)
    reason = rejected["PAY-NULL-SUBJECT"].reason
    assert f"BZd_PodmiotID = {rejected['PAY-NULL-SUBJECT'].erp_id} have a NULL BZd_PodmiotTyp" in reason


def test_card_with_a_null_code_is_rejected_by_its_erp_id(bad_db, optima_source):
    results = list(optima_source(bad_db.url).read(AS_OF))
    null_code = [r for r in results if r.erp_id == str(NULL_CODE_ID)]
    assert len(null_code) == 1 and isinstance(null_code[0], RejectedRow)
    assert null_code[0].code is None and "Knt_Kod is NULL (card code" in null_code[0].reason
    assert any(isinstance(r, CreditRecord) and r.code == "GOOD" for r in results)
