"""Issue 12, defects 3–8, each pinned by a small test beside the suites that prove them at scale
(test_hostile_shops, test_bad_inputs, test_crash_convergence). Defects 1–2 are tests/core/test_leases.py.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest
from tradecredit.core.errors import ConfigError, TransientError
from tradecredit.core.http import HttpClient, RetryPolicy, encode_json
from tradecredit.core.records import record_or_rejection
from tradecredit.sdk import CreditRecord, ItemStatus, LimitState, RejectedRow

from .hostile import ANSWERS, HostileShop, Reply, good
from .test_bad_inputs import _items, _target

AS_OF = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def test_3_a_dripping_body_is_cut_at_the_calls_total_timeout():
    with HostileShop() as shop:
        shop.answer = lambda ex: Reply(200, b'{"results": []}' + b" " * 200, drip=0.1)  # ~3 s, each read < 0.1 s
        client = HttpClient(shop.url, timeout=1.0, retry=RetryPolicy(max_attempts=5, total_timeout=1.0))
        started = time.monotonic()
        with pytest.raises(TransientError, match="still arriving"):
            client.request("GET", "/x")
        took = time.monotonic() - started
        client.close()
    assert took < 1.6, f"{took:.1f}s for a call bounded to 1 s"


def test_3_a_server_slower_than_the_total_timeout_is_not_waited_for_per_read():
    with HostileShop() as shop:
        shop.answer = ANSWERS["slow headers"]  # 2 s before any byte
        client = HttpClient(shop.url, timeout=30.0, retry=RetryPolicy(max_attempts=3, total_timeout=1.0))
        started = time.monotonic()
        with pytest.raises(TransientError):
            client.request("GET", "/x")
        client.close()
    assert time.monotonic() - started < 1.6


def test_3_matching_stops_when_the_shop_ignores_results_page():
    with HostileShop() as shop:
        shop.answer = ANSWERS["endless paging"]
        target = _target(httpx.HTTPTransport())
        target.options = target.options.model_copy(update={"base_url": shop.url})
        found = target.match(["K1", "K2"])
        target.close()
        gets = shop.count("GET")
    assert set(found) == {"K1", "K2"} and gets == 2  # page 0, then page 1 = page 0 again: stop


def test_5_a_207_without_references_confirms_only_what_its_rows_identify():
    items = _items(["K1", "K2", "K3"])
    # no requestReference; K3's row names its login, the others are anonymous and reordered
    answer = {"results": [{"resultStatus": False, "clientsResult": {}, "errors": [{"faultCode": 5}]},
                          {"resultStatus": True, "clientsResult": {}},
                          {"resultStatus": True, "clientsResult": {"clientLogin": "l-K3"}}]}
    target = _target(httpx.MockTransport(lambda request: httpx.Response(207, json=answer)))
    results = {r.key: r.status for r in target.write(items)}
    assert results == {"k1": ItemStatus.FAILED, "k2": ItemStatus.FAILED, "k3": ItemStatus.CONFIRMED}


@pytest.mark.parametrize(("answer", "words"), [
    ("deep nesting", "invalid JSON"), ("bad gzip", "could not be decoded"), ("results string", "not a list"),
    ("page count text", "not a number"), ("301", "base_url"),
])
def test_6_raw_errors_are_typed_with_a_reason(answer, words):
    with HostileShop() as shop:
        shop.answer = ANSWERS[answer]
        target = _target(httpx.HTTPTransport())
        target.options = target.options.model_copy(update={"base_url": shop.url})
        with pytest.raises((TransientError, ConfigError), match=words):
            target.match(["K1"])
        target.close()
        assert shop.count("GET") == 1, "not retried: the same answer would come again"


def test_8_amounts_beyond_decimal_15_2_and_over_long_codes_are_rejected_with_a_reason():
    fields = {"is_business": True, "limit_state": LimitState.LIMITED, "as_of": AS_OF}
    big = record_or_rejection("erp", 1, "K1", credit_limit=Decimal("10000000000000.00"), **fields)
    assert isinstance(big, RejectedRow) and "decimal(15,2)" in big.reason
    edge = record_or_rejection("erp", 2, "K2", credit_limit=Decimal("9999999999999.99"), **fields)
    assert isinstance(edge, CreditRecord)
    long = record_or_rejection("erp", 3, "K" * 250, credit_limit=Decimal("1.00"), **fields)
    assert isinstance(long, RejectedRow) and "250 characters" in long.reason and len(long.code or "") <= 100


def test_8_json_amounts_are_exact_decimals():
    body = encode_json({"a": Decimal("12345678901234567.89"), "b": [Decimal("-0.10")], "c": "0.1"})
    assert body == b'{"a":12345678901234567.89,"b":[-0.10],"c":"0.1"}'


def test_good_answers_still_work_through_the_hostile_server():
    with HostileShop() as shop:
        shop.answer = good
        target = _target(httpx.HTTPTransport())
        target.options = target.options.model_copy(update={"base_url": shop.url})
        assert set(target.match(["K1"])) == {"K1"}
        target.close()
