"""Fixtures for the first-hour tests (issue 17): an Optima-shaped PostgreSQL database with a read-only and a
read-write login, a running IdoSell sandbox, and helpers that run the CLI as a merchant would."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from tradecredit.core.plugins import set_host
from tradecredit.core.secrets import forget_secrets
from tradecredit.plugins.idosell.sandbox import Sandbox, start_sandbox
from tradecredit.testing import in_ci

from .helpers import API_KEY, KEY_ENV, config_text


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv(KEY_ENV, API_KEY)
    set_host(None)  # every test sees the installed plugins, as the CLI does
    yield
    forget_secrets()


@dataclass
class ErpDb:
    url: str  # the owner (superuser) URL
    read_only: str  # a login with SELECT only
    read_write: str  # a login that may also UPDATE

    def execute(self, sql: str) -> None:
        engine = create_engine(self.url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                conn.execute(text(sql))
        finally:
            engine.dispose()


@pytest.fixture
def erp_db(tc_postgres_url: str) -> Iterator[ErpDb]:
    """An Optima demo database on PostgreSQL (the Comarch plugin's builder) and two logins for it."""
    from tradecredit.plugins.optima import make_demo_db

    make_demo_db(tc_postgres_url, customers=40)
    suffix = uuid.uuid4().hex[:8]
    ro, rw = f"tc_ro_{suffix}", f"tc_rw_{suffix}"
    db = ErpDb(tc_postgres_url, "", "")
    dbname = make_url(tc_postgres_url).database
    for role, rights in ((ro, "SELECT"), (rw, "SELECT, INSERT, UPDATE, DELETE")):
        db.execute(f"CREATE ROLE {role} LOGIN")
        db.execute(f'GRANT CONNECT ON DATABASE "{dbname}" TO {role}')
        db.execute(f'GRANT USAGE ON SCHEMA "CDN" TO {role}')
        db.execute(f'GRANT {rights} ON ALL TABLES IN SCHEMA "CDN" TO {role}')
    base = make_url(tc_postgres_url)
    db.read_only = base.set(username=ro).render_as_string(hide_password=False)
    db.read_write = base.set(username=rw).render_as_string(hide_password=False)
    try:
        yield db
    finally:
        # roles are cluster-wide: revoke what they were granted here (shared objects too), then drop them
        for role in (ro, rw):
            db.execute(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{role}'")
            db.execute(f"DROP OWNED BY {role}")
            db.execute(f"DROP ROLE {role}")


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    sb = start_sandbox(tmp_path / "shop.db", API_KEY)
    try:
        yield sb
    finally:
        sb.stop()


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[..., Path]:
    def write(erp_url: str, shop_url: str = "http://127.0.0.1:9", **kw: str) -> Path:
        path = tmp_path / "tradecredit.toml"
        path.write_text(config_text(erp_url, shop_url, **kw), encoding="utf-8")
        return path

    return write




CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]


@pytest.fixture
def browse() -> Callable[[Callable[[Any], Any]], Any]:
    """``browse(fn)``: ``fn(page)`` in headless Chromium, in a thread of its own.

    Playwright's sync API refuses to start while another instance runs in the same thread, and the e-Sklep
    tests keep a session-wide one open; a thread has no running loop, so both can live in one test session.
    """
    if not CHROMIUM.exists():
        if in_ci():
            pytest.fail(f"{CHROMIUM} is missing (CI=true: browser tests must run)")
        pytest.skip(f"{CHROMIUM} is missing: install Debian's 'chromium' package")

    def run(fn: Callable[[Any], Any]) -> Any:
        def in_thread() -> Any:
            from playwright.sync_api import sync_playwright

            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
                try:
                    page = browser.new_context(locale="pl-PL").new_page()
                    page.set_default_timeout(10_000)
                    return fn(page)
                finally:
                    browser.close()

        with ThreadPoolExecutor(max_workers=1) as pool:
            return pool.submit(in_thread).result()

    return run
