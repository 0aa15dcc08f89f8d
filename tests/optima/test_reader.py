"""OptimaSource.read on SQLite and PostgreSQL, checked against values computed here in plain Python."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import create_engine, select
from tradecredit import CheckStatus, ConfigError, ControlMode, LimitState
from tradecredit.plugins.comarch import schema_map
from tradecredit.plugins.optima.demo import make_demo_db
from tradecredit.plugins.optima.schema import TABLES

AS_OF = datetime(2025, 3, 10, 11, 0, tzinfo=UTC)  # noon in Warsaw
AS_OF_DAY = datetime(2025, 3, 10)  # "before the as-of date" = due up to 2025-03-09 23:59:59
PAST = AS_OF_DAY - timedelta(days=20)
FUTURE = AS_OF_DAY + timedelta(days=20)
D = Decimal


def expected_amounts(card: dict[str, Any], payments: list[dict[str, Any]], day: datetime, *, net: bool = False,
                     system: str = "PLN") -> tuple[Decimal, Decimal]:
    """Computed used and overdue of one card, straight from the inserted rows (the reference's rules)."""
    currency = card["Knt_LimitKredytuWal"] or system
    open_rows = [p for p in payments if p["BZd_PodmiotTyp"] == 1 and p["BZd_PodmiotID"] == card["Knt_KntId"]
                 and p["BZd_Rozliczono"] == 1 and p["BZd_Stan"] > 0]
    if currency == system:
        amounts = [(p, D(p["BZd_KwotaSys"]) - D(p["BZd_KwotaRozSys"])) for p in open_rows]
    else:
        amounts = [(p, D(p["BZd_Kwota"]) - D(p["BZd_KwotaRoz"])) for p in open_rows
                   if (p["BZd_Waluta"] or system) == currency]
    used = sum((a * p["BZd_Kierunek"] for p, a in amounts if net or p["BZd_Kierunek"] > 0), D("0.00"))
    overdue = sum((a for p, a in amounts if p["BZd_Kierunek"] > 0 and p["BZd_Termin"] < day), D("0.00"))
    return used, overdue


def build_cases(db) -> None:
    a = db.card("BIZ-LIMIT", Knt_LimitFlag=1, Knt_LimitKredytu=D("10000.00"),
                Knt_LimitKredytuWykorzystany=D("1234.56"), Knt_LimitPrzeterKredytFlag=1,
                Knt_LimitPrzeterKredytWartosc=D("500.00"), Knt_Nazwa2="Oddział Kraków")
    db.pay(a, "1000.00", due=PAST)  # unsettled, overdue
    db.pay(a, "500.00", paid="200.00", due=FUTURE)  # partly settled, not yet due
    db.pay(a, "700.00", paid="700.00", due=PAST, BZd_Rozliczono=2, BZd_Rozliczono2=2)  # settled
    db.pay(a, "400.00", due=PAST, BZd_Stan=0)  # still in the buffer
    db.pay(a, "300.00", due=PAST, BZd_Rozliczono=0, BZd_Rozliczono2=0)  # not subject to settlement
    db.pay(a, "250.00", due=PAST, BZd_Kierunek=-1)  # a payable
    db.pay(a, "100.00", due=AS_OF_DAY)  # due on the as-of date: not overdue yet
    db.pay(a, "50.00", due=AS_OF_DAY - timedelta(seconds=1))  # due the evening before: overdue
    db.pay(a, "999.00", due=PAST, BZd_PodmiotTyp=2)  # a bank with the same id: not this customer
    db.card("PRIVATE", Knt_Finalny=1, Knt_Nip="", Knt_NipKraj="")
    n = db.card("NOLIMIT", Knt_LimitKredytuWykorzystany=D("80.00"))
    db.pay(n, "80.00", due=PAST)
    e = db.card("EUR", Knt_LimitFlag=1, Knt_LimitKredytu=D("5000.00"), Knt_LimitKredytuWal="EUR",
                Knt_LimitKredytuWykorzystany=D("1500.00"))
    db.pay(e, "1000.00", due=PAST, currency="EUR", rate=D("4.3"))
    db.pay(e, "700.00", paid="200.00", due=FUTURE, currency="EUR", rate=D("4.3"))
    db.card("INACTIVE", Knt_Nieaktywny=1, Knt_LimitFlag=1, Knt_LimitKredytu=D("100.00"))
    db.card("BANK", Knt_PodmiotTyp=2)
    db.card("ZERO-OVERDUE-LIMIT", Knt_LimitFlag=1, Knt_LimitKredytu=D("300.00"), Knt_LimitPrzeterKredytFlag=1)
    db.card("Łódź Ślusarz", Knt_Nazwa1="Zakład Ślusarski „Żuraw”")


@pytest.mark.parametrize(("used", "net"), [("stored", False), ("computed", False), ("computed", True)])
def test_records_match_independent_computation(tc_database_url, optima_db, optima_source, read_all, used, net):
    db = optima_db(tc_database_url)
    build_cases(db)
    db.commit()
    records, rejected = read_all(optima_source(tc_database_url, used=used, net_payables=net), AS_OF)
    assert rejected == {}
    assert set(records) == {"BIZ-LIMIT", "PRIVATE", "NOLIMIT", "EUR", "ZERO-OVERDUE-LIMIT", "Łódź Ślusarz"}
    for card in db.cards_committed:
        rec = records.get(card["Knt_Kod"])
        if rec is None:
            continue
        computed, overdue = expected_amounts(card, db.payments_committed, AS_OF_DAY, net=net)
        want_used = card["Knt_LimitKredytuWykorzystany"] if used == "stored" else computed
        assert (rec.used, rec.overdue) == (want_used, overdue), rec.code
        assert rec.erp_id == str(card["Knt_KntId"])
        assert rec.is_business is (card["Knt_Finalny"] == 0)
        assert rec.currency == (card["Knt_LimitKredytuWal"] or "PLN")
        if card["Knt_LimitFlag"]:
            assert (rec.limit_state, rec.credit_limit) == (LimitState.LIMITED, card["Knt_LimitKredytu"])
        else:
            assert (rec.limit_state, rec.credit_limit) == (LimitState.NONE, None)
        want_overdue_limit = card["Knt_LimitPrzeterKredytWartosc"] if card["Knt_LimitPrzeterKredytFlag"] else None
        assert rec.overdue_limit == want_overdue_limit
        assert rec.control_mode is ControlMode.WARN  # workstation 1 has code 1
        assert rec.as_of == AS_OF
        assert rec.extra["computed_used"] == str(computed)
    # spot values, so a bug shared by the reader and the helper above would still show
    biz = records["BIZ-LIMIT"]
    assert biz.overdue == D("1050.00")
    assert biz.name == "Firma BIZ-LIMIT Oddział Kraków" and biz.tax_id == "5200000001"
    if used == "computed":
        assert biz.used == (D("1200.00") if net else D("1450.00"))
        assert records["EUR"].used == D("1500.00")  # in EUR, from BZd_Kwota
    assert records["EUR"].overdue == D("1000.00")
    assert records["ZERO-OVERDUE-LIMIT"].overdue_limit == D("0.00")
    assert records["Łódź Ślusarz"].name == "Zakład Ślusarski „Żuraw”"


def test_inactive_cards_are_skipped_unless_asked(tc_database_url, optima_db, optima_source, read_all):
    db = optima_db(tc_database_url)
    build_cases(db)
    db.commit()
    assert "INACTIVE" not in read_all(optima_source(tc_database_url), AS_OF)[0]
    records, _ = read_all(optima_source(tc_database_url, include_inactive=True), AS_OF)
    assert records["INACTIVE"].credit_limit == D("100.00")
    assert "BANK" not in records


def test_skip_private(tc_sqlite_url, optima_db, optima_source, read_all):
    db = optima_db(tc_sqlite_url)
    build_cases(db)
    db.commit()
    records, _ = read_all(optima_source(tc_sqlite_url, skip_private=True), AS_OF)
    assert "PRIVATE" not in records and "BIZ-LIMIT" in records


def test_foreign_limit_with_payments_in_another_currency_is_rejected(tc_database_url, optima_db, optima_source,
                                                                     read_all):
    db = optima_db(tc_database_url)
    kid = db.card("EUR-MIXED", Knt_LimitFlag=1, Knt_LimitKredytu=D("5000.00"), Knt_LimitKredytuWal="EUR")
    db.pay(kid, "100.00", due=PAST)  # in PLN
    db.card("OK")
    db.commit()
    records, rejected = read_all(optima_source(tc_database_url, used="computed"), AS_OF)
    assert "OK" in records
    assert "different currencies" in rejected["EUR-MIXED"].reason


@pytest.mark.parametrize(
    ("options", "mode"),
    [
        ({"workstation": 1}, ControlMode.WARN),
        ({"workstation": "Sklep detal"}, ControlMode.BLOCK),
        ({"workstation": None, "control_mode": "ostrzeżenie"}, ControlMode.WARN),
        ({"workstation": None, "control_mode": "allow"}, ControlMode.ALLOW),
        ({"workstation": 1, "mode_codes": {"1": "blokada", "2": "brak"}}, ControlMode.BLOCK),
    ],
)
def test_control_mode(tc_sqlite_url, optima_db, optima_source, read_all, options, mode):
    db = optima_db(tc_sqlite_url)
    db.card("A")
    db.commit()
    records, _ = read_all(optima_source(tc_sqlite_url, **options), AS_OF)
    assert records["A"].control_mode is mode


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"workstation": 7}, "no e-Sklep workstation 7"),
        ({"workstation": 2, "mode_codes": {0: "allow"}}, "ESS_KontrolaLimituPlat"),
    ],
)
def test_control_mode_problems_stop_the_read(tc_database_url, optima_db, optima_source, options, message):
    db = optima_db(tc_database_url)
    db.card("A")
    db.commit()
    with pytest.raises(ConfigError, match=message):
        list(optima_source(tc_database_url, **options).read(AS_OF))


