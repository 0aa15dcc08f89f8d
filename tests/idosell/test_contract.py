"""Contract test: the target, the sandbox's helpers and the sandbox's answers against the official IdoSell Admin
API v6 operation specs in ../shared/reference/idosell/ (the validator lives in conftest.py and checks every
exchange of every test's ``sandbox``; this module covers each operation and its answers once, on purpose).
"""

from __future__ import annotations

import copy
from typing import Any

import httpx
import pytest
from tradecredit import ItemStatus, OutgoingItem, degrade_mode

from . import helpers as h


@pytest.fixture(autouse=True)
def _specs() -> None:
    h.require_specs()


def test_every_exchange_matches_the_official_specs(sandbox):
    codes = h.seed(sandbox, 6)
    sandbox.add_client("no_code_account")
    target = h.make_target(sandbox, verify=True)
    codes_with_stranger = [*codes, "KH-NOPE"]
    matches = target.match(codes_with_stranger)                      # GET, 200
    assert set(matches) == set(codes)
    assert target.match(["KH-NONE"]) == {}                             # GET, empty result (faultCode 2)
    items = []
    for i, code in enumerate(codes):
        rec = h.record(code, limit="1500.50", used=f"{i}.25")
        mode = degrade_mode(rec.control_mode, target.native_modes, target.mode_policy())
        items.append(OutgoingItem(key=rec.key, code=code, payload=target.payload(rec, matches[code], mode),
                                  match=matches[code], record=rec, mode=mode))
    assert all(r.status is ItemStatus.CONFIRMED for r in target.write(items[:3]))   # PUT 200 + verify GET
    sandbox.inject("partial", refs={codes[4]})
    results = target.write(items[3:])                                   # PUT 207
    assert [r.status for r in results] == [ItemStatus.CONFIRMED, ItemStatus.FAILED, ItemStatus.CONFIRMED]
    ghost = items[0].model_copy(update={"payload": {**items[0].payload, "clientLogin": "ghost"}})
    assert target.write([ghost])[0].stale_match                        # PUT 207, unknown login
    target.check(codes)                                                 # GET + empty PUT
    assert set(target.current(items)) == {i.key for i in items}        # GET (read back)
    target.close()

    def call(method: str, path: str, body: Any) -> httpx.Response:
        return httpx.request(method, f"{sandbox.api_url}/{path}", json=body, headers={"X-API-KEY": h.API_KEY})

    call("PUT", "clients/externalCode", {"params": {"client_login": "no_code_account", "code_extern": "KH-NEW"}})
    call("PUT", "clients/externalCode", {"params": {"client_login": "nobody", "code_extern": "KH-X"}})
    login = h.login_of(codes[0])
    ok = sandbox.place_order(login, "100.00")                           # POST orders 200
    assert ok.accepted
    assert not sandbox.place_order(login, "99999.00").accepted          # POST orders 207 (credit rule)
    assert sandbox.set_api_flag(ok.serial, "registered")                # PUT orders 200
    call("PUT", "orders/orders", {"params": {"orders": [{"orderSerialNumber": 999, "apiFlag": "none"}]}})
    call("POST", "orders/orders/search", {"params": {"orderPaymentType": "tradecredit",
                                                     "clients": [{"clientLogin": login}]}})
    call("POST", "orders/orders/search", {"params": {"ordersSerialNumbers": [12345]}})

    exchanged = [r for r in sandbox.requests if r.status]
    assert {r.op for r in exchanged} == set(h.FILES)
    problems = {f"{r.op} #{n}": p for n, r in enumerate(exchanged) if (p := h.validate_exchange(r))}
    assert problems == {}


