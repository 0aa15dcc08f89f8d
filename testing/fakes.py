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


# --- fakes for pipeline tests (usable by plugin authors) ---------------------------------------------------
from collections.abc import Iterable as _Iterable  # noqa: E402
from typing import Any as _Any  # noqa: E402

from .adapters import ItemResult, ItemStatus, PluginOptions, Source, Target  # noqa: E402
from .hookspecs import hookimpl  # noqa: E402
from .records import ControlMode, CreditRecord, RejectedRow  # noqa: E402

MEMORY_ROWS: dict[str, list[CreditRecord | RejectedRow]] = {}
"""Rows a ``memory`` source yields, by dataset name (set them in a test)."""


class MemorySourceOptions(PluginOptions):
    dataset: str = "default"


class MemorySource(Source):
    """Yields the rows stored under ``MEMORY_ROWS[dataset]``, re-stamped with the run's ``as_of``."""

    Options = MemorySourceOptions

    def read(self, as_of):  # type: ignore[no-untyped-def]
        for row in MEMORY_ROWS.get(self.options.dataset, []):  # type: ignore[attr-defined]
            yield row.model_copy(update={"as_of": as_of, "source": self.name}) if isinstance(row, CreditRecord) else row


class FakeTargetOptions(PluginOptions):
    batch_size: int = 100
    known_codes: list[str] | None = None  # None = every code has a shop account
    native_modes: list[ControlMode] | None = None
    mode_policy: dict[ControlMode, ControlMode] = {}


class FakeTarget(Target):
    """Keeps what it is sent in memory; tests script failures per call with ``FakeTarget.script``.

    ``script`` is a list consumed one entry per ``write`` call: ``None`` confirms all, a set of codes fails
    those items, an exception instance is raised. ``calls`` records every batch (codes and payloads).
    ``shop`` (code → values) is the fake shop's data: writes land there, and ``current`` reads it, so seeding
    it before a first dry run shows what the shop holds. ``current_error`` makes ``current`` raise;
    ``current_calls`` records the codes of each ``current`` call. ``account`` is the identity field.
    """

    Options = FakeTargetOptions
    identity_fields = frozenset({"account"})
    script: list[_Any] = []
    calls: list[list[dict[str, _Any]]] = []
    shop: dict[str, dict[str, _Any]] = {}

    unchanged_calls: list[list[str]] = []
    forgotten: set[str] = set()  # codes the "shop" answers as unknown in confirm_unchanged
    current_calls: list[list[str]] = []
    current_error: BaseException | None = None

    @classmethod
    def reset(cls) -> None:
        cls.script, cls.calls, cls.shop, cls.unchanged_calls, cls.forgotten = [], [], {}, [], set()
        cls.current_calls, cls.current_error = [], None

    def current(self, items):  # type: ignore[no-untyped-def]
        cls = type(self)
        cls.current_calls.append([i.code for i in items])
        if cls.current_error is not None:
            raise cls.current_error
        return {
            i.key: {k: v for k, v in cls.shop[i.code].items() if k in i.payload} for i in items if i.code in cls.shop
        }

    def confirm_unchanged(self, codes, as_of):  # type: ignore[no-untyped-def]
        type(self).unchanged_calls.append(list(codes))
        return {c: "unknown" if c in type(self).forgotten else "accepted" for c in codes}

    @property
    def native_modes(self) -> frozenset[ControlMode]:  # type: ignore[override]
        modes = self.options.native_modes  # type: ignore[attr-defined]
        return frozenset(modes) if modes else frozenset(ControlMode)

    def batch_size(self) -> int:
        return self.options.batch_size  # type: ignore[attr-defined,no-any-return]

    def match(self, codes: list[str]) -> dict[str, dict[str, _Any]]:
        known = self.options.known_codes  # type: ignore[attr-defined]
        return {c: {"account": c.lower()} for c in codes if known is None or c in known}

    def payload(self, record, match, mode):  # type: ignore[no-untyped-def]
        return {
            "account": match["account"],
            "limit": None if record.credit_limit is None else format(record.credit_limit, "f"),
            "used": format(record.used, "f"),
            "mode": mode.effective.value,
        }

    def write(self, items):  # type: ignore[no-untyped-def]
        type(self).calls.append([{"code": i.code, **i.payload} for i in items])
        action = type(self).script.pop(0) if type(self).script else None
        if isinstance(action, BaseException):
            raise action
        failing: _Iterable[str] = action or ()
        results = []
        for i in items:
            if i.code in failing:
                results.append(ItemResult(key=i.key, status=ItemStatus.FAILED, error=f"shop refused {i.code}"))
            else:
                type(self).shop[i.code] = i.payload
                results.append(ItemResult(key=i.key, status=ItemStatus.CONFIRMED))
        return results


class testing_plugin:
    """Add to a host with ``host.add_plugin(testing_plugin, name="testing")`` to get ``memory``/``fake``."""

    @staticmethod
    @hookimpl
    def register_sources(register):  # type: ignore[no-untyped-def]
        register("memory", MemorySource)

    @staticmethod
    @hookimpl
    def register_targets(register):  # type: ignore[no-untyped-def]
        register("fake", FakeTarget)
