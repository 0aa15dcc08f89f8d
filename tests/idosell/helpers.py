"""Helpers for the IdoSell plugin tests (``from . import helpers as h``): records, shop seeding, targets, the
``erp → shop`` pipeline, and the contract check against the official IdoSell Admin API v6 operation specs in
../shared/reference/idosell/. The fixtures that use them are in conftest.py.

Every exchange with the ``sandbox`` fixture — requests of the target, of the sandbox's own helpers and of the
tests, and the sandbox's answers — is validated against those specs while the test runs; a violation fails the
test at teardown. Requests are validated strictly (``additionalProperties: false`` added to every object with
properties), so a misspelt field fails even though the published schemas do not forbid extra fields. A test that
sends off-contract requests on purpose turns the check off with ``contract.enabled = False``.

Without the specs the check is skipped, except under ``CI=true`` where a missing spec directory is a failure.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from tradecredit.core.config import parse_config
from tradecredit.core.plugins import PluginHost
from tradecredit.plugins import idosell
from tradecredit.plugins.idosell.sandbox import ROUTES, LoggedRequest, Sandbox
from tradecredit.plugins.idosell.target import IdoSellOptions, IdoSellTarget
from tradecredit.sdk import AdapterContext, CreditRecord, LimitState, PluginOptions, RegisterSource, Source, hookimpl
from tradecredit.testing import in_ci

API_KEY = "test-key-5f0c9a2e71"
AS_OF = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
FAST_RETRY = {"max_attempts": 4, "backoff_initial": 0.01, "backoff_max": 0.05, "total_timeout": 5.0, "jitter": 0.5}

RECORDS: dict[str, list[CreditRecord]] = {}


def record(code: str, limit: str | None = "1000.00", used: str = "0.00", **fields: Any) -> CreditRecord:
    values: dict[str, Any] = {
        "source": "erp", "erp_id": code, "code": code, "is_business": True, "as_of": AS_OF,
        "limit_state": LimitState.LIMITED if limit is not None else LimitState.NONE,
        "credit_limit": Decimal(limit) if limit is not None else None, "used": Decimal(used),
    }
    values.update(fields)
    return CreditRecord(**values)


class ListOptions(PluginOptions):
    dataset: str


class ListSource(Source[ListOptions]):
    """An ERP stand-in that yields the records a test put into ``RECORDS[dataset]``."""

    def read(self, as_of: datetime) -> Iterator[CreditRecord]:
        yield from RECORDS[self.options.dataset]


class ListSourcePlugin:
    @hookimpl
    def register_sources(self, register: RegisterSource) -> None:
        register("listsource", ListSource)


# --- the contract: official operation specs -----------------------------------------------------------------
SPECS = Path(__file__).resolve().parents[3] / "shared" / "reference" / "idosell" / "openapi-v6"
FILES = {
    "GET clients/clients": "clients-clients.get.json",
    "PUT clients/clients": "clients-clients.put.json",
    "PUT clients/externalCode": "clients-externalCode.put.json",
    "POST orders/orders": "orders-orders.post.json",
    "PUT orders/orders": "orders-orders.put.json",
    "POST orders/orders/search": "orders-orders-search.post.json",
}
assert set(FILES) == set(ROUTES), "every operation the sandbox serves needs its official spec here"


def require_specs() -> Path:
    """The spec directory; skip without it — but fail under CI, where a missing contract must not pass green."""
    if not SPECS.is_dir():
        message = f"reference specs not found at {SPECS}"
        if in_ci():
            pytest.fail(f"{message} (CI=true: the contract check may not be skipped)")
        pytest.skip(message)
    return SPECS


@cache
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
    return _problems(Draft202012Validator(schema), instance)


@cache
def _validator(op: str, part: str) -> Draft202012Validator:
    """Compiled strict validators, once per session: ``part`` is ``request`` or a response status."""
    spec = operation(op)
    if part == "request":
        return Draft202012Validator(strict(spec["requestBody"]["content"]["application/json"]["schema"]))
    schema = spec["responses"][part]["content"]["application/json"]["schema"]
    # The top-level ``errors`` object is sent in 200 bodies too (faultCode 2 = empty result), as the real API does.
    return Draft202012Validator(strict(schema, frozenset({"errors"})))


def _problems(validator: Draft202012Validator, instance: Any) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(instance)]


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


def validate_exchange(r: LoggedRequest) -> list[str]:
    """What in one logged request/answer disagrees with the operation's official spec ([] = conforms)."""
    if r.op not in FILES or not r.status:
        return []  # a path the API does not have (the sandbox's 404), or a connection dropped on purpose
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
        problems += [f"request {e}" for e in _problems(_validator(r.op, "request"), json.loads(r.body))]
    status = str(r.status)
    if status not in spec["responses"]:
        if not r.fault:  # an injected fault's status is the test's choice, not the sandbox's behaviour
            problems.append(f"status {status} is not declared by the spec")
    elif spec["responses"][status].get("content") and r.response:
        problems += [f"response {status} {e}" for e in _problems(_validator(r.op, status), json.loads(r.response))]
    return problems


