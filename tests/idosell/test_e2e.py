"""End to end over real HTTP: run_pipeline → IdoSell target → the sandbox."""

from __future__ import annotations

import json
import logging
import time
from decimal import Decimal

import pytest
from tradecredit import AuthError, TransientError

from . import helpers as h


def put_refs(sb, since: int = 0) -> list[list[str]]:
    """requestReferences of each PUT clients/clients the sandbox received (after the first ``since`` requests)."""
    return [[c["requestReference"] for c in json.loads(r.body)["params"]["clients"]]
            for r in sb.requests[since:] if r.op == "PUT clients/clients"]


def test_first_sync_writes_matched_and_reports_unmatched(pipeline, sandbox, contract):
    codes = h.seed(sandbox, 4)
    records = [h.record(c, limit="5000.00", used="1234.56") for c in codes] + [h.record("KH-9999")]
    report = pipeline.run(records)
    assert report.status == "ok", report.error
    # every exchange went through the official-spec check (which fails the test at teardown on a violation)
    assert contract.checked == len(sandbox.requests) > 0 or not contract.enabled
    assert report.counts.written == 4 and report.unmatched == ["KH-9999"] and report.counts.unmatched == 1
    client = sandbox.client(h.login_of(codes[0]))
    assert client.limit == Decimal("5000.00") and client.balance == Decimal("-1234.56")
    assert sandbox.available(h.login_of(codes[0])) == Decimal("3765.44")
    assert put_refs(sandbox) == [codes]
    body = json.loads(sandbox.requests[-1].body)
    assert body["clientsSettings"] == {"clientSettingSendMail": False, "clientSettingSendSms": False}


def test_250_customers_three_puts_then_unchanged_rerun_sends_nothing(pipeline, sandbox):
    codes = h.seed(sandbox, 250)
    records = [h.record(c, limit=f"{1000 + i}.00", used=f"{i}.10") for i, c in enumerate(codes)]
    t0 = time.perf_counter()
    report = pipeline.run(records)
    elapsed = time.perf_counter() - t0
    assert report.counts.written == 250 and report.counts.batches == 3
    assert [len(b) for b in put_refs(sandbox)] == [100, 100, 50]
    assert sandbox.count("GET clients/clients") == 3  # matching: ≤ 100 codes per request
    assert elapsed < 10
    before = len(sandbox.requests)
    again = pipeline.run(records)
    assert again.counts.unchanged == 250 and again.counts.written == 0
    assert len(sandbox.requests) == before  # matches come from the cache; nothing written
    # one customer changes in the ERP → exactly one client in one PUT
    records[7] = h.record(codes[7], limit="1.00", used="0.00")
    third = pipeline.run(records)
    assert third.counts.written == 1 and put_refs(sandbox, before) == [[codes[7]]]


def test_dry_run_sends_no_write_and_shows_the_plan(pipeline, sandbox):
    codes = h.seed(sandbox, 3)
    report = pipeline.run([h.record(c) for c in codes], dry_run=True)
    assert sandbox.count("PUT clients/clients") == 0
    assert report.counts.to_write == 3 and report.counts.written == 0
    fields = {(p.code, p.field) for p in report.plan}
    assert (codes[0], "clientTradeCreditLimitExternal") in fields
    assert all(c.limit is None for c in sandbox.clients())


def test_207_partial_failure_failed_retried_next_run_confirmed_not_resent(pipeline, sandbox):
    codes = h.seed(sandbox, 5)
    records = [h.record(c) for c in codes]
    sandbox.inject("partial", refs={codes[1], codes[3]})
    report = pipeline.run(records)
    assert report.status == "partial" and report.counts.written == 3 and report.counts.failed == 2
    assert {p.code for p in report.failed} == {codes[1], codes[3]}
    assert "injected" in report.failed[0].reason
    since = len(sandbox.requests)
    again = pipeline.run(records)
    assert again.status == "ok" and again.counts.written == 2
    assert put_refs(sandbox, since) == [[codes[1], codes[3]]]


def test_429_with_retry_after_is_honoured(pipeline, sandbox):
    codes = h.seed(sandbox, 2)
    sandbox.inject("429", op="PUT clients/clients", times=2, retry_after=0.2)
    t0 = time.perf_counter()
    report = pipeline.run([h.record(c) for c in codes])
    assert report.status == "ok" and report.counts.written == 2
    assert time.perf_counter() - t0 >= 0.4  # two waits of Retry-After, although the backoff is 10 ms
    assert sandbox.count("PUT clients/clients", status=429) == 2 and sandbox.count("PUT clients/clients") == 3


def test_500_storm_fails_the_batch_and_the_next_run_recovers(pipeline, sandbox):
    codes = h.seed(sandbox, 3)
    records = [h.record(c) for c in codes]
    sandbox.inject("500", op="PUT clients/clients", times=None)
    with pytest.raises(TransientError) as err:  # the shop unreachable after retries: the run cannot complete
        pipeline.run(records)
    report = err.value.report
    assert report.status == "failed" and report.counts.failed == 3 and report.counts.written == 0
    assert "gave up after 4 attempt(s)" in report.failed[0].reason
    assert sandbox.count("PUT clients/clients") == 4
    sandbox.clear_faults()
    again = pipeline.run(records)
    assert again.status == "ok" and again.counts.written == 3


