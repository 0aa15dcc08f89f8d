"""``tradecredit doctor``: every failure case that can be produced here shows its message and its fix."""

from __future__ import annotations

import json
import re
import textwrap
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from tradecredit.core.doctor import clock_skew
from tradecredit.plugins.idosell.sandbox import start_sandbox

from .helpers import API_KEY, doctor, invoke, run_cli_subprocess

pytestmark = pytest.mark.postgres


def test_a_healthy_setup_passes_every_check(erp_db, sandbox, write_config):
    d = doctor(write_config(erp_db.read_only, sandbox.url))
    assert d.exit_code == 0, d.output
    for check_id in ("python.version", "config.load", "db.dialect", "db.driver", "db.connect", "db.schema",
                     "db.read_only", "optima.workstation", "state.writable", "shop.reachable", "shop.clock",
                     "shop.credentials", "shop.scopes"):
        assert all(line["status"] == "ok" for line in d.by_id(check_id)), (check_id, d.lines)
        assert d.by_id(check_id), check_id
    assert "4 expected tables" in d.one("db.schema")["message"]
    assert "cannot write to CDN.Kontrahenci" in d.one("db.read_only")["message"]
    assert "permission denied" in d.one("db.read_only")["message"]
    # no SQL Server URL: pyodbc is not needed, so its absence (no libodbc on this machine) is only a warning
    assert d.one("odbc.pyodbc")["status"] in ("ok", "warn")
    assert all(line["fix"] is None for line in d.lines if line["status"] == "ok")


def test_a_login_that_may_write_fails_with_the_grant_to_use(erp_db, sandbox, write_config):
    d = doctor(write_config(erp_db.read_write, sandbox.url))
    assert d.exit_code == 1
    line = d.one("db.read_only")
    assert line["status"] == "fail"
    assert "may write to CDN.Kontrahenci" in line["message"]
    assert "db_datareader" in line["fix"] and "GRANT SELECT" in line["fix"]
    assert d.status("optima.workstation") == "ok", "the other checks still run"
    # the probe was rolled back: nothing changed in the ERP
    from sqlalchemy import create_engine, text
    engine = create_engine(erp_db.url)
    with engine.connect() as conn:
        assert conn.execute(text('SELECT count(*) FROM "CDN"."Kontrahenci"')).scalar_one() == 40
    engine.dispose()


def test_missing_tables_and_columns_are_named(erp_db, sandbox, write_config):
    erp_db.execute('DROP TABLE "CDN"."KntESklepy"')
    erp_db.execute('ALTER TABLE "CDN"."BnkZdarzenia" DROP COLUMN "BZd_Termin"')
    d = doctor(write_config(erp_db.read_only, sandbox.url))
    assert d.exit_code == 1
    line = d.one("db.schema")
    assert line["status"] == "fail"
    assert "missing tables: CDN.KntESklepy" in line["message"]
    assert "missing columns: CDN.BnkZdarzenia.BZd_Termin" in line["message"]
    assert "company database" in line["fix"]
    assert not d.by_id("db.read_only")  # not probed against a schema that is not the expected one


def test_an_unreachable_host_says_what_to_check(sandbox, write_config):
    d = doctor(write_config("postgresql+psycopg://tc_reader@127.0.0.1:1/CDN_Firma", sandbox.url))
    assert d.exit_code == 1
    line = d.one("db.connect")
    assert line["status"] == "fail"
    assert "cannot connect to postgresql+psycopg://tc_reader@127.0.0.1:1/CDN_Firma" in line["message"]
    assert "127.0.0.1:1 is reachable" in line["fix"] and "firewall" in line["fix"]


def test_a_misspelt_dialect_is_named_with_the_right_one(sandbox, write_config):
    d = doctor(write_config("sqllite:///optima.db", sandbox.url))
    assert d.exit_code == 3  # the config does not load, like `check`
    line = d.one("db.dialect", "source erp")
    assert line["status"] == "fail" and "unknown database dialect 'sqllite'" in line["message"]
    assert "did you mean 'sqlite'?" in line["fix"]
    assert d.status("config.load") == "fail"


