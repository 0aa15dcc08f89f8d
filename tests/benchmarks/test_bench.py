"""Smoke tests of the benchmark harness (``make bench`` itself is not part of ``make test``).

The stand-in shop must speak the part of the IdoSell contract the product's target uses, unchanged: these
tests drive it with the real ``IdoSellTarget`` over HTTP, in its own process as the benchmark runs it.
"""

from __future__ import annotations

import importlib
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from tradecredit import AdapterContext, CreditRecord, ItemStatus, LimitState, OutgoingItem, degrade_mode
from tradecredit.plugins.idosell.target import IdoSellOptions, IdoSellTarget

ROOT = Path(__file__).resolve().parents[2]
MODULES = ["shop", "floor", "naive", "proc", "report", "stages", "suite", "workload", "__main__"]


@pytest.fixture
def bench(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.syspath_prepend(str(ROOT))
    return importlib.import_module("bench")


def test_every_bench_module_imports(bench) -> None:  # type: ignore[no-untyped-def]
    for name in MODULES:
        module = importlib.import_module(f"bench.{name}")
        assert module.__doc__, f"bench/{name}.py explains itself"


def _record(code: str, used: str = "12.50") -> CreditRecord:
    return CreditRecord(source="erp", erp_id=code, code=code, is_business=True, limit_state=LimitState.LIMITED,
                        credit_limit=Decimal("1000.00"), used=Decimal(used), as_of=datetime(2026, 11, 20, tzinfo=UTC))


def test_the_stand_in_shop_answers_the_product_target(bench, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from bench import proc, suite, workload

    accounts = tmp_path / "accounts.tsv"
    accounts.write_text("K000001\tlogin_k000001\nK000002\tlogin_k000002\n", encoding="utf-8")
    shop = proc.Server([suite._python(), "-m", "bench.shop", "--accounts", str(accounts),
                        "--api-key", workload.API_KEY], env=suite._env())
    target = IdoSellTarget(IdoSellOptions(base_url=shop.url, api_key=workload.API_KEY),
                           AdapterContext(instance_name="shop"))
    try:
        client = suite.ShopClient(shop.url)
        matches = target.match(["K000001", "K000009"])  # one GET: one account, one code without
        assert matches == {"K000001": {"clientLogin": "login_k000001", "clientId": 1}}
        record = _record("K000001")
        mode = degrade_mode(record.control_mode, target.native_modes, target.mode_policy())
        payload = target.payload(record, matches["K000001"], mode)
        item = OutgoingItem(key=record.key, code=record.code, payload=payload, match=matches["K000001"],
                            record=record, mode=mode)
        [result] = target.write([item])  # one PUT, confirmed by requestReference
        assert result.status is ItemStatus.CONFIRMED and result.key == "k000001"
        stats = client.stats()
        assert stats["requests"] == {"GET clients/clients": 1, "PUT clients/clients": 1}
        assert stats["clients_asked"] == 2 and stats["clients_written"] == 1
        assert client.call("GET", "values") == {"login_k000001": [1000.0, -12.5]}
        client.reset()
        assert client.stats()["requests"] == {}
    finally:
        target.close()
        shop.stop()


def test_the_stand_in_shop_refuses_unknown_logins_and_keys(bench) -> None:  # type: ignore[no-untyped-def]
    from bench.shop import Shop

    shop = Shop([("K1", "one")], "key")
    status, body = shop.handle("PUT", "/api/admin/v6/clients/clients", {"x-api-key": "key"}, json.dumps(
        {"params": {"clients": [{"clientLogin": "one", "requestReference": "K1"},
                                {"clientLogin": "gone", "requestReference": "K2"}]}}).encode())
    answer = json.loads(body)
    assert status == 207
    assert [r["resultStatus"] for r in answer["results"]] == [True, False]
    assert answer["results"][1]["clientsResult"]["requestReference"] == "K2"
    assert "does not exist" in answer["results"][1]["errors"][0]["faultString"]
    status, body = shop.handle("GET", "/api/admin/v6/clients/clients?clientCodesExternal=K9", {"x-api-key": "key"},
                               b"")
    assert status == 200 and json.loads(body)["errors"]["faultCode"] == 2  # an empty result, as IdoSell says it
    assert shop.handle("GET", "/api/admin/v6/clients/clients", {"x-api-key": "wrong"}, b"")[0] == 401
