"""``tradecredit.testing``: the test kit for plugin authors, an opt-in pytest plugin.

Nothing is injected into a project that does not ask for it. Opt in from your ``conftest.py``::

    pytest_plugins = ["tradecredit.testing"]

Fixtures (all prefixed ``tc_``):

* ``tc_host_factory``: ``make(*plugins, entrypoints=None, strict=False)`` builds a fresh plugin host with only
  the plugins you name (no global state).
* ``tc_sqlite_url``: a fresh SQLite file URL under ``tmp_path``.
* ``tc_postgres_url``: a fresh, empty PostgreSQL database for this test, dropped afterwards. The server is
  ``$TRADECREDIT_TEST_POSTGRES`` (default ``postgresql+psycopg://postgres@127.0.0.1:5432/test``); skipped when
  it is unreachable, except with ``CI=true`` where that is a failure.
* ``tc_database_url``: parametrised over both engines, for code that must work on SQLite and PostgreSQL.

Fakes (``MemorySource``, ``FakeTarget``, ``testing_plugin``) and the conformance suites every adapter must
pass (``SourceConformance``, ``TargetConformance``) are importable from here too.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ..core.plugins import PluginHost
from .conformance import AS_OF, SourceConformance, TargetConformance
from .fakes import MEMORY_ROWS, FakeTarget, FakeTargetOptions, MemorySource, MemorySourceOptions, testing_plugin

__all__ = [
    "AS_OF",
    "DEFAULT_POSTGRES_ADMIN_URL",
    "MEMORY_ROWS",
    "POSTGRES_ADMIN_URL_ENV",
    "FakeTarget",
    "FakeTargetOptions",
    "HostFactory",
    "MemorySource",
    "MemorySourceOptions",
    "SourceConformance",
    "TargetConformance",
    "in_ci",
    "testing_plugin",
]

POSTGRES_ADMIN_URL_ENV = "TRADECREDIT_TEST_POSTGRES"
DEFAULT_POSTGRES_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"

HostFactory = Callable[..., PluginHost]
"""``make(*plugins, entrypoints=None, strict=False) -> PluginHost``, what ``tc_host_factory`` returns."""


def in_ci() -> bool:
    """``CI=true``: a test that would skip for a missing service must fail instead."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


@pytest.fixture
def tc_host_factory() -> HostFactory:
    """Return ``make(*plugins, entrypoints=None, strict=False)`` that builds an isolated ``PluginHost``."""

    def make(*plugins: object, entrypoints: list[str] | None = None, strict: bool = False) -> PluginHost:
        host = PluginHost(strict=strict)
        if entrypoints is not None:
            host.load_entrypoints(only=entrypoints)
        for plugin in plugins:
            host.add_plugin(plugin)
        return host

    return make


@pytest.fixture
def tc_sqlite_url(tmp_path: Path) -> str:
    """A fresh SQLite file under the test's ``tmp_path`` (created on first connect)."""
    return f"sqlite:///{tmp_path / f'tc-{uuid.uuid4().hex[:8]}.db'}"


@pytest.fixture
def tc_postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for this test, dropped afterwards."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin_url = os.environ.get(POSTGRES_ADMIN_URL_ENV, DEFAULT_POSTGRES_ADMIN_URL)
    try:
        admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - a missing server or driver: skip (fail under CI)
        if in_ci():
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
def tc_database_url(request: pytest.FixtureRequest) -> str:
    """A fresh database on each engine the product supports for tests (SQLite, then PostgreSQL)."""
    url: str = request.getfixturevalue("tc_sqlite_url" if request.param == "sqlite" else "tc_postgres_url")
    return url