def test_clock_skew_of_the_shop(erp_db, tmp_path, write_config):
    for offset, status in ((900.0, "fail"), (-120.0, "warn"), (0.0, "ok")):
        shop = start_sandbox(tmp_path / f"shop{offset}.db", API_KEY, clock_offset=offset)
        try:
            d = doctor(write_config(erp_db.read_only, shop.url))
        finally:
            shop.stop()
        line = d.one("shop.clock")
        assert line["status"] == status, line
        if offset:
            # the Date header has a resolution of one second
            found = re.search(r"is (\d+) s (ahead of|behind) this machine's", line["message"])
            assert found and abs(int(found.group(1)) - abs(offset)) <= 2, line
            assert found.group(2) == ("ahead of" if offset > 0 else "behind")
            assert "w32tm /resync" in line["fix"] and "timedatectl" in line["fix"]
        assert d.exit_code == (1 if status == "fail" else 0)


def test_a_wrong_key_and_a_key_without_the_write_scope(erp_db, sandbox, write_config, monkeypatch):
    monkeypatch.setenv("TC_WRONG_KEY", "not-the-key")
    d = doctor(write_config(erp_db.read_only, sandbox.url, key_env="TC_WRONG_KEY"))
    assert d.exit_code == 1
    line = d.one("shop.credentials")
    assert line["status"] == "fail" and "refused the API key" in line["message"]
    assert "Klucze API" in line["fix"]
    assert "not-the-key" not in d.output

    sandbox.add_key("read-only-key", {"clients": "r"})
    monkeypatch.setenv("TC_WRONG_KEY", "read-only-key")
    d = doctor(write_config(erp_db.read_only, sandbox.url, key_env="TC_WRONG_KEY"))
    line = d.one("shop.scopes")
    assert line["status"] == "fail" and "clients: write (Scope: clients, level: w)" in line["message"]
    assert d.status("shop.credentials") == "ok"


def test_an_unreachable_shop(erp_db, write_config):
    d = doctor(write_config(erp_db.read_only, "http://127.0.0.1:9"))
    line = d.one("shop.reachable")
    assert line["status"] == "fail" and "cannot reach http://127.0.0.1:9" in line["message"]
    assert "base_url" in line["fix"]


def test_a_state_store_that_cannot_be_written(erp_db, sandbox, write_config, tmp_path):
    d = doctor(write_config(erp_db.read_only, sandbox.url,
                            state=f"sqlite:///{(tmp_path / 'no-such-folder' / 'state.db').as_posix()}"))
    line = d.one("state.writable")
    assert line["status"] == "fail" and "cannot write the state file" in line["message"]
    assert "write access" in line["fix"]


def test_text_output_prints_the_fix_under_the_line(sandbox, write_config):
    result = invoke("doctor", "-c", str(write_config("postgresql+psycopg://x@127.0.0.1:1/db", sandbox.url)))
    assert result.exit_code == 1
    lines = result.output.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("FAIL db.connect"))
    assert lines[at + 1].startswith("     fix: check that 127.0.0.1:1 is reachable")


# --- pyodbc without unixODBC ----------------------------------------------------------------------------------
SITECUSTOMIZE = """
import sys

class _NoLibodbc:
    # What importing pyodbc raises on a machine without unixODBC (the message is the real one).
    def find_spec(self, name, path=None, target=None):
        if name == "pyodbc":
            raise {error}
        return None

sys.meta_path.insert(0, _NoLibodbc())
"""
MSSQL_URL = "mssql+pyodbc://tc_reader:s3cret@sql01/CDN_Firma?driver=ODBC+Driver+18+for+SQL+Server"


@pytest.mark.parametrize(("error", "expected", "fix"), [
    ('ImportError("libodbc.so.2: cannot open shared object file: No such file or directory")',
     "libodbc.so.2: cannot open shared object file", "sudo apt install unixodbc"),
    ('ModuleNotFoundError("No module named \'pyodbc\'", name="pyodbc")',
     "pyodbc is not installed", "pip install 'tradecredit[mssql]'"),
])
def test_pyodbc_that_does_not_import_names_the_package_to_install(tmp_path, write_config, error, expected, fix):
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(textwrap.dedent(SITECUSTOMIZE.format(error=error)), encoding="utf-8")
    config = write_config(MSSQL_URL)
    out = run_cli_subprocess(["doctor", "-c", str(config), "--json"], pythonpath=site)
    assert out.returncode == 1, out.stderr
    lines = json.loads(out.stdout)
    pyodbc = next(line for line in lines if line["id"] == "odbc.pyodbc")
    assert pyodbc["status"] == "fail" and expected in pyodbc["message"]
    assert fix in pyodbc["fix"]
    if "apt" in fix:
        assert "dnf install unixODBC" in pyodbc["fix"] and "msodbcsql18" in pyodbc["fix"]
    driver = next(line for line in lines if line["id"] == "db.driver")
    assert driver["status"] == "fail" and fix in driver["fix"]
    assert "s3cret" not in out.stdout + out.stderr


