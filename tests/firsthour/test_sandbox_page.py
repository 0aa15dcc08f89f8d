"""The IdoSell sandbox's read-only page, in headless Chromium: after a real sync it lists each client with its
limit, balance, last write and the verdict of the shop's own order rule."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import pytest
from tradecredit.sdk import format_pln

pytestmark = pytest.mark.browser

def _row(page: Any, login: str) -> dict[str, str]:
    row = page.locator(f"tr[data-login='{login}']")
    return {name: row.locator(f"td.{name}").inner_text().strip() for name in ("limit", "balance", "written", "verdict")}


def test_the_page_shows_what_the_sync_wrote_and_the_order_rule(browse, sandbox, tmp_path, write_config):
    from tradecredit import run_pipeline
    from tradecredit.plugins.optima import make_demo_db

    url = f"sqlite:///{(tmp_path / 'optima.db').as_posix()}"
    make_demo_db(url, customers=40)
    sandbox.add_clients([{"login": f"l{i}", "code_external": f"K{i:06d}", "firm": f"Firma {i}"} for i in range(1, 41)])
    sandbox.add_client("no-credit", None, trade_credit=False)
    before = sandbox.count()

    def empty(page: Any) -> tuple[str, dict[str, str]]:
        page.goto(sandbox.url + "/")
        return page.inner_text("#summary"), _row(page, "l1")

    summary, first = browse(empty)
    assert summary.startswith("41 of 41 client(s)")
    assert first["limit"] == "—", "nothing written yet"
    assert sandbox.count() == before, "looking is not an API request"

    report = run_pipeline(write_config(url, sandbox.url), "erp-to-shop")
    assert report.counts.written > 10, report.counts
    logins = [c.login for c in sandbox.clients()]

    def after_sync(page: Any) -> tuple[dict[str, dict[str, str]], str]:
        page.goto(sandbox.url + "/")
        rows = {login: _row(page, login) for login in logins}
        page.fill("#q", "K000003")
        page.click("button[type=submit]")
        page.wait_for_load_state()
        return rows, page.inner_text("#summary")

    rows, searched = browse(after_sync)
    checked = 0
    for client in sandbox.clients():
        if client.limit is None or client.login == "no-credit":
            continue
        shown = rows[client.login]
        assert shown["limit"] == format_pln(client.limit)
        assert shown["balance"] == format_pln(client.balance or Decimal("0"))
        assert shown["written"] == client.modified
        left = sandbox.available(client.login)
        if left is not None and left > 0:
            assert shown["verdict"] == f"accepts trade-credit orders up to {format_pln(left)}"
            # the verdict is the shop's rule: a grosz more than that is refused
            assert not sandbox.place_order(client.login, str(left + Decimal("0.01"))).accepted
        elif left is not None:
            assert shown["verdict"].startswith("refuses every trade-credit order")
        checked += 1
    assert checked > 10
    assert rows["no-credit"]["verdict"] == "no trade credit: every trade-credit order is refused"
    assert searched.startswith("1 of 1 client(s)")
    assert httpx.get(sandbox.url + "/").headers["content-type"].startswith("text/html")
