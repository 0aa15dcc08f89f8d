"""docs/plugins/writing-plugins.md runs: its file blocks are the example plugin's files, and its target is
executed against a shop on loopback, for every limit state, control mode and the overdue rule."""

from __future__ import annotations

import json
import re
import sys
import threading
import types
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import product
from pathlib import Path
from typing import Any

import pytest
from tradecredit.core.secrets import forget_secrets
from tradecredit.sdk import (
    AdapterContext,
    ControlMode,
    CreditRecord,
    LimitState,
    OutgoingItem,
    PaymentForm,
    decide_checkout,
    degrade_mode,
)
from tradecredit.testing import MEMORY_ROWS, TargetConformance, testing_plugin

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "plugins" / "writing-plugins.md"
BLOCK = re.compile(r"<!-- (file|excerpt|run): (\S+) -->\n```\w*\n(.*?)```", re.S)
API_KEY = "myshop-key-0b7d2e94"
AS_OF = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)


def _blocks(kind: str) -> list[tuple[str, str]]:
    return [(where, code) for k, where, code in BLOCK.findall(DOC.read_text(encoding="utf-8")) if k == kind]


def test_every_file_block_is_the_file_and_every_excerpt_is_in_it():
    files, excerpts = _blocks("file"), _blocks("excerpt")
    assert len(files) >= 3 and len(excerpts) >= 5
    for path, code in files:
        assert code == (ROOT / path).read_text(encoding="utf-8"), f"the block for {path} differs from the file"
    for path, code in excerpts:
        assert code in (ROOT / path).read_text(encoding="utf-8"), f"an excerpt of {path} is not in the file"


@pytest.fixture(scope="module")
def tutorial() -> Iterator[types.ModuleType]:
    """The page's target code, executed as a module (as a plugin author would save it)."""
    name = "tutorial_myshop"
    code = "\n".join(block for where, block in _blocks("run") if where == name)
    module = types.ModuleType(name)
    sys.modules[name] = module
    exec(compile(code, str(DOC), "exec"), module.__dict__)
    yield module
    sys.modules.pop(name, None)


class Shop:
    """The tutorial's shop on loopback: accounts by ERP code, the credit each holds, every request seen."""

    def __init__(self, accounts: dict[str, str]) -> None:
        self.accounts = accounts  # code → login
        self.credit: dict[str, dict[str, Any]] = {}
        self.requests: list[str] = []
        shop = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                shop.requests.append(f"{self.command} {self.path} {json.dumps(body)} {dict(self.headers)}")
                if self.headers.get("X-Api-Key") != API_KEY:
                    return self._answer(401, {"error": "bad key"})
                if self.command == "POST" and self.path == "/api/accounts/lookup":
                    found = [{"code": c, "login": shop.accounts[c]} for c in body["codes"] if c in shop.accounts]
                    return self._answer(200, {"accounts": found})
                if self.command == "PUT" and self.path == "/api/credit":
                    logins = set(shop.accounts.values())
                    results = []
                    for account in body["accounts"]:
                        if account["login"] in logins:
                            shop.credit[account["login"]] = account
                            results.append({"login": account["login"], "status": "ok"})
                        else:
                            results.append({"login": account["login"], "status": "error", "error": "no account"})
                    return self._answer(200, {"results": results})
                return self._answer(404, {"error": "no such path"})

            do_POST = do_PUT = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def allows(self, login: str, amount: Decimal) -> bool:
        """The shop's own rule: refuse a deferred order above the credit it holds."""
        credit = self.credit[login]["deferred_credit"]
        return credit is None or amount <= Decimal(credit)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def shop() -> Iterator[Shop]:
    running = Shop({f"KH-{i}": f"login-{i}" for i in range(1, 400)})
    yield running
    running.stop()
    forget_secrets()


def make_target(tutorial: types.ModuleType, shop: Shop, **options: Any) -> Any:
    opts = tutorial.MyShopOptions.model_validate({"base_url": shop.url, "api_key": API_KEY, **options})
    return tutorial.MyShopTarget(opts, AdapterContext(instance_name="myshop"))