def test_timeout_is_retried(pipeline, sandbox):
    codes = h.seed(sandbox, 2)
    slow = sandbox.inject("slow", op="PUT clients/clients", times=1, delay=0.8)
    report = pipeline.run([h.record(c) for c in codes], target={"timeout": 0.3})
    assert report.status == "ok" and report.counts.written == 2
    assert slow.hits == 1
    time.sleep(0.8)  # the slow answer is logged once the sandbox finishes it
    assert sandbox.count("PUT clients/clients") == 2


def test_dropped_connection_is_retried(pipeline, sandbox):
    codes = h.seed(sandbox, 2)
    sandbox.inject("drop", op="PUT clients/clients", times=1)
    report = pipeline.run([h.record(c) for c in codes])
    assert report.status == "ok" and report.counts.written == 2
    assert sandbox.count("PUT clients/clients") == 2


def test_401_stops_the_run_without_leaking_the_key(pipeline, sandbox, caplog):
    codes = h.seed(sandbox, 2)
    wrong = "wrong-key-77aa19"
    caplog.set_level(logging.DEBUG)
    with pytest.raises(AuthError) as err:
        pipeline.run([h.record(c) for c in codes], target={"api_key": wrong})
    assert "HTTP 401" in str(err.value) and "Check the key" in str(err.value)
    assert wrong not in str(err.value) and wrong not in caplog.text
    assert sandbox.count("PUT clients/clients") == 0


def test_403_names_the_missing_scope(pipeline, sandbox):
    codes = h.seed(sandbox, 2)
    sandbox.add_key("readonly-key-3b7c", {"clients": "r"})
    with pytest.raises(AuthError) as err:
        pipeline.run([h.record(c) for c in codes], target={"api_key": "readonly-key-3b7c"})
    assert "HTTP 403" in str(err.value) and "Scope: clients, level: w" in str(err.value)
    assert "readonly-key-3b7c" not in str(err.value)


def test_api_key_never_in_logs_reports_or_exceptions(pipeline, sandbox, caplog):
    codes = h.seed(sandbox, 3)
    caplog.set_level(logging.DEBUG)
    sandbox.inject("429", times=1, retry_after=0.01)
    sandbox.inject("500", op="PUT clients/clients", times=None)
    with pytest.raises(TransientError) as err:
        pipeline.run([h.record(c) for c in codes] + [h.record("KH-0404")], dry_run=False)
    report = err.value.report
    assert str(err.value) and h.API_KEY not in str(err.value)
    sandbox.clear_faults()
    dry = pipeline.run([h.record(c, limit="7.00") for c in codes], dry_run=True)
    for text in (caplog.text, report.to_json(), dry.to_json(), repr(report), str(pipeline.config().redacted())):
        assert h.API_KEY not in text
    assert all(h.API_KEY not in r.body + r.response for r in sandbox.requests)


def test_renamed_login_is_rematched_and_written_in_the_same_run(pipeline, sandbox):
    codes = h.seed(sandbox, 2)
    assert pipeline.run([h.record(c) for c in codes]).counts.written == 2
    sandbox.store.rename_client(h.login_of(codes[0]), "renamed_account")  # the cached match is now stale
    records = [h.record(c, limit="2000.00") for c in codes]
    since = len(sandbox.requests)
    report = pipeline.run(records)
    assert report.status == "ok" and report.counts.written == 2 and report.counts.failed == 0
    assert sandbox.client("renamed_account").limit == Decimal("2000.00")
    assert put_refs(sandbox, since) == [codes, [codes[0]]]  # the batch, then the one re-addressed customer
    assert sandbox.count("GET clients/clients") == 2  # first match + the re-match of the one code
    # The ledger holds what the shop confirmed (the new login): the next run sends nothing.
    again = pipeline.run(records)
    assert again.counts.written == 0 and again.counts.unchanged == 2


def test_account_gone_fails_this_run_and_is_unmatched_next_run(pipeline, sandbox):
    codes = h.seed(sandbox, 2)
    assert pipeline.run([h.record(c) for c in codes]).counts.written == 2
    sandbox.store.rename_client(h.login_of(codes[0]), "someone_else")
    sandbox.store.set_external_code(None, "someone_else", None)  # no account carries the code any more
    records = [h.record(c, limit="2000.00") for c in codes]
    report = pipeline.run(records)
    assert report.counts.failed == 1 and report.counts.written == 1
    reason = report.failed[0].reason
    assert "does not exist" in reason and "re-matching found no account with clientCodeExternal 'KH-0001'" in reason
    again = pipeline.run(records)
    assert again.unmatched == [codes[0]] and again.counts.failed == 0


