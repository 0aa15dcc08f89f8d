"""Every XL rule on hand-made databases, on SQLite and PostgreSQL (``tc_database_url``)."""

from datetime import date
from decimal import Decimal

import pytest
from tradecredit import ControlMode, CreditRecord, LimitState, RejectedRow

from . import helpers as xlh


def test_dated_limits_overlaps_gaps_expired_future(tc_database_url, make_xl_db, xl_source):
    t, card, limit = xlh.T, xlh.card, xlh.limit
    make_xl_db(
        tc_database_url,
        KntKarty=[card(i) for i in range(1, 10)] + [card(10, Knt_LimitTerminowy=0)],
        KntLimityK=[
            limit(1, 1, "1000", t - 10, t + 10),  # plain valid
            limit(2, 2, "1000", t - 100, t + 100), limit(3, 2, "2000", t - 5, t + 5),  # overlap: later start wins
            limit(4, 3, "3000", t - 5, t + 5), limit(5, 3, "4000", t - 5, t + 50),  # same start: highest id wins
            limit(6, 4, "1000", t - 100, t - 1),  # expired yesterday
            limit(7, 5, "1000", t + 1, t + 100),  # starts tomorrow
            limit(8, 6, "1000", t - 100, t - 1), limit(9, 6, "1000", t + 1, t + 100),  # gap today
            limit(10, 7, "500", t, t),  # valid only today: both ends inclusive
            limit(11, 8, "0", t - 1, t + 1),  # a limit of 0 is a limit
            limit(12, 10, "9999", t - 1, t + 1),  # ignored: the card is unlimited
        ],
    )
    recs = xlh.by_code(list(xl_source(tc_database_url).read(xlh.AS_OF)))
    assert all(isinstance(r, CreditRecord) for r in recs.values())
    assert recs["C1"].credit_limit == Decimal("1000.00") and recs["C1"].limit_state is LimitState.LIMITED
    assert (recs["C1"].valid_from, recs["C1"].valid_to) == (date(2025, 2, 28), date(2025, 3, 20))
    assert recs["C2"].credit_limit == Decimal("2000.00") and recs["C2"].extra["overlapping_limits"] == 2
    assert recs["C2"].extra["limit_id"] == 3
    assert recs["C3"].credit_limit == Decimal("4000.00") and recs["C3"].extra["limit_id"] == 5
    for code in ("C4", "C5", "C6", "C9"):  # case 1: a limited card without a valid row has a lapsed limit
        assert recs[code].limit_state is LimitState.LAPSED and recs[code].credit_limit is None, code
        assert recs[code].valid_from is None and "is valid on 2025-03-10" in recs[code].extra["lapsed"]
    assert recs["C7"].credit_limit == Decimal("500.00") and recs["C7"].valid_from == recs["C7"].valid_to == xlh.TODAY
    assert recs["C8"].limit_state is LimitState.LIMITED and recs["C8"].credit_limit == Decimal("0.00")
    assert recs["C10"].limit_state is LimitState.UNLIMITED and recs["C10"].credit_limit is None


def test_limit_currency_convert_keep_and_missing_rate(tc_database_url, make_xl_db, xl_source):
    t, card, limit = xlh.T, xlh.card, xlh.limit
    eur = {"KLK_Waluta": "EUR", "KLK_KursL": Decimal("4.3127"), "KLK_KursM": Decimal("1")}
    make_xl_db(
        tc_database_url,
        KntKarty=[card(1), card(2), card(3)],
        KntLimityK=[
            limit(1, 1, "1000", t - 1, t + 1, KLK_LimitPoTerminie=Decimal("100"), **eur),
            limit(2, 2, "1000", t - 1, t + 1, KLK_Waluta="USD", KLK_KursL=Decimal(0), KLK_KursM=Decimal(1)),
            limit(3, 3, "700", t - 1, t + 1, KLK_Waluta="PLN"),
        ],
        TraPlat=[xlh.payment(1, "431.27", t + 5), xlh.payment(1, "43.13", t - 5)],
    )
    recs = xlh.by_code(list(xl_source(tc_database_url).read(xlh.AS_OF)))
    assert recs["C1"].currency == "PLN" and recs["C1"].credit_limit == Decimal("4312.70")
    assert recs["C1"].overdue_limit == Decimal("431.27") and recs["C1"].extra["limit_original"] == "1000.00 EUR"
    assert isinstance(recs["C2"], RejectedRow) and "USD has no exchange rate" in recs["C2"].reason
    assert recs["C3"].credit_limit == Decimal("700.00")

    kept = xlh.by_code(list(xl_source(tc_database_url, limit_currency="keep").read(xlh.AS_OF)))
    assert kept["C1"].currency == "EUR" and kept["C1"].credit_limit == Decimal("1000.00")
    assert kept["C1"].used == Decimal("110.00") and kept["C1"].overdue == Decimal("10.00")  # 474.40 / 4.3127
    assert kept["C3"].currency == "PLN"


