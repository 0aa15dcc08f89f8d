"""XL → IdoSell end to end: an XL demo database (SQLite and PostgreSQL) through ``run_pipeline`` into the
IdoSell sandbox over real HTTP, checked against the independent model of the XL rules in conftest."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from tradecredit import run_pipeline
from tradecredit.core.config import parse_config
from tradecredit.core.plugins import PluginHost
from tradecredit.core.secrets import forget_secrets
from tradecredit.plugins import idosell, xl
from tradecredit.plugins.idosell.sandbox import start_sandbox
from tradecredit.plugins.xl.demo import generate, write

from . import helpers as xlh

API_KEY = "xl-e2e-key-73b1"
UNLIMITED = Decimal("999999999.99")  # the IdoSell target's documented default for "unlimited"
FAST_RETRY = {"max_attempts": 3, "backoff_initial": 0.01, "backoff_max": 0.05, "total_timeout": 5.0}


def login(code: str) -> str:
    return "xl_" + "".join(ch if ch.isalnum() else "_" for ch in code.lower())


def blocked(want: dict) -> bool:
    return want["overdue_limit"] is not None and want["overdue"] > want["overdue_limit"]


def shop_limit(want: dict) -> Decimal:
    """What the shop should hold as the limit under BLOCK, from the model's values (docs/plugins/idosell.md)."""
    if blocked(want):
        return Decimal("0.00")  # the overdue rule is breached: no credit at all
    if want["limit_state"] == "unlimited":
        return UNLIMITED
    if want["limit_state"] == "lapsed":
        return Decimal("0.00")  # a lapsed dated limit: no more credit than a limit of 0
    return want["credit_limit"]


def test_xl_demo_database_to_the_idosell_sandbox(tc_database_url, tmp_path: Path):
    data = generate(700, seed=21, today=xlh.TODAY)
    write(tc_database_url, data)
    expected = xlh.expected_from_demo(data, reservations=True, documents=False)
    valid = sorted(code for code, want in expected.items() if isinstance(want, dict))
    bad = sorted(code for code, want in expected.items() if isinstance(want, str))
    assert len(valid) > 600 and bad
    without_account = set(valid[::50])  # customers the shop does not know: reported, never an error
    sandbox = start_sandbox(tmp_path / "shop.db", API_KEY)
    try:
        sandbox.add_clients({"login": login(c), "code_external": c, "firm": c}
                            for c in valid + bad if c not in without_account)
        host = PluginHost(strict=True)
        host.add_plugin(xl, name="xl")
        host.add_plugin(idosell, name="idosell")
        cfg = parse_config({
            "state": {"url": f"sqlite:///{tmp_path / 'state.db'}"},
            "sources": {"erp": {"plugin": "xl", "url": tc_database_url, "control_mode": "block",
                                "include_reservations": True}},
            "targets": {"shop": {"plugin": "idosell", "base_url": sandbox.url, "api_key": API_KEY,
                                 "retry": FAST_RETRY, "timeout": 5.0}},
            "pipelines": [{"name": "xl-to-idosell", "source": "erp", "target": "shop"}],
        }, host)

        report = run_pipeline(cfg, "xl-to-idosell", host=host, as_of=xlh.AS_OF)
        assert report.status == "partial", (report.error, report.failed[:3])  # bad rows were rejected: exit 4
        rejected = {p.code for p in report.rejected}
        assert set(bad) <= rejected  # dangling payers, missing exchange rates: each with its reason
        assert all(p.reason for p in report.rejected)
        assert set(report.unmatched) == without_account
        written = [c for c in valid if c not in without_account and c not in rejected]
        assert report.counts.written == len(written)

        for code in written:
            client = sandbox.client(login(code))
            want = expected[code]
            debt = max(want["used"], Decimal(0)) if blocked(want) else want["used"]  # blocked: nothing available
            assert client.balance == -debt, code  # ERP-booked debt incl. reservations, sign negative
            assert client.limit == shop_limit(want), (code, want)
        kinds = {expected[c]["limit_state"] for c in written}
        breached = [c for c in written if shop_limit(expected[c]) != (expected[c]["credit_limit"] or 0)
                    and expected[c]["limit_state"] == "limited"]
        shared = [c for c in written if expected[c]["payer_code"] != c]
        assert kinds == {"limited", "lapsed", "unlimited"} and breached and shared  # every rule is exercised
        for code in bad:
            assert sandbox.client(login(code)).limit is None  # a rejected customer is never written

        # The shop now enforces the payer's limit at checkout (the seed-000 rule in the sandbox).
        code = next(c for c in written if expected[c]["limit_state"] == "limited"
                    and shop_limit(expected[c]) - expected[c]["used"] > Decimal("100.00"))
        left = sandbox.available(login(code))
        assert left == shop_limit(expected[code]) - expected[code]["used"]
        assert not sandbox.place_order(login(code), left + Decimal("0.01")).accepted
        assert sandbox.place_order(login(code), left).accepted

        again = run_pipeline(cfg, "xl-to-idosell", host=host, as_of=xlh.AS_OF)
        assert again.counts.written == 0 and again.counts.unchanged == len(written)
    finally:
        sandbox.stop()
        forget_secrets()