def test_the_sandbox_rejects_what_the_spec_does_not_allow(sandbox, contract):
    contract.enabled = False  # these requests break the contract on purpose
    h.seed(sandbox, 1)
    bad = [
        ("PUT", "clients/clients", {"params": {"clients": [{"clientLogin": "x",
                                                            "clientTradeCreditLimitExternal": "10"}]}}),
        ("PUT", "clients/clients", {"params": {"clients": [{"clientLogin": "x", "clientLimit": 10}]}}),
        ("PUT", "clients/clients", {"params": {"clients": [{"clientLogin": "x"}] * 101}}),
        ("PUT", "clients/clients", {"clients": []}),
        ("POST", "orders/orders", {"params": {"orders": [{"orderPaymentType": "credit"}]}}),
        ("PUT", "orders/orders", {"params": {"orders": [{"orderSerialNumber": 1, "apiFlag": "done"}]}}),
        # order objects are closed too: unknown (misspelt) fields and wrong JSON types are refused
        ("POST", "orders/orders", {"params": {"orders": [{"clientLogin": "x", "orderPaymentTyp": "prepaid"}]}}),
        ("POST", "orders/orders", {"params": {"orders": [{"clientLogin": "x", "products": [
            {"productId": 1, "productQuantity": 1, "productRetailPrice": 1, "productPrice": 5}]}]}}),
        ("POST", "orders/orders", {"params": {"orders": [{"clientLogin": "x", "products": [
            {"productId": 1, "productRetailPrice": "10.00"}]}]}}),
        ("POST", "orders/orders", {"params": {"orders": [{"clientLogin": "x", "settings": {"sendMail": True}}]}}),
        ("PUT", "orders/orders", {"params": {"orders": [{"orderSerialNumber": 1, "apiFlags": "registered"}]}}),
        ("PUT", "orders/orders", {"params": {"orders": [{"orderSerialNumber": "1", "apiFlag": "registered"}]}}),
        ("POST", "orders/orders/search", {"params": {"ordersSerialNumber": [1]}}),
        ("POST", "orders/orders/search", {"params": {"clients": [{"login": "x"}]}}),
        ("POST", "orders/orders/search", {"params": {"ordersRange": {"ordersDateRange": {"ordersDateType": "x"}}}}),
    ]
    for method, path, body in bad:
        r = httpx.request(method, f"{sandbox.api_url}/{path}", json=body, headers={"X-API-KEY": h.API_KEY})
        assert r.status_code == 422, (path, body, r.text)
    for query in ({"resultsLimit": "101"}, {"clientsIds": "1,a"}, {"returnElements": "clientPassword"},
                  {"clientCodes": "KH-1"}):
        r = httpx.get(f"{sandbox.api_url}/clients/clients", params=query, headers={"X-API-KEY": h.API_KEY})
        assert r.status_code == 422, (query, r.text)
    assert httpx.get(f"{sandbox.url}/api/admin/v5/clients/clients", headers={"X-API-KEY": h.API_KEY}).status_code == 404


def test_strict_copy_is_stricter_than_the_spec():
    schema = h.operation("PUT clients/clients")["requestBody"]["content"]["application/json"]["schema"]
    typo = {"params": {"clients": [{"clientLogin": "a", "clientTradeCreditLimitExtrnal": 1}]}}
    assert h.errors(schema, typo) == [] and h.errors(h.strict(schema), typo)
    assert copy.deepcopy(schema) == schema


def test_the_sandbox_accepts_every_field_the_order_specs_list(sandbox):
    """The strict order models must not refuse what the spec allows: one body with every field, per operation."""
    h.seed(sandbox, 1)
    samples = {"string": "x", "integer": 1, "number": 1.5, "boolean": False}

    def example(schema: dict[str, Any]) -> Any:
        if "enum" in schema:
            return schema["enum"][0]
        if schema.get("type") == "object":
            return {k: example(v) for k, v in (schema.get("properties") or {}).items()}
        if schema.get("type") == "array":
            return [example(schema.get("items", {}))]
        return samples[schema.get("type", "string")]

    for op in ("POST orders/orders", "PUT orders/orders", "POST orders/orders/search"):
        body = example(h.operation(op)["requestBody"]["content"]["application/json"]["schema"])
        method, path = op.split(" ", 1)
        r = httpx.request(method, f"{sandbox.api_url}/{path}", json=body, headers={"X-API-KEY": h.API_KEY})
        assert r.status_code in (200, 207), (op, r.text)


def test_a_violation_is_caught_by_the_contract_check(sandbox, contract):
    contract.enabled = False  # this test breaks the contract on purpose, with a check of its own
    check = h.ContractCheck()
    check.attach(sandbox)
    h.seed(sandbox, 1)
    httpx.put(f"{sandbox.api_url}/clients/clients", headers={"X-API-KEY": h.API_KEY},
              json={"params": {"clients": [{"clientLogin": "firma_kh_0001", "clientTradeCreditLimitExtrnal": 1}]}})
    httpx.get(f"{sandbox.api_url}/clients/clients", headers={"X-API-KEY": h.API_KEY}, params={"resultsLimit": 1})
    assert check.checked == 2 and len(check.problems) == 1
    assert "clientTradeCreditLimitExtrnal" in check.problems[0]
    with pytest.raises(AssertionError, match="break the official IdoSell spec"):
        check.assert_clean()


def test_missing_specs_skip_locally_but_fail_under_ci(monkeypatch, tmp_path):
    monkeypatch.setattr(h, "SPECS", tmp_path / "no-shared")
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception):
        h.require_specs()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        h.require_specs()
