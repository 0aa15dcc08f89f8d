"""The B2B storefront: the credit-feed API (receiving end of the ``eshop`` target) and server-rendered pages.

Every rule comes from ``tradecredit.core.engine``: the page header and the customer zone from
``storefront_view``, the checkout from ``decide_checkout`` (counting the storefront's own deferred orders the
ERP has not booked yet, gross), each by the ``[engine]`` policy the feed sent with the customer. Checkout has
two steps: the summary (net, VAT and gross totals), then placing the order. The admin switch "Limity kredytu i
płatności" turns all of it on or off.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote
from zoneinfo import ZoneInfo

from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from tradecredit.sdk import LimitState, PaymentForm, ValueReason, format_pln, is_stale, storefront_view

from . import feed
from .store import PRODUCTS, Customer, StorefrontStore

HERE = Path(__file__).parent
CUSTOMER_COOKIE = "tc_customer"
ADMIN_COOKIE = "tc_shop_admin"
SHOP_TIME_ZONE = ZoneInfo("Europe/Warsaw")  # customers and the admin read Polish time, never UTC
LOGIN_LIST = 100  # customers listed on the test login page (any code can be typed in)
PAYMENT_LABELS = {
    PaymentForm.TRANSFER: "Przelew (płatność odroczona)",
    PaymentForm.CASH: "Gotówka przy odbiorze",
    PaymentForm.ONLINE: "Płatność online",
}


@dataclass
class FeedFaults:
    """Failures the storefront answers feed requests with, for testing retries (``inject_feed_failures``)."""

    queue: deque[tuple[int, str | None]] = field(default_factory=deque)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, count: int, status: int, retry_after: str | None) -> None:
        with self.lock:
            self.queue.extend([(status, retry_after)] * count)

    def next(self) -> tuple[int, str | None] | None:
        with self.lock:
            return self.queue.popleft() if self.queue else None


def _pln(amount: Decimal | None, currency: str = "PLN") -> str:
    return "" if amount is None else format_pln(amount, currency)


def _local(moment: datetime | None) -> str:
    """``01.12.2026 14:50`` in Europe/Warsaw (a naive moment is UTC, as the store keeps it)."""
    if moment is None:
        return ""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(SHOP_TIME_ZONE).strftime("%d.%m.%Y %H:%M")


def create_app(
    store: StorefrontStore,
    api_key: str,
    *,
    faults: FeedFaults | None = None,
    admin_password: str | None = None,
) -> Starlette:
    """Build the storefront ASGI app over ``store``; the feed accepts requests carrying ``api_key``.

    Customers are decided by the policy their feed item carries, else by ``store.default_policy``.
    ``admin_password`` protects ``/admin`` with a login (``None``: the demo admin page is open, and says so).
    """
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.filters["pln"] = _pln
    templates.env.filters["rate"] = lambda rate: f"{rate.normalize():f}%"
    templates.env.filters["local"] = _local
    # The admin session: an HMAC of the password under a per-process key (a restart logs the admin out).
    admin_key = secrets.token_bytes(32)
    admin_token = hmac.new(admin_key, (admin_password or "").encode(), hashlib.sha256).hexdigest()
    faults = faults or FeedFaults()

    # --- the credit feed (JSON) ---------------------------------------------------------------------------
    def feed_guard(request: Request) -> Response | None:
        given = request.headers.get(feed.API_KEY_HEADER, "")
        if not given or not hmac.compare_digest(given.encode(), api_key.encode()):
            return JSONResponse(
                {"error": f"missing or wrong {feed.API_KEY_HEADER} header"},
                status_code=401,
                headers={"x-error": "invalid api key"},
            )
        fault = faults.next()
        if fault is not None:
            status, retry_after = fault
            headers = {"Retry-After": retry_after} if retry_after is not None else {}
            return JSONResponse({"error": "injected failure"}, status_code=status, headers=headers)
        return None

    async def json_body(request: Request) -> Any:
        try:
            return await request.json()
        except ValueError:
            return None

    async def post_customers(request: Request) -> Response:
        if (refused := feed_guard(request)) is not None:
            return refused
        body = await json_body(request)
        items = body.get("items") if isinstance(body, dict) else None
        if not isinstance(items, list) or set(body) != {"items"}:
            return JSONResponse({"error": 'the body must be a JSON object {"items": [...]}'}, status_code=400)
        if len(items) > feed.MAX_BATCH:
            return JSONResponse(
                {"error": f"{len(items)} items; at most {feed.MAX_BATCH} per request"}, status_code=413
            )
        return JSONResponse({"results": store.upsert(items)})

    async def post_freshness(request: Request) -> Response:
        if (refused := feed_guard(request)) is not None:
            return refused
        try:
            req = feed.FreshnessRequest.model_validate(await json_body(request))
        except ValidationError as exc:
            return JSONResponse({"error": feed.validation_message(exc)}, status_code=400)
        if req.as_of.tzinfo is None:
            return JSONResponse({"error": "as_of: must be timezone-aware"}, status_code=400)
        return JSONResponse({"results": store.confirm_fresh(req.codes, req.as_of)})

    async def get_status(request: Request) -> Response:
        given = request.headers.get(feed.API_KEY_HEADER, "")
        if not given or not hmac.compare_digest(given.encode(), api_key.encode()):
            return JSONResponse({"error": "invalid api key"}, status_code=401, headers={"x-error": "invalid api key"})
        return JSONResponse({
            "contract": feed.CONTRACT,
            "accepts": list(feed.ACCEPTED_CONTRACTS),
            "max_batch_size": feed.MAX_BATCH,
            "currencies": list(store.currencies),
            "limits_enabled": store.limits_enabled(),
            "customers": len(store.customers()),
        })

    # --- pages ----------------------------------------------------------------------------------------------
    def current(request: Request) -> Customer | None:
        code = request.cookies.get(CUSTOMER_COOKIE)
        return store.customer(unquote(code)) if code else None

    def page(request: Request, name: str, status_code: int = 200, **context: Any) -> Response:
        customer = current(request)
        enabled = store.limits_enabled()
        view = pending = None
        if customer is not None:
            pending = store.pending(customer.code, customer.item.currency)
            view = storefront_view(customer.record(), pending, feature_enabled=enabled,
                                   policy=customer.policy(store.default_policy))
        return templates.TemplateResponse(
            request,
            name,
            {"customer": customer, "view": view, "pending": pending, "limits_enabled": enabled,
             "currency": customer.item.currency if customer else "PLN", "admin_protected": bool(admin_password),
             "LimitState": LimitState, "ValueReason": ValueReason, **context},
            status_code=status_code,
        )

    async def home(request: Request) -> Response:
        return page(request, "home.html", products=PRODUCTS)

    async def login(request: Request) -> Response:
        if request.method == "POST":
            form = await request.form()
            customer = store.customer(str(form.get("code", "")))
            if customer is None:
                return page(request, "login.html", 404, customers=store.customers()[:LOGIN_LIST],
                            error=f"Nie znaleziono klienta o kodzie „{form.get('code', '')}”.")
            response = RedirectResponse("/", status_code=303)
            response.set_cookie(CUSTOMER_COOKIE, quote(customer.code), httponly=True, samesite="lax")
            return response
        customers = store.customers()
        return page(request, "login.html", customers=customers[:LOGIN_LIST], total=len(customers))

    async def logout(request: Request) -> Response:
        response = RedirectResponse("/", status_code=303)
        response.delete_cookie(CUSTOMER_COOKIE)
        return response

    async def zone(request: Request) -> Response:
        customer = current(request)
        if customer is None:
            return RedirectResponse("/logowanie", status_code=303)
        stale = is_stale(customer.fresh_as_of, datetime.now(UTC), customer.policy(store.default_policy).stale)
        return page(request, "zone.html", orders=store.orders(customer.code), stale=stale,
                    payment_labels=PAYMENT_LABELS)

    async def checkout(request: Request) -> Response:
        """Step 1 (GET, or ``action=edit``): the cart. Step 2 (``action=review``): the summary with net, VAT and
        gross totals. Only from the summary is the order placed (``action=place``)."""
        customer = current(request)
        if customer is None:
            return RedirectResponse("/logowanie", status_code=303)
        context: dict[str, Any] = {"products": PRODUCTS, "payment_labels": PAYMENT_LABELS, "quantities": {}}
        if request.method == "GET":
            return page(request, "checkout.html", **context)
        form = await request.form()
        try:
            quantities = {p.id: int(str(form.get(f"qty_{p.id}") or 0)) for p in PRODUCTS}
            payment_form = PaymentForm(str(form.get("payment_form", "")))
            if any(q < 0 for q in quantities.values()):
                raise ValueError("negative quantity")
        except ValueError:
            return page(request, "checkout.html", 400, error="Wybierz produkty i formę płatności.", **context)
        context.update(quantities=quantities, selected_form=payment_form)
        action = str(form.get("action") or "review")
        if not any(quantities.values()):
            return page(request, "checkout.html", 400, error="Koszyk jest pusty.", **context)
        if action == "edit":  # "Przelicz koszyk" and "Zmień zamówienie": the cart again, with its total
            return page(request, "checkout.html", cart=store.quote(customer.code, quantities), **context)
        summary = store.quote(customer.code, quantities)
        if action != "place":
            return page(request, "summary.html", summary=summary, **context)
        result = store.checkout(customer.code, quantities, payment_form)
        if result.order is None:
            assert result.decision is not None
            return page(request, "summary.html", 200, summary=summary, blocked=result.decision.message_pl, **context)
        return RedirectResponse(f"/zamowienie/{result.order.id}", status_code=303)

    async def order_page(request: Request) -> Response:
        customer = current(request)
        order = store.order(int(request.path_params["order_id"]))
        if customer is None or order is None or order.code != customer.code:
            return page(request, "home.html", 404, products=PRODUCTS, error="Nie znaleziono zamówienia.")
        return page(request, "order.html", order=order, warning=order.message, payment_labels=PAYMENT_LABELS)

    def admin_ok(request: Request) -> bool:
        given = request.cookies.get(ADMIN_COOKIE, "")
        return admin_password is None or hmac.compare_digest(given, admin_token)

    async def admin_login(request: Request) -> Response:
        if admin_password is None:
            return RedirectResponse("/admin", status_code=303)
        if request.method == "POST":
            form = await request.form()
            given = str(form.get("password") or "")
            if hmac.compare_digest(hashlib.sha256(given.encode()).digest(),
                                   hashlib.sha256(admin_password.encode()).digest()):
                response = RedirectResponse("/admin", status_code=303)
                response.set_cookie(ADMIN_COOKIE, admin_token, httponly=True, samesite="strict")
                return response
            return page(request, "admin_login.html", 401, error="Nieprawidłowe hasło.")
        return page(request, "admin_login.html")

    async def admin(request: Request) -> Response:
        if not admin_ok(request):
            return RedirectResponse("/admin/logowanie", status_code=303)
        if request.method == "POST":
            form = await request.form()
            action = form.get("action")
            if action == "settings":
                store.set_limits_enabled(form.get("limits_enabled") == "on")
            elif action == "book":
                store.book_orders(order_ids=[int(str(form.get("order_id")))])
            elif action == "book_all":
                store.book_orders()
            return RedirectResponse("/admin", status_code=303)
        return page(request, "admin.html", customers=store.customers(), orders=store.orders(),
                    payment_labels=PAYMENT_LABELS)

    routes = [
        Route(feed.CUSTOMERS_PATH, post_customers, methods=["POST"]),
        Route(feed.FRESHNESS_PATH, post_freshness, methods=["POST"]),
        Route(feed.STATUS_PATH, get_status, methods=["GET"]),
        Route("/", home),
        Route("/logowanie", login, methods=["GET", "POST"]),
        Route("/wyloguj", logout, methods=["GET", "POST"]),
        Route("/strefa-klienta", zone),
        Route("/zamowienie", checkout, methods=["GET", "POST"]),
        Route("/zamowienie/{order_id:int}", order_page),
        Route("/admin", admin, methods=["GET", "POST"]),
        Route("/admin/logowanie", admin_login, methods=["GET", "POST"]),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    return Starlette(routes=routes)
