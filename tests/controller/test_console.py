"""The web console over real HTTP and in headless Chromium: login, pipelines, runs, customers, exports (issue 15)."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tradecredit.core.console.app import create_app
from tradecredit.core.engine import BLOCK_MESSAGE_PL
from tradecredit.core.errors import ConfigError
from tradecredit.core.serving import RunningServer, serve_in_thread
from tradecredit.testing import in_ci

from .conftest import PASSWORD

CHROMIUM = Path("/usr/bin/chromium")
DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"
NBSP = "\u00a0"


@pytest.fixture
def console(book: Any) -> Iterator[RunningServer]:
    book.run_all()
    book.set_limit("K000002", "12000.00")
    book.run_all()
    server = serve_in_thread(create_app(book.config))
    try:
        yield server
    finally:
        server.stop()


def _login(client: httpx.Client, password: str) -> httpx.Response:
    form = client.get("/login")
    token = form.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    return client.post("/login", data={"csrf": token, "password": password, "next": "/customers"})


def test_no_customer_data_without_a_login_and_forms_need_their_csrf_token(console):
    with httpx.Client(base_url=console.url) as client:
        for path in ("/", "/customers", "/customers.csv", "/customers/K000004", "/runs/1"):
            response = client.get(path)
            assert response.status_code == 303 and response.headers["location"].startswith("/login?next=")
            assert "K000004" not in response.text
        assert client.post("/login", data={"password": PASSWORD}).status_code == 403  # no CSRF token
        refused = _login(client, "wrong-password")
        assert refused.status_code == 401 and "tc_console" not in client.cookies
        accepted = _login(client, PASSWORD)
        assert accepted.status_code == 303 and accepted.headers["location"] == "/customers"
        page = client.get("/customers")
        assert page.status_code == 200 and "K000004" in page.text
        assert "default-src 'none'" in page.headers["content-security-policy"]
        assert page.headers["cache-control"] == "no-store"
        assert client.post("/logout", data={"csrf": "forged"}).status_code == 403
    with httpx.Client(base_url=console.url) as other:
        form = other.get("/login")
        token = form.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        answer = other.post("/login", data={"csrf": token, "password": PASSWORD, "next": "//evil.example/"})
        assert answer.headers["location"] == "/"  # never redirected off the console
        forged = httpx.Client(base_url=console.url, cookies={"tc_console": "e30.forged-signature"})
        assert forged.get("/customers").status_code == 303


def test_the_console_needs_a_password(book):
    config = book.config.model_copy(update={"console": book.config.console.model_copy(update={"password": None})})
    with pytest.raises(ConfigError, match=r"\[console\] password"):
        create_app(config)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        if in_ci():
            pytest.fail(f"{CHROMIUM} is missing (CI=true: browser tests must run)")
        pytest.skip(f"{CHROMIUM} is missing: install Debian's 'chromium' package")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM),
                              args=["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"])
        yield b
        b.close()


def _shoot(page: Any, name: str) -> None:
    if os.environ.get("TRADECREDIT_UPDATE_SCREENSHOTS"):
        DOCS_IMG.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(DOCS_IMG / name), full_page=True)


@pytest.mark.browser
def test_a_controller_logs_in_filters_opens_a_customer_and_exports(console, browser, tmp_path):
    context = browser.new_context(locale="pl-PL", viewport={"width": 1280, "height": 800}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        page.goto(console.url + "/customers")
        assert "/login" in page.url  # nothing without a login
        page.fill("#password", "nie-to-haslo")
        page.click("#login-submit")
        assert page.inner_text("#login-error") == "Nieprawidłowe hasło"
        _shoot(page, "console-login.png")
        page.fill("#password", PASSWORD)
        page.click("#login-submit")
        page.wait_for_url(console.url + "/customers")
        assert page.locator("#customers tbody tr").count() == 6

        page.check("#f-blocked")
        page.select_option("#f-pipeline", "to-idosell")
        page.click("#f-apply")
        page.wait_for_load_state()
        rows = page.locator("#customers tbody tr")
        assert rows.count() == 1 and rows.first.get_attribute("data-code") == "K000004"
        page.goto(console.url + "/customers?over=80&pipeline=to-eshop")
        assert [r.get_attribute("data-code") for r in page.locator("#customers tbody tr").all()] == ["K000007"]
        page.goto(console.url + "/customers")
        _shoot(page, "console-customers.png")

        with page.expect_download() as info:
            page.click("#export-csv")
        download = info.value
        saved = tmp_path / download.suggested_filename
        download.save_as(saved)
        exported = list(csv.DictReader(io.StringIO(saved.read_text(encoding="utf-8"))))
        assert saved.suffix == ".csv" and len(exported) == 6

        page.click("#customers a:text('K000004')")
        page.wait_for_url(console.url + "/customers/K000004")
        page.fill("#order", "100")
        page.click("#order-check")
        page.wait_for_load_state()
        text = page.inner_text("main")
        assert f"brak kredytu kupieckiego: zaległości 367,16{NBSP}zł > limit zaległości 0,00{NBSP}zł" in text
        assert "odrzucone" in page.inner_text("#decision-to-idosell")
        assert BLOCK_MESSAGE_PL in text
        assert "Następny przebieg nic nie wyśle" in page.inner_text("#next-to-idosell")
        assert "zablokowane od" in page.inner_text("#blocked-since-to-idosell")
        _shoot(page, "console-customer.png")

        page.goto(console.url + "/customers/K000002")
        assert page.locator("svg#customer-chart polyline").count() == 3  # limit, used, available over time
        assert "10\u00a0000,00 → 12\u00a0000,00" in page.inner_text("#history")
        page.click("#lang-en")
        page.wait_for_load_state()
        assert "History of customer K000002" in page.inner_text("main")
        assert "10000.00 → 12000.00" in page.inner_text("#history")

        page.click("#nav-pipelines")
        page.wait_for_load_state()
        assert page.locator("#pipelines tbody tr").count() == 2
        assert page.locator("svg#runs-chart rect").count() >= 4
        page.click("#lang-pl")
        page.wait_for_load_state()
        _shoot(page, "console-pipelines.png")
        page.click("#runs a:text('#3')")
        page.wait_for_load_state()
        assert "clientTradeCreditLimitExternal: 10" in page.inner_text("#run-items")
        assert "from_erp" in page.inner_text("#run-items")
        page.click("#logout")
        page.wait_for_load_state()
        page.goto(console.url + "/customers")
        assert "/login" in page.url
    finally:
        context.close()


def test_service_run_serves_the_console_when_configured(book):
    from tradecredit.core.service import Service

    book.run_all()
    console = book.config.console.model_copy(update={"serve_in_service": True, "listen": "127.0.0.1:0"})
    service = Service(_scheduled(book.config).model_copy(update={"console": console}), book.world.host)
    service.start()
    try:
        url = service.console.url
        with httpx.Client(base_url=url) as client:
            assert client.get("/customers").status_code == 303  # the same login as `tradecredit console`
            assert _login(client, PASSWORD).status_code == 303
            assert "K000004" in client.get("/customers").text
    finally:
        assert service.shutdown()
    with pytest.raises(httpx.ConnectError):
        httpx.get(url + "/login")


def test_without_serve_in_service_the_service_serves_no_console(book):
    from tradecredit.core.service import Service

    service = Service(_scheduled(book.config), book.world.host)
    service.start()
    try:
        assert service.console is None
    finally:
        assert service.shutdown()


def _scheduled(config: Any) -> Any:
    """Every pipeline once a day, no catch-up: the service starts and runs nothing during the test."""
    from datetime import timedelta

    service = config.service.model_copy(update={"every": timedelta(days=1), "catch_up": False, "jitter": None})
    return config.model_copy(update={"service": service})


def _logged_in(config: Any) -> tuple[RunningServer, httpx.Client]:
    server = serve_in_thread(create_app(config))
    client = httpx.Client(base_url=server.url)
    assert _login(client, PASSWORD).status_code == 303
    return server, client


def test_console_lang_and_time_zone_change_what_the_pages_show(book):
    from zoneinfo import ZoneInfo

    from tradecredit.core.state import StateStore

    book.run_all()
    store = StateStore.open(book.config.state.url, read_only=True)
    started = store.history("to-idosell")[0]["started_at"]
    store.close()
    console = book.config.console.model_copy(update={"lang": "en", "time_zone": "America/New_York"})
    server, client = _logged_in(book.config.model_copy(update={"console": console}))
    try:
        home = client.get("/").text
        assert "Pipelines" in home and "Potoki" not in home
        assert f"{started.astimezone(ZoneInfo('America/New_York')):%Y-%m-%d %H:%M %Z}" in home
        polish = client.get("/?lang=pl").text
        assert "Potoki" in polish and f"{started.astimezone(ZoneInfo('America/New_York')):%d.%m.%Y %H:%M}" in polish
        assert "Potoki" in client.get("/").text  # the switch is remembered
    finally:
        client.close()
        server.stop()


def test_a_session_lasts_session_hours():
    from tradecredit.core.console.session import Signer

    signer = Signer(b"k" * 32, max_age=3600)
    cookie, session = signer.issue(now=1_000_000.0)
    assert signer.read(cookie, now=1_000_000.0 + 3599) == session
    assert signer.read(cookie, now=1_000_000.0 + 3601) is None  # expired
    assert Signer(b"x" * 32, max_age=3600).read(cookie, now=1_000_000.0) is None  # another key


def test_the_console_command_refuses_a_remote_address_and_a_missing_password(book):
    refused = book.cli("console", "--listen", "0.0.0.0:0", code=3)
    assert "not a loopback address" in refused.output and "--allow-remote" in refused.output
    book.path.write_text(book.path.read_text(encoding="utf-8").replace(f'password = "{PASSWORD}"', ""),
                         encoding="utf-8")
    assert "[console] password is not set" in book.cli("console", code=3).output


def test_commands_without_secrets_read_a_console_password_lazily(book, monkeypatch):
    book.run_all()
    monkeypatch.delenv("TC_UNSET_CONSOLE_PASSWORD", raising=False)
    text = book.path.read_text(encoding="utf-8").replace(f'password = "{PASSWORD}"',
                                                          'password = { env = "TC_UNSET_CONSOLE_PASSWORD" }')
    book.path.write_text(text, encoding="utf-8")
    assert "K000004" in book.cli("customers", "--lang", "en").output
    assert "TC_UNSET_CONSOLE_PASSWORD" in book.cli("console", code=3).output
