"""The storefront's state in SQLite: the admin switch, the customers' credit from the feed, the orders.

One connection guarded by a lock (the storefront serves from a thread pool and the Python API may call in
from the test or demo thread). Amounts are stored as decimal text, never as floats.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from tradecredit.sdk import (
    DEFERRED_FORMS,
    ZERO,
    CheckoutDecision,
    CreditRecord,
    Outcome,
    PaymentForm,
    StalePolicy,
    StateError,
    decide_checkout,
    normalise_code,
    to_money,
)

from .feed import ACCEPTED, REJECTED, UNKNOWN, FeedItem, validation_message

SCHEMA_VERSION = 2  # 2: orders.message

_SCHEMA = """
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS customers (
    key TEXT PRIMARY KEY,
    code TEXT NOT NULL,
    item TEXT NOT NULL,          -- the feed item as JSON (amounts as decimal strings)
    as_of TEXT NOT NULL,         -- as_of of the data in ``item``
    fresh_as_of TEXT NOT NULL,   -- latest time the ERP confirmed the data (item or freshness call)
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS orders (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    customer_key TEXT NOT NULL,
    code TEXT NOT NULL,
    amount TEXT NOT NULL,
    currency TEXT NOT NULL,
    payment_form TEXT NOT NULL,
    outcome TEXT NOT NULL,
    lines TEXT NOT NULL,
    placed_at TEXT NOT NULL,
    booked INTEGER NOT NULL DEFAULT 0,
    message TEXT                 -- what the customer was told when the order was placed (a warning)
);
CREATE INDEX IF NOT EXISTS orders_customer ON orders (customer_key, booked);
"""

# The catalogue, with a price list per currency: a B2B customer buys in the currency of their trade credit,
# so the engine always compares amounts of one currency (orders, pending, limit).
PRODUCTS: tuple[tuple[str, str, dict[str, Decimal]], ...] = (
    ("papier", "Papier ksero A4, karton 5 ryz",
     {"PLN": Decimal("89.90"), "EUR": Decimal("21.00"), "USD": Decimal("23.00")}),
    ("toner", "Toner do drukarki laserowej",
     {"PLN": Decimal("349.00"), "EUR": Decimal("81.00"), "USD": Decimal("88.00")}),
    ("krzeslo", "Krzesło biurowe ergonomiczne",
     {"PLN": Decimal("1249.00"), "EUR": Decimal("290.00"), "USD": Decimal("316.00")}),
    ("laptop", "Laptop biznesowy 15,6″",
     {"PLN": Decimal("3999.00"), "EUR": Decimal("930.00"), "USD": Decimal("1012.00")}),
    ("serwer", "Serwer plików NAS, 4 dyski",
     {"PLN": Decimal("12345.67"), "EUR": Decimal("2871.00"), "USD": Decimal("3125.00")}),
)
CURRENCIES = ("EUR", "PLN", "USD")


def price(product_id: str, currency: str) -> Decimal:
    for pid, _, prices in PRODUCTS:
        if pid == product_id:
            return prices[currency]
    raise ValueError(f"unknown product {product_id!r}")


@dataclass(frozen=True)
class Customer:
    key: str
    item: FeedItem
    fresh_as_of: datetime

    @property
    def code(self) -> str:
        return self.item.code

    def record(self) -> CreditRecord:
        """The ERP's credit as the engine needs it, aged by the latest confirmation from the ERP."""
        return self.item.record(as_of=self.fresh_as_of)


@dataclass(frozen=True)
class Order:
    id: int
    code: str
    amount: Decimal
    currency: str
    payment_form: PaymentForm
    outcome: Outcome
    lines: dict[str, int]
    placed_at: datetime
    booked: bool
    message: str | None = None

    @property
    def pending(self) -> bool:
        """A deferred order the ERP has not booked yet: it uses credit the feed does not know about."""
        return self.payment_form in DEFERRED_FORMS and not self.booked


@dataclass(frozen=True)
class CheckoutResult:
    decision: CheckoutDecision | None  # None when the admin switch is off (nothing enforced)
    order: Order | None  # None when refused


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(dt: datetime) -> str:
    """Fixed-width UTC text, so SQLite's MAX() and string comparison order times correctly."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


class StorefrontStore:
    """All storefront state. Safe to share between threads."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.currencies = CURRENCIES
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StateError(f"{self.path} was written by a newer storefront (schema {version} > {SCHEMA_VERSION})")
        self._db.execute("PRAGMA journal_mode=WAL")
        if version == 1:
            self._db.execute("ALTER TABLE orders ADD COLUMN message TEXT")
        self._db.executescript(_SCHEMA)
        self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # --- admin switch "Limity kredytu i płatności" ------------------------------------------------------
    def limits_enabled(self) -> bool:
        with self._lock:
            row = self._db.execute("SELECT value FROM settings WHERE key = 'limits_enabled'").fetchone()
        return bool(row and row["value"] == "1")

    def set_limits_enabled(self, enabled: bool) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO settings (key, value) VALUES ('limits_enabled', ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                ("1" if enabled else "0",),
            )

    def api_key(self, given: str | None = None) -> str:
        """The feed's API key: ``given`` (stored), else the stored one, else a new random one (stored)."""
        with self._tx() as db:
            row = db.execute("SELECT value FROM settings WHERE key = 'api_key'").fetchone()
            key = given or (row["value"] if row else secrets.token_urlsafe(24))
            db.execute(
                "INSERT INTO settings (key, value) VALUES ('api_key', ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key,),
            )
        return key

    # --- the feed ---------------------------------------------------------------------------------------
    def upsert(self, raw_items: list[Any]) -> list[dict[str, Any]]:
        """Apply a batch of raw feed items; one ``{"code", "status", "error"?}`` per item, in order."""
        results: list[dict[str, Any]] = []
        now = _iso(_now())
        with self._tx() as db:
            for raw in raw_items:
                code = raw.get("code") if isinstance(raw, dict) else None
                try:
                    item = FeedItem.model_validate(raw)
                    self._check_item(db, item)
                except ValidationError as exc:
                    results.append({"code": code, "status": REJECTED, "error": validation_message(exc)})
                    continue
                except ValueError as exc:
                    results.append({"code": code, "status": REJECTED, "error": str(exc)})
                    continue
                as_of = _iso(item.as_of)
                db.execute(
                    "INSERT INTO customers (key, code, item, as_of, fresh_as_of, updated_at) VALUES (?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (key) DO UPDATE SET code = excluded.code, item = excluded.item,"
                    " as_of = excluded.as_of, fresh_as_of = MAX(customers.fresh_as_of, excluded.as_of),"
                    " updated_at = excluded.updated_at",
                    (normalise_code(item.code), item.code, item.model_dump_json(), as_of, as_of, now),
                )
                results.append({"code": item.code, "status": ACCEPTED})
        return results

    def _check_item(self, db: sqlite3.Connection, item: FeedItem) -> None:
        if item.currency not in self.currencies:
            raise ValueError(
                f"currency {item.currency}: the shop has no price list in it (it sells in "
                f"{', '.join(self.currencies)}), so it cannot compare the limit with orders"
            )
        row = db.execute("SELECT as_of FROM customers WHERE key = ?", (normalise_code(item.code),)).fetchone()
        if row and datetime.fromisoformat(row["as_of"]) > item.as_of:
            raise ValueError(f"as_of {_iso(item.as_of)} is older than the data the shop has ({row['as_of']})")

    def confirm_fresh(self, codes: list[str], as_of: datetime) -> list[dict[str, Any]]:
        """The ERP says these customers' credit is unchanged as of ``as_of``: their data age restarts."""
        stamp = _iso(as_of)
        results = []
        with self._tx() as db:
            for code in codes:
                cur = db.execute(
                    "UPDATE customers SET fresh_as_of = MAX(fresh_as_of, ?) WHERE key = ?",
                    (stamp, normalise_code(code)),
                )
                results.append({"code": code, "status": ACCEPTED if cur.rowcount else UNKNOWN})
        return results

    # --- customers ----------------------------------------------------------------------------------------
    def customer(self, code: str) -> Customer | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM customers WHERE key = ?", (normalise_code(code),)).fetchone()
        return _customer(row) if row else None

    def customers(self) -> list[Customer]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM customers ORDER BY code").fetchall()
        return [_customer(r) for r in rows]

    # --- orders -------------------------------------------------------------------------------------------
    def pending(self, code: str, currency: str) -> Decimal:
        """Value of the customer's deferred orders in ``currency`` not yet booked by the ERP."""
        forms = tuple(f.value for f in DEFERRED_FORMS)
        marks = ", ".join("?" for _ in forms)
        with self._lock:
            rows = self._db.execute(
                "SELECT amount FROM orders WHERE customer_key = ? AND currency = ? AND booked = 0"
                f" AND payment_form IN ({marks})",
                (normalise_code(code), currency, *forms),
            ).fetchall()
        return to_money(sum((Decimal(r["amount"]) for r in rows), ZERO))

    def checkout(
        self,
        code: str,
        lines: dict[str, int],
        payment_form: PaymentForm,
        *,
        stale_policy: StalePolicy | None = None,
        now: datetime | None = None,
    ) -> CheckoutResult:
        """Decide and (unless refused) place an order, atomically: two tabs cannot both spend the last credit."""
        lines = {pid: qty for pid, qty in lines.items() if qty > 0}
        if not lines:
            raise ValueError("the order is empty")
        now = now or _now()
        with self._tx() as db:
            customer = self.customer(code)
            if customer is None:
                raise ValueError(f"unknown customer {code!r}")
            currency = customer.item.currency
            amount = to_money(sum((price(pid, currency) * qty for pid, qty in lines.items()), ZERO))
            decision = None
            if self.limits_enabled():
                pending = self.pending(code, currency)
                decision = decide_checkout(
                    customer.record(), amount, payment_form, pending, now=now, stale_policy=stale_policy
                )
            if decision is not None and not decision.allowed:
                return CheckoutResult(decision=decision, order=None)
            outcome = decision.outcome if decision else Outcome.ALLOW
            cur = db.execute(
                "INSERT INTO orders (customer_key, code, amount, currency, payment_form, outcome, lines, placed_at,"
                " message) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (customer.key, customer.code, format(amount, "f"), currency, payment_form.value,
                 outcome.value, json.dumps(lines, sort_keys=True), _iso(now), decision and decision.message_pl),
            )
            order_id = cur.lastrowid
        order = self.order(int(order_id or 0))
        return CheckoutResult(decision=decision, order=order)

    def order(self, order_id: int) -> Order | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM orders WHERE id = ?", (order_id,)).fetchone()
        return _order(row) if row else None

    def orders(self, code: str | None = None) -> list[Order]:
        with self._lock:
            if code is None:
                rows = self._db.execute("SELECT * FROM orders ORDER BY id").fetchall()
            else:
                rows = self._db.execute(
                    "SELECT * FROM orders WHERE customer_key = ? ORDER BY id", (normalise_code(code),)
                ).fetchall()
        return [_order(r) for r in rows]

    def book_orders(self, code: str | None = None, order_ids: list[int] | None = None) -> int:
        """Mark orders as booked by the ERP (their value is now part of ``used`` in the feed)."""
        sql = "UPDATE orders SET booked = 1 WHERE booked = 0"
        args: list[Any] = []
        if code is not None:
            sql += " AND customer_key = ?"
            args.append(normalise_code(code))
        if order_ids is not None:
            sql += f" AND id IN ({', '.join('?' for _ in order_ids)})"
            args.extend(order_ids)
        with self._tx() as db:
            return db.execute(sql, args).rowcount


def _customer(row: sqlite3.Row) -> Customer:
    return Customer(
        key=row["key"],
        item=FeedItem.model_validate_json(row["item"]),
        fresh_as_of=datetime.fromisoformat(row["fresh_as_of"]),
    )


def _order(row: sqlite3.Row) -> Order:
    return Order(
        id=row["id"],
        code=row["code"],
        amount=Decimal(row["amount"]),
        currency=row["currency"],
        payment_form=PaymentForm(row["payment_form"]),
        outcome=Outcome(row["outcome"]),
        lines=json.loads(row["lines"]),
        placed_at=datetime.fromisoformat(row["placed_at"]),
        booked=bool(row["booked"]),
        message=row["message"],
    )
