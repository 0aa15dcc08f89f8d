"""The storefront's state in SQLite: the admin switch, the customers' credit from the feed, the orders.

One connection guarded by a lock (the storefront serves from a thread pool and the Python API may call in
from the test or demo thread). Amounts are stored as decimal text, never as floats.
"""

from __future__ import annotations

import contextlib
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
    CreditPolicy,
    CreditRecord,
    OrderTotals,
    Outcome,
    PaymentForm,
    StalePolicy,
    StateError,
    decide_checkout,
    normalise_code,
    order_totals,
    to_money,
)

from .feed import ACCEPTED, REJECTED, UNKNOWN, BillingOnlyItem, FeedBilling, FeedItem, validation_message

SCHEMA_VERSION = 3  # 2: orders.message; 3: orders.net/vat (amount is gross)

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
    amount TEXT NOT NULL,        -- gross: the value that counts against the credit limit
    net TEXT,
    vat TEXT,
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

@dataclass(frozen=True)
class Product:
    id: str
    name: str
    prices: dict[str, Decimal]  # net unit price per currency
    vat: Decimal  # VAT rate in %


# The catalogue, with a net price list per currency (a B2B customer buys in the currency of their trade credit,
# so the engine always compares amounts of one currency) and a VAT rate per product: orders count against the
# limit gross, as the ERP's receivables are invoice amounts with VAT.
PRODUCTS: tuple[Product, ...] = (
    Product("papier", "Papier ksero A4, karton 5 ryz",
            {"PLN": Decimal("89.90"), "EUR": Decimal("21.00"), "USD": Decimal("23.00")}, Decimal(23)),
    Product("toner", "Toner do drukarki laserowej",
            {"PLN": Decimal("349.00"), "EUR": Decimal("81.00"), "USD": Decimal("88.00")}, Decimal(23)),
    Product("krzeslo", "Krzesło biurowe ergonomiczne",
            {"PLN": Decimal("1249.00"), "EUR": Decimal("290.00"), "USD": Decimal("316.00")}, Decimal(23)),
    Product("laptop", "Laptop biznesowy 15,6″",
            {"PLN": Decimal("3999.00"), "EUR": Decimal("930.00"), "USD": Decimal("1012.00")}, Decimal(23)),
    Product("serwer", "Serwer plików NAS, 4 dyski",
            {"PLN": Decimal("12345.67"), "EUR": Decimal("2871.00"), "USD": Decimal("3125.00")}, Decimal(23)),
    Product("kodeks", "Kodeks pracy 2025 z komentarzem (książka)",
            {"PLN": Decimal("129.00"), "EUR": Decimal("30.00"), "USD": Decimal("33.00")}, Decimal(5)),
)
CURRENCIES = ("EUR", "PLN", "USD")
_BY_ID = {p.id: p for p in PRODUCTS}


def product(product_id: str) -> Product:
    try:
        return _BY_ID[product_id]
    except KeyError:
        raise ValueError(f"unknown product {product_id!r}") from None


def price(product_id: str, currency: str) -> Decimal:
    """The net unit price of a product in ``currency``."""
    return product(product_id).prices[currency]


@dataclass(frozen=True)
class QuoteLine:
    product: Product
    quantity: int
    net: Decimal
    vat: Decimal
    gross: Decimal


@dataclass(frozen=True)
class Quote:
    """What the customer sees before placing the order: every line and the net, VAT and gross totals."""

    currency: str
    lines: tuple[QuoteLine, ...]
    totals: OrderTotals


def quote(lines: dict[str, int], currency: str) -> Quote:
    """Price a cart: per line net, VAT and gross; totals with VAT per rate (engine.order_totals)."""
    priced = []
    for pid, qty in lines.items():
        if qty <= 0:
            continue
        item = product(pid)
        line = order_totals([(item.prices[currency], qty, item.vat)])
        priced.append(QuoteLine(item, qty, line.net, line.vat, line.gross))
    totals = order_totals((product(pid).prices[currency], qty, product(pid).vat)
                          for pid, qty in lines.items() if qty > 0)
    return Quote(currency=currency, lines=tuple(priced), totals=totals)