def test_payer_shares_limit_and_exposure_dangling_is_rejected(tc_database_url, make_xl_db, xl_source):
    t, card, limit, pay = xlh.T, xlh.card, xlh.limit, xlh.payment
    make_xl_db(
        tc_database_url,
        KntKarty=[
            card(1, "PAYER"),
            card(2, "CHILD-A", Knt_KnPParam=1, Knt_KnPNumer=1, Knt_LimitTerminowy=0),  # own flag ignored
            card(3, "CHILD-B", Knt_KnPParam=1, Knt_KnPNumer=1),
            card(4, "DANGLING", Knt_KnPParam=1, Knt_KnPNumer=999),
            card(5, "SELF", Knt_KnPParam=0, Knt_KnPNumer=1),  # KnPParam = 0: the number is not used
        ],
        KntLimityK=[limit(1, 1, "10000", t - 1, t + 1), limit(2, 2, "1", t - 1, t + 1), limit(3, 5, "50", t, t)],
        TraPlat=[pay(1, "100.10", t + 1), pay(2, "200.20", t - 1), pay(3, "300.30", t + 1), pay(5, "7.00", t + 1)],
    )
    src = xl_source(tc_database_url)
    recs = xlh.by_code(list(src.read(xlh.AS_OF)))
    for code in ("PAYER", "CHILD-A", "CHILD-B"):
        r = recs[code]
        assert r.payer_code == "PAYER" and r.credit_limit == Decimal("10000.00"), code
        assert r.used == Decimal("600.60") and r.overdue == Decimal("200.20"), code
    assert recs["CHILD-A"].extra["payer_shared"] is True and "payer_shared" not in recs["PAYER"].extra
    assert isinstance(recs["DANGLING"], RejectedRow) and "payer card 999" in recs["DANGLING"].reason
    assert recs["SELF"].payer_code == "SELF" and recs["SELF"].used == Decimal("7.00")
    assert recs["SELF"].credit_limit == Decimal("50.00")


def test_used_overdue_tolerance_and_open_codes(tc_database_url, make_xl_db, xl_source):
    t, pay = xlh.T, xlh.payment
    make_xl_db(
        tc_database_url,
        KntKarty=[xlh.card(1, Knt_LimitTerminowy=0)],
        TraPlat=[
            pay(1, "100.00", t),  # due today: not overdue
            pay(1, "10.00", t - 1),  # one day overdue
            pay(1, "1.00", t - 3),  # three days overdue
            pay(1, "5000.00", t - 30, TrP_Typ=1),  # a liability: never counted
            pay(1, "700.00", t - 30, TrP_Rozliczona=1),  # settled
            pay(1, "0.10", t - 30, TrP_Rozliczona=2),  # "nie rozliczaj": only with open_settlement_codes
            pay(1, "20.00", t + 3, TrP_Waluta="EUR", TrP_KursL=Decimal("4.25"), TrP_KursM=Decimal(1),
                TrP_PozostajeSys=Decimal("85.01")),
        ],
    )
    rec = next(iter(xl_source(tc_database_url).read(xlh.AS_OF)))
    assert (rec.used, rec.overdue) == (Decimal("196.00"), Decimal("11.00"))
    rec = next(iter(xl_source(tc_database_url, overdue_tolerance_days=2).read(xlh.AS_OF)))
    assert rec.overdue == Decimal("1.00")
    rec = next(iter(xl_source(tc_database_url, open_settlement_codes=[0, 2]).read(xlh.AS_OF)))
    assert (rec.used, rec.overdue) == (Decimal("196.10"), Decimal("11.10"))
    rec = next(iter(xl_source(tc_database_url, receivable_amount="sys_column").read(xlh.AS_OF)))
    assert rec.used == Decimal("196.01")


