"""The eshop target against the real storefront over HTTP: payload, batch upsert, per-item results, errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest
from tradecredit.core.adapters import AdapterContext, CheckStatus, ItemStatus
from tradecredit.core.engine import ModeMapping, degrade_mode
from tradecredit.core.errors import AuthError, TransientError
from tradecredit.core.records import ControlMode, LimitState
from tradecredit.plugins.eshop import EshopTarget, feed

from .helpers import API_KEY, FAST_RETRY, make_target, write_records


def _mode(mode: ControlMode) -> ModeMapping:
    return degrade_mode(mode, EshopTarget.native_modes)


def test_every_erp_mode_arrives_unchanged():
    for mode in ControlMode:
        assert not _mode(mode).degraded


def test_payload_is_deterministic_and_leaves_as_of_out(target, make_record):
    first = make_record(overdue="120.50", overdue_limit="100.00", mode=ControlMode.WARN)
    later = first.model_copy(update={"as_of": first.as_of + timedelta(hours=5)})
    payload = target.payload(first, {}, _mode(first.control_mode))
    assert payload == target.payload(later, {}, _mode(later.control_mode))
    assert "as_of" not in payload
    assert payload == {
        "code": "K001", "name": "Firma K001 sp. z o.o.", "is_business": True, "limit_state": "limited",
        "credit_limit": "10000.00", "used": "2500.00", "remaining": "7500.00", "overdue": "120.50",
        "overdue_limit": "100.00", "control_mode": "warn", "currency": "PLN",
        "policy": {"no_limit": "unrestricted", "lapsed_limit": "zero", "max_age_seconds": 86400,
                   "stale_fallback": "decide"},
    }


def test_payload_keeps_none_zero_and_unlimited_apart(target, make_record):
    none = target.payload(make_record(limit=None), {}, _mode(ControlMode.BLOCK))
    zero = target.payload(make_record(limit="0.00", used="0.00"), {}, _mode(ControlMode.BLOCK))
    unlimited = target.payload(make_record(limit=None, state=LimitState.UNLIMITED), {}, _mode(ControlMode.BLOCK))
    assert (none["limit_state"], none["credit_limit"], none["remaining"]) == ("none", None, None)
    assert (zero["limit_state"], zero["credit_limit"], zero["remaining"]) == ("limited", "0.00", "0.00")
    assert (unlimited["limit_state"], unlimited["credit_limit"], unlimited["remaining"]) == ("unlimited", None, None)
    lapsed = target.payload(make_record(limit=None, used="300.00", state=LimitState.LAPSED), {},
                            _mode(ControlMode.BLOCK))
    assert (lapsed["limit_state"], lapsed["credit_limit"], lapsed["remaining"]) == ("lapsed", None, "-300.00")


def test_write_confirms_each_item_and_the_storefront_keeps_it(shop, send, make_record):
    records = [make_record(f"K{i:03d}", used=f"{i}00.00") for i in range(1, 6)]
    results = send(*records)
    assert [(r.key, r.status) for r in results] == [(rec.key, ItemStatus.CONFIRMED) for rec in records]
    stored = shop.customer("k003")
    assert stored is not None and stored.item.used == Decimal("300.00")
    assert stored.record().as_of == records[2].as_of


def test_per_item_rejection_leaves_the_rest_confirmed(send, make_record):
    good, pound = make_record("K1"), make_record("K2", currency="GBP")
    results = {r.key: r for r in send(good, pound)}
    assert results["k1"].status is ItemStatus.CONFIRMED
    assert results["k2"].status is ItemStatus.FAILED
    assert "currency GBP: the shop has no price list in it" in (results["k2"].error or "")


def test_an_older_snapshot_never_overwrites_newer_data(shop, send, make_record):
    new = make_record(used="100.00")
    old = make_record(used="900.00", as_of=new.as_of - timedelta(hours=1))
    assert send(new)[0].status is ItemStatus.CONFIRMED
    result = send(old)[0]
    assert result.status is ItemStatus.FAILED and "older than the data the shop has" in (result.error or "")
    assert shop.customer("K001").item.used == Decimal("100.00")


def test_transient_failures_are_retried_by_the_shared_http_layer(shop, target, send, make_record):
    shop.inject_feed_failures(2, status=503, retry_after="0")
    assert send(make_record())[0].status is ItemStatus.CONFIRMED
    assert target.client().retries == 2


def test_retries_are_bounded(shop, send, make_record):
    shop.inject_feed_failures(FAST_RETRY.max_attempts, status=429, retry_after="0")
    with pytest.raises(TransientError, match="gave up after 3 attempt"):
        send(make_record())


def test_a_wrong_key_is_a_configuration_error(shop, make_record):
    bad = make_target(shop.url, api_key="not-the-key")
    with pytest.raises(AuthError, match="HTTP 401"):
        write_records(bad, make_record())
    bad.close()


def test_freshness_restarts_the_data_age_without_resending(shop, target, send, make_record):
    record = make_record(as_of=datetime.now(UTC) - timedelta(days=2))
    send(record)
    now = datetime.now(UTC)
    assert target.confirm_unchanged(["K001", "NOPE"], now) == {"K001": "accepted", "NOPE": "unknown"}
    assert shop.customer("K001").record().as_of == now
    assert shop.customer("K001").item.as_of == record.as_of  # the data itself is unchanged


def test_check_reports_the_contract_and_the_admin_switch(shop, target):
    checks = {c.name: c for c in target.check()}
    assert checks["storefront reachable"].status is CheckStatus.OK
    assert checks["credit-feed contract"].status is CheckStatus.OK
    assert checks["admin switch 'Limity kredytu i płatności'"].status is CheckStatus.OK
    shop.set_limits_enabled(False)
    assert {c.name: c for c in target.check()}["admin switch 'Limity kredytu i płatności'"].status is CheckStatus.WARN


def test_check_of_an_unreachable_storefront_fails_cleanly():
    options = EshopTarget.Options.model_validate(
        {"base_url": "http://127.0.0.1:9", "api_key": API_KEY, "retry": {"max_attempts": 1}}
    )
    checks = EshopTarget(options, AdapterContext(instance_name="store")).check()
    assert checks[0].status is CheckStatus.FAIL


@pytest.mark.parametrize(
    ("body", "status"),
    [(b"not json", 400), (b'{"customers": []}', 400), (b'{"items": {}}', 400)],
)
def test_feed_rejects_malformed_batches(shop, body, status):
    r = httpx.post(shop.url + feed.CUSTOMERS_PATH, content=body, headers={feed.API_KEY_HEADER: API_KEY})
    assert r.status_code == status and r.json()["error"]


def test_feed_limits_the_batch_and_needs_the_key(shop):
    too_many = {"items": [{"code": f"K{i}"} for i in range(feed.MAX_BATCH + 1)]}
    r = httpx.post(shop.url + feed.CUSTOMERS_PATH, json=too_many, headers={feed.API_KEY_HEADER: API_KEY})
    assert r.status_code == 413
    assert httpx.post(shop.url + feed.CUSTOMERS_PATH, json={"items": []}).status_code == 401
    assert httpx.get(shop.url + feed.STATUS_PATH).status_code == 401


def test_feed_reports_every_problem_of_an_item(shop):
    item = {"code": "K9", "is_business": True, "limit_state": "limited", "credit_limit": None, "used": 1.5,
            "overdue": "0", "control_mode": "blokada", "currency": "PLN", "as_of": "2024-01-01T00:00:00"}
    r = httpx.post(shop.url + feed.CUSTOMERS_PATH, json={"items": [item]}, headers={feed.API_KEY_HEADER: API_KEY})
    [result] = r.json()["results"]
    assert result["status"] == "rejected"
    assert "used" in result["error"] and "control_mode" in result["error"]


def test_remaining_must_match_limit_minus_used(shop):
    item = {"code": "K9", "is_business": True, "limit_state": "limited", "credit_limit": "100.00", "used": "10.00",
            "remaining": "95.00", "overdue": "0.00", "control_mode": "block", "currency": "PLN",
            "as_of": "2024-01-01T00:00:00+00:00"}
    r = httpx.post(shop.url + feed.CUSTOMERS_PATH, json={"items": [item]}, headers={feed.API_KEY_HEADER: API_KEY})
    assert "remaining 95.00 is not the effective limit − used (90.00)" in r.json()["results"][0]["error"]
