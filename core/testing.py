"""The test harness shipped to plugin authors (a pytest plugin, entry point ``pytest11``).

Fixtures:

* ``tc_host_factory``: build a fresh plugin host with only the plugins you name (no global state).
* ``sqlite_url``: a fresh SQLite file URL under ``tmp_path``.
* ``postgres_url``: a fresh, empty PostgreSQL database for this test (dropped afterwards). Skipped when the
  server is unreachable, except with ``CI=true`` where an unreachable server is a failure.
* ``database_url``: parametrised over both engines, for tests that must pass on SQLite and PostgreSQL.
* ``state_url``: alias of ``database_url`` for state-store tests.

The conformance suites for sources and targets live in ``tradecredit.core.conformance``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

POSTGRES_ADMIN_URL_ENV = "TRADECREDIT_TEST_POSTGRES"
DEFAULT_POSTGRES_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


@pytest.fixture
def tc_host_factory():
    """Return ``make(*plugins, entrypoints=None)`` that builds an isolated ``PluginHost``."""
    from .plugins import PluginHost

    def make(*plugins: object, entrypoints: list[str] | None = None, strict: bool = False) -> PluginHost:
        host = PluginHost(strict=strict)
        if entrypoints is not None:
            host.load_entrypoints(only=entrypoints)
        for plugin in plugins:
            host.add_plugin(plugin)
        return host

    return make


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / f'tc-{uuid.uuid4().hex[:8]}.db'}"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin_url = os.environ.get(POSTGRES_ADMIN_URL_ENV, DEFAULT_POSTGRES_ADMIN_URL)
    try:
        admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001
        if _in_ci():
            pytest.fail(f"PostgreSQL at {admin_url} is unreachable and CI=true: {exc}")
        pytest.skip(f"PostgreSQL unreachable: {exc}")
    name = f"tc_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = :n AND pid <> pg_backend_pid()"
                ),
                {"n": name},
            )
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    """A fresh database on each engine the product supports for tests."""
    return request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url")


@pytest.fixture
def state_url(database_url: str) -> str:
    return database_url