def every_case() -> Iterator[CreditRecord]:
    """Every limit state × control mode × business/private × overdue rule (none, kept, breached) × usage."""
    cases = product(
        LimitState, ControlMode, (True, False), ("none", "kept", "breached"), ("0.00", "900.00", "1500.00"),
    )
    for n, (state, mode, business, overdue, used) in enumerate(cases, start=1):
        yield CreditRecord(
            source="erp", erp_id=str(n), code=f"KH-{n}", is_business=business, limit_state=state,
            credit_limit=Decimal("1000.00") if state is LimitState.LIMITED else None, used=Decimal(used),
            overdue=Decimal("250.00") if overdue == "breached" else Decimal("50.00"),
            overdue_limit=None if overdue == "none" else Decimal("100.00"), control_mode=mode, as_of=AS_OF,
        )


def test_the_target_answers_as_the_engine_for_every_state_and_mode(tutorial, shop):
    target = make_target(tutorial, shop)
    records = list(every_case())
    matches = target.match([r.code for r in records])
    assert len(matches) == len(records)
    items = []
    for r in records:
        mode = degrade_mode(r.control_mode, target.native_modes, target.mode_policy())
        payload = target.payload(r, matches[r.code], mode)
        assert "None" not in json.dumps(payload)
        items.append((r, mode, OutgoingItem(key=r.key, code=r.code, payload=payload, match=matches[r.code],
                                            record=r, mode=mode)))
    for start in range(0, len(items), target.batch_size()):
        batch = [i for _, _, i in items[start:start + target.batch_size()]]
        assert {res.status.value for res in target.write(batch)} == {"confirmed"}
    for r, mode, item in items:
        for amount in (Decimal("0.01"), Decimal("99.99"), Decimal("100.00"), Decimal("600.00"), Decimal("1e6")):
            engine = decide_checkout(r, amount, PaymentForm.TRANSFER, mode=mode.effective)
            assert shop.allows(item.payload["login"], amount) == engine.allowed, (r, mode, amount)
    target.close()


def test_a_warn_customer_follows_the_configured_mode_policy(tutorial, shop):
    warn = next(r for r in every_case() if r.control_mode is ControlMode.WARN and r.is_business
                and r.limit_state is LimitState.LIMITED and r.used > r.credit_limit)
    default = make_target(tutorial, shop)
    strict = make_target(tutorial, shop)
    strict_mode = degrade_mode(ControlMode.WARN, strict.native_modes, {ControlMode.WARN: ControlMode.BLOCK})
    assert default.payload(warn, {"login": "x"}, degrade_mode(ControlMode.WARN, default.native_modes))[
        "deferred_credit"] is None  # warn → allow: the order goes through, as the ERP wants
    assert strict.payload(warn, {"login": "x"}, strict_mode)["deferred_credit"] == "0.00"


class TestTutorialTargetConformance(TargetConformance):
    @pytest.fixture
    def target(self, tutorial, shop):
        target = make_target(tutorial, shop)
        yield target
        target.close()

    @pytest.fixture
    def records(self):
        return list(every_case())[:20]


def test_the_whole_pipeline_reads_the_key_from_the_environment_and_never_shows_it(
    tutorial, shop, tc_host_factory, tc_sqlite_url, monkeypatch, caplog
):
    from tradecredit.core.config import parse_config
    from tradecredit.core.sync import run_pipeline

    monkeypatch.setenv("MYSHOP_API_KEY", API_KEY)
    host = tc_host_factory(testing_plugin, strict=True)
    host.add_plugin(tutorial, name="myshop")
    MEMORY_ROWS["tutorial"] = list(every_case())[:30]
    config = parse_config({
        "state": {"url": tc_sqlite_url},
        "sources": {"erp": {"plugin": "memory", "dataset": "tutorial"}},
        "targets": {"shop": {"plugin": "myshop", "base_url": shop.url, "api_key": {"env": "MYSHOP_API_KEY"}}},
        "pipelines": [{"name": "erp-to-myshop", "source": "erp", "target": "shop"}],
    }, host)
    report = run_pipeline(config, "erp-to-myshop", host=host, as_of=AS_OF)
    assert (report.status, report.counts.written) == ("ok", 30)
    assert run_pipeline(config, "erp-to-myshop", host=host, as_of=AS_OF).counts.to_write == 0  # unchanged
    assert all(API_KEY in r for r in shop.requests if "X-Api-Key" in r)  # the shop got the key …
    assert API_KEY not in report.to_json() and API_KEY not in str(config.redacted()) and API_KEY not in caplog.text
