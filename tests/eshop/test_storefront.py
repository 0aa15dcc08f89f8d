"""Storefront rules below the pages: pending orders, atomic checkout, stale data, the state file."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest
from tradecredit.core.engine import (
    STALE_BLOCK_MESSAGE_PL,
    CreditPolicy,
    Outcome,
    PaymentForm,
    Reason,
    StaleFallback,
    StalePolicy,
)
from tradecredit.core.errors import StateError
from tradecredit.core.records import ControlMode
from tradecredit.plugins.eshop import open_storefront, start_storefront
from tradecredit.plugins.eshop.store import StorefrontStore

from .helpers import API_KEY, make_target, write_records


def test_pending_counts_only_unbooked_deferred_orders_in_the_credit_currency(shop, send, make_record):
    send(make_record("K1", limit="10000.00", used="0.00", mode=ControlMode.ALLOW))
    store = shop.store
    store.checkout("K1", {"laptop": 1}, PaymentForm.TRANSFER)
    store.checkout("K1", {"laptop": 1}, PaymentForm.CASH)
    store.checkout("K1", {"toner": 1}, PaymentForm.ONLINE)
    assert store.pending("K1", "PLN") == Decimal("4918.77")  # gross: 3 999,00 net + 23 % VAT
    store.checkout("K1", {"toner": 2}, PaymentForm.TRANSFER)
    assert store.pending("k1", "PLN") == Decimal("5777.31")  # + 698,00 net + 160,54 VAT
    assert shop.book_orders("K1") == 4
    assert store.pending("K1", "PLN") == Decimal("0.00")
    assert [o.booked for o in shop.orders("K1")] == [True] * 4


def test_a_customer_buys_in_the_currency_of_the_credit(shop, send, make_record):
    send(make_record("E1", limit="1200.00", used="0.00", currency="EUR"))
    result = shop.store.checkout("E1", {"laptop": 1}, PaymentForm.TRANSFER)
    assert result.order is not None and (result.order.amount, result.order.currency) == (Decimal("1143.90"), "EUR")
    assert (result.order.net, result.order.vat) == (Decimal("930.00"), Decimal("213.90"))
    refused = shop.store.checkout("E1", {"toner": 1}, PaymentForm.TRANSFER)  # 1 143,90 + 99,63 > 1 200 EUR
    assert refused.order is None and refused.decision.outcome is Outcome.BLOCK


def test_two_tabs_cannot_both_spend_the_last_credit(shop, send, make_record):
    send(make_record("K1", limit="6000.00", used="0.00"))
    results = []
    barrier = threading.Barrier(8)

    def buy() -> None:
        barrier.wait()
        results.append(shop.store.checkout("K1", {"laptop": 1}, PaymentForm.TRANSFER))

    threads = [threading.Thread(target=buy) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r.order is not None for r in results) == 1  # 4 918,77 gross fits once into 6 000
    assert shop.store.pending("K1", "PLN") == Decimal("4918.77")


def test_stale_data_follows_the_fallback_the_feed_brings(tmp_path, make_record):
    """Case 7: the storefront takes [engine] max_age / stale_fallback from the config, through the feed."""
    old = datetime.now(UTC) - timedelta(hours=30)
    policy = StalePolicy(max_age=timedelta(hours=24), fallback=StaleFallback.BLOCK)
    # the storefront's own default says "decide": the item's policy, from the config, wins
    with start_storefront(tmp_path / "s.db", api_key=API_KEY, limits_enabled=True) as shop:
        target = make_target(shop.url, policy=CreditPolicy(stale=policy))
        write_records(target, make_record("K1", limit="10000.00", used="0.00", as_of=old))
        assert shop.customer("K1").policy(shop.default_policy).stale == policy
        stale = shop.store.checkout("K1", {"papier": 1}, PaymentForm.TRANSFER)
        assert stale.order is None and Reason.STALE_DATA in stale.decision.reasons
        client = httpx.Client(base_url=shop.url, cookies={"tc_customer": "K1"})
        assert "Dane o limicie mogą być nieaktualne." in client.get("/strefa-klienta").text
        # Nothing was exceeded: the page must not claim the limit was (the seed's message is for breaches).
        page = client.post("/zamowienie", data={"qty_papier": "1", "payment_form": "przelew",
                                                "action": "place"}).text
        assert STALE_BLOCK_MESSAGE_PL in page and "został przekroczony" not in page

        target.confirm_unchanged(["K1"], datetime.now(UTC))  # the ERP confirms the data is unchanged
        fresh = shop.store.checkout("K1", {"papier": 1}, PaymentForm.TRANSFER)
        assert fresh.order is not None and not fresh.decision.stale
        assert "nieaktualne" not in client.get("/strefa-klienta").text
        target.close()


def test_state_survives_a_restart_and_a_newer_schema_is_refused(tmp_path, make_record):
    path = tmp_path / "shop" / "eshop.db"
    first = open_storefront(path, api_key=API_KEY, limits_enabled=True)
    first.store.upsert([{"code": "Zażółć-1", "name": "Gęślą Jaźń S.A.", "is_business": True, "limit_state": "none",
                         "used": "0.00", "overdue": "0.00", "control_mode": "warn", "currency": "PLN",
                         "as_of": "2026-01-01T00:00:00+00:00"}])
    first.store.close()
    again = open_storefront(path, api_key=API_KEY)
    assert again.limits_enabled is True
    assert again.customer("zażółć-1").item.name == "Gęślą Jaźń S.A."
    again.store.close()
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version = 99")
    with pytest.raises(StateError, match="newer storefront"):
        StorefrontStore(path)


def test_a_version_1_storefront_file_is_migrated(tmp_path, make_record):
    path = tmp_path / "v1.db"
    with sqlite3.connect(path) as db:  # the orders table as schema 1 had it, with one order in it
        db.executescript(
            "CREATE TABLE orders (id INTEGER PRIMARY KEY AUTOINCREMENT, customer_key TEXT NOT NULL, code TEXT NOT NULL,"
            " amount TEXT NOT NULL, currency TEXT NOT NULL, payment_form TEXT NOT NULL, outcome TEXT NOT NULL,"
            " lines TEXT NOT NULL, placed_at TEXT NOT NULL, booked INTEGER NOT NULL DEFAULT 0);"
            "INSERT INTO orders (customer_key, code, amount, currency, payment_form, outcome, lines, placed_at)"
            " VALUES ('k1', 'K1', '10.00', 'PLN', 'przelew', 'warn', '{}', '2026-01-01T00:00:00+00:00');"
            "PRAGMA user_version = 1;"
        )
    store = StorefrontStore(path)
    (order,) = store.orders()
    # schema 3: the amount that counts against the limit is gross; the net value is kept beside it
    assert (order.net, order.vat, order.amount) == (Decimal("10.00"), Decimal("2.30"), Decimal("12.30"))
    assert order.message is None
    store.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 3


def test_pages_are_utf8_and_need_a_login(shop):
    r = httpx.get(shop.url + "/")
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    assert "Zaloguj się" in r.text
    assert httpx.get(shop.url + "/strefa-klienta").status_code == 303
    assert httpx.post(shop.url + "/logowanie", data={"code": "NOPE"}).status_code == 404


def test_python_api_places_orders_and_keeps_the_api_key(tmp_path, make_record):
    path = tmp_path / "eshop.db"
    with start_storefront(path, limits_enabled=True) as shop:
        key = shop.api_key
        write_records(make_target(shop.url, key), make_record("K1", limit="1000.00", used="900.00"))
        assert shop.place_order("K1", {"toner": 1}, "przelew").order is None
        placed = shop.place_order("K1", {"toner": 1}, "online")
        assert placed.order is not None and [o.id for o in shop.orders()] == [placed.order.id]
        assert shop.target_options() == {"plugin": "eshop", "base_url": shop.url, "api_key": key}
    with start_storefront(path) as again:
        assert again.api_key == key and again.limits_enabled


def test_sandbox_command_serves_the_storefront(tmp_path):
    from tradecredit.core.serving import free_port

    port = free_port()
    status_url = f"http://127.0.0.1:{port}/api/credit-feed/v1/status"
    cmd = [sys.executable, "-m", "tradecredit.core.cli", "sandbox", "eshop", "--port", str(port),
           "--db", str(tmp_path / "cli.db"), "--api-key", "cli-key-123", "--limits"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, encoding="utf-8")
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                r = httpx.get(status_url, headers={"X-API-Key": "cli-key-123"})
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read() if proc.stdout else ""
                time.sleep(0.1)
        assert r.json()["limits_enabled"] is True and r.json()["contract"] == "tradecredit-credit-feed/3"
    finally:
        proc.terminate()
        proc.wait(10)
    assert "Limity kredytu i płatności': on" in (proc.stdout.read() if proc.stdout else "")