def test_exact_decimals_from_float_storage(tc_database_url, make_xl_db, xl_source):
    """SQLite stores NUMERIC as binary floats; sums still arrive as exact Decimals (0.1 + 0.2 == 0.30)."""
    make_xl_db(
        tc_database_url,
        KntKarty=[xlh.card(1, Knt_LimitTerminowy=0)],
        TraPlat=[xlh.payment(1, v, xlh.T - 1) for v in ["0.10", "0.20"] + ["0.01"] * 97 + ["1234567890.99"]],
    )
    rec = next(iter(xl_source(tc_database_url).read(xlh.AS_OF)))
    assert type(rec.used) is Decimal and rec.used == Decimal("1234567892.26")
    assert rec.used.as_tuple().exponent == -2 and rec.overdue == rec.used


def test_reservations_and_documents_switches(tc_database_url, make_xl_db, xl_source):
    t = xlh.T
    res = {"Rez_GIDTyp": 2576, "Rez_KntNumer": 1, "Rez_ZrdTyp": 960, "Rez_Aktywna": 1,
           "Rez_DataAktywacji": t - 1, "Rez_DataWaznosci": t + 1}
    make_xl_db(
        tc_database_url,
        KntKarty=[xlh.card(1, Knt_LimitTerminowy=0), xlh.card(2, Knt_KnPParam=1, Knt_KnPNumer=1)],
        ZamNag=[{"ZaN_GIDNumer": 1, "ZaN_KntNumer": 1, "ZaN_Waluta": ""},
                {"ZaN_GIDNumer": 2, "ZaN_KntNumer": 2, "ZaN_Waluta": "EUR", "ZaN_KursL": Decimal("4"),
                 "ZaN_KursM": Decimal("1")}],
        ZamElem=[{"ZaE_GIDNumer": 1, "ZaE_GIDLp": 1, "ZaE_CenaUzgodniona": Decimal("12.50")},
                 {"ZaE_GIDNumer": 2, "ZaE_GIDLp": 1, "ZaE_CenaUzgodniona": Decimal("2.25")}],
        Rezerwacje=[
            {**res, "Rez_ZrdNumer": 1, "Rez_ZrdLp": 1, "Rez_Ilosc": Decimal(10), "Rez_Zrealizowano": Decimal(2)},
            {**res, "Rez_KntNumer": 2, "Rez_ZrdNumer": 2, "Rez_ZrdLp": 1, "Rez_Ilosc": Decimal(3)},  # via payer
            {**res, "Rez_ZrdNumer": 1, "Rez_ZrdLp": 1, "Rez_Ilosc": Decimal(5), "Rez_Aktywna": 0},
            {**res, "Rez_ZrdNumer": 1, "Rez_ZrdLp": 1, "Rez_Ilosc": Decimal(5), "Rez_DataWaznosci": t - 1},
            {**res, "Rez_ZrdNumer": 1, "Rez_ZrdLp": 1, "Rez_Ilosc": Decimal(5), "Rez_DataAktywacji": t + 1},
            {**res, "Rez_ZrdNumer": 1, "Rez_ZrdLp": 1, "Rez_Ilosc": Decimal(5), "Rez_Zrealizowano": Decimal(5)},
            {**res, "Rez_ZrdNumer": 1, "Rez_ZrdLp": 1, "Rez_Ilosc": Decimal(5), "Rez_GIDTyp": 2592},
            {**res, "Rez_ZrdNumer": 1, "Rez_ZrdLp": 9, "Rez_Ilosc": Decimal(5)},  # no such order line
        ],
        TraNag=[
            {"TrN_GIDTyp": 2001, "TrN_GIDNumer": 1, "TrN_KntNumer": 1, "TrN_Platnosci": 0,
             "TrN_NettoR": Decimal("100.00"), "TrN_VatR": Decimal("23.00")},
            {"TrN_GIDTyp": 2033, "TrN_GIDNumer": 2, "TrN_KntNumer": 1, "TrN_Platnosci": 1,
             "TrN_NettoR": Decimal("999.00"), "TrN_VatR": Decimal("0")},
        ],
        TraPlat=[xlh.payment(1, "1.00", t + 1)],
    )
    plain = xlh.by_code(list(xl_source(tc_database_url).read(xlh.AS_OF)))
    assert plain["C1"].used == Decimal("1.00")
    both = xlh.by_code(list(
        xl_source(tc_database_url, include_reservations=True, include_documents_without_payments=True).read(xlh.AS_OF)
    ))
    # 1.00 + 8 × 12.50 + 3 × 2.25 × 4 + (100 + 23)
    assert both["C1"].used == both["C2"].used == Decimal("251.00")
    assert both["C1"].extra["reservations"] == "127.00" and both["C1"].extra["reservations_unvalued"] == 1
    assert both["C1"].extra["documents_without_payments"] == "123.00"


