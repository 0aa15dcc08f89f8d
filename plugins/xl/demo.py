"""A deterministic XL-shaped demo database: payers, dated limits in several currencies, receivables with due
dates, reservations on orders, documents without payments, branch settings, and a little bad data.

The same ``customers``, ``seed`` and ``today`` always give the same rows. Rows are tuples in each table's
column order (fast to insert); ``as_dicts`` turns them into dicts for tests.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import Table, create_engine, func, select
from tradecredit.plugins.comarch import bulk_insert, create_erp_tables, refresh_statistics, schema_map
from tradecredit.sdk import ConfigError, mask

from .schema import KntKarty, KntLimityK, PicoKonfig, Rezerwacje, TraNag, TraPlat, ZamElem, ZamNag, metadata
from .xldates import to_xl_date

CARD = 32
FS, WZ = 2033, 2001
RATES = {"EUR": Decimal("4.3127"), "USD": Decimal("3.9841"), "CZK": Decimal("0.1729")}
BRANCHES = ((1, 0), (2, 1), (3, 2))  # PcK_PicoID, PcK_LimitKrObs


@dataclass
class DemoData:
    today: date
    rows: dict[str, list[tuple[Any, ...]]] = field(default_factory=dict)

    def add(self, table: Table, row: tuple[Any, ...]) -> None:
        self.rows.setdefault(table.name, []).append(row)

    def table(self, table: Table) -> list[tuple[Any, ...]]:
        return self.rows.get(table.name, [])

    def counts(self) -> dict[str, int]:
        return {name: len(rows) for name, rows in self.rows.items()}


def as_dicts(table: Table, rows: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    names = [c.name for c in table.columns]
    return [dict(zip(names, r, strict=True)) for r in rows]


def _no_half_cent(rate: Decimal, *amounts: Decimal) -> Decimal:
    """Nudge a rate so no amount × rate is exactly half a cent (float engines may round such ties either way)."""
    while any((amount * rate * 100) % 1 == Decimal("0.5") for amount in amounts):
        rate += Decimal("0.0001")
    return rate


def _money(rng: random.Random, low: int, high: int) -> Decimal:
    return Decimal(rng.randint(low * 100, high * 100)) / 100


_CITIES = (("Kraków", "30-001", "małopolskie"), ("Katowice", "40-001", "śląskie"), ("Lublin", "20-001", "lubelskie"),
           ("Szczecin", "70-001", "zachodniopomorskie"))
_COUNTRIES = ("Polska",) * 8 + ("PL", "Niemcy")  # as operators type them


def billing_columns(gid: int, nip: str) -> tuple[Any, ...]:
    """The card's billing columns (``schema.BILLING_COLUMNS`` order), derived from the id alone: adding them left
    every random value of the generator as it was."""
    city, postal, region = _CITIES[gid % len(_CITIES)]
    return ("", "PL" if nip else "", _COUNTRIES[gid % len(_COUNTRIES)], region, "", f"ul. Rynek {1 + gid % 90}",
            "", postal, city, f"+48 12 {gid % 1000:03d} {gid % 89:02d} 00", "", "", f"zamowienia{gid}@example.pl", "")


def generate(customers: int, seed: int = 1, today: date | None = None) -> DemoData:
    """Build the rows in memory. About 1 in 500 cards carries deliberate bad data."""
    rng = random.Random(seed)
    today = today or date.today()
    t = to_xl_date(today)
    data = DemoData(today=today)
    for pico, mode_code in BRANCHES:
        data.add(PicoKonfig, (pico, 0, 1, 0, 0, mode_code, 0, 1))
    payers: list[int] = []
    trn = 0
    order = 0
    for gid in range(1, customers + 1):
        code = f"K{gid:06d}"
        param, payer = 0, 0
        if payers and rng.random() < 0.10:
            param, payer = 1, rng.choice(payers[-50:])
        elif gid % 997 == 0:
            param, payer = 1, customers + 10_000 + gid  # dangling payer: bad data
        elif rng.random() < 0.2:
            payers.append(gid)
        status = 1 if rng.random() < 0.9 else rng.choice((0, 2))
        archived = 1 if rng.random() < 0.02 else 0
        limited = 0 if rng.random() < 0.15 else 1
        nip = f"{rng.randrange(10**9, 10**10)}" if status == 1 else ""
        data.add(KntKarty, (
            CARD, 1, gid, code, f"Firma {code} sp. z o.o.", "" if gid % 3 else "Oddział Kraków", "", nip,
            Decimal(0), Decimal(0), status, 0, 0, archived, limited, CARD if param else 0, payer, param,
            *billing_columns(gid, nip),
        ))
        if limited:
            _limits(data, rng, gid, t)
        for lp in range(rng.randint(0, 4)):
            _payment(data, rng, gid, lp, t)
        if rng.random() < 0.2:
            order += 1
            _reservation(data, rng, gid, order, t)
        if rng.random() < 0.05:
            trn += 1
            net = _money(rng, 100, 5000)
            data.add(TraNag, (WZ, customers * 10 + trn, CARD, gid, t - rng.randint(0, 30), 3, "", Decimal(0),
                              Decimal(0), net, (net * Decimal("0.23")).quantize(Decimal("0.01")), 0))
    return data


def _limits(data: DemoData, rng: random.Random, gid: int, t: int) -> None:
    shape = rng.random()
    periods: list[tuple[int, int]] = []
    if shape < 0.55:
        periods.append((t - rng.randint(0, 300), t + rng.randint(0, 300)))  # valid today
    elif shape < 0.70:
        periods += [(t - 400, t + 100), (t - rng.randint(0, 60), t + 30)]  # overlapping: later start wins
    elif shape < 0.80:
        periods.append((t - 400, t - rng.randint(1, 30)))  # expired
    elif shape < 0.88:
        periods.append((t + rng.randint(1, 30), t + 400))  # future
    elif shape < 0.94:
        periods += [(t - 400, t - 10), (t + 10, t + 400)]  # gap around today
    else:
        periods.append((t, t))  # valid exactly today (both ends inclusive)
    for start, end in periods:
        amount = Decimal(rng.randint(1, 200) * 500)
        after = Decimal(rng.choice((0, 0, 1000, 2500)))
        if gid % 499 == 0:
            cur, rate = "USD", Decimal(0)  # bad data: a foreign limit without a rate
        elif rng.random() < 0.15:
            cur = rng.choice(tuple(RATES))
            rate = _no_half_cent(RATES[cur], amount, after)
        else:
            cur, rate = rng.choice(("", "PLN")), Decimal(1)
        data.add(KntLimityK, (
            len(data.table(KntLimityK)) + 1, CARD, gid, amount, after, start, end, cur, 1, Decimal(1), rate, 0,
        ))


def _payment(data: DemoData, rng: random.Random, gid: int, lp: int, t: int) -> None:
    amount = _money(rng, 10, 20000)
    left = amount if rng.random() < 0.7 else _money(rng, 0, int(amount))
    kind = 2 if rng.random() < 0.9 else 1
    settled = 0 if rng.random() < 0.8 else rng.choice((1, 2))
    cur, rate = "", Decimal(0)
    if rng.random() < 0.1:
        cur = rng.choice(tuple(RATES))
        rate = _no_half_cent(RATES[cur], left)
    sys_left = left if not cur else (left * rate).quantize(Decimal("0.01"))
    due = t + rng.randint(-90, 60)
    data.add(TraPlat, (FS, gid, lp + 1, CARD, gid, cur, Decimal(1), rate, kind, due, amount, left, settled,
                       amount if not cur else (amount * rate).quantize(Decimal("0.01")), sys_left))


def _reservation(data: DemoData, rng: random.Random, gid: int, order: int, t: int) -> None:
    cur = "" if rng.random() < 0.85 else "EUR"
    lines = [(Decimal(rng.randint(1, 20)), _money(rng, 1, 500)) for _ in (1, 2)]
    dones = [Decimal(rng.choice((0, 0, 1))) for _ in lines]
    open_values = [(q - d) * p for (q, p), d in zip(lines, dones, strict=True)]
    rate = _no_half_cent(RATES["EUR"], *open_values) if cur else Decimal(0)
    data.add(ZamNag, (order, 960, CARD, gid, cur, rate, Decimal(1)))
    for lp, ((qty, price), done) in enumerate(zip(lines, dones, strict=True), start=1):
        data.add(ZamElem, (order, lp, 960, qty, price, cur))
        active = 1 if rng.random() < 0.85 else 0
        valid_to = t + rng.randint(-5, 30)
        orphan = order % 211 == 0 and lp == 2  # points at a missing order line: counted as unvalued
        data.add(Rezerwacje, (2576, len(data.table(Rezerwacje)) + 1, CARD, gid, 960, order, 99 if orphan else lp,
                              qty, done, valid_to, t - rng.randint(0, 10), active))


TABLE_ORDER = (PicoKonfig, KntKarty, KntLimityK, TraPlat, ZamNag, ZamElem, Rezerwacje, TraNag)


def write(url: str, data: DemoData) -> dict[str, int]:
    """Create the XL tables at ``url`` and insert ``data`` in one transaction. Refuses a non-empty database."""
    try:
        engine = create_engine(url)
    except Exception as exc:  # noqa: BLE001
        raise ConfigError(f"cannot open {mask(url)}: {mask(exc)}") from None
    try:
        create_erp_tables(engine, metadata)
        with engine.begin() as conn:
            conn = conn.execution_options(schema_translate_map=schema_map(engine))
            if conn.execute(select(func.count()).select_from(KntKarty)).scalar():
                raise ConfigError(f"{mask(url)} already holds XL contractor cards; use an empty database")
            for table in TABLE_ORDER:
                bulk_insert(conn, table, data.table(table))
            refresh_statistics(conn, list(TABLE_ORDER))
    finally:
        engine.dispose()
    return data.counts()
