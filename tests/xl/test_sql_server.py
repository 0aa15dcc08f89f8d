"""Every statement compiled for SQL Server: compared with golden files and parsed by sqlglot (dialect tsql).

Regenerate the golden files after an intended change with ``TRADECREDIT_UPDATE_GOLDEN=1``.
"""

import os
from pathlib import Path

import pytest
import sqlglot
from sqlalchemy.dialects import mssql
from tradecredit import ConfigError
from tradecredit.plugins.xl import XlOptions
from tradecredit.plugins.xl import query as q
from tradecredit.plugins.xl.source import check_arity

from . import helpers as xlh

GOLDEN = Path(__file__).parent / "golden"
URL = "sqlite://"

CASES = {
    "credit_default": {},
    "credit_all_switches": {"include_reservations": True, "include_documents_without_payments": True,
                            "open_settlement_codes": [0, 2], "receivable_document_types": [2033, 2034]},
    "credit_sys_column": {"receivable_amount": "sys_column", "include_archived": True},
    "credit_functions": {"used": "functions", "include_reservations": True},
}


# example values for the bind parameters, so the golden files hold complete, literal T-SQL
PARAMS = {"today": 81887, "overdue_before": 81887, "sys_currency": "PLN", "xl_ts": 1110538800, "tolerance": 0,
          "branch_id": 1}


def _compile(stmt) -> str:
    names = {b.key for b in stmt._get_embedded_bindparams()}
    stmt = stmt.params({k: v for k, v in PARAMS.items() if k in names})
    return str(stmt.compile(dialect=mssql.dialect(), compile_kwargs={"literal_binds": True})).strip() + "\n"


def _statements():
    for name, options in CASES.items():
        yield name, q.credit_query(XlOptions(url=URL, control_mode="block", **options))
    yield "mode", q.mode_query()
    yield "function_arity", q.arity_query()


@pytest.mark.parametrize(("name", "stmt"), list(_statements()), ids=[n for n, _ in _statements()])
def test_mssql_statement_matches_golden_and_parses(name, stmt):
    sql = _compile(stmt)
    path = GOLDEN / f"{name}.mssql.sql"
    if os.environ.get("TRADECREDIT_UPDATE_GOLDEN") == "1":
        path.write_text(sql, encoding="utf-8")
    assert sql == path.read_text(encoding="utf-8"), f"{path.name} differs; regenerate if the change is intended"
    parsed = sqlglot.parse(sql, read="tsql")
    assert len(parsed) == 1 and parsed[0].key == "select"
    assert "[CDN]." in sql or name == "function_arity"


def test_functions_call_xl_with_explicit_flags():
    opts = XlOptions(url=URL, control_mode="block", used="functions", include_reservations=True,
                     overdue_tolerance_days=3)
    sql = _compile(q.credit_query(opts))
    assert "CDN.SumaWartosciKredytuKontrahenta(1110538800, p.[Knt_GIDNumer], 0, 1, 0, 0, 0)" in sql
    assert "CDN.SumaWartosciKredytuTerminKontrahenta(1110538800, 0, p.[Knt_GIDNumer], 0, 1, 0, 0, 0)" in sql
    assert "TraPlat" not in sql  # XL computes used itself


def test_function_arity_mismatch_is_a_clear_config_error():
    check_arity({"SumaWartosciKredytuKontrahenta": 7, "SumaWartosciKredytuTerminKontrahenta": 8},
                {"SumaWartosciKredytuKontrahenta": 7, "SumaWartosciKredytuTerminKontrahenta": 8})
    with pytest.raises(ConfigError) as err:
        expected = XlOptions(url=URL, control_mode="block").expected_function_arity
        check_arity({"SumaWartosciKredytuKontrahenta": 6}, expected)
    message = str(err.value)
    assert "CDN.SumaWartosciKredytuKontrahenta takes 6 parameters" in message and "expects 7" in message
    assert "CDN.SumaWartosciKredytuTerminKontrahenta does not exist" in message


def test_functions_refused_off_sql_server(tc_sqlite_url, make_xl_db, xl_source):
    make_xl_db(tc_sqlite_url, KntKarty=[xlh.card(1)])
    with pytest.raises(ConfigError, match="needs SQL Server"):
        list(xl_source(tc_sqlite_url, used="functions").read(xlh.AS_OF))


def test_function_arity_too_small_for_flags():
    with pytest.raises(ValueError, match="at least 5"):
        q.function_args(q.USED_FUNCTION, 4, XlOptions(url=URL, control_mode="block"), None)