def test_business_archived_names_and_bad_codes(tc_database_url, make_xl_db, xl_source):
    card = xlh.card
    make_xl_db(
        tc_database_url,
        KntKarty=[
            card(1, Knt_Status=2, Knt_Nazwa2="Oddział", Knt_Nip="123", Knt_NipE="PL123"),
            card(2, Knt_Archiwalny=1),
            card(3, "", Knt_LimitTerminowy=0),
            card(4, " PAD ", Knt_LimitTerminowy=0),
            card(5, Knt_Status=1, Knt_Nip="5250001009"),
        ],
    )
    items = list(xl_source(tc_database_url).read(xlh.AS_OF))
    recs = {i.erp_id: i for i in items}
    assert "2" not in recs  # archived cards are skipped by default
    assert recs["1"].is_business is False and recs["1"].name == "Firma 1 Oddział" and recs["1"].tax_id == "PL123"
    assert recs["5"].is_business is True and recs["5"].tax_id == "5250001009"
    assert isinstance(recs["3"], RejectedRow) and isinstance(recs["4"], RejectedRow)
    assert "spaces" in recs["4"].reason
    assert "2" in {i.erp_id for i in xl_source(tc_database_url, include_archived=True).read(xlh.AS_OF)}


@pytest.mark.parametrize(("code", "mode"), [(0, ControlMode.ALLOW), (1, ControlMode.WARN), (2, ControlMode.BLOCK)])
def test_control_mode_from_branch(tc_sqlite_url, make_xl_db, xl_source, code, mode):
    make_xl_db(tc_sqlite_url, KntKarty=[xlh.card(1)], PicoKonfig=[{"PcK_PicoID": 7, "PcK_LimitKrObs": code}])
    rec = next(iter(xl_source(tc_sqlite_url, control_mode=None, branch_id=7).read(xlh.AS_OF)))
    assert rec.control_mode is mode


def test_control_mode_unknown_code_and_branch(tc_sqlite_url, make_xl_db, xl_source):
    from tradecredit import ConfigError

    make_xl_db(tc_sqlite_url, KntKarty=[xlh.card(1)], PicoKonfig=[{"PcK_PicoID": 7, "PcK_LimitKrObs": 5}])
    with pytest.raises(ConfigError, match="5 is not in the configured table"):
        list(xl_source(tc_sqlite_url, control_mode=None, branch_id=7).read(xlh.AS_OF))
    rec = next(iter(xl_source(tc_sqlite_url, control_mode=None, branch_id=7, mode_codes={5: "warn"}).read(xlh.AS_OF)))
    assert rec.control_mode is ControlMode.WARN
    with pytest.raises(ConfigError, match="no such branch"):
        list(xl_source(tc_sqlite_url, control_mode=None, branch_id=8).read(xlh.AS_OF))


def test_overdue_limit_policies(tc_sqlite_url, make_xl_db, xl_source):
    t = xlh.T
    make_xl_db(tc_sqlite_url, KntKarty=[xlh.card(1)], KntLimityK=[xlh.limit(1, 1, "100", t, t)])
    assert next(iter(xl_source(tc_sqlite_url).read(xlh.AS_OF))).overdue_limit == Decimal("0.00")
    assert next(iter(xl_source(tc_sqlite_url, overdue_limit="limit_row_nonzero").read(xlh.AS_OF))).overdue_limit is None
    assert next(iter(xl_source(tc_sqlite_url, overdue_limit="off").read(xlh.AS_OF))).overdue_limit is None