@pytest.mark.parametrize(
    ("workstations", "cards", "found"),
    [
        (2, True, "has 2 e-Sklep workstations (the default needs exactly one); workstations found "
                  "(ESS_ESSId 'ESS_Nazwa'): 1 'Sklep B2B', 2 'Sklep detal'; choose one"),
        (0, True, "has 0 e-Sklep workstations (the default needs exactly one); workstations found "
                  "(ESS_ESSId 'ESS_Nazwa'): none; choose one"),
        (0, False, "has 0"),  # nothing to read: the workstation is still checked
    ],
)
def test_without_a_configured_workstation_only_a_single_one_is_used(tc_database_url, optima_db, optima_source,
                                                                     workstations, cards, found):
    db = optima_db(tc_database_url)
    db.workstations = db.workstations[:workstations]
    if cards:
        db.card("A")
    db.commit()
    source = optima_source(tc_database_url, workstation=None)
    with pytest.raises(ConfigError, match="no 'workstation' configured") as err:
        list(source.read(AS_OF))
    assert found in str(err.value) and "'workstation' = its ESS_ESSId (integer) or ESS_Nazwa" in str(err.value)
    mode = {r.name: r for r in source.check(AS_OF)}["optima.control_mode"]
    assert mode.status is CheckStatus.FAIL and found in mode.detail


