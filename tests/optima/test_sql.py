"""What the Optima source sends to the database: one SELECT per run, read-only, exact money, T-SQL golden files."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
import sqlglot
from sqlalchemy.dialects.mssql import pyodbc as mssql_pyodbc
from sqlglot import exp
from tradecredit import CreditRecord
from tradecredit.core.errors import DataError
from tradecredit.core.sql import install_read_only_guard, is_select
from tradecredit.plugins.optima.demo import make_demo_db
from tradecredit.plugins.optima.query import ReadQuery, counts_statement, read_statement, workstations_statement

AS_OF = datetime(2025, 3, 10, 11, 0, tzinfo=UTC)
GOLDEN = Path(__file__).resolve().parent / "golden"
UPDATE_ENV = "TRADECREDIT_UPDATE_GOLDEN"
D = Decimal


def test_no_float_reaches_money(sqlite_url, optima_db, optima_source):
    """SQLite keeps DECIMAL as REAL: 0.1 + 0.2 must still be exactly 0.30, and 10 × 0.10 exactly 1.00."""
    db = optima_db(sqlite_url)
    kid = db.card("CENTS", Knt_LimitFlag=1, Knt_LimitKredytu=D("0.30"), Knt_LimitKredytuWykorzystany=D("0.30"),
                  Knt_LimitPrzeterKredytFlag=1, Knt_LimitPrzeterKredytWartosc=D("0.10"))
    db.pay(kid, "0.10", due=datetime(2025, 1, 1))
    db.pay(kid, "0.20", due=datetime(2025, 1, 1))
    many = db.card("MANY", Knt_LimitKredytuWykorzystany=D("1.00"))
    for _ in range(10):
        db.pay(many, "0.10", due=datetime(2025, 1, 1))
    big = db.card("BIG", Knt_LimitFlag=1, Knt_LimitKredytu=D("9999999999999.99"))
    db.pay(big, "9999999999999.99", paid="0.01", due=datetime(2025, 1, 1))
    db.commit()
    source = optima_source(sqlite_url, used="computed")
    rows = list(source._rows(AS_OF))
    assert rows and not any(isinstance(v, float) for row in rows for v in row)  # nothing float from the driver
    records = {r.code: r for r in source.read(AS_OF)}
    cents, ten = records["CENTS"], records["MANY"]
    assert (cents.used, cents.overdue, cents.credit_limit, cents.overdue_limit) == (
        D("0.30"), D("0.30"), D("0.30"), D("0.10"))
    assert (ten.used, ten.overdue) == (D("1.00"), D("1.00"))
    assert records["BIG"].used == D("9999999999999.98")
    for rec in records.values():
        for value in (rec.used, rec.overdue, rec.credit_limit, rec.overdue_limit):
            assert value is None or type(value) is Decimal
        assert str(rec.used) == format(rec.used, "f") and rec.used.as_tuple().exponent == -2


def test_one_select_for_a_thousand_customers(database_url, optima_source):
    make_demo_db(database_url, 1000, seed=3, base_date=date(2025, 3, 10))
    source = optima_source(database_url)
    with source.engine.connect():  # let the dialect run its first-connect queries before counting
        pass
    issued = install_read_only_guard(source.engine)
    results = list(source.read(AS_OF))
    assert len(results) > 900 and all(isinstance(r, CreditRecord) for r in results)
    assert len(issued) == 1 and is_select(issued[0])
    assert "BnkZdarzenia" in issued[0] and "Kontrahenci" in issued[0]


def test_every_statement_is_a_select(database_url, optima_source):
    make_demo_db(database_url, 50, seed=3, base_date=date(2025, 3, 10))
    source = optima_source(database_url)
    issued = install_read_only_guard(source.engine)
    list(source.read(AS_OF))
    source.check(AS_OF)
    mine = [s for s in issued if not s.lstrip().upper().startswith(("PRAGMA", "SHOW"))]
    assert mine and all(is_select(s) for s in mine)
    with pytest.raises(DataError), source.engine.begin() as conn:
        conn.exec_driver_sql('DELETE FROM "Kontrahenci"')


def test_sqlite_file_is_opened_read_only(sqlite_url, optima_source):
    make_demo_db(sqlite_url, 5, seed=3)
    source = optima_source(sqlite_url)
    with pytest.raises(Exception, match="readonly"), source.engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM Kontrahenci")


def _statements() -> dict[str, object]:
    day = datetime(2025, 3, 10)
    return {
        "read_workstation_id": read_statement(ReadQuery(workstation=1), day),
        "read_workstation_name": read_statement(ReadQuery(workstation="Sklep B2B"), day),
        "read_fixed_mode_with_inactive": read_statement(ReadQuery(include_inactive=True), day),
        "check_counts": counts_statement(),
        "check_workstations": workstations_statement(),
    }


@pytest.mark.parametrize("name", sorted(_statements()))
def test_sql_server_statements_match_golden_files_and_parse_as_tsql(name):
    sql = str(_statements()[name].compile(dialect=mssql_pyodbc.dialect())).strip() + "\n"
    path = GOLDEN / f"{name}.sql"
    if os.environ.get(UPDATE_ENV):
        path.parent.mkdir(exist_ok=True)
        path.write_text(sql, encoding="utf-8", newline="\n")
    assert path.read_text(encoding="utf-8") == sql, f"regenerate with {UPDATE_ENV}=1 after reviewing the change"
    assert "[CDN].[" in sql or "CDN." in sql
    parsed = sqlglot.parse(sql, read="tsql")
    assert len(parsed) == 1 and isinstance(parsed[0], exp.Select)
    assert not list(parsed[0].find_all(exp.Insert, exp.Update, exp.Delete, exp.Merge, exp.Drop, exp.Create))
    tables = {t.name for t in parsed[0].find_all(exp.Table)}
    assert tables <= {"Kontrahenci", "BnkZdarzenia", "eSklepStanowiska"}
    assert {t.db for t in parsed[0].find_all(exp.Table)} == {"CDN"}