class ContractCheck:
    """Validates every exchange of a sandbox against the official specs (attached with ``Sandbox.observe``)."""

    def __init__(self) -> None:
        self.enabled = True
        self.checked = 0
        self.problems: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, r: LoggedRequest) -> None:
        if not self.enabled:
            return
        try:
            found = validate_exchange(r)
        except Exception as exc:  # noqa: BLE001 - e.g. a body that is not JSON: a violation like any other
            found = [f"could not validate: {type(exc).__name__}: {exc}"]
        with self._lock:
            self.checked += 1
            self.problems += [f"{r.method} {r.path} → {r.status}: {p}" for p in found]

    def attach(self, sb: Sandbox) -> Sandbox:
        sb.observe(self)
        return sb

    def assert_clean(self) -> None:
        assert self.problems == [], "exchanges that break the official IdoSell spec:\n" + "\n".join(self.problems)


def seed(sb: Sandbox, n: int, prefix: str = "KH-", start: int = 1) -> list[str]:
    """Create ``n`` shop accounts ``firma_0001``… with clientCodeExternal ``KH-0001``…; return the codes."""
    codes = [f"{prefix}{i:04d}" for i in range(start, start + n)]
    sb.add_clients({"login": f"firma_{c.lower().replace('-', '_')}", "code_external": c, "firm": c} for c in codes)
    return codes


def login_of(code: str) -> str:
    return f"firma_{code.lower().replace('-', '_')}"


def make_target(sb: Sandbox, cache: Any = None, **options: Any) -> IdoSellTarget:
    opts = IdoSellOptions.model_validate(
        {"base_url": sb.url, "api_key": API_KEY, "retry": FAST_RETRY, "timeout": 2.0, **options}
    )
    return IdoSellTarget(opts, AdapterContext(instance_name="shop", cache=cache))


class Pipeline:
    """Runs the ``erp → shop`` pipeline through ``run_pipeline`` against a sandbox."""

    def __init__(self, sb: Sandbox, tmp_path: Path, name: str) -> None:
        self.sb, self.dataset = sb, name
        self.state_url = f"sqlite:///{tmp_path / f'state-{name}.db'}"
        self.host = PluginHost(strict=True)
        self.host.add_plugin(ListSourcePlugin(), name="listsource")
        self.host.add_plugin(idosell, name="idosell")
        self.target_options: dict[str, Any] = {}

    def config(self, **target: Any) -> Any:
        data = {
            "state": {"url": self.state_url},
            "sources": {"erp": {"plugin": "listsource", "dataset": self.dataset}},
            "targets": {"shop": {"plugin": "idosell", "base_url": self.sb.url, "api_key": API_KEY,
                                 "retry": FAST_RETRY, "timeout": 2.0, **self.target_options, **target}},
            "pipelines": [{"name": "sync", "source": "erp", "target": "shop"}],
        }
        return parse_config(data, self.host)

    def run(self, records: list[CreditRecord] | None = None, **kwargs: Any) -> Any:
        from tradecredit import run_pipeline

        if records is not None:
            RECORDS[self.dataset] = records
        target = kwargs.pop("target", {})
        return run_pipeline(self.config(**target), "sync", host=self.host, as_of=AS_OF, **kwargs)
