"""`tradecredit demo` fills the e-Sklep storefront from three workstations, one per control mode: in Chromium, a
company of each mode ordering more than its credit left by transfer is blocked, warned, or let through."""

from __future__ import annotations

from decimal import ROUND_CEILING, Decimal
from pathlib import Path
from typing import Any

import pytest
from tradecredit.core.engine import BLOCK_MESSAGE_PL, WARN_MESSAGE_PL
from tradecredit.plugins.demo import ESHOP_KEY, run_demo

pytestmark = pytest.mark.browser

SERWER_GROSS = Decimal("12345.67") * Decimal("1.23")


def test_the_demo_storefront_blocks_warns_and_allows(browse, tmp_path):
    from tradecredit.plugins.eshop import start_storefront

    started: list[Any] = []

    def storefront(workdir: Path) -> Any:
        handle = start_storefront(workdir / "eshop-storefront.db", api_key=ESHOP_KEY, limits_enabled=True)
        started.append((handle, handle.stop))
        handle.stop = lambda: None  # kept serving after the demo, for the browser; stopped below
        return handle

    results = run_demo(tmp_path / "demo", customers=300, storefront=storefront)
    shop, stop = started[0]
    try:
        assert set(results["eshop_mode_customers"]) == {"block", "warn", "allow"}
        orders = {}
        for mode, code in results["eshop_mode_customers"].items():
            left = shop.store.customer(code).item.remaining
            orders[mode] = (code, int((left / SERWER_GROSS).to_integral_value(rounding=ROUND_CEILING)) + 1)

        def checkout_each(page: Any) -> dict[str, tuple[bool, list[str]]]:
            seen = {}
            for mode, (code, servers) in orders.items():
                page.context.clear_cookies()
                page.goto(shop.url + "/logowanie")
                page.fill("#login-code", code)
                page.click("#login-form button")
                page.wait_for_url(shop.url + "/")
                page.goto(shop.url + "/zamowienie")
                page.fill("#qty-serwer", str(servers))
                page.check("#pay-przelew")
                page.click("#review-order")
                page.wait_for_load_state()
                page.click("#place-order")
                page.wait_for_load_state()
                seen[mode] = (page.locator("#order-placed").count() == 1,
                              [t.strip() for t in page.locator("[role=alert]").all_inner_texts()])
            return seen

        seen = browse(checkout_each)
        assert seen["block"] == (False, [BLOCK_MESSAGE_PL])
        assert seen["warn"] == (True, [WARN_MESSAGE_PL])
        assert seen["allow"] == (True, [])
    finally:
        stop()
