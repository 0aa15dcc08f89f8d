"""Secrets (issue 12): the whole demo, then the demo's data synced with known secret values — an API key, a
database password inside a URL, an ODBC ``PWD=`` — through run, run --json, check, config show, state history
and a JSON log file; every output and every file written (the state database included, on SQLite and on
PostgreSQL) is searched: 0 hits.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import MetaData, create_engine, select
from sqlalchemy.engine import make_url
from tradecredit.plugins.demo import DEMO_KEY, ESHOP_KEY
from tradecredit.plugins.idosell.sandbox import start_sandbox

API_KEY = "ApiKey-Secret-4471-xyz"
DB_PASSWORD = "PgSecret-8812@x/y"  # characters that must be %-encoded in a URL
ODBC_PASSWORD = "OdbcSecret-3390"


def _cli(*args: str, cwd: Path, env: dict[str, str]) -> str:
    out = subprocess.run([sys.executable, "-m", "tradecredit.core.cli", *args], cwd=cwd, capture_output=True,
                         text=True, timeout=180, env={**os.environ, **env})
    return out.stdout + out.stderr


def _hits(secrets: list[str], texts: dict[str, bytes]) -> list[str]:
    found = []
    for secret in secrets:
        for form in {secret, quote(secret, safe=""), quote(secret)}:
            for where, data in texts.items():
                if form.encode() in data:
                    found.append(f"{secret!r} (as {form!r}) in {where}")
    return found


def _files(folder: Path, skip: set[str]) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in folder.rglob("*") if p.is_file() and p.name not in skip}


def _dump(url: str) -> bytes:
    """Every row of every table of the state database, as text."""
    engine = create_engine(url)
    meta = MetaData()
    meta.reflect(engine)
    parts = []
    with engine.connect() as conn:
        for table in meta.sorted_tables:
            parts.extend(repr(tuple(row)) for row in conn.execute(select(table)))
    engine.dispose()
    return "\n".join(parts).encode()


def test_no_secret_in_any_output_or_file(tmp_path, tc_postgres_url):
    demo = tmp_path / "demo"
    outputs: dict[str, bytes] = {}
    outputs["demo output"] = _cli("demo", "--dir", str(demo), "--customers", "20", cwd=tmp_path, env={}).encode()
    assert b"Demo finished" in outputs["demo output"], outputs["demo output"][-2000:]
    # the config the demo writes for the user is input, and holds the storefront's key as the user would
    demo_files = _files(demo, skip={"tradecredit.toml"})
    hits = _hits([DEMO_KEY], {**outputs, **demo_files}) + _hits([ESHOP_KEY], outputs)

    shop = start_sandbox(tmp_path / "shop.db", API_KEY)
    try:
        work = tmp_path / "work"
        work.mkdir()
        state = make_url(tc_postgres_url).set(password=DB_PASSWORD).render_as_string(hide_password=False)
        odbc = quote(f"DRIVER={{ODBC Driver 18 for SQL Server}};SERVER=127.0.0.1,1;DATABASE=XL;UID=sa;"
                     f"PWD={ODBC_PASSWORD};Encrypt=yes", safe="")
        (work / "tradecredit.toml").write_text(f"""
[state]
url = {{ env = "TC_TEST_STATE_URL" }}

[sources.optima]
plugin = "optima"
url = "sqlite:///{(demo / 'optima-demo.db').as_posix()}"
workstation = "e-Sklep"

[sources.xl]
plugin = "xl"
url = "mssql+pyodbc:///?odbc_connect={odbc}"
control_mode = "block"

[targets.shop]
plugin = "idosell"
base_url = "{shop.url}"
api_key = {{ env = "TC_TEST_API_KEY" }}

[[pipelines]]
name = "optima-to-shop"
source = "optima"
target = "shop"

[[pipelines]]
name = "xl-to-shop"
source = "xl"
target = "shop"
""", encoding="utf-8")
        env = {"TC_TEST_STATE_URL": state, "TC_TEST_API_KEY": API_KEY}
        for args in (["run", "optima-to-shop"], ["run", "--json"], ["-v", "run", "xl-to-shop"],
                     ["--log-format", "json", "--log-file", "run.jsonl", "-vv", "run", "--full-refresh"],
                     ["--log-format", "json", "check", "--json"], ["config", "show"], ["state", "history"]):
            # global options first, the config last (click takes options after a command's arguments)
            outputs[" ".join(args)] = _cli(*args, "-c", "tradecredit.toml", cwd=work, env=env).encode()
        written = sum(1 for r in shop.requests if r.op == "PUT clients/clients")
    finally:
        shop.stop()
    assert written > 0, "the secret-bearing config never synced: the search proves nothing\n" + "\n".join(
        f"--- {k}\n{v.decode(errors='replace')[-1500:]}" for k, v in outputs.items())
    assert any(b"***" in o for o in outputs.values()), "nothing was masked: the secrets never reached an output"
    files = _files(work, skip={"tradecredit.toml"})
    assert "run.jsonl" in " ".join(files), "the log file was not written"
    hits += _hits([API_KEY, DB_PASSWORD, ODBC_PASSWORD], {**outputs, **files, "state database": _dump(state)})
    assert hits == [], "\n".join(hits)
