"""A deterministic Optima-shaped demo database (SQLite or PostgreSQL) for demos, tests and benchmarks.

Same seed, same ``base_date``, same data. Amounts are kept as integer grosze while generating and written
as exact decimal text, so no float is ever involved. The stored "Limit wykorzystany" equals the open
receivables for most cards and drifts for about 5 % of them, so ``tradecredit check`` has something to
report. About 90 % of the cards are assigned to the e-Sklep workstation (``CDN.KntESklepy``).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, Table, create_engine, inspect
from tradecredit.plugins.comarch import bulk_insert, create_erp_tables, refresh_statistics, schema_map

from .schema import TABLES, OptimaTables

WORKSTATION_ID = 1
WORKSTATION_NAME = "e-Sklep"
WORKSTATION_CODE = 2  # "blokada" under the default (unconfirmed) code table
ASSIGNED_SHARE = 0.9  # cards on the workstation's list in CDN.KntESklepy
RATES = {"": 100, "EUR": 430, "USD": 395}  # grosze per 1.00 of the currency, fixed for the demo
CHUNK = 50_000


@dataclass(frozen=True)
class DemoStats:
    customers: int
    payments: int
    seconds: float


def _fmt(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    return f"{sign}{cents // 100}.{cents % 100:02d}"


def _customers(rng: random.Random, n: int) -> list[dict[str, Any]]:
    out = []
    for i in range(1, n + 1):
        private = rng.random() < 0.2
        flag = 1 if rng.random() < (0.05 if private else 0.6) else 0
        roll = rng.random()
        currency = ("EUR" if roll < 0.08 else "USD" if roll < 0.1 else "") if flag else ""
        overdue_flag = 1 if flag and rng.random() < 0.3 else 0
        out.append({
            "id": i,
            "private": private,
            "inactive": 1 if rng.random() < 0.03 else 0,
            "flag": flag,
            "limit": rng.randrange(5, 2000) * 10_000 if flag else 0,
            "currency": currency,
            "overdue_flag": overdue_flag,
            "overdue_limit": rng.randrange(0, 200) * 5_000 if overdue_flag else 0,
            "nip": "" if private else str(rng.randrange(10**9, 10**10)),
            "open": 0,  # open receivables in the limit's currency, filled while generating payments
        })
    return out


def _payments(
    rng: random.Random, customers: list[dict[str, Any]], count: int, base: datetime, render: Callable[[datetime], Any]
) -> Any:
    """Yield payment rows in column order, chunk by chunk; accumulate open receivables per customer."""
    days = [render(base - timedelta(days=d)) for d in range(-90, 400)]  # index = 90 + days before base
    terms = (7, 14, 30, 60)
    n = len(customers)
    chunk: list[tuple[Any, ...]] = []
    rand = rng.random
    as_text = "%d.%02d".__mod__  # grosze (whole, part) → "123.45"; the fastest exact formatting in the hot loop
    for pid in range(1, count + 1):
        cust = customers[int(rand() * n)]
        currency = cust["currency"]
        rate = RATES[currency]
        direction = 1 if rand() < 0.85 else -1
        age = int(rand() * 300)
        amount = 5_000 + int(rand() * 1_995_000)
        roll = rand()
        if roll < 0.5:
            settled, s2, paid = 2, 2, amount  # rozliczony
        elif roll < 0.8:
            settled, s2, paid = 1, 1, 0  # nierozliczony
        elif roll < 0.95:
            settled, s2, paid = 1, 2, amount * (1 + int(roll * 1000) % 99) // 100  # częściowo rozliczony
        else:
            settled, s2, paid = 0, 0, 0  # nie podlega rozliczeniu
        state = 0 if rand() < 0.03 else 3
        if settled == 1 and state > 0 and direction > 0:
            cust["open"] += amount - paid
        sys_amount, sys_paid = amount * rate // 100, paid * rate // 100
        chunk.append((
            pid, f"FA/{pid}/{base.year}", 1, cust["id"], days[90 + age], days[90 + age - terms[pid % 4]],
            as_text(divmod(sys_amount, 100)), as_text(divmod(sys_paid, 100)), as_text(divmod(amount, 100)),
            as_text(divmod(paid, 100)), currency, direction, settled, s2, state,
        ))
        if len(chunk) >= CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _card(rng: random.Random, c: dict[str, Any], now: Any) -> tuple[Any, ...]:
    stored = c["open"]
    if rng.random() < 0.05:  # a stale stored value, as Optima's cache may be
        stored = max(0, stored + rng.randrange(-500_000, 500_000))
    i = c["id"]
    name1 = f"Jan Kowalski {i}" if c["private"] else f"Hurtownia Łódź {i} sp. z o.o."
    return (
        i, 1, f"K{i:06d}", name1, "" if c["private"] else "Oddział Północ", "" if c["private"] else "PL", c["nip"],
        c["flag"], _fmt(c["limit"]), c["overdue_flag"], _fmt(c["overdue_limit"]), c["currency"], _fmt(stored),
        1 if c["private"] else 0, c["inactive"], now,
    )


def _assignments(seed: int, cards: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """``CDN.KntESklepy`` rows (id, card, workstation, default price type) for most of ``cards``.

    A generator of its own, seeded from ``seed`` and the first card id, so adding the table left every
    other generated value as it was and each chunk is deterministic on its own.
    """
    rng = random.Random(f"{seed}:KntESklepy:{cards[0]['id'] if cards else 0}")
    return [(c["id"], c["id"], WORKSTATION_ID, 1) for c in cards if rng.random() < ASSIGNED_SHARE]


def _writer(engine: Engine) -> tuple[Callable[[datetime], Any], Callable[[Connection, Table, list[Any]], None]]:
    """A fast row writer: raw executemany on SQLite (datetimes pre-rendered), COPY on PostgreSQL."""
    if engine.dialect.name == "sqlite":
        def render(dt: datetime) -> str:
            return dt.isoformat(" ", "microseconds")  # SQLAlchemy's SQLite DateTime storage format

        def write(conn: Connection, table: Table, rows: list[Any]) -> None:
            if not rows:
                return
            marks = ", ".join("?" for _ in table.columns)
            conn.exec_driver_sql(f'INSERT INTO "{table.name}" VALUES ({marks})', rows)

        return render, write

    def identity(dt: datetime) -> datetime:
        return dt

    return identity, bulk_insert


def make_demo_db(
    url: str,
    customers: int = 1000,
    *,
    payments: int | None = None,
    seed: int = 1,
    base_date: date | None = None,
    replace: bool = False,
    tables: OptimaTables = TABLES,
    progress: Callable[[str, int, int | None], None] | None = None,
) -> DemoStats:
    """Create the Optima tables at ``url`` and fill them. ``payments`` defaults to 10 per customer.

    ``progress(stage, done, total)`` is told after each chunk written (``tradecredit demo``'s progress bar).
    """
    started = time.perf_counter()
    payments = customers * 10 if payments is None else payments
    base = datetime.combine(base_date or date.today(), datetime.min.time())
    rng = random.Random(seed)
    engine = create_engine(url)
    try:
        if replace:
            with engine.begin() as conn:
                tables.metadata.drop_all(conn.execution_options(schema_translate_map=schema_map(engine)))
        elif inspect(engine).has_table(tables.kontrahenci.name, schema=schema_map(engine).get("CDN", "CDN")):
            raise ValueError("the database already has Optima tables; use replace=True (--replace) to rebuild them")
        create_erp_tables(engine, tables.metadata)
        render, write = _writer(engine)
        cards = _customers(rng, customers)
        with engine.begin() as conn:
            if engine.dialect.name == "sqlite":
                conn.exec_driver_sql("PRAGMA synchronous = OFF")
            conn = conn.execution_options(schema_translate_map=schema_map(engine))
            written = 0
            for chunk in _payments(rng, cards, payments, base, render):
                write(conn, tables.zdarzenia, chunk)
                written += len(chunk)
                if progress:
                    progress("payments", written, payments)
            now = render(base)
            for start in range(0, customers, CHUNK):
                write(conn, tables.kontrahenci, [_card(rng, c, now) for c in cards[start:start + CHUNK]])
                if progress:
                    progress("cards", min(start + CHUNK, customers), customers)
            write(conn, tables.stanowiska, [(WORKSTATION_ID, WORKSTATION_NAME, 0, WORKSTATION_CODE)])
            for start in range(0, customers, CHUNK):
                write(conn, tables.sklepy, _assignments(seed, cards[start:start + CHUNK]))
            refresh_statistics(conn, [tables.zdarzenia, tables.kontrahenci, tables.stanowiska, tables.sklepy])
    finally:
        engine.dispose()
    return DemoStats(customers, payments, time.perf_counter() - started)
