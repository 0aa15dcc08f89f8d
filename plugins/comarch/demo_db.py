"""Fast loading of Comarch-shaped demo and test databases (the builders in ``optima.demo`` and ``xl.demo``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.engine import Connection


def bulk_insert(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]] | Sequence[tuple[Any, ...]]) -> None:
    """Insert many rows fast: ``COPY`` on PostgreSQL, one ``executemany`` elsewhere.

    ``rows`` are dicts keyed by column name, or tuples in the table's column order.
    """
    if not rows:
        return
    columns = [c.name for c in table.columns]
    tuples = [tuple(r[c] for c in columns) if isinstance(r, Mapping) else r for r in rows]
    if conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg":
        schema = (conn.get_execution_options().get("schema_translate_map") or {}).get(table.schema, table.schema)
        qualified = f'"{schema}"."{table.name}"' if schema else f'"{table.name}"'
        cols = ", ".join(f'"{c}"' for c in columns)
        raw: Any = conn.connection.driver_connection  # a psycopg connection: COPY is not in the DBAPI
        with raw.cursor() as cur, cur.copy(f"COPY {qualified} ({cols}) FROM STDIN") as copy:
            for row in tuples:
                copy.write_row(row)
        return
    conn.execute(table.insert(), [dict(zip(columns, t, strict=True)) for t in tuples])


def refresh_statistics(conn: Connection, tables: Sequence[Table]) -> None:
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
