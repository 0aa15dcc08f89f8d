"""Registration, options, secrets, ``check``, the demo CLI and one pipeline run end to end."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, ClassVar

import click
import pytest
from click.testing import CliRunner
from pydantic import ValidationError
from sqlalchemy import create_engine, func, select
from tradecredit import (
    AdapterContext,
    CheckStatus,
    ConfigError,
    ControlMode,
    ItemResult,
    ItemStatus,
    Target,
    run_pipeline,
)
from tradecredit.core.config import parse_config
from tradecredit.plugins import optima
from tradecredit.plugins.comarch import schema_map
from tradecredit.plugins.optima import OptimaSource
from tradecredit.plugins.optima.demo import make_demo_db
from tradecredit.plugins.optima.schema import TABLES

AS_OF = datetime(2025, 3, 10, 11, 0, tzinfo=UTC)
D = Decimal
PASSWORD = "Sup3r-Secret-pw"


def options(**values: Any):
    return OptimaSource.Options.model_validate(values)


def test_plugin_registers_the_source_and_its_command(tc_host_factory):
    host = tc_host_factory(optima)
    assert host.failures == [] and host.source("optima").cls is OptimaSource
    cli = click.Group("tradecredit")
    optima.register_commands(cli)
    assert "make-demo-db" in cli.commands["optima"].commands


def test_entry_point_loads_the_plugin(tc_host_factory):
    host = tc_host_factory(entrypoints=["optima"])
    assert host.failures == [] and "optima" in host.sources


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"url": "sqlite:///x.db", "control_mode": "block", "only_assigned_to_workstation": True},
         "only_assigned_to_workstation"),
        ({"control_mode": "block"}, "exactly one of 'url' and 'sqlserver'"),
        ({"url": "sqlite:///x.db", "control_mode": "block", "workstation": 1}, "not both"),
        ({"url": "sqlite:///x.db", "control_mode": "maybe"}, "control_mode"),
        ({"url": "sqlite:///x.db", "control_mode": "block", "used": "guessed"}, "used"),
        ({"url": "sqlite:///x.db", "control_mode": "block", "system_currency": "ZZZ"}, "ISO 4217"),
        ({"url": "sqlite:///x.db", "control_mode": "block", "timezone": "Mars/Base"}, "time zone"),
        ({"url": "sqlite:///x.db", "control_mode": "block", "uesd": "stored"}, "uesd"),
    ],
)
def test_invalid_options_are_refused(values, message):
    with pytest.raises(ValidationError, match=message):
        options(**values)


def test_defaults_and_labels():
    opts = options(url="sqlite:///x.db", control_mode="Blokada", mode_codes={"0": "brak", "5": "ostrzeżenie"})
    assert opts.used.value == "stored" and opts.system_currency == "PLN" and not opts.include_inactive
    assert opts.control_mode is ControlMode.BLOCK
    assert opts.mode_codes == {0: ControlMode.ALLOW, 5: ControlMode.WARN}


def test_sql_server_url_from_parts_is_read_only_and_masks_the_password():
    opts = options(control_mode="block", sqlserver={
        "server": r"erp.local\OPTIMA", "database": "CDN_Firma", "username": "tc_reader", "password": PASSWORD,
        "driver": 17, "trust_server_certificate": True,
    })
    url = opts.database_url()
    assert "ApplicationIntent=ReadOnly" in url and "ODBC+Driver+17+for+SQL+Server" in url
    assert "TrustServerCertificate=yes" in url and "Encrypt=yes" in url
    assert PASSWORD not in repr(opts) and PASSWORD not in str(opts.model_dump())


def _odbc_string(url: str) -> str:
    """The ODBC connection string the engine built by the plugin would hand to pyodbc.

    A stand-in DBAPI module replaces pyodbc, which needs unixODBC's libodbc (not on the test machines).
    """
    import types

    from tradecredit.core.sql import create_source_engine

    fake = types.ModuleType("pyodbc")
    fake.paramstyle, fake.version, fake.Cursor = "qmark", "5.2.0", type("Cursor", (), {"nextset": None})
    engine = create_source_engine(url, module=fake)
    (connection_string,), _ = engine.dialect.create_connect_args(engine.url)
    return connection_string


def test_windows_authentication_puts_trusted_connection_in_the_odbc_string_once():
    opts = options(control_mode="block", sqlserver={"server": "erp,1433", "database": "CDN_Firma", "trusted": True})
    odbc = _odbc_string(opts.database_url())
    assert odbc.lower().count("trusted_connection=") == 1 and "Trusted_Connection=Yes" in odbc
    assert "UID=" not in odbc and "PWD=" not in odbc
    assert "Server=erp,1433" in odbc and "Database=CDN_Firma" in odbc and "ApplicationIntent=ReadOnly" in odbc
    login = _odbc_string(options(control_mode="block", sqlserver={
        "server": "erp", "database": "CDN_Firma", "username": "tc_reader", "password": PASSWORD}).database_url())
    assert "trusted_connection" not in login.lower() and "UID=tc_reader" in login


@pytest.mark.parametrize(
    ("odbc_connect", "intent"),
    [
        ("DRIVER={ODBC Driver 18 for SQL Server};SERVER=erp;DATABASE=CDN_Firma;Trusted_Connection=yes", "ReadOnly"),
        ("DRIVER={ODBC Driver 18 for SQL Server};SERVER=erp;DATABASE=CDN_Firma;", "ReadOnly"),
        ("DRIVER={ODBC Driver 18 for SQL Server};SERVER=erp;applicationintent = ReadWrite", "ReadWrite"),
    ],
)
def test_odbc_connect_urls_get_application_intent_read_only(odbc_connect, intent):
    from urllib.parse import quote_plus

    odbc = _odbc_string(f"mssql+pyodbc:///?odbc_connect={quote_plus(odbc_connect)}")
    assert odbc.lower().count("applicationintent") == 1  # an explicit choice is kept, never doubled
    assert re.search(rf"(^|;)\s*ApplicationIntent\s*=\s*{intent}\s*$", odbc, re.IGNORECASE)
    assert odbc.startswith(odbc_connect.rstrip(";"))


def test_passwords_never_appear_in_errors_or_check_output(tc_postgres_url):
    from sqlalchemy.engine import make_url

    bad = make_url(tc_postgres_url).set(password=PASSWORD, database="no_such_optima_db")
    source = OptimaSource(options(url=bad.render_as_string(hide_password=False), control_mode="block"),
                          AdapterContext(instance_name="erp"))
    results = source.check(AS_OF)
    assert results[0].status is CheckStatus.FAIL
    assert PASSWORD not in str(results)
    with pytest.raises(ConfigError) as err:
        list(source.read(AS_OF))
    assert PASSWORD not in str(err.value) and "***" in str(err.value)
    source.close()


def test_check_reports_counts_mode_and_stored_vs_computed(tc_database_url, optima_source):
    make_demo_db(tc_database_url, 300, seed=5, base_date=date(2025, 3, 10))
    engine = create_engine(tc_database_url)
    with engine.connect() as conn:
        conn = conn.execution_options(schema_translate_map=schema_map(engine))
        k = TABLES.kontrahenci
        cards = conn.execute(select(func.count()).select_from(k)).scalar_one()
        with_limit = conn.execute(select(func.count()).where(k.c.Knt_LimitFlag == 1, k.c.Knt_Nieaktywny == 0)
                                  ).scalar_one()
    engine.dispose()
    source = optima_source(tc_database_url)
    results = {r.name: r for r in source.check(AS_OF)}
    assert results["optima.connect"].status is CheckStatus.OK
    assert f"{cards} contractor cards" in results["optima.counts"].detail
    assert f"{with_limit} with a credit limit" in results["optima.counts"].detail
    mode = results["optima.control_mode"]
    assert mode.status is CheckStatus.WARN and "= 2 → block" in mode.detail and "UNCONFIRMED" in mode.detail
    # the stored-vs-computed numbers, recomputed here from the records themselves
    records = list(source.read(AS_OF))
    diffs = [abs(D(r.extra["stored_used"]) - D(r.extra["computed_used"])) for r in records]
    differing = [d for d in diffs if d]
    used = results["optima.used"].detail
    assert f"{len(differing)} of {len(records)} customers differ" in used
    assert f"total difference {sum(differing)}" in used and f"largest {max(differing)}" in used


def test_check_reports_a_missing_workstation(tc_sqlite_url, optima_source):
    make_demo_db(tc_sqlite_url, 5, seed=5)
    results = {r.name: r for r in optima_source(tc_sqlite_url, workstation="Nie ma").check(AS_OF)}
    assert results["optima.control_mode"].status is CheckStatus.FAIL
    detail = results["optima.control_mode"].detail
    assert "no e-Sklep workstation 'Nie ma'" in detail
    assert "workstations found (ESS_ESSId 'ESS_Nazwa'): 1 'e-Sklep'" in detail


def test_demo_is_deterministic(tmp_path):
    urls = [f"sqlite:///{tmp_path / f'demo{i}.db'}" for i in (1, 2)]
    for url in urls:
        make_demo_db(url, 200, seed=11, base_date=date(2025, 1, 31))
    dumps = []
    for url in urls:
        engine = create_engine(url)
        with engine.connect() as conn:
            dumps.append([conn.exec_driver_sql(f"SELECT * FROM {t} ORDER BY 1").all()
                          for t in ("Kontrahenci", "BnkZdarzenia", "eSklepStanowiska", "KntESklepy")])
        engine.dispose()
    assert dumps[0] == dumps[1] and len(dumps[0][1]) == 2000 and 150 < len(dumps[0][3]) < 200


def test_make_demo_db_command(tmp_path):
    from tradecredit.plugins.optima.cli import optima_group

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    result = CliRunner().invoke(optima_group, ["make-demo-db", url, "--customers", "50", "--seed", "2"])
    assert result.exit_code == 0, result.output
    assert "50 customers, 500 payments" in result.output
    again = CliRunner().invoke(optima_group, ["make-demo-db", url, "--customers", "50"])
    assert again.exit_code != 0 and "--replace" in again.output
    replaced = CliRunner().invoke(optima_group, ["make-demo-db", url, "--customers", "20", "--replace"])
    assert replaced.exit_code == 0, replaced.output


# --- one pipeline run end to end ---------------------------------------------------------------------------
class RecordingTarget(Target):
    """A tiny in-memory target: confirms every write and remembers the payloads."""

    written: ClassVar[dict[str, dict[str, Any]]] = {}

    def payload(self, record, match, mode):  # type: ignore[no-untyped-def]
        return {"limit": None if record.credit_limit is None else str(record.credit_limit),
                "used": str(record.used), "overdue": str(record.overdue), "mode": mode.effective.value,
                "currency": record.currency}

    def write(self, items):  # type: ignore[no-untyped-def]
        for item in items:
            RecordingTarget.written[item.code] = item.payload
        return [ItemResult(key=item.key, status=ItemStatus.CONFIRMED) for item in items]


class RecordingPlugin:
    @staticmethod
    def register_targets(register):  # type: ignore[no-untyped-def]
        register("recording", RecordingTarget)


def test_pipeline_from_an_optima_database(tc_database_url, optima_db, tc_host_factory, tc_sqlite_url, tmp_path):
    from tradecredit import hookimpl

    db = optima_db(tc_database_url, loose=True)
    a = db.card("ACME", Knt_LimitFlag=1, Knt_LimitKredytu=D("5000.00"), Knt_LimitKredytuWykorzystany=D("750.00"))
    db.pay(a, "750.00", due=datetime(2025, 2, 1))
    db.card("Dup Firma")
    db.card("dup  firma")
    db.card("NEG", Knt_LimitFlag=1, Knt_LimitKredytu=D("-1.00"))
    db.card("EUR", Knt_LimitFlag=1, Knt_LimitKredytu=D("900.00"), Knt_LimitKredytuWal="EUR")
    db.commit()

    plugin = RecordingPlugin()
    plugin.register_targets = hookimpl(RecordingPlugin.register_targets)  # type: ignore[method-assign]
    host = tc_host_factory(optima, plugin)
    config = parse_config({
        "state": {"url": f"sqlite:///{tmp_path / 'state.db'}"},
        "sources": {"erp": {"plugin": "optima", "url": tc_database_url, "workstation": "Sklep B2B"}},
        "targets": {"shop": {"plugin": "recording"}},
        "pipelines": [{"name": "optima-to-shop", "source": "erp", "target": "shop"}],
    }, host)
    RecordingTarget.written.clear()
    report = run_pipeline(config, "optima-to-shop", as_of=AS_OF, host=host)
    assert report.counts.read == 5 and report.counts.rejected == 3
    reasons = {p.code: p.reason for p in report.rejected}
    assert "duplicate" in reasons["Dup Firma"] and "duplicate" in reasons["dup  firma"]
    assert "negative" in reasons["NEG"]
    assert RecordingTarget.written == {
        "ACME": {"limit": "5000.00", "used": "750.00", "overdue": "750.00", "mode": "warn", "currency": "PLN"},
        "EUR": {"limit": "900.00", "used": "0.00", "overdue": "0.00", "mode": "warn", "currency": "EUR"},
    }
    assert report.counts.written == 2


def test_docs_cover_every_option():
    from pathlib import Path

    from tradecredit.plugins.optima.source import SqlServer

    doc = (Path(__file__).resolve().parents[2] / "docs" / "plugins" / "optima.md").read_text(encoding="utf-8")
    for model in (OptimaSource.Options, SqlServer):
        for name in model.model_fields:
            assert f"`{name}`" in doc, f"docs/plugins/optima.md does not document option {name!r}"


def test_the_issues_minimal_config_uses_the_only_workstation(tc_database_url, tc_host_factory, tmp_path):
    """``plugin`` + ``url`` is a complete source: the demo database's only e-Sklep workstation gives the mode."""
    from tradecredit import hookimpl

    make_demo_db(tc_database_url, 60, seed=4, base_date=date(2025, 3, 10))
    plugin = RecordingPlugin()
    plugin.register_targets = hookimpl(RecordingPlugin.register_targets)  # type: ignore[method-assign]
    host = tc_host_factory(optima, plugin)
    config = parse_config({
        "state": {"url": f"sqlite:///{tmp_path / 'state.db'}"},
        "sources": {"erp": {"plugin": "optima", "url": tc_database_url}},
        "targets": {"shop": {"plugin": "recording"}},
        "pipelines": [{"name": "optima-to-shop", "source": "erp", "target": "shop"}],
    }, host)
    RecordingTarget.written.clear()
    report = run_pipeline(config, "optima-to-shop", as_of=AS_OF, host=host)
    assert report.counts.read > 50 and report.counts.rejected == 0
    assert {p["mode"] for p in RecordingTarget.written.values()} == {"block"}  # the demo workstation's code 2
    source = OptimaSource(options(url=tc_database_url), AdapterContext(instance_name="erp"))
    mode = {r.name: r for r in source.check(AS_OF)}["optima.control_mode"]
    source.close()
    assert "the only workstation (1 'e-Sklep' code=2): ESS_KontrolaLimituPlat = 2 → block" in mode.detail
