"""The console's ASGI app (starlette + jinja2): login, pipelines, runs, customers (with exports), a customer."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates
from tradecredit.core import controller
from tradecredit.core.config import Config
from tradecredit.core.controller_cli import (
    COLUMNS,
    book_cells,
    book_filter,
    change_text,
    erp_rows,
    export_rows,
    to_csv,
    to_xlsx,
    verdict_rows,
)
from tradecredit.core.errors import ConfigError, TradeCreditError
from tradecredit.core.i18n import LANGS, Lang, money, percent, reason_text, t, value_text, when
from tradecredit.core.secrets import mask
from tradecredit.core.state import StateStore

from . import charts
from .session import LOGIN_CSRF_COOKIE, SESSION_COOKIE, Session, Signer, csrf_ok, derive_key, new_token, password_ok

log = logging.getLogger(__name__)
HERE = Path(__file__).parent
LANG_COOKIE = "tc_console_lang"
HEADERS = {
    # Nothing to frame, no script, no asset from elsewhere; pages with customer data are never cached.
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
FAILED_LOGIN_DELAY = 0.5  # seconds: slows down guessing without locking the controller out


def create_app(config: Config, *, explain: bool = True) -> Starlette:
    """The console over ``config``'s state store. ``explain=False`` leaves the live ERP read out of customer pages
    (the page then shows the history and the last verdict only)."""
    console = config.console
    if console.password is None:
        raise ConfigError("[console] password is not set: the console needs a login (password = { env = \"…\" })")
    password = console.password.get_secret_value()
    secret = console.session_secret.get_secret_value() if console.session_secret else None
    signer = Signer(derive_key(password, secret), console.session_hours * 3600)
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    tz = console.time_zone
    env = templates.env
    env.globals.update(t=t, money=money, percent=percent, reason_text=reason_text, value_text=value_text,
                       change_text=change_text, verdict_rows=verdict_rows, erp_rows=erp_rows, langs=LANGS)
    env.filters["when"] = lambda value, lang: when(
        datetime.fromisoformat(value) if isinstance(value, str) else value, lang, tz)
    env.globals["num"] = lambda value, decimals, lang: charts.number(float(value), decimals, lang == "pl")

    def lang_of(request: Request) -> Lang:
        wanted = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE) or console.lang
        return wanted if wanted in LANGS else console.lang

    def session_of(request: Request) -> Session | None:
        return signer.read(request.cookies.get(SESSION_COOKIE))

    def page(request: Request, name: str, session: Session | None, **context: Any) -> Response:
        lang = lang_of(request)
        here = dict(request.query_params)
        here.pop("lang", None)
        switch = {code: f"{request.url.path}?{urlencode({**here, 'lang': code})}" for code in LANGS}
        response = templates.TemplateResponse(request, name, {"lang": lang, "session": session, "switch": switch,
                                                              **context})
        _secure(response)
        if request.query_params.get("lang") in LANGS:
            response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, httponly=True, samesite="strict")
        return response

    def guarded(handler: Callable[[Request, Session, StateStore], Awaitable[Response]]) -> Callable[..., Any]:
        async def endpoint(request: Request) -> Response:
            session = session_of(request)
            if session is None:  # no customer data without a login
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return _secure(RedirectResponse(f"/login?{urlencode({'next': target})}", status_code=303))
            store = StateStore.open(config.state.url, read_only=True)
            try:
                return await handler(request, session, store)
            finally:
                store.close()

        return endpoint

    # --- login ------------------------------------------------------------------------------------------
    async def login_form(request: Request) -> Response:
        token = new_token()
        response = page(request, "login.html", None, csrf=token, next=_safe_next(request.query_params.get("next")),
                        failed=False)
        response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict")
        return response

    async def login(request: Request) -> Response:
        form = await request.form()
        given = str(form.get("password") or "")
        target = _safe_next(str(form.get("next") or "/"))
        if not csrf_ok(str(form.get("csrf") or ""), request.cookies.get(LOGIN_CSRF_COOKIE)):
            return _secure(PlainTextResponse("CSRF token missing or wrong: reload the login page", status_code=403))
        if not password_ok(given, password):
            await asyncio.sleep(FAILED_LOGIN_DELAY)
            log.warning("console: failed login from %s", request.client.host if request.client else "?")
            token = new_token()
            response = page(request, "login.html", None, csrf=token, next=target, failed=True)
            response.status_code = 401
            response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict")
            return response
        cookie, _ = signer.issue()
        response = _secure(RedirectResponse(target, status_code=303))
        response.set_cookie(SESSION_COOKIE, cookie, max_age=int(signer.max_age), httponly=True, samesite="strict")
        response.delete_cookie(LOGIN_CSRF_COOKIE)
        return response

    async def logout(request: Request) -> Response:
        session = session_of(request)
        form = await request.form()
        if session is not None and not csrf_ok(str(form.get("csrf") or ""), session.csrf):
            return _secure(PlainTextResponse("CSRF token missing or wrong", status_code=403))
        response = _secure(RedirectResponse("/login", status_code=303))
        response.delete_cookie(SESSION_COOKIE)
        return response

    # --- pages ------------------------------------------------------------------------------------------
    async def home(request: Request, session: Session, store: StateStore) -> Response:
        lang = lang_of(request)
        items = controller.pipelines(config, store)
        chart = ""
        runs = sorted((r for p in items for r in p["runs"] if r["finished_at"]), key=lambda r: r["id"])[-30:]
        if runs:
            chart = charts.bars_and_line(
                t("duration", lang) + " / " + t("written", lang), [f"#{r['id']}" for r in runs],
                (t("duration", lang) + " [s]", [(r["finished_at"] - r["started_at"]).total_seconds() for r in runs]),
                (t("written", lang), [float(r["counts"].get("written", 0)) for r in runs]), chart_id="runs-chart",
                decimal_comma=lang == "pl")
        return page(request, "home.html", session, pipelines=items, chart=chart)

    async def run_page(request: Request, session: Session, store: StateStore) -> Response:
        run_id = int(request.path_params["run_id"])
        run = store.run(run_id)
        if run is None:
            return _secure(PlainTextResponse("no such run", status_code=404))
        outcome = request.query_params.get("outcome") or None
        items = [i for i in store.run_items(run_id) if outcome is None or i["outcome"] == outcome]
        return page(request, "run.html", session, run=run, items=items, trail=store.run_trail(run_id),
                    outcome=outcome)

    def _filter(request: Request) -> controller.BookFilter:
        q = request.query_params
        return book_filter(q.get("pipeline") or None, q.get("blocked") == "1", q.get("over") or None,
                           q.get("changed_since") or None, q.get("sort") or "code", q.get("q") or None)

    async def customers(request: Request, session: Session, store: StateStore) -> Response:
        lang = lang_of(request)
        try:
            flt = _filter(request)
            rows = controller.book(store, flt)
            error = None
        except Exception as exc:  # noqa: BLE001 - a bad filter value is shown on the page, not a 500
            rows, error = [], str(getattr(exc, "message", exc))
        query = {k: v for k, v in request.query_params.items() if k != "lang"}
        return page(request, "customers.html", session, rows=rows, cells=[book_cells(r, lang) for r in rows],
                    columns=COLUMNS, q=query, error=error, pipelines=[p.name for p in config.pipelines],
                    export=urlencode(query), sorts=controller.SORT_KEYS)

    async def export(request: Request, session: Session, store: StateStore) -> Response:
        fmt = request.path_params["fmt"]
        if fmt not in ("csv", "xlsx", "json"):
            return _secure(PlainTextResponse("export formats: csv, xlsx, json", status_code=404))
        rows = controller.book(store, _filter(request))
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M")
        name = f"klienci-{stamp}.{fmt}"
        disposition = {"Content-Disposition": f'attachment; filename="{name}"'}
        if fmt == "csv":
            return _secure(Response(to_csv(rows), media_type="text/csv; charset=utf-8", headers=disposition))
        if fmt == "xlsx":
            body = to_xlsx(rows, lang_of(request))
            return _secure(Response(body, headers=disposition, media_type="application/vnd.openxmlformats-"
                                    "officedocument.spreadsheetml.sheet"))
        return _secure(JSONResponse(_jsonable(export_rows(rows)), headers=disposition))

    async def customer(request: Request, session: Session, store: StateStore) -> Response:
        lang = lang_of(request)
        code = request.path_params["code"]
        order = request.query_params.get("order") or None
        rows = controller.history(store, code)
        # One pipeline's writes: two shops written the same values would only draw every point twice.
        shown = request.query_params.get("pipeline") or next((r["pipeline"] for r in rows if r["facts"]), None)
        points = controller.series(r for r in rows if r["pipeline"] == shown)
        chart = ""
        if points:
            chart = charts.lines(
                f"{t('limit', lang)} / {t('used', lang)} / {t('available', lang)} ({shown})",
                [when(p["at"], lang, tz)[:10] for p in points],
                [(t("limit", lang), [p["limit"] for p in points]), (t("used", lang), [p["used"] for p in points]),
                 (t("available", lang), [p["available"] for p in points])], chart_id="customer-chart",
                decimal_comma=lang == "pl")
        data: dict[str, Any] | None = None
        error = None
        if explain:
            try:
                amount = Decimal(order.replace(",", ".")) if order else None
                data = await asyncio.to_thread(controller.explain, config, code, order=amount, store=store)
            except (TradeCreditError, ArithmeticError, ValueError) as exc:
                error = mask(exc)
        return page(request, "customer.html", session, code=code, rows=rows, chart=chart, data=data, error=error,
                    order=order or "")

    async def style(request: Request) -> Response:
        return Response((HERE / "console.css").read_text(encoding="utf-8"), media_type="text/css",
                        headers={"Cache-Control": "max-age=3600"})

    routes = [
        Route("/login", login_form, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/console.css", style),
        Route("/", guarded(home)),
        Route("/runs/{run_id:int}", guarded(run_page)),
        Route("/customers", guarded(customers)),
        Route("/customers.{fmt:str}", guarded(export)),
        Route("/customers/{code:path}", guarded(customer)),
    ]
    app = Starlette(routes=routes)
    return app


def _secure(response: Response) -> Response:
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def _safe_next(target: str | None) -> str:
    """Only a path on this console (``/…``, never ``//host`` or a URL): no open redirect after login."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, Decimal | datetime):
        return str(value)
    return value
