"""The credit query's plan stays linear in the number of customers (checked on the plan, not by timing).

Two planner traps made a 100,000-customer read take ~10 minutes: SQLite scanned each per-payer aggregate once
per customer (the payer column had no type affinity, so it could not be indexed), and PostgreSQL, misled by
``COALESCE`` filters it cannot estimate, re-ran the aggregates inside a nested loop. Benchmarks
(``python -m bench --only xl``) measure the speed; these tests pin the plan shape that gives it.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import create_engine, event
from tradecredit.plugins.comarch import schema_map
from tradecredit.plugins.xl import XlOptions
from tradecredit.plugins.xl.demo import generate, write
from tradecredit.plugins.xl.query import credit_query
from tradecredit.plugins.xl.xldates import to_xl_date

OPTIONS = {"control_mode": "block", "include_reservations": True, "include_documents_without_payments": True}


def _explain(url: str, prefix: str) -> list[Any]:
    engine = create_engine(url)

    @event.listens_for(engine, "before_cursor_execute", retval=True)
    def explain(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        return prefix + statement, parameters

    day = to_xl_date(generate(1, seed=1).today)
    stmt = credit_query(XlOptions(url=url, **OPTIONS))
    try:
        with engine.begin() as conn:
            conn = conn.execution_options(schema_translate_map=schema_map(engine))
            return list(conn.execute(stmt, {"today": day, "overdue_before": day, "sys_currency": "PLN"}))
    finally:
        engine.dispose()


def test_sqlite_joins_every_derived_table_through_an_index(tc_sqlite_url):
    write(tc_sqlite_url, generate(3000, seed=5))
    plan = [row[3] for row in _explain(tc_sqlite_url, "EXPLAIN QUERY PLAN ")]
    names = ("valid_limits", "receivables", "reservations", "documents_without_payments")
    joined = [step for step in plan if step.split(" ")[0] in {"SCAN", "SEARCH"} and step.split(" ")[1] in names]
    assert len(joined) == len(names), plan
    assert all(step.startswith("SEARCH") for step in joined), joined


def _nodes(node: dict[str, Any], inside_loop: bool = False):  # type: ignore[no-untyped-def]
    yield node, inside_loop
    children = node.get("Plans", [])
    for i, child in enumerate(children):
        # The inner side of a nested loop (every child after the first) is executed once per outer row.
        inner = node["Node Type"] == "Nested Loop" and i > 0
        yield from _nodes(child, inside_loop or inner)


def test_postgres_never_repeats_an_aggregate_per_customer(tc_postgres_url):
    write(tc_postgres_url, generate(3000, seed=5))
    engine = create_engine(tc_postgres_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
    engine.dispose()
    # The source streams through a server-side cursor, which PostgreSQL plans for a fast first row.
    rows = _explain(tc_postgres_url, "EXPLAIN (FORMAT JSON) DECLARE plan_probe CURSOR FOR ")
    plan = rows[0][0] if isinstance(rows[0][0], list) else json.loads(rows[0][0])
    repeated = [n["Node Type"] for n, in_loop in _nodes(plan[0]["Plan"])
                if in_loop and n["Node Type"] in {"Aggregate", "WindowAgg", "Sort"}]
    assert repeated == [], json.dumps(plan, indent=1)[:4000]
