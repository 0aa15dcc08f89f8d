"""Fixtures for the eshop plugin: a storefront on loopback, credit records, the target, headless Chromium."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from tradecredit.core.adapters import AdapterContext, ItemResult, OutgoingItem
from tradecredit.core.engine import CreditPolicy, degrade_mode
from tradecredit.core.http import RetryPolicy
from tradecredit.core.records import ControlMode, CreditRecord, LimitState
from tradecredit.plugins.eshop import EshopTarget, RunningStorefront, start_storefront

API_KEY = "test-key-7f3a9c"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run",
]
FAST_RETRY = RetryPolicy(max_attempts=3, backoff_initial=0.01, backoff_max=0.05, total_timeout=5)


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[RunningStorefront]:
    with start_storefront(tmp_path / "eshop.db", api_key=API_KEY, limits_enabled=True) as running:
        yield running


@pytest.fixture
def make_record() -> Callable[..., CreditRecord]:
    """``make_record(code, limit=..., used=..., overdue=..., overdue_limit=..., mode=..., **fields)``."""

    def make(
        code: str = "K001",
        *,
        limit: str | None = "10000.00",
        used: str = "2500.00",
        overdue: str = "0.00",
        overdue_limit: str | None = None,
        mode: ControlMode = ControlMode.BLOCK,
        state: LimitState | None = None,
        **fields: Any,
    ) -> CreditRecord:
        values: dict[str, Any] = {
            "source": "erp", "erp_id": code, "code": code, "name": f"Firma {code} sp. z o.o.", "is_business": True,
            "limit_state": state or (LimitState.LIMITED if limit is not None else LimitState.NONE),
            "credit_limit": Decimal(limit) if limit is not None else None,
            "used": Decimal(used), "overdue": Decimal(overdue),
            "overdue_limit": Decimal(overdue_limit) if overdue_limit is not None else None,
            "control_mode": mode, "currency": "PLN", "as_of": datetime.now(UTC),
        }
        values.update(fields)
        return CreditRecord(**values)

    return make


def make_target(url: str, api_key: str = API_KEY, policy: CreditPolicy | None = None) -> EshopTarget:
    """The eshop target; ``policy`` is the config's ``[engine]`` (what the host hands every target)."""
    options = EshopTarget.Options.model_validate(
        {"base_url": url, "api_key": api_key, "retry": FAST_RETRY.model_dump()}
    )
    return EshopTarget(options, AdapterContext(instance_name="store", policy=policy or CreditPolicy()))


def write_records(target: EshopTarget, *records: CreditRecord) -> list[ItemResult]:
    """Write records through the real target in one batch, as the orchestrator would."""
    items = []
    for record in records:
        mode = degrade_mode(record.control_mode, target.native_modes)
        items.append(OutgoingItem(key=record.key, code=record.code, payload=target.payload(record, {}, mode),
                                  record=record, mode=mode))
    return target.write(items)


@pytest.fixture
def target(shop: RunningStorefront) -> Iterator[EshopTarget]:
    t = make_target(shop.url)
    yield t
    t.close()


@pytest.fixture
def send(target: EshopTarget) -> Callable[..., list[ItemResult]]:
    """``send(*records)``: write records to the ``shop`` fixture through the real target."""
    return lambda *records: write_records(target, *records)


# --- the browser -----------------------------------------------------------------------------------------------
def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing: install Debian's 'chromium' package"
        if _in_ci():
            pytest.fail(message + " (CI=true: browser tests must run)")
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(locale="pl-PL", viewport={"width": 1100, "height": 700})
    p = context.new_page()
    p.set_default_timeout(10_000)
    yield p
    context.close()