def test_a_missing_workstation_stops_even_an_empty_read(tc_database_url, optima_db, optima_source):
    optima_db(tc_database_url).commit()
    with pytest.raises(ConfigError, match="no e-Sklep workstation 7"):
        list(optima_source(tc_database_url, workstation=7).read(AS_OF))
    assert list(optima_source(tc_database_url, workstation=2).read(AS_OF)) == []


def test_only_cards_assigned_to_the_workstation(tc_database_url, optima_db, optima_source, read_all):
    db = optima_db(tc_database_url)
    both = db.card("BOTH")
    db.assign(both, 1)
    db.assign(both, 2)
    db.pay(both, "100.00", due=PAST)
    db.assign(db.card("B2B"), 1)
    db.assign(db.card("DETAL"), 2)
    db.card("NONE")
    db.assign(db.card("INACTIVE-B2B", Knt_Nieaktywny=1), 1)
    db.commit()
    every = {"BOTH", "B2B", "DETAL", "NONE"}
    assert set(read_all(optima_source(tc_database_url))[0]) == every  # the default: assignment is not looked at
    b2b, _ = read_all(optima_source(tc_database_url, only_assigned_to_workstation=True, used="computed"))
    assert set(b2b) == {"BOTH", "B2B"}
    assert b2b["BOTH"].used == D("100.00")  # on two workstations' lists, still one card with its payments once
    detal, _ = read_all(optima_source(tc_database_url, workstation="Sklep detal", only_assigned_to_workstation=True))
    assert set(detal) == {"BOTH", "DETAL"} and detal["DETAL"].control_mode is ControlMode.BLOCK
    # several workstations and none configured: a clear error, not a silently filtered read
    with pytest.raises(ConfigError, match="has 2"):
        list(optima_source(tc_database_url, workstation=None, only_assigned_to_workstation=True).read(AS_OF))


