"""The sandbox on its own: persistence, the shop's credit rule variants, verify mismatches."""

from __future__ import annotations

from decimal import Decimal

from tradecredit.plugins.idosell.sandbox import Sandbox, start_sandbox

from . import helpers as h


def test_state_survives_a_restart(tmp_path, contract):
    db = tmp_path / "shop.db"
    with contract.attach(start_sandbox(db, "k-123456")) as sb:
        sb.add_client("firma_a", "KH-1", limit="500.00", balance="-100.00")
        assert sb.place_order("firma_a", "150.00").accepted
    again = Sandbox(db)
    assert again.client("firma_a").limit == Decimal("500.00")
    assert [o.total for o in again.orders()] == [Decimal("150.00")]
    assert again.available("firma_a") == Decimal("250.00")
    again.stop()


def test_credit_rule_variants(tmp_path, contract):
    with contract.attach(start_sandbox(None, "k-123456", zero_limit_means="no_limit", balance_sign="positive")) as sb:
        sb.add_client("zero", "KH-1", limit="0.00", balance="100.00")
        sb.add_client("debtor", "KH-2", limit="100.00", balance="60.00")
        sb.add_client("no_credit", "KH-3", trade_credit=False, limit="1000.00")
        sb.add_client("never_synced", "KH-4")
        assert sb.available("zero") is None and sb.place_order("zero", "99999.00").accepted
        assert sb.available("debtor") == Decimal("40.00")
        assert not sb.place_order("debtor", "40.01").accepted
        assert "not enabled" in sb.place_order("no_credit", "1.00").message
        assert not sb.place_order("never_synced", "1.00").accepted
        assert not sb.place_order("nobody", "1.00").accepted


def test_verify_fails_items_the_shop_does_not_show(pipeline, sandbox, monkeypatch):
    codes = h.seed(sandbox, 2)
    original = sandbox.store.update_client

    def ignore_limit(login, values):
        return original(login, {k: v for k, v in values.items() if k != "clientTradeCreditLimitExternal"})

    monkeypatch.setattr(sandbox.store, "update_client", ignore_limit)
    report = pipeline.run([h.record(c, limit="10.00") for c in codes], target={"verify": True})
    assert report.counts.failed == 2 and "verify" in report.failed[0].reason