def test_this_machine_without_libodbc(write_config):
    """The real thing, where it is true (this CI image has pyodbc but no unixODBC)."""
    from tradecredit.core.dialects import pyodbc_problem

    problem = pyodbc_problem()
    if problem is None or "libodbc" not in problem.message:
        pytest.skip("pyodbc imports here (unixODBC is installed)")
    out = run_cli_subprocess(["doctor", "-c", str(write_config(MSSQL_URL)), "--json"])
    pyodbc = next(line for line in json.loads(out.stdout) if line["id"] == "odbc.pyodbc")
    assert "libodbc.so" in pyodbc["message"] and "apt install unixodbc" in pyodbc["fix"]


def test_windows_gets_the_microsoft_driver_name(monkeypatch):
    from tradecredit.core import dialects

    monkeypatch.setattr(dialects.sys, "platform", "win32")
    assert '"Microsoft ODBC Driver 18 for SQL Server"' in dialects.odbc_fix()


def test_doctor_json_is_documented_in_the_readme():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    for check_id in ("python.version", "odbc.pyodbc", "odbc.drivers", "db.dialect", "db.driver", "db.connect",
                     "db.schema", "db.read_only", "state.writable", "shop.reachable", "shop.clock",
                     "shop.credentials", "shop.scopes", "config.load"):
        assert f"`{check_id}`" in readme, check_id


def test_a_sqlite_erp_copy_that_does_not_exist(sandbox, write_config, tmp_path):
    missing = (tmp_path / "no-optima.db").as_posix()
    d = doctor(write_config(f"sqlite:///{missing}", sandbox.url))
    line = d.one("db.connect")
    assert line["status"] == "fail" and f"the SQLite file {missing} must exist" in line["fix"]
    assert not (tmp_path / "no-optima.db").exists(), "the doctor creates nothing"


def test_the_sandbox_command_takes_a_clock_offset(monkeypatch):
    """`tradecredit sandbox idosell --clock-offset 900`: the served app's Date header runs 15 minutes ahead."""
    from click.testing import CliRunner
    from tradecredit import sdk
    from tradecredit.plugins.idosell.cli import sandbox_cmd
    from tradecredit.sdk import free_port, serve_in_thread

    seen: list[Any] = []

    def serve_briefly(app: Any, host: str, port: int, **kw: Any) -> None:  # instead of serving until Ctrl+C
        with serve_in_thread(app, date_header=kw["date_header"]) as running:
            sent = datetime.now(UTC)
            dates = httpx.get(running.url + "/").headers.get_list("date")
            seen.append((kw, dates, sent, datetime.now(UTC)))

    monkeypatch.setattr(sdk, "serve_forever", serve_briefly)
    result = CliRunner().invoke(sandbox_cmd, ["--port", str(free_port()), "--clock-offset", "900"])
    assert result.exit_code == 0, result.output
    kw, dates, sent, received = seen[0]
    assert kw == {"date_header": False}, "the sandbox sends its own Date, uvicorn none"
    assert len(dates) == 1
    assert 895 <= clock_skew(dates[0], sent, received) <= 905


def test_a_login_without_select_rights_sees_no_tables(erp_db, sandbox, write_config):
    """INFORMATION_SCHEMA lists only what the login may read: a login without grants is told to get SELECT."""
    import uuid

    from sqlalchemy.engine import make_url

    role = f"tc_none_{uuid.uuid4().hex[:8]}"
    erp_db.execute(f"CREATE ROLE {role} LOGIN")
    try:
        url = make_url(erp_db.url).set(username=role).render_as_string(hide_password=False)
        d = doctor(write_config(url, sandbox.url))
        assert d.status("db.connect") == "ok"
        line = d.one("db.schema")
        assert line["status"] == "fail" and "missing tables: CDN.Kontrahenci" in line["message"]
        assert "give the login SELECT on these tables" in line["fix"]
    finally:
        erp_db.execute(f"DROP OWNED BY {role}")
        erp_db.execute(f"DROP ROLE {role}")
