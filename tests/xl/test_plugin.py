"""Registration, config validation, CLI command, check output and secret masking."""

import pytest
from click.testing import CliRunner
from tradecredit import CheckStatus, ConfigError
from tradecredit.core.config import parse_config

from . import helpers as xlh


def _host(tc_host_factory):
    from tradecredit.plugins import xl

    return tc_host_factory(xl)


def test_registers_source_and_validates_options(tc_host_factory, tc_sqlite_url):
    host = _host(tc_host_factory)
    assert "xl" in host.sources
    config = {"sources": {"erp": {"plugin": "xl", "url": tc_sqlite_url, "branch_id": 2}}}
    assert parse_config(config, host).sources["erp"].options.branch_id == 2
    bad = {"sources": {"erp": {"plugin": "xl", "url": tc_sqlite_url, "include_reservation": True,
                               "system_currency": "XXQ"}}}
    with pytest.raises(ConfigError) as err:
        parse_config(bad, host)
    text = str(err.value)
    assert "sources.erp.include_reservation: unknown option" in text
    assert "system_currency" in text  # every field problem at once


def test_make_demo_db_command(tmp_path, tc_host_factory):
    import click
    from tradecredit.plugins.xl import register_commands

    root = click.Group("tradecredit")
    register_commands(root)
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    result = CliRunner().invoke(root, ["xl", "make-demo-db", url, "--customers", "120", "--seed", "3",
                                       "--today", "2025-03-10"])
    assert result.exit_code == 0, result.output
    assert "KntKarty 120" in result.output and "2025-03-10" in result.output
    again = CliRunner().invoke(root, ["xl", "make-demo-db", url, "--customers", "5"])
    assert again.exit_code != 0 and "already holds" in again.output


def test_check_reports_counts_mode_and_bad_data(tc_sqlite_url, xl_source):
    from tradecredit.plugins.xl.demo import generate, write

    write(tc_sqlite_url, generate(1000, seed=1, today=xlh.TODAY))
    results = {r.name: r for r in xl_source(tc_sqlite_url, control_mode=None, branch_id=3).check(xlh.AS_OF)}
    assert results["xl.connect"].status is CheckStatus.OK
    assert results["xl.control_mode"].status is CheckStatus.WARN and "UNCONFIRMED" in results["xl.control_mode"].detail
    assert "limited=" in results["xl.read"].detail and "payer card" in results["xl.bad_data"].detail


def test_secrets_never_in_check_output(xl_source):
    from tradecredit.core.config import _database_url

    url = "postgresql+psycopg://erp:S3cr3t-pass@127.0.0.1:1/xl"
    _database_url(url)  # what config resolution does: remember the password for masking
    results = xl_source(url).check(xlh.AS_OF)
    assert results[0].status is CheckStatus.FAIL
    assert all("S3cr3t-pass" not in r.detail for r in results)


def test_keys_lists_the_codes_the_read_returns_so_runs_stream(tc_sqlite_url, make_xl_db, xl_source):
    """``Source.keys`` (issue 13): the orchestrator's duplicate index, one SELECT of the card codes."""
    from datetime import UTC, datetime

    make_xl_db(tc_sqlite_url, KntKarty=[xlh.card(1, "ACME"), xlh.card(2, "acme "),
                                       xlh.card(3, "OLD", Knt_Archiwalny=1)])
    as_of = datetime(2025, 3, 10, tzinfo=UTC)
    assert sorted(xl_source(tc_sqlite_url).keys(as_of)) == ["ACME", "acme "]
    assert sorted(xl_source(tc_sqlite_url, include_archived=True).keys(as_of)) == ["ACME", "OLD", "acme "]
    from tradecredit.sdk import normalise_code

    read = {normalise_code(r.code) for r in xl_source(tc_sqlite_url).read(as_of) if r.code}
    assert {normalise_code(c) for c in xl_source(tc_sqlite_url).keys(as_of)} >= read, "a superset of the read"
