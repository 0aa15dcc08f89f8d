"""The ``CDN`` schema Comarch's databases use, on the three engines tradecredit reads.

Optima and XL define their tables once with ``schema="CDN"``. On SQL Server and PostgreSQL the schema exists;
in SQLite (demo and test copies) the tables live in the main file under their plain names, which
``schema_translate_map`` does.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Sequence
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


def expected_tables(tables: Iterable[Table], dialect: str, omit: Collection[str] = ()) -> list[ExpectedTable]:
    """What ``tradecredit doctor`` looks for: the plugin's tables and columns, ``CDN`` mapped for ``dialect``.

    ``omit``: columns the configured read does not select (the billing columns of a credit-only source)."""
    return [ExpectedTable(schema=None if dialect == "sqlite" else t.schema, name=t.name,
                          columns=tuple(c.name for c in t.columns if c.name not in omit)) for t in tables]


def not_checked(what: str, exc: BaseException) -> CheckResult:
    """``config validate`` could not reach the ERP database: say what was not checked, and how to check it."""
    return CheckResult(name="references", status=CheckStatus.WARN,
                       detail=f"{what} not checked: cannot read the ERP database ({mask(exc)})",
                       fix="run `tradecredit doctor -c FILE` once the database is reachable")


def column_types(engine: Engine, table: str, names: Sequence[str]) -> dict[str, str]:
    """Column → its type as the database reports it: ``INFORMATION_SCHEMA.COLUMNS`` (SQL Server, PostgreSQL),
    ``PRAGMA table_info`` on SQLite. Columns the table lacks are missing from the result."""
    wanted = set(names)
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            rows = conn.execute(text("SELECT name, type, NULL FROM pragma_table_info(:t)"), {"t": table}).all()
        else:
            rows = conn.execute(text(
                "SELECT COLUMN_NAME, DATA_TYPE, CHARACTER_MAXIMUM_LENGTH FROM INFORMATION_SCHEMA.COLUMNS "
                "WHERE TABLE_SCHEMA = :s AND TABLE_NAME = :t"), {"s": ERP_SCHEMA, "t": table}).all()
    found: dict[str, str] = {}
    for name, type_, length in rows:
        if name in wanted:
            found[name] = f"{type_}({'max' if length == -1 else length})" if length is not None else str(type_)
    return found


def check_billing_columns(engine: Engine, check_name: str, table: str, names: Sequence[str]) -> CheckResult:
    """``check``: the billing columns' types as found (their types are unconfirmed: comarch README §4b)."""
    try:
        found = column_types(engine, table, names)
    except Exception as exc:  # noqa: BLE001 - a check line, not a failure of the run
        return CheckResult(name=check_name, status=CheckStatus.WARN,
                           detail=mask(f"could not read the column types of {table}: {exc}"))
    missing = [n for n in names if n not in found]
    detail = f"{ERP_SCHEMA}.{table} billing columns: " + ", ".join(f"{n} {found[n]}" for n in names if n in found)
    if missing:
        detail += f"; MISSING (billing data cannot be read): {', '.join(missing)}"
    return CheckResult(name=check_name, status=CheckStatus.FAIL if missing else CheckStatus.OK, detail=detail)
