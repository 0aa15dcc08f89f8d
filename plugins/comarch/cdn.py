"""The ``CDN`` schema Comarch's databases use, on the three engines tradecredit reads.

Optima and XL define their tables once with ``schema="CDN"``. On SQL Server and PostgreSQL the schema exists;
in SQLite (demo and test copies) the tables live in the main file under their plain names, which
``schema_translate_map`` does.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, MetaData, Table, text
from sqlalchemy.engine import Connection
from tradecredit.sdk import CheckResult, CheckStatus, ExpectedTable, mask
from tradecredit.sdk import streaming as _streaming

ERP_SCHEMA = "CDN"


def schema_map(engine: Engine | Connection) -> dict[str | None, str | None]:
    """``{"CDN": None}`` on SQLite (plain table names), identity elsewhere."""
    return {ERP_SCHEMA: None} if engine.dialect.name == "sqlite" else {}


@contextmanager
def streaming(engine: Engine) -> Iterator[Connection]:
    """The SDK's streaming connection, with the ``CDN`` schema mapped for the engine."""
    with _streaming(engine, schema_translate_map=schema_map(engine)) as conn:
        yield conn


def create_erp_tables(engine: Engine, metadata: MetaData) -> None:
    """Create an ERP-shaped schema (for demo and test databases): ``CDN`` schema on servers, plain in SQLite."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{ERP_SCHEMA}"'))
        metadata.create_all(conn.execution_options(schema_translate_map=schema_map(engine)))


def expected_tables(tables: Iterable[Table], dialect: str) -> list[ExpectedTable]:
    """What ``tradecredit doctor`` looks for: the plugin's tables and columns, ``CDN`` mapped for ``dialect``."""
    return [ExpectedTable(schema=None if dialect == "sqlite" else t.schema, name=t.name,
                          columns=tuple(c.name for c in t.columns)) for t in tables]


def not_checked(what: str, exc: BaseException) -> CheckResult:
    """``config validate`` could not reach the ERP database: say what was not checked, and how to check it."""
    return CheckResult(name="references", status=CheckStatus.WARN,
                       detail=f"{what} not checked: cannot read the ERP database ({mask(exc)})",
                       fix="run `tradecredit doctor -c FILE` once the database is reachable")
