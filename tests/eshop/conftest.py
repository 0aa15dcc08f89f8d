"""Fixtures for the eshop plugin: a storefront on loopback, credit records, the target, headless Chromium."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from tradecredit.core.adapters import ItemResult
from tradecredit.core.records import ControlMode, CreditRecord, LimitState
from tradecredit.plugins.eshop import EshopTarget, RunningStorefront, start_storefront
from tradecredit.testing import in_ci

from .helpers import API_KEY, CHROMIUM, CHROMIUM_ARGS, make_target, write_records


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
@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing: install Debian's 'chromium' package"
        if in_ci():
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