def test_no_card_assigned_is_an_empty_read_not_an_error(tc_database_url, optima_db, optima_source, read_all):
    db = optima_db(tc_database_url)
    db.card("NONE")
    db.commit()
    assert read_all(optima_source(tc_database_url, only_assigned_to_workstation=True)) == ({}, {})


def _raw_rows(url: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            conn = conn.execution_options(schema_translate_map=schema_map(engine))
            cards = [dict(r._mapping) for r in conn.execute(select(TABLES.kontrahenci))]
            pays = [dict(r._mapping) for r in conn.execute(select(TABLES.zdarzenia))]
    finally:
        engine.dispose()
    return cards, pays


def test_demo_database_read_matches_plain_python(tc_database_url, optima_source, read_all):
    make_demo_db(tc_database_url, 400, seed=7, base_date=date(2025, 3, 10))
    cards, pays = _raw_rows(tc_database_url)
    records, rejected = read_all(optima_source(tc_database_url, used="computed"), AS_OF)
    assert rejected == {}
    active = [c for c in cards if c["Knt_Nieaktywny"] == 0]
    assert len(records) == len(active) and len(active) < len(cards)
    kinds = {(r.is_business, r.limit_state, r.currency, r.overdue_limit is None) for r in records.values()}
    assert {(True, LimitState.LIMITED, "EUR", True), (False, LimitState.NONE, "PLN", True)} <= kinds
    assert any(r.overdue > 0 for r in records.values())
    differ = 0
    for card in active:
        rec = records[card["Knt_Kod"]]
        used, overdue = expected_amounts(card, pays, AS_OF_DAY)
        assert (rec.used, rec.overdue) == (used, overdue), rec.code
        assert rec.credit_limit == (card["Knt_LimitKredytu"] if card["Knt_LimitFlag"] else None)
        differ += card["Knt_LimitKredytuWykorzystany"] != used
    assert 0 < differ < len(active) // 5  # the demo's stored value drifts for a few cards


def test_demo_database_assigns_most_cards_to_its_only_workstation(tc_database_url, optima_source, read_all):
    make_demo_db(tc_database_url, 300, seed=9, base_date=date(2025, 3, 10))
    engine = create_engine(tc_database_url)
    try:
        with engine.connect() as conn:
            conn = conn.execution_options(schema_translate_map=schema_map(engine))
            kes = TABLES.sklepy
            assigned = {r.KES_KntID for r in conn.execute(select(kes).where(kes.c.KES_eSklepID == 1))}
    finally:
        engine.dispose()
    cards, _ = _raw_rows(tc_database_url)
    active = {c["Knt_KntId"]: c["Knt_Kod"] for c in cards if c["Knt_Nieaktywny"] == 0}
    assert 0.8 * len(cards) < len(assigned) < len(cards)
    records, rejected = read_all(optima_source(tc_database_url, workstation=None, only_assigned_to_workstation=True))
    assert rejected == {}
    assert set(records) == {code for kid, code in active.items() if kid in assigned}
    assert {r.control_mode for r in records.values()} == {ControlMode.BLOCK}