@pytest.mark.parametrize("status", [422, 400])
def test_4xx_fails_the_batch_with_the_shops_message_and_the_next_run_writes_it(pipeline, sandbox, status):
    codes = h.seed(sandbox, 3)
    records = [h.record(c, limit="800.00") for c in codes]
    sandbox.inject("4xx", status=status, op="PUT clients/clients", times=1,
                   fault_string="Invalid data format: clientTradeCreditLimitExternal")
    report = pipeline.run(records)
    assert report.status == "partial" and report.counts.failed == 3 and report.counts.written == 0
    assert sandbox.count("PUT clients/clients") == 1  # a 4xx is the shop's verdict: never retried in the run
    for problem in report.failed:
        assert f"HTTP {status}: Invalid data format: clientTradeCreditLimitExternal" in problem.reason
    assert all(c.limit is None for c in sandbox.clients())
    since = len(sandbox.requests)
    again = pipeline.run(records)
    assert again.status == "ok" and again.counts.written == 3 and put_refs(sandbox, since) == [codes]
    assert sandbox.client(h.login_of(codes[0])).limit == Decimal("800.00")


def test_dry_run_first_sync_shows_what_the_shop_holds(pipeline, sandbox):
    codes = h.seed(sandbox, 3)
    sandbox.store.update_client(h.login_of(codes[0]), {"clientTradeCreditLimitExternal": Decimal("1000.00"),
                                                       "clientBalanceAmountExternal": Decimal("-5.00")})
    sandbox.store.update_client(h.login_of(codes[1]), {"clientTradeCreditLimitExternal": Decimal("700.00")})
    records = [h.record(c, limit="1000.00", used="10.00") for c in codes]
    report = pipeline.run(records, dry_run=True)
    assert sandbox.count("PUT clients/clients") == 0
    rows = {(p.code, p.field): p for p in report.plan}
    assert not any(f == "clientLogin" for _, f in rows)  # identity, not a value to review
    assert (codes[0], "clientTradeCreditLimitExternal") not in rows  # the shop already holds 1000.00
    limit = rows[(codes[1], "clientTradeCreditLimitExternal")]
    assert (limit.old, limit.new, limit.old_source) == ("700.00", "1000.00", "shop")
    never = rows[(codes[2], "clientTradeCreditLimitExternal")]
    assert (never.old, never.old_source) == ("0.00", "shop")  # never set: the shop shows 0
    for code in codes:  # the shop does not return clientBalanceAmountExternal: always unknown
        balance = rows[(code, "clientBalanceAmountExternal")]
        assert (balance.old, balance.new, balance.old_source) == (None, "-10.00", None)


def test_shop_credit_rule_counts_orders_not_taken_over(pipeline, sandbox):
    (code,) = h.seed(sandbox, 1)
    login = h.login_of(code)
    assert pipeline.run([h.record(code, limit="1000.00", used="600.00")]).counts.written == 1
    assert sandbox.place_order(login, "300.00").accepted
    refused = sandbox.place_order(login, "150.00")
    assert not refused.accepted and "limit exceeded" in refused.message
    assert sandbox.place_order(login, "150.00", payment_type="prepaid").accepted  # not deferred: never limited
    serial = sandbox.orders()[0].serial
    assert sandbox.set_api_flag(serial, "registered")  # the ERP took it over: now in the ERP balance
    assert pipeline.run([h.record(code, limit="1000.00", used="900.00")]).counts.written == 1
    assert sandbox.available(login) == Decimal("100.00")
    assert sandbox.place_order(login, "100.00").accepted


def test_verify_reads_back_the_written_limit(pipeline, sandbox):
    codes = h.seed(sandbox, 3)
    report = pipeline.run([h.record(c, limit="123.45") for c in codes], target={"verify": True})
    assert report.status == "ok" and report.counts.written == 3
    assert sandbox.count("GET clients/clients") == 2  # match + verify
    verify = [r for r in sandbox.requests if r.op == "GET clients/clients"][-1]
    assert dict(verify.query)["returnElements"] == "clientId,clientLogin,clientTradeCredit"


def test_verify_fails_an_account_kept_in_another_currency(pipeline, sandbox):
    codes = h.seed(sandbox, 2)
    sandbox.add_client("firma_eur", "KH-EUR", currency="EUR")
    report = pipeline.run([h.record(c) for c in [*codes, "KH-EUR"]], target={"verify": True})
    assert report.counts.written == 2 and [p.code for p in report.failed] == ["KH-EUR"]
    assert "in EUR, the amounts were sent as PLN" in report.failed[0].reason


def test_verify_after_a_rematch_reads_the_new_account(pipeline, sandbox):
    codes = h.seed(sandbox, 2)
    assert pipeline.run([h.record(c) for c in codes], target={"verify": True}).counts.written == 2
    sandbox.store.rename_client(h.login_of(codes[1]), "renamed_account")
    report = pipeline.run([h.record(c, limit="55.00") for c in codes], target={"verify": True})
    assert report.status == "ok" and report.counts.written == 2
    assert sandbox.client("renamed_account").limit == Decimal("55.00")
