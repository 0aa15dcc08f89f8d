"""``tradecredit init``: flags or prompts → a commented config with secrets as references, then ``check``."""

from __future__ import annotations

import tomllib

import pytest
from tradecredit.core.config import load_config

from .helpers import KEY_ENV, invoke

SQL_FLAGS = ["--yes", "--erp", "optima", "--sql-host", r"sql01\OPTIMA", "--database", "CDN_Firma",
             "--sql-user", "tc_reader", "--sql-password-env", "TC_TEST_SQL_PASSWORD",
             "--shop-url", "https://shop.example.com/", "--api-key-env", KEY_ENV, "--no-check"]


def test_flags_write_a_commented_config_whose_secrets_are_references(tmp_path, monkeypatch):
    monkeypatch.setenv("TC_TEST_SQL_PASSWORD", "Tajne!Haslo1")
    out = tmp_path / "tc.toml"
    result = invoke("init", "-o", str(out), *SQL_FLAGS, "--odbc-driver", "ODBC Driver 17 for SQL Server",
                    "--trust-server-certificate", "--workstation", "Sklep B2B")
    assert result.exit_code == 0, result.output
    text = out.read_text(encoding="utf-8")
    assert "Tajne!Haslo1" not in text and "firsthour-key" not in text
    assert text.startswith("# Written by `tradecredit init` for Comarch ERP Optima → IdoSell")
    data = tomllib.loads(text)
    sql = data["sources"]["optima"]["sqlserver"]
    assert sql == {"server": r"sql01\OPTIMA", "database": "CDN_Firma", "username": "tc_reader",
                   "password": {"env": "TC_TEST_SQL_PASSWORD"}, "driver": 17, "trust_server_certificate": True}
    assert data["sources"]["optima"]["workstation"] == "Sklep B2B"
    assert data["targets"]["idosell"] == {"plugin": "idosell", "base_url": "https://shop.example.com",
                                          "api_key": {"env": KEY_ENV}}
    config = load_config(out)  # the written file is a valid config, its references resolve
    url = config.sources["optima"].options.database_url()
    assert url.startswith("mssql+pyodbc://tc_reader:") and "ODBC+Driver+17" in url
    assert "environment variable TC_TEST_SQL_PASSWORD: the SQL login's password" in result.output
    for step in ("tradecredit doctor -c", "--dry-run", "tradecredit service install -c"):
        assert step in result.output


def test_trusted_authentication_and_a_key_file(tmp_path):
    out = tmp_path / "tc.toml"
    result = invoke("init", "-o", str(out), "--yes", "--erp", "optima", "--sql-host", "sql01", "--database", "CDN_X",
                    "--auth", "trusted", "--shop-url", "https://s.example.com", "--api-key-file", "C:/keys/idosell",
                    "--no-check")
    assert result.exit_code == 0, result.output
    data = tomllib.loads(out.read_text(encoding="utf-8"))
    sql = data["sources"]["optima"]["sqlserver"]
    assert sql["trusted"] is True and "username" not in sql and "password" not in sql
    assert data["targets"]["idosell"]["api_key"] == {"file": "C:/keys/idosell"}


def test_xl_with_a_sql_login_keeps_the_url_in_a_variable(tmp_path):
    out = tmp_path / "xl.toml"
    result = invoke("init", "-o", str(out), "--yes", "--erp", "xl", "--sql-host", "sql01", "--database", "ERPXL",
                    "--sql-user", "tc_reader", "--branch-id", "2", "--shop-url", "https://s.example.com", "--no-check")
    assert result.exit_code == 0, result.output
    data = tomllib.loads(out.read_text(encoding="utf-8"))
    assert data["sources"]["xl"] == {"plugin": "xl", "url": {"env": "TRADECREDIT_ERP_URL"}, "branch_id": 2}
    assert "environment variable TRADECREDIT_ERP_URL: the full URL, e.g. mssql+pyodbc://tc_reader@sql01/ERPXL" \
        in result.output


def test_a_database_url_with_a_password_is_refused(tmp_path):
    result = invoke("init", "-o", str(tmp_path / "x.toml"), "--yes", "--erp", "optima",
                    "--database-url", "postgresql+psycopg://u:secret@db/optima", "--shop-url", "https://s.example.com")
    assert result.exit_code == 2
    assert "--database-url-env" in result.output and "secret" not in result.output
    assert not (tmp_path / "x.toml").exists()


def test_an_existing_file_is_kept_without_force(tmp_path):
    out = tmp_path / "tc.toml"
    out.write_text("# mine\n", encoding="utf-8")
    result = invoke("init", "-o", str(out), *SQL_FLAGS)
    assert result.exit_code == 2 and "--force" in result.output
    assert out.read_text(encoding="utf-8") == "# mine\n"
    assert invoke("init", "-o", str(out), *SQL_FLAGS, "--force").exit_code == 0


def test_yes_without_a_required_answer_is_a_usage_error(tmp_path):
    result = invoke("init", "-o", str(tmp_path / "x.toml"), "--yes", "--erp", "optima")
    assert result.exit_code == 2 and "SQL Server host" in result.output


def test_interactive_answers(tmp_path):
    from click.testing import CliRunner
    from tradecredit.core.cli import cli

    out = tmp_path / "asked.toml"
    answers = "\n".join(["xl", "sql02,1433", "ERPXL", "trusted", "ODBC Driver 18 for SQL Server", "n", "3",
                         "https://b2b.example.com", "MY_KEY_VAR"]) + "\n"
    result = CliRunner().invoke(cli, ["init", "-o", str(out), "--no-check"], input=answers)
    assert result.exit_code == 0, result.output
    assert "ERP (optima / xl)" in result.output and "IdoSell shop address" in result.output
    data = tomllib.loads(out.read_text(encoding="utf-8"))
    assert data["sources"]["xl"]["branch_id"] == 3
    assert data["sources"]["xl"]["url"].startswith("mssql+pyodbc://sql02:1433/ERPXL?")
    assert data["targets"]["idosell"]["api_key"] == {"env": "MY_KEY_VAR"}


@pytest.mark.postgres
def test_init_runs_check_against_a_database_url(erp_db, sandbox, tmp_path):
    sandbox.add_clients([{"login": "l1", "code_external": "K000001"}])
    out = tmp_path / "pg.toml"
    result = invoke("init", "-o", str(out), "--yes", "--erp", "optima", "--database-url", erp_db.read_only,
                    "--workstation", "e-Sklep", "--shop-url", sandbox.url, "--api-key-env", KEY_ENV)
    assert result.exit_code == 0, result.output
    assert "OK   source optima: optima.connect" in result.output
    assert "pipeline optima-to-idosell: match" in result.output
