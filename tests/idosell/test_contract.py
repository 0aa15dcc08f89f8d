"""Contract test: every request the target (and the sandbox's own helpers) send, and every response the sandbox
gives, validated against the official IdoSell Admin API v6 operation specs in ../shared/reference/idosell/.

Requests are validated strictly (``additionalProperties: false`` added to every object with properties), so a
misspelt field fails here even though the published schemas do not forbid extra fields.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from tradecredit import ItemStatus, OutgoingItem, degrade_mode

SPECS = Path(__file__).resolve().parents[3] / "shared" / "reference" / "idosell" / "openapi-v6"
FILES = {
    "GET clients/clients": "clients-clients.get.json",
    "PUT clients/clients": "clients-clients.put.json",
    "PUT clients/externalCode": "clients-externalCode.put.json",
    "POST orders/orders": "orders-orders.post.json",
    "PUT orders/orders": "orders-orders.put.json",
    "POST orders/orders/search": "orders-orders-search.post.json",
}

pytestmark = pytest.mark.skipif(not SPECS.is_dir(), reason=f"reference specs not found at {SPECS}")


def operation(op: str) -> dict[str, Any]:
    data = json.loads((SPECS / FILES[op]).read_text(encoding="utf-8"))
    return data[op.split()[0].lower()]


def strict(schema: Any, allow_top: frozenset[str] = frozenset(), top: bool = True) -> Any:
    """A copy of ``schema`` where objects with properties reject unknown properties."""
    if isinstance(schema, dict):
        out = {k: strict(v, top=False) for k, v in schema.items()}
        if out.get("type") == "object" and "properties" in out and "additionalProperties" not in out:
            out["additionalProperties"] = False
            if top and allow_top:
                out["properties"] = {**out["properties"], **{k: {} for k in allow_top}}
        return out
    if isinstance(schema, list):
        return [strict(v, top=False) for v in schema]
    return schema


def errors(schema: dict[str, Any], instance: Any) -> list[str]:
    found = Draft202012Validator(schema).iter_errors(instance)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in found]


def query_value(schema: dict[str, Any], raw: str) -> Any:
    """Decode a ``style: form, explode: false`` query value according to its schema."""
    def scalar(s: dict[str, Any], v: str) -> Any:
        if s.get("type") == "integer":
            try:
                return int(v)
            except ValueError:
                return v
        return v
    if schema.get("type") == "array":
        return [scalar(schema.get("items", {}), v) for v in raw.split(",")]
    return scalar(schema, raw)


def validate_exchange(r: Any) -> list[str]:
    spec = operation(r.op)
    problems: list[str] = []
    if r.op.startswith("GET"):
        params = {p["name"]: p for p in spec.get("parameters", [])}
        for name, raw in r.query:
            base = name.split("[", 1)[0]
            if base not in params:
                problems.append(f"query parameter {name!r} is not in the spec")
                continue
            if "[" not in name:
                schema = params[base]["schema"]
                problems += [f"query {name}: {e}" for e in errors(schema, query_value(schema, raw))]
    else:
        schema = spec["requestBody"]["content"]["application/json"]["schema"]
        problems += [f"request {e}" for e in errors(strict(schema), json.loads(r.body))]
    status = str(r.status)
    if status not in spec["responses"]:
        problems.append(f"status {status} is not declared by the spec")
    else:
        content = spec["responses"][status].get("content")
        if content and r.response:
            schema = content["application/json"]["schema"]
            problems += [f"response {status} {e}" for e in errors(strict(schema, frozenset({"errors"})),
                                                                   json.loads(r.response))]
    return problems


def test_every_exchange_matches_the_official_specs(sandbox, h):
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
    target.close()

    import httpx

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
    assert {r.op for r in exchanged} == set(FILES)
    problems = {f"{r.op} #{n}": p for n, r in enumerate(exchanged) if (p := validate_exchange(r))}
    assert problems == {}


def test_the_sandbox_rejects_what_the_spec_does_not_allow(sandbox, h):
    import httpx

    h.seed(sandbox, 1)
    bad = [
        ("PUT", "clients/clients", {"params": {"clients": [{"clientLogin": "x",
                                                            "clientTradeCreditLimitExternal": "10"}]}}),
        ("PUT", "clients/clients", {"params": {"clients": [{"clientLogin": "x", "clientLimit": 10}]}}),
        ("PUT", "clients/clients", {"params": {"clients": [{"clientLogin": "x"}] * 101}}),
        ("PUT", "clients/clients", {"clients": []}),
        ("POST", "orders/orders", {"params": {"orders": [{"orderPaymentType": "credit"}]}}),
        ("PUT", "orders/orders", {"params": {"orders": [{"orderSerialNumber": 1, "apiFlag": "done"}]}}),
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
    schema = operation("PUT clients/clients")["requestBody"]["content"]["application/json"]["schema"]
    typo = {"params": {"clients": [{"clientLogin": "a", "clientTradeCreditLimitExtrnal": 1}]}}
    assert errors(schema, typo) == [] and errors(strict(schema), typo)
    assert copy.deepcopy(schema) == schema
