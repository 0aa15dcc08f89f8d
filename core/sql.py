"""Shared plumbing for SQL sources: engines, the CDN schema on three engines, read-only guards, streaming.

ERP sources define their tables once with ``schema="CDN"``. On SQL Server and PostgreSQL the schema exists;
in SQLite the tables live in the main file under their plain names, which ``schema_translate_map`` does.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote_plus

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, Connection, make_url

from .errors import ConfigError, DataError
from .secrets import mask

ERP_SCHEMA = "CDN"
_READ_ONLY = re.compile(r"^\s*(?:--[^\n]*\n\s*)*(SELECT|WITH)\b", re.IGNORECASE)


def schema_map(engine: Engine | Connection) -> dict[str | None, str | None]:
    """``{"CDN": None}`` on SQLite (plain table names), identity elsewhere."""
    return {ERP_SCHEMA: None} if engine.dialect.name == "sqlite" else {}


def is_select(statement: str) -> bool:
    return bool(_READ_ONLY.match(statement))


def install_read_only_guard(engine: Engine) -> list[str]:
    """Refuse any statement that is not a SELECT and record every statement issued (for tests/reports).

    Returns the list the statements are appended to.
    """
    issued: list[str] = []

    @event.listens_for(engine, "before_cursor_execute")
    def _guard(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        # SQLite's and PostgreSQL's drivers run a few introspection pragmas themselves; they are reads too.
        if not is_select(statement) and not statement.lstrip().upper().startswith(("PRAGMA", "SHOW")):
            raise DataError(f"read-only source refused a non-SELECT statement: {statement[:80]!r}")
        issued.append(statement)

    return issued


def create_source_engine(url: str, *, read_only: bool = True, **kwargs: Any) -> Engine:
    """Create an engine for an ERP database, read-only where the driver or server can enforce it.

    On top of the SELECT-only guard (``install_read_only_guard``), which only sees statements SQLAlchemy
    runs, the session itself is read-only wherever the engine allows it: SQLite opens the file with
    ``mode=ro``; PostgreSQL sessions start with ``default_transaction_read_only=on`` (libpq drivers), so the
    server refuses a write even on a raw DBAPI cursor; SQL Server connections say ``ApplicationIntent=ReadOnly``
    (in the URL's query, or inside its ``odbc_connect`` string). A value the user set explicitly is kept.
    """
    try:
        parsed = make_url(url)
    except Exception:  # noqa: BLE001
        raise ConfigError(f"{mask(url)!r} is not a database URL") from None
    backend = parsed.get_backend_name()
    if backend == "mssql" and read_only:
        query = dict(parsed.query)
        raw = query.get("odbc_connect")
        if raw is None:
            query.setdefault("ApplicationIntent", "ReadOnly")
        elif not re.search(r"(^|;)\s*ApplicationIntent\s*=", str(raw), re.IGNORECASE):
            # pyodbc gets an odbc_connect string as it is and ignores the other query keys.
            query["odbc_connect"] = f"{str(raw).rstrip().rstrip(';')};ApplicationIntent=ReadOnly"
        parsed = parsed.set(query=query)
    if backend == "sqlite" and read_only and parsed.database not in (None, "", ":memory:"):
        # Open the file read-only so even a bug cannot write to the ERP copy.
        parsed = parsed.set(database=f"file:{parsed.database}", query={**parsed.query, "mode": "ro", "uri": "true"})
    libpq = parsed.drivername.partition("+")[2] in ("", "psycopg", "psycopg2", "psycopg2cffi")  # "" = default
    if backend == "postgresql" and read_only and libpq:
        # A libpq startup option, not a statement: the guard never sees it, and it holds for every
        # transaction of the session. connect_args win over the URL's query, so merge both into it.
        # Other drivers (pg8000, asyncpg) have no such option and rely on the guard and the login's rights.
        connect_args = dict(kwargs.get("connect_args") or {})
        given = str(connect_args.get("options", parsed.query.get("options", "")))
        connect_args["options"] = f"{given} -c default_transaction_read_only=on".strip()
        kwargs["connect_args"] = connect_args
    try:
        engine = create_engine(parsed, **kwargs)
    except Exception as exc:  # noqa: BLE001 - e.g. the pyodbc driver is missing
        raise ConfigError(f"cannot create a database engine for {mask(url)}: {mask(exc)}") from None
    return engine


def mssql_url(
    server: str,
    database: str,
    *,
    username: str | None = None,
    password: str | None = None,
    trusted: bool = False,
    driver: str = "ODBC Driver 18 for SQL Server",
    encrypt: bool = True,
    trust_server_certificate: bool = False,
    read_only: bool = True,
) -> str:
    """Build a ``mssql+pyodbc`` URL for an ERP database (SQL login or Windows authentication)."""
    if not trusted and not username:
        raise ConfigError("SQL Server: give a username/password or set trusted = true (Windows authentication)")
    query = {
        "driver": driver,
        "Encrypt": "yes" if encrypt else "no",
        "TrustServerCertificate": "yes" if trust_server_certificate else "no",
    }
    if read_only:
        query["ApplicationIntent"] = "ReadOnly"
    # Windows authentication is a URL without a username: the pyodbc dialect then adds
    # Trusted_Connection=Yes itself, so adding it here too would put it in the ODBC string twice.
    host, _, port = server.partition(",")
    url = URL.create(
        "mssql+pyodbc",
        username=None if trusted else username,
        password=None if trusted else password,
        host=host,
        port=int(port) if port else None,
        database=database,
        query=query,
    )
    return url.render_as_string(hide_password=False)


@contextmanager
def streaming(engine: Engine) -> Iterator[Connection]:
    """A connection whose results stream from the server (server-side cursor where supported)."""
    with engine.connect() as conn:
        yield conn.execution_options(stream_results=True, yield_per=1000, schema_translate_map=schema_map(engine))


def quote_odbc(value: str) -> str:
    return quote_plus(value)


def create_erp_tables(engine: Engine, metadata: Any) -> None:
    """Create an ERP-shaped schema (for demo and test databases): ``CDN`` schema on servers, plain in SQLite."""
    from sqlalchemy import text

    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{ERP_SCHEMA}"'))
        metadata.create_all(conn.execution_options(schema_translate_map=schema_map(engine)))


def bulk_insert(conn: Connection, table: Any, rows: list[dict[str, Any]] | list[tuple[Any, ...]]) -> None:
    """Insert many rows fast: ``COPY`` on PostgreSQL, one ``executemany`` elsewhere.

    ``rows`` are dicts keyed by column name, or tuples in the table's column order.
    """
    if not rows:
        return
    columns = [c.name for c in table.columns]
    tuples = [tuple(r[c] for c in columns) for r in rows] if isinstance(rows[0], dict) else rows
    if conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg":
        schema = (conn.get_execution_options().get("schema_translate_map") or {}).get(table.schema, table.schema)
        qualified = f'"{schema}"."{table.name}"' if schema else f'"{table.name}"'
        cols = ", ".join(f'"{c}"' for c in columns)
        raw = conn.connection.driver_connection
        with raw.cursor() as cur, cur.copy(f"COPY {qualified} ({cols}) FROM STDIN") as copy:
            for row in tuples:
                copy.write_row(row)
        return
    conn.execute(table.insert(), [dict(zip(columns, t, strict=True)) for t in tuples])


def refresh_statistics(conn: Connection, tables: list[Any]) -> None:
    """Refresh the planner's statistics after a bulk load, as a production ERP database has them.

    Without them PostgreSQL estimates one row per filtered table and picks nested loops that make a large
    read quadratic; SQLite's ``ANALYZE`` likewise feeds its planner. SQL Server keeps statistics itself.
    """
    if conn.dialect.name == "postgresql":
        mapping = conn.get_execution_options().get("schema_translate_map") or {}
        for table in tables:
            schema = mapping.get(table.schema, table.schema)
            conn.exec_driver_sql(f'ANALYZE "{schema}"."{table.name}"' if schema else f'ANALYZE "{table.name}"')
    elif conn.dialect.name == "sqlite":
        conn.exec_driver_sql("ANALYZE")
