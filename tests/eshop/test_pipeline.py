"""The eshop target through the real orchestrator (``run_pipeline``) into the storefront over HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from tradecredit import run_pipeline
from tradecredit.core.config import parse_config
from tradecredit.core.engine import Outcome, PaymentForm, decide_checkout
from tradecredit.core.errors import ConfigError, TransientError
from tradecredit.core.plugins import PluginHost
from tradecredit.core.records import LimitState
from tradecredit.plugins import eshop
from tradecredit.testing import MEMORY_ROWS, testing_plugin

from .helpers import FAST_RETRY


@pytest.fixture
def host():
    h = PluginHost(strict=True)
    h.add_plugin(testing_plugin, name="testing")
    h.add_plugin(eshop, name="eshop")
    yield h
    MEMORY_ROWS.clear()


def config(host, tmp_path: Path, shop, source: dict | None = None):
    return parse_config(
        {
            "state": {"url": f"sqlite:///{tmp_path / 'state.db'}"},
            "sources": {"erp": source or {"plugin": "memory"}},
            "targets": {"store": {**shop.target_options(), "retry": FAST_RETRY.model_dump()}},
            "pipelines": [{"name": "erp-to-store", "source": "erp", "target": "store"}],
        },
        host,
    )


def test_options_are_validated_with_paths_and_the_key_is_masked(host, tmp_path):
    with pytest.raises(ConfigError) as err:
        parse_config(
            {"targets": {"store": {"plugin": "eshop", "base_url": "not a url", "api_key": "sekret-123",
                                   "batch_size": 500, "bach_size": 1}}},
            host,
        )
    text = str(err.value)
    assert "targets.store.base_url" in text and "targets.store.batch_size" in text
    assert "targets.store.bach_size: unknown option" in text
    cfg = parse_config({"targets": {"store": {"plugin": "eshop", "base_url": "http://x", "api_key": "sekret-123"}}},
                       host)
    assert "sekret-123" not in str(cfg.redacted())


def test_unchanged_customers_are_not_resent_although_as_of_moved(host, tmp_path, shop, make_record):
    MEMORY_ROWS["default"] = [make_record(f"K{i:03d}", used=f"{i}.00") for i in range(1, 251)]
    cfg = config(host, tmp_path, shop)
    first = run_pipeline(cfg, "erp-to-store", host=host)
    assert (first.status, first.counts.written, first.counts.batches) == ("ok", 250, 3)
    assert len(shop.customers()) == 250

    later = datetime.now(UTC) + timedelta(hours=1)
    second = run_pipeline(cfg, "erp-to-store", host=host, as_of=later)
    assert (second.counts.unchanged, second.counts.written, second.counts.batches) == (250, 0, 0)

    MEMORY_ROWS["default"][6] = make_record("K007", used="7000.00")
    third = run_pipeline(cfg, "erp-to-store", host=host, as_of=later + timedelta(hours=1))
    assert (third.counts.unchanged, third.counts.written) == (249, 1)
    assert shop.customer("K007").item.used == Decimal("7000.00")


def test_dry_run_writes_nothing_to_the_storefront(host, tmp_path, shop, make_record):
    MEMORY_ROWS["default"] = [make_record("K1"), make_record("K2")]
    report = run_pipeline(config(host, tmp_path, shop), "erp-to-store", host=host, dry_run=True)
    assert report.counts.to_write == 2 and report.counts.written == 0
    assert shop.customers() == []
    assert {c.field for c in report.plan} >= {"credit_limit", "used", "remaining", "control_mode"}


def test_a_currency_the_storefront_cannot_sell_in_is_unsupported_not_a_failure(host, tmp_path, shop, make_record):
    MEMORY_ROWS["default"] = [make_record("K1"), make_record("K2", currency="GBP")]
    cfg = config(host, tmp_path, shop)
    first = run_pipeline(cfg, "erp-to-store", host=host)
    assert (first.status, first.counts.written, first.counts.unsupported, first.counts.failed) == ("ok", 1, 1, 0)
    assert first.unsupported[0].currency == "GBP" and "EUR, PLN, USD" in first.unsupported[0].reason
    assert shop.customer("K2") is None
    MEMORY_ROWS["default"][1] = make_record("K2")
    second = run_pipeline(cfg, "erp-to-store", host=host)
    assert (second.status, second.counts.unchanged, second.counts.written) == ("ok", 1, 1)


def test_items_the_storefront_rejects_fail_and_are_retried_next_run(host, tmp_path, shop, make_record):
    MEMORY_ROWS["default"] = [make_record("K1"), make_record("K2")]
    cfg = config(host, tmp_path, shop)
    # the storefront holds newer data for K2 than this run reads: it refuses the item (per item, not the batch)
    newer = make_record("K2", as_of=datetime.now(UTC) + timedelta(days=1))
    assert shop.store.upsert([_item(newer)])[0]["status"] == "accepted"
    first = run_pipeline(cfg, "erp-to-store", host=host)
    assert (first.status, first.counts.written, first.counts.failed) == ("partial", 1, 1)
    assert "older than the data the shop has" in first.failed[0].reason
    later = datetime.now(UTC) + timedelta(days=2)
    second = run_pipeline(cfg, "erp-to-store", host=host, as_of=later)
    assert (second.status, second.counts.unchanged, second.counts.written) == ("ok", 1, 1)


def _item(record):
    from tradecredit.core.engine import degrade_mode
    from tradecredit.plugins.eshop import EshopTarget, feed

    mode = degrade_mode(record.control_mode, EshopTarget.native_modes)
    return {**feed.credit_payload(record, mode.effective), "as_of": record.as_of.isoformat()}


def test_a_storefront_outage_fails_the_batch_and_the_next_run_catches_up(host, tmp_path, shop, make_record):
    MEMORY_ROWS["default"] = [make_record("K1"), make_record("K2")]
    cfg = config(host, tmp_path, shop)
    shop.inject_feed_failures(FAST_RETRY.max_attempts, status=503)
    with pytest.raises(TransientError) as outage:  # unreachable after retries: the run failed (exit 1)
        run_pipeline(cfg, "erp-to-store", host=host)
    first = outage.value.report
    assert (first.status, first.counts.written, first.counts.failed) == ("failed", 0, 2)
    second = run_pipeline(cfg, "erp-to-store", host=host)
    assert (second.status, second.counts.written) == ("ok", 2)


def test_optima_demo_database_end_to_end(host, tmp_path, shop):
    from tradecredit.plugins import optima

    host.add_plugin(optima, name="optima")
    erp = f"sqlite:///{tmp_path / 'optima.db'}"
    optima.make_demo_db(erp, customers=400)
    cfg = config(host, tmp_path, shop, {"plugin": "optima", "url": erp, "workstation": 1})
    report = run_pipeline(cfg, "erp-to-store", host=host)
    assert report.status == "ok", report.failed[:3]
    assert report.counts.written == len(shop.customers()) == report.counts.read - report.counts.rejected > 300
    again = run_pipeline(cfg, "erp-to-store", host=host)
    assert again.counts.written == 0 and again.counts.unchanged == report.counts.written

    # What the storefront rebuilt from the feed decides exactly like the engine on the ERP's own record.
    states = {c.item.limit_state for c in shop.customers()}
    assert LimitState.LIMITED in states and LimitState.NONE in states
    limited = next(c for c in shop.customers() if c.item.limit_state is LimitState.LIMITED and c.item.is_business)
    over = (limited.item.remaining or Decimal(0)) + Decimal("0.01")
    decision = decide_checkout(limited.record(), over, PaymentForm.TRANSFER)
    assert decision.outcome is Outcome(limited.item.control_mode.value)