@dataclass(frozen=True)
class Customer:
    key: str
    item: FeedItem
    fresh_as_of: datetime
    billing: FeedBilling | None = None  # feed version 3: the ERP card's billing data

    @property
    def code(self) -> str:
        return self.item.code

    def record(self) -> CreditRecord:
        """The ERP's credit as the engine needs it, aged by the latest confirmation from the ERP."""
        return self.item.record(as_of=self.fresh_as_of)

    def policy(self, default: CreditPolicy) -> CreditPolicy:
        """The ``[engine]`` policy sent with the customer (feed v2), else the storefront's ``default``."""
        return self.item.credit_policy(default)


@dataclass(frozen=True)
class Order:
    id: int
    code: str
    amount: Decimal  # gross
    currency: str
    payment_form: PaymentForm
    outcome: Outcome
    lines: dict[str, int]
    placed_at: datetime
    booked: bool
    message: str | None = None
    net: Decimal | None = None
    vat: Decimal | None = None

    @property
    def pending(self) -> bool:
        """A deferred order the ERP has not booked yet: it uses credit the feed does not know about."""
        return self.payment_form in DEFERRED_FORMS and not self.booked


@dataclass(frozen=True)
class CheckoutResult:
    decision: CheckoutDecision | None  # None when the admin switch is off (nothing enforced)
    order: Order | None  # None when refused
    quote: Quote | None = None


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(dt: datetime) -> str:
    """Fixed-width UTC text, so SQLite's MAX() and string comparison order times correctly."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


class StorefrontStore:
    """All storefront state. Safe to share between threads."""

    def __init__(self, path: str | Path, *, default_policy: CreditPolicy | None = None) -> None:
        self.path = Path(path)
        self.currencies = CURRENCIES
        # For customers whose feed item carries no policy (credit feed version 1).
        self.default_policy = default_policy or CreditPolicy()
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
        if version in (1, 2):
            self._migrate_to_gross()
        self._db.executescript(_SCHEMA)
        with contextlib.suppress(sqlite3.OperationalError):  # feed v3 billing data; the column may be there
            self._db.execute("ALTER TABLE customers ADD COLUMN billing TEXT")
        self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _migrate_to_gross(self) -> None:
        """Schema 3: ``amount`` was the net value; it becomes gross (VAT by the products' rates), net/vat kept."""
        self._db.execute("ALTER TABLE orders ADD COLUMN net TEXT")
        self._db.execute("ALTER TABLE orders ADD COLUMN vat TEXT")
        for row in self._db.execute("SELECT id, amount, currency, lines FROM orders").fetchall():
            try:
                priced = quote(json.loads(row["lines"]), row["currency"]).totals
            except (ValueError, KeyError):
                priced = None
            net = Decimal(row["amount"])
            if priced is None or priced.net != net:  # prices changed since: keep the net, add the standard rate
                priced = order_totals([(net, 1, Decimal(23))])
            self._db.execute("UPDATE orders SET amount = ?, net = ?, vat = ? WHERE id = ?",
                             (format(priced.gross, "f"), format(priced.net, "f"), format(priced.vat, "f"), row["id"]))

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
                if isinstance(raw, dict) and "billing" in raw and "limit_state" not in raw:
                    results.append(self._billing_only(db, raw, now))
                    continue
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
                if item.billing is not None:
                    db.execute("UPDATE customers SET billing = ? WHERE key = ?",
                               (item.billing.model_dump_json(exclude_none=True), normalise_code(item.code)))
                results.append({"code": item.code, "status": ACCEPTED})
        return results

    @staticmethod
    def _billing_only(db: sqlite3.Connection, raw: dict[str, Any], now: str) -> dict[str, Any]:
        """A version-3 item with billing data only: the customer's credit stays as it is."""
        try:
            item = BillingOnlyItem.model_validate(raw)
        except ValidationError as exc:
            return {"code": raw.get("code"), "status": REJECTED, "error": validation_message(exc)}
        cur = db.execute("UPDATE customers SET billing = ?, updated_at = ? WHERE key = ?",
                         (item.billing.model_dump_json(exclude_none=True), now, normalise_code(item.code)))
        if not cur.rowcount:
            return {"code": item.code, "status": REJECTED,
                    "error": "unknown customer: billing data needs the customer's credit item first"}
        return {"code": item.code, "status": ACCEPTED}

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
        """Gross value of the customer's deferred orders in ``currency`` not yet booked by the ERP."""
        forms = tuple(f.value for f in DEFERRED_FORMS)
        marks = ", ".join("?" for _ in forms)
        with self._lock:
            rows = self._db.execute(
                "SELECT amount FROM orders WHERE customer_key = ? AND currency = ? AND booked = 0"
                f" AND payment_form IN ({marks})",
                (normalise_code(code), currency, *forms),
            ).fetchall()
        return to_money(sum((Decimal(r["amount"]) for r in rows), ZERO))

    def quote(self, code: str, lines: dict[str, int]) -> Quote:
        """The cart priced in the customer's currency (net, VAT and gross per line and in total)."""
        customer = self.customer(code)
        if customer is None:
            raise ValueError(f"unknown customer {code!r}")
        return quote(lines, customer.item.currency)

    def decide(
        self,
        code: str,
        gross: Decimal,
        payment_form: PaymentForm,
        *,
        stale_policy: StalePolicy | None = None,
        now: datetime | None = None,
    ) -> CheckoutDecision | None:
        """The checkout decision for a deferred order of ``gross`` (``None``: the admin switch is off).

        The engine's ``decide_checkout`` on the record rebuilt from the feed, with the storefront's pending
        orders (gross) and the customer's policy from the feed (``stale_policy`` overrides its stale part).
        """
        customer = self.customer(code)
        if customer is None:
            raise ValueError(f"unknown customer {code!r}")
        if not self.limits_enabled():
            return None
        pending = self.pending(code, customer.item.currency)
        return decide_checkout(customer.record(), gross, payment_form, pending, now=now or _now(),
                               stale_policy=stale_policy, policy=customer.policy(self.default_policy))

    def checkout(
        self,
        code: str,
        lines: dict[str, int],
        payment_form: PaymentForm,
        *,
        stale_policy: StalePolicy | None = None,
        now: datetime | None = None,
    ) -> CheckoutResult:
        """Decide and (unless refused) place an order, atomically: two tabs cannot both spend the last credit.

        The order counts gross: net + VAT of its lines, the amount the ERP's invoice will carry.
        """
        lines = {pid: qty for pid, qty in lines.items() if qty > 0}
        if not lines:
            raise ValueError("the order is empty")
        now = now or _now()
        with self._tx():
            priced = self.quote(code, lines)
            decision = self.decide(code, priced.totals.gross, payment_form, stale_policy=stale_policy, now=now)
            if decision is not None and not decision.allowed:
                return CheckoutResult(decision=decision, order=None, quote=priced)
            outcome = decision.outcome if decision else Outcome.ALLOW
            order_id = self._insert_order(code, priced, payment_form, outcome, lines, now,
                                          decision.message_pl if decision else None)
        return CheckoutResult(decision=decision, order=self.order(order_id), quote=priced)

    def add_order(self, code: str, gross: Decimal, payment_form: PaymentForm = PaymentForm.TRANSFER, *,
                  now: datetime | None = None) -> Order:
        """Store an order the shop already holds, with no rule applied (seeding tests and demos); ``gross``
        is its value with VAT."""
        customer = self.customer(code)
        if customer is None:
            raise ValueError(f"unknown customer {code!r}")
        priced = Quote(customer.item.currency, (), OrderTotals(net=to_money(gross), vat=ZERO, gross=to_money(gross),
                                                               by_rate=()))
        with self._tx():
            order_id = self._insert_order(code, priced, payment_form, Outcome.ALLOW, {}, now or _now(), None)
        order = self.order(order_id)
        assert order is not None
        return order

    def _insert_order(self, code: str, priced: Quote, payment_form: PaymentForm, outcome: Outcome,
                      lines: dict[str, int], now: datetime, message: str | None) -> int:
        customer = self.customer(code)
        assert customer is not None
        cur = self._db.execute(
            "INSERT INTO orders (customer_key, code, amount, net, vat, currency, payment_form, outcome, lines,"
            " placed_at, message) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (customer.key, customer.code, format(priced.totals.gross, "f"), format(priced.totals.net, "f"),
             format(priced.totals.vat, "f"), priced.currency, payment_form.value, outcome.value,
             json.dumps(lines, sort_keys=True), _iso(now), message),
        )
        return int(cur.lastrowid or 0)

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
        billing=FeedBilling.model_validate_json(row["billing"]) if row["billing"] else None,
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
        net=None if row["net"] is None else Decimal(row["net"]),
        vat=None if row["vat"] is None else Decimal(row["vat"]),
    )