def test_as_of_is_read_in_xl_local_time(tc_sqlite_url, make_xl_db, xl_source):
    """23:30 UTC on 9 March is already 10 March in Warsaw: the limit valid only on the 10th applies."""
    from datetime import UTC, datetime

    t = xlh.T
    make_xl_db(tc_sqlite_url, KntKarty=[xlh.card(1)], KntLimityK=[xlh.limit(1, 1, "100", t, t)])
    late = datetime(2025, 3, 9, 23, 30, tzinfo=UTC)
    assert next(iter(xl_source(tc_sqlite_url).read(late))).limit_state is LimitState.LIMITED
    assert next(iter(xl_source(tc_sqlite_url, timezone="UTC").read(late))).limit_state is LimitState.LAPSED


def test_chained_payers_follow_one_level_and_count_each_receivable_once(tc_database_url, make_xl_db, xl_source):
    """Case 5: K → P → Q. K is checked on P with K's and P's receivables; P pays for K, so P is its own payer
    (its payer setting is not followed); Q's group does not count P's receivables a second time."""
    t, card, limit, pay = xlh.T, xlh.card, xlh.limit, xlh.payment
    make_xl_db(
        tc_database_url,
        KntKarty=[card(1, "K", Knt_KnPParam=1, Knt_KnPNumer=2), card(2, "P", Knt_KnPParam=1, Knt_KnPNumer=3),
                  card(3, "Q"), card(4, "R", Knt_KnPParam=1, Knt_KnPNumer=3)],
        KntLimityK=[limit(1, 2, "1000", t - 1, t + 1), limit(2, 3, "5000", t - 1, t + 1)],
        TraPlat=[pay(1, "100.00", t + 5), pay(2, "200.00", t + 5), pay(3, "300.00", t + 5), pay(4, "400.00", t + 5)],
    )
    recs = xlh.by_code(list(xl_source(tc_database_url).read(xlh.AS_OF)))
    for code in ("K", "P"):
        assert recs[code].payer_code == "P" and recs[code].credit_limit == Decimal("1000.00"), code
        assert recs[code].used == Decimal("300.00"), code  # K's 100 + P's own 200, once
    assert recs["P"].extra["payer_not_followed"] == "3" and "payer_not_followed" not in recs["K"].extra
    for code in ("Q", "R"):
        assert recs[code].payer_code == "Q" and recs[code].used == Decimal("700.00"), code  # Q 300 + R 400


def test_empty_due_date_is_not_overdue_and_a_null_credit_type_is_bad_data(tc_database_url, make_xl_db, xl_source):
    """Case 8: TrP_Termin = 0 is XL's empty date; Knt_LimitTerminowy NULL (or 2) is rejected with its reason."""
    t, card, limit, pay = xlh.T, xlh.card, xlh.limit, xlh.payment
    make_xl_db(
        tc_database_url,
        KntKarty=[card(1, "EMPTY-DUE"), card(2, "NULL-TYPE", Knt_LimitTerminowy=None),
                  card(3, "ODD-TYPE", Knt_LimitTerminowy=2), card(4, "CHILD", Knt_KnPParam=1, Knt_KnPNumer=2)],
        KntLimityK=[limit(1, 1, "1000", t - 1, t + 1), limit(2, 2, "1000", t - 1, t + 1)],
        TraPlat=[pay(1, "50.00", 0), pay(1, "20.00", t - 3)],
    )
    recs = xlh.by_code(list(xl_source(tc_database_url).read(xlh.AS_OF)))
    assert recs["EMPTY-DUE"].used == Decimal("70.00") and recs["EMPTY-DUE"].overdue == Decimal("20.00")
    assert isinstance(recs["NULL-TYPE"], RejectedRow)
    assert "Knt_LimitTerminowy is NULL" in recs["NULL-TYPE"].reason
    assert isinstance(recs["ODD-TYPE"], RejectedRow) and "2, neither 0 nor 1" in recs["ODD-TYPE"].reason
    assert isinstance(recs["CHILD"], RejectedRow)
    assert "Knt_LimitTerminowy of payer card NULL-TYPE is NULL" in recs["CHILD"].reason
