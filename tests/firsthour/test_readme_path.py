"""Done when (issue 17): from the README alone, init against PostgreSQL (an Optima-shaped demo database built
with the Comarch plugin's helper) → doctor → dry run succeeds. The README's own lines are run, in bash, with only
the names made unique (database, role, port) so runs do not collide."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from tradecredit.sdk import free_port
from tradecredit.testing import DEFAULT_POSTGRES_ADMIN_URL, in_ci

README = Path(__file__).resolve().parents[2] / "README.md"
MARKER = "<!-- first-hour-postgres -->"

pytestmark = pytest.mark.postgres


def first_hour_block() -> str:
    text_ = README.read_text(encoding="utf-8")
    after = text_[text_.index(MARKER) + len(MARKER):]
    return re.search(r"```sh\n(.*?)```", after, re.S).group(1)


def _admin():
    engine = create_engine(DEFAULT_POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001
        if in_ci():
            pytest.fail(f"PostgreSQL unreachable under CI: {exc}")
        pytest.skip(f"PostgreSQL unreachable: {exc}")
    return engine


@pytest.mark.skipif(sys.platform == "win32" or shutil.which("bash") is None, reason="the README block is sh")
def test_the_readme_first_hour_runs_as_written(tmp_path):
    if not (shutil.which("createdb") and shutil.which("psql")):
        pytest.skip("the PostgreSQL client tools (createdb, psql) are not installed")
    admin = _admin()
    suffix = uuid.uuid4().hex[:8]
    db, role, port = f"tc_readme_{suffix}", f"tc_reader_{suffix}", str(free_port())
    block = first_hour_block()
    script = (block.replace("optima_demo", db).replace("tc_reader", role).replace("8765", port))
    assert script != block
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}", "PYTHONIOENCODING": "utf-8"}
    env.pop("IDOSELL_API_KEY", None)
    try:
        done = subprocess.run(
            ["bash", "-c", "set -euo pipefail\ntrap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n" + script],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
        out = done.stdout + done.stderr
        assert done.returncode == 0, out
        config = (tmp_path / "first-hour.toml").read_text(encoding="utf-8")
        assert "sandbox-key" not in config and 'api_key = { env = "IDOSELL_API_KEY" }' in config
        # init ran check, doctor found nothing failing, the login is read-only, the dry run wrote nothing
        assert "tradecredit check -c first-hour.toml:" in out and "FAIL" not in out
        assert re.search(r"OK   db.read_only\s+source optima: login tc_reader_\w+ cannot write", out), out
        assert "OK   shop.scopes" in out
        assert "dry run" in out.lower() and "optima-to-idosell" in out
    finally:
        with admin.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :d"), {"d": db})
            conn.execute(text(f'DROP DATABASE IF EXISTS "{db}"'))
            conn.execute(text(f"DROP ROLE IF EXISTS {role}"))
        admin.dispose()
