"""``config validate`` catches before ``check``/``run``: unknown dialects, drivers that are not installed (with
the extra), workstations and branches the ERP does not have, and plugins that failed to load (named as such)."""

from __future__ import annotations

import pytest
from tradecredit.plugins.optima import make_demo_db
from tradecredit.plugins.xl.demo import generate, write

from .helpers import invoke, run_cli_subprocess


@pytest.fixture
def optima_sqlite(tmp_path):
    url = f"sqlite:///{(tmp_path / 'optima.db').as_posix()}"
    make_demo_db(url, customers=20)
    return url


def test_a_workstation_that_does_not_exist_is_a_config_error(optima_sqlite, write_config):
    result = invoke("config", "validate", "-c", str(write_config(optima_sqlite, workstation="Sklep B2B")))
    assert result.exit_code == 3
    assert "optima.workstation" in result.output
    assert "no e-Sklep workstation 'Sklep B2B'" in result.output
    assert "workstations found (ESS_ESSId 'ESS_Nazwa'): 1 'e-Sklep'" in result.output
    assert "fix: set sources.erp.workstation" in result.output

    ok = invoke("config", "validate", "-c", str(write_config(optima_sqlite, workstation="e-Sklep")))
    assert ok.exit_code == 0 and ok.output.startswith("OK: 1 source(s)")


def test_an_unreachable_database_leaves_the_workstation_unchecked_with_a_warning(write_config):
    result = invoke("config", "validate", "-c",
                    str(write_config("postgresql+psycopg://tc_reader@127.0.0.1:1/CDN_Firma")))
    assert result.exit_code == 0, result.output
    assert "WARN sources.erp: references — workstation 'e-Sklep' not checked: cannot read the ERP database" in \
        result.output
    assert "tradecredit doctor" in result.output


def test_an_xl_branch_that_does_not_exist(tmp_path):
    url = f"sqlite:///{(tmp_path / 'xl.db').as_posix()}"
    write(url, generate(10))
    config = tmp_path / "xl.toml"
    config.write_text(f'[sources.xl]\nplugin = "xl"\nurl = "{url}"\nbranch_id = 99\n', encoding="utf-8")
    result = invoke("config", "validate", "-c", str(config))
    assert result.exit_code == 3
    assert "branch_id 99: no such branch in CDN.PicoKonfig (PcK_PicoID found: 1, 2, 3)" in result.output
    config.write_text(f'[sources.xl]\nplugin = "xl"\nurl = "{url}"\nbranch_id = 2\n', encoding="utf-8")
    assert invoke("config", "validate", "-c", str(config)).exit_code == 0


def test_an_unknown_dialect_is_caught_by_validate(write_config):
    result = invoke("config", "validate", "-c", str(write_config("sqllite:///optima.db")))
    assert result.exit_code == 3
    assert "sources.erp.url: unknown database dialect 'sqllite': did you mean 'sqlite'?" in result.output


@pytest.mark.parametrize(("url", "expected", "fix"), [
    ("postgresql+pg8000://u@db/CDN_Firma", "the pg8000 driver is not installed",
     "install the DBAPI driver 'pg8000' for postgresql"),
    ("mysql://u@db/erp", "the mysqldb driver is not installed", "install the DBAPI driver 'mysqldb'"),
])
def test_a_driver_that_is_not_installed(write_config, url, expected, fix):
    result = invoke("config", "validate", "-c", str(write_config(url)))
    assert result.exit_code == 3
    assert expected in result.output and fix in result.output
    assert "references — not checked against the database: its driver is not installed" in result.output


def test_a_state_store_driver_that_is_not_installed(write_config, optima_sqlite):
    """The [state] URL is checked too: psycopg2 is not installed here (tradecredit's extra brings psycopg 3)."""
    result = invoke("config", "validate", "-c",
                    str(write_config(optima_sqlite, state="postgresql+psycopg2://u@db/state")))
    assert result.exit_code == 3
    assert "FAIL state.url: db.driver — the psycopg2 driver is not installed" in result.output
    assert "install the DBAPI driver 'psycopg2' for postgresql (pip install …), or use postgresql+psycopg:// and " \
           "pip install 'tradecredit[postgres]'" in result.output


def test_sql_server_without_unixodbc_names_the_os_package(write_config):
    from tradecredit.core.dialects import pyodbc_problem

    if pyodbc_problem() is None:
        pytest.skip("pyodbc imports here")
    result = invoke("config", "validate", "-c",
                    str(write_config("mssql+pyodbc://u:p@sql01/CDN_Firma?driver=ODBC+Driver+18+for+SQL+Server")))
    assert result.exit_code == 3
    assert "pip install 'tradecredit[mssql]'" in result.output or "apt install unixodbc" in result.output


def test_a_plugin_that_failed_to_load_is_named_with_its_error(example_plugins_site, tmp_path):
    config = tmp_path / "broken.toml"
    config.write_text('[targets.shop]\nplugin = "broken"\n', encoding="utf-8")
    out = run_cli_subprocess(["config", "validate", "-c", str(config)], pythonpath=example_plugins_site)
    assert out.returncode == 3
    assert "targets.shop.plugin: plugin 'broken' is installed but failed to load (tc-broken-plugin 0.0.1): " \
           "import failed: ModuleNotFoundError: No module named 'tc_this_module_does_not_exist'" in out.stderr
    assert "unknown plugin 'broken'" not in out.stderr
