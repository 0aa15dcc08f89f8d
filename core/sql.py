"""Shared plumbing for SQL sources: read-only engines, the SELECT-only guard, streaming, SQL Server URLs.

Nothing here knows an ERP: a source's own schema (Comarch's ``CDN``, for one) is the plugin's business and
reaches ``streaming`` as a ``schema_translate_map``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, Connection, make_url

from .errors import ConfigError, DataError
from .secrets import mask

_READ_ONLY = re.compile(r"^\s*(?:--[^\n]*\n\s*)*(SELECT|WITH)\b", re.IGNORECASE)


def is_select(statement: str) -> bool:
    return bool(_READ_ONLY.match(statement))


def install_read_only_guard(engine: Engine) -> list[str]:
    """Refuse any statement that is not a SELECT and record every statement issued (for tests/reports).

    Returns the list the statements are appended to.
    """
    issued: list[str] = []

    @event.listens_for(engine, "before_cursor_execute")
    def _guard(
        conn: Connection, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
    ) -> None:
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
    if backend == "sqlite":
        # sqlite3 raises for a whole fetch when one value is not UTF-8 (one bad card would stop the read):
        # decode losslessly instead, so the source rejects that row by name (``undecodable``) and reads on.
        event.listen(engine, "connect", _lenient_sqlite_text)
    return engine


def _lenient_sqlite_text(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.text_factory = lambda raw: raw.decode("utf-8", "surrogateescape")


def undecodable(row: Mapping[str, Any]) -> list[str]:
    """The columns of an ERP row whose text could not be decoded, each with its first bad bytes.

    A value is undecodable when the driver handed over bytes that are not UTF-8 (psycopg on a ``SQL_ASCII``
    database) or SQLite text that is not UTF-8 (decoded with ``surrogateescape`` by the source engine).
    """
    bad: list[str] = []
    for column, value in row.items():
        if isinstance(value, bytes | bytearray | memoryview):
            raw = bytes(value)
            try:
                raw.decode("utf-8")
                continue
            except UnicodeDecodeError as exc:
                bad.append(f"{column} is not UTF-8 text (bytes {raw[exc.start:exc.start + 4]!r} at {exc.start})")
        elif isinstance(value, str) and max(value, default="") >= "\udc80" and _SURROGATE.search(value):
            raw = value.encode("utf-8", "surrogateescape")
            found = _SURROGATE.search(value)
            at = len(value[:found.start()].encode("utf-8", "surrogateescape")) if found else 0
            bad.append(f"{column} is not UTF-8 text (bytes {raw[at:at + 4]!r} at {at})")
    return bad


_SURROGATE = re.compile("[\udc80-\udcff]")


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
def streaming(
    engine: Engine, *, schema_translate_map: Mapping[str | None, str | None] | None = None
) -> Iterator[Connection]:
    """A connection whose results stream from the server (server-side cursor where supported).

    ``schema_translate_map`` renames schemas of the source's tables for this engine (e.g. a schema that exists
    on SQL Server but not in a SQLite copy).
    """
    with engine.connect() as conn:
        yield conn.execution_options(stream_results=True, yield_per=1000, schema_translate_map=schema_translate_map)
