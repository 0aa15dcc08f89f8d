"""No request without need (issue 13): what a run sends, counted at the sandbox over real HTTP."""

from __future__ import annotations

from datetime import timedelta

from tradecredit import run_pipeline
from tradecredit.core.sync import UNMATCHED_RECHECK

from . import helpers as h


def run(pipeline, records, *, later: timedelta = timedelta(0), **kwargs):
    h.RECORDS[pipeline.dataset] = records
    return run_pipeline(pipeline.config(), "sync", host=pipeline.host, as_of=h.AS_OF + later, **kwargs)


def gets(sandbox) -> int:
    return sandbox.count("GET clients/clients")


def test_unchanged_rerun_sends_nothing_not_even_for_unmatched_customers(pipeline, sandbox):
    codes = h.seed(sandbox, 3)
    records = [h.record(c) for c in codes] + [h.record("KH-9998"), h.record("KH-9999")]
    first = run(pipeline, records)
    assert first.counts.written == 3 and first.unmatched == ["KH-9998", "KH-9999"]
    assert gets(sandbox) == 1, "one matching GET for five codes"
    before = len(sandbox.requests)
    again = run(pipeline, records, later=timedelta(hours=1))
    assert again.counts.unchanged == 3 and again.unmatched == ["KH-9998", "KH-9999"], "still reported unmatched"
    assert len(sandbox.requests) == before, "the not-found cache answers for the unmatched codes"


def test_an_unmatched_code_is_asked_again_after_the_recheck_period_and_on_full_refresh(pipeline, sandbox):
    codes = h.seed(sandbox, 2)
    records = [h.record(c) for c in codes] + [h.record("KH-0003")]
    assert run(pipeline, records).unmatched == ["KH-0003"]
    h.seed(sandbox, 1, start=3)  # the merchant creates the missing account
    assert run(pipeline, records, later=UNMATCHED_RECHECK - timedelta(minutes=1)).unmatched == ["KH-0003"], \
        "within the recheck period the code is not asked"
    asked = gets(sandbox)
    later = run(pipeline, records, later=UNMATCHED_RECHECK + timedelta(minutes=1))
    assert later.unmatched == [] and later.counts.written == 1 and gets(sandbox) == asked + 1
    # found now: its not-found entry is gone, and the code's account comes from the match cache
    before = len(sandbox.requests)
    assert run(pipeline, records, later=UNMATCHED_RECHECK * 2).counts.unchanged == 3
    assert len(sandbox.requests) == before


def test_full_refresh_asks_unmatched_codes_again(pipeline, sandbox):
    codes = h.seed(sandbox, 1)
    records = [h.record(codes[0]), h.record("KH-0002")]
    assert run(pipeline, records).unmatched == ["KH-0002"]
    h.seed(sandbox, 1, start=2)
    refreshed = run(pipeline, records, later=timedelta(minutes=5), full_refresh=True)
    assert refreshed.unmatched == [] and refreshed.counts.written == 2


def test_customers_in_another_currency_are_never_looked_up(pipeline, sandbox):
    codes = h.seed(sandbox, 3)
    records = [h.record(codes[0]), h.record(codes[1], currency="EUR"), h.record(codes[2], currency="USD")]
    report = run(pipeline, records)
    assert report.counts.written == 1 and report.counts.unsupported == 2
    lookups = [r for r in sandbox.requests if r.op == "GET clients/clients"]
    asked = dict(lookups[0].query)["clientCodesExternal"] if len(lookups) == 1 else None
    assert asked == codes[0], "only the PLN customer is matched"

