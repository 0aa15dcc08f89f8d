"""The IdoSell sandbox: a loopback HTTP server behaving like the part of the Admin API v6 tradecredit uses.

* ``GET``/``PUT clients/clients``, ``PUT clients/externalCode``, ``POST``/``PUT orders/orders`` and
  ``POST orders/orders/search``, under ``/api/admin/{version}/``.
* Requests validated by ``models`` (422 on mismatch); ``X-API-KEY`` checked (401 unknown key, 403 with the
  ``x-error: Scope: clients, level: w`` header when the key lacks a scope; scopes are configurable per key).
* An empty result is ``faultCode 2`` inside a 200 body.
* The shop's credit rule at order placement (seed 000): a ``tradecredit`` order is refused when
  limit − ERP balance (as debt) − value of the customer's trade-credit orders not yet taken over by the ERP
  (``apiFlag`` ``none`` or ``registration_fault``) < order total. Orders are valued **gross** (credit exposure
  is gross: the ERP's receivables are invoice amounts): ``productRetailPrice`` is the gross price; an order
  ``orderSettledAtPrice = "net"`` gives net prices and ``productVat`` (rate in %) per product, and its gross
  total is net + VAT per rate; ``"net_without_VAT"`` has no VAT.
* Fault injection (``faults.FaultPlan``), a request log and observers of every exchange (``Sandbox.observe``,
  where tests attach their official-spec validator); state in SQLite so a demo can be inspected.

It never reads anything outside its own database. Python API: ``start_sandbox()`` (see docs/plugins/idosell.md).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from email.utils import formatdate
from pathlib import Path
from typing import Any, Literal

import httpx
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response
from tradecredit.sdk import ZERO, RunningServer, order_totals, round_money, serve_in_thread, to_money

from . import models as m
from .faults import Fault, FaultPlan, fault_kind
from .models import DEFAULT_API_KEY

log = logging.getLogger(__name__)

FULL_SCOPES: Mapping[str, str] = {"clients": "w", "orders": "w"}
NO_PARAMETERS = {"faultCode": 3, "faultString": "No parameters were received"}
NOT_TAKEN_OVER = ("none", "registration_fault")

# operation → (scope module, level)
ROUTES: Mapping[str, tuple[str, str]] = {
    "GET clients/clients": ("clients", "r"),
    "PUT clients/clients": ("clients", "w"),
    "PUT clients/externalCode": ("clients", "w"),
    "POST orders/orders": ("orders", "w"),
    "PUT orders/orders": ("orders", "w"),
    "POST orders/orders/search": ("orders", "r"),
}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS clients (
    client_id INTEGER PRIMARY KEY AUTOINCREMENT,
    login TEXT NOT NULL UNIQUE,
    code_external TEXT,
    email TEXT,
    firm TEXT,
    currency TEXT NOT NULL DEFAULT 'PLN',
    trade_credit INTEGER NOT NULL DEFAULT 1,
    limit_external TEXT,
    balance_external TEXT,
    modified TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS clients_code ON clients (code_external);
CREATE TABLE IF NOT EXISTS orders (
    serial INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id TEXT UNIQUE,
    client_id INTEGER,
    login TEXT,
    payment_type TEXT NOT NULL,
    total TEXT NOT NULL,
    currency TEXT NOT NULL,
    api_flag TEXT NOT NULL DEFAULT 'none',
    status TEXT NOT NULL DEFAULT 'new',
    added TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS requests (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    status INTEGER NOT NULL,
    fault TEXT
);
"""


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _dec(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def _num(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


# --- state ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ShopClient:
    client_id: int
    login: str
    code_external: str | None
    email: str | None
    firm: str | None
    currency: str
    trade_credit: bool
    limit: Decimal | None
    balance: Decimal | None
    modified: str


@dataclass(frozen=True)
class ShopOrder:
    serial: int
    order_id: str
    client_id: int | None
    login: str | None
    payment_type: str
    total: Decimal
    currency: str
    api_flag: str
    status: str
    added: str


@dataclass(frozen=True)
class OrderOutcome:
    """What the shop answered to one order placement."""

    accepted: bool
    order_id: str | None
    serial: int | None
    message: str
    status_code: int


@dataclass
class LoggedRequest:
    method: str
    op: str
    path: str
    query: list[tuple[str, str]]
    body: str
    status: int
    response: str
    fault: str | None = None


class ShopStore:
    """The sandbox shop's data in SQLite (a file to inspect after a demo, or ``:memory:``)."""

    def __init__(self, path: str | Path | None = None, *, balance_sign: str = "negative",
                 zero_limit_means: str = "no_credit") -> None:
        self.path = str(path) if path else ":memory:"
        self.balance_sign = balance_sign
        self.zero_limit_means = zero_limit_means
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        if self.path != ":memory:":
            self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _rows(self, sql: str, args: Iterable[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, tuple(args)).fetchall()

    # clients
    def add_client(self, login: str, code_external: str | None = None, *, email: str | None = None,
                   firm: str | None = None, currency: str = "PLN", trade_credit: bool = True,
                   limit: Decimal | str | None = None, balance: Decimal | str | None = None) -> int:
        with self._lock:
            cur = self._db.execute(
                "INSERT INTO clients (login, code_external, email, firm, currency, trade_credit, limit_external,"
                " balance_external, modified) VALUES (?,?,?,?,?,?,?,?,?)",
                (login, code_external, email or f"{login}@example.com", firm, currency, int(trade_credit),
                 None if limit is None else str(to_money(limit)), None if balance is None else str(to_money(balance)),
                 _now()),
            )
            return int(cur.lastrowid or 0)

    def add_clients(self, clients: Iterable[Mapping[str, Any]]) -> list[int]:
        with self._lock:
            self._db.execute("BEGIN")
            try:
                ids = [self.add_client(**dict(c)) for c in clients]
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
            return ids

    def clients(self, where: str = "1=1", args: Iterable[Any] = ()) -> list[ShopClient]:
        return [self._client(r) for r in self._rows(f"SELECT * FROM clients WHERE {where} ORDER BY client_id", args)]

    def client(self, login: str) -> ShopClient | None:
        found = self.clients("login = ?", (login,))
        return found[0] if found else None

    @staticmethod
    def _client(r: sqlite3.Row) -> ShopClient:
        return ShopClient(r["client_id"], r["login"], r["code_external"], r["email"], r["firm"], r["currency"],
                          bool(r["trade_credit"]), _dec(r["limit_external"]), _dec(r["balance_external"]),
                          r["modified"])

    def update_client(self, login: str, values: Mapping[str, Any]) -> int | None:
        columns = {"clientCodeExternal": "code_external", "clientEmail": "email", "clientFirm": "firm",
                   "currencyId": "currency", "clientTradeCreditLimitExternal": "limit_external",
                   "clientBalanceAmountExternal": "balance_external"}
        sets = {columns[k]: (str(to_money(v, strict=False)) if isinstance(v, Decimal) else v)
                for k, v in values.items() if k in columns}
        with self._lock:
            row = self._db.execute("SELECT client_id FROM clients WHERE login = ?", (login,)).fetchone()
            if row is None:
                return None
            assignments = ", ".join(f"{c} = ?" for c in sets) + (", " if sets else "") + "modified = ?"
            self._db.execute(f"UPDATE clients SET {assignments} WHERE client_id = ?",
                             (*sets.values(), _now(), row["client_id"]))
            return int(row["client_id"])

    def rename_client(self, login: str, new_login: str) -> None:
        """Change an account's login (as a merchant may do in the panel)."""
        with self._lock:
            self._db.execute("UPDATE clients SET login = ?, modified = ? WHERE login = ?", (new_login, _now(), login))

    def set_external_code(self, client_id: int | None, login: str | None, code: str | None) -> bool:
        with self._lock:
            cur = self._db.execute(
                "UPDATE clients SET code_external = ?, modified = ? WHERE client_id = ? OR login = ?",
                (code, _now(), client_id, login),
            )
            return cur.rowcount > 0

    # credit
    def debt(self, client: ShopClient) -> Decimal:
        """The ERP balance as debt (positive = the customer owes), by the shop's sign convention."""
        balance = client.balance or ZERO
        return -balance if self.balance_sign == "negative" else balance

    def pending(self, client_id: int) -> Decimal:
        """Trade-credit orders the ERP has not taken over yet (seed 000)."""
        marks = ",".join("?" * len(NOT_TAKEN_OVER))
        rows = self._rows(
            f"SELECT total FROM orders WHERE client_id = ? AND payment_type = 'tradecredit' AND status != 'canceled'"
            f" AND api_flag IN ({marks})", (client_id, *NOT_TAKEN_OVER),
        )
        return sum((Decimal(r["total"]) for r in rows), ZERO)

    def available(self, client: ShopClient) -> Decimal | None:
        """limit − ERP debt − pending orders; ``None`` = no limit (unlimited)."""
        if client.limit is None:
            return ZERO
        if client.limit == 0 and self.zero_limit_means == "no_limit":
            return None
        return client.limit - self.debt(client) - self.pending(client.client_id)

    def credit_refusal(self, client: ShopClient, total: Decimal) -> str | None:
        """The shop's credit rule for a trade-credit order of gross ``total``: why it is refused, or None."""
        if not client.trade_credit or client.limit is None:
            return "Trade credit is not enabled for this customer"
        left = self.available(client)
        if left is not None and left < total:
            return f"Trade credit limit exceeded: available {left:.2f} {client.currency}, order {total:.2f}"
        return None

    # orders
    def orders(self, where: str = "1=1", args: Iterable[Any] = ()) -> list[ShopOrder]:
        return [
            ShopOrder(r["serial"], r["order_id"], r["client_id"], r["login"], r["payment_type"], Decimal(r["total"]),
                      r["currency"], r["api_flag"], r["status"], r["added"])
            for r in self._rows(f"SELECT * FROM orders WHERE {where} ORDER BY serial", args)
        ]

    def place_order(self, login: str | None, payment_type: str, total: Decimal, currency: str) -> tuple[
            ShopOrder | None, str]:
        """Apply the shop's rules; return the stored order, or None and the refusal message."""
        with self._lock:
            client = self.client(login) if login else None
            if login and client is None:
                return None, f"Customer with login {login!r} does not exist"
            if payment_type == "tradecredit":
                if client is None:
                    return None, "Trade credit needs a customer account"
                refused = self.credit_refusal(client, total)
                if refused is not None:
                    return None, refused
            cur = self._db.execute(
                "INSERT INTO orders (client_id, login, payment_type, total, currency, added) VALUES (?,?,?,?,?,?)",
                (client.client_id if client else None, login, payment_type, str(total), currency, _now()),
            )
            serial = int(cur.lastrowid or 0)
            self._db.execute("UPDATE orders SET order_id = ? WHERE serial = ?", (f"sandbox-{serial}", serial))
            return self.orders("serial = ?", (serial,))[0], "Order placed"

    def add_order(self, login: str, total: Decimal | str, *, payment_type: str = "tradecredit",
                  api_flag: str = "none", currency: str = "PLN") -> ShopOrder:
        """Store an order as the shop already holds it (no credit rule applied): for seeding tests and demos."""
        with self._lock:
            client = self.client(login)
            cur = self._db.execute(
                "INSERT INTO orders (client_id, login, payment_type, total, currency, api_flag, added)"
                " VALUES (?,?,?,?,?,?,?)",
                (client.client_id if client else None, login, payment_type, str(to_money(total)), currency, api_flag,
                 _now()),
            )
            serial = int(cur.lastrowid or 0)
            self._db.execute("UPDATE orders SET order_id = ? WHERE serial = ?", (f"sandbox-{serial}", serial))
            return self.orders("serial = ?", (serial,))[0]

    def update_order(self, serial: int | None, order_id: str | None, values: Mapping[str, Any]) -> ShopOrder | None:
        sets = {c: values[k] for k, c in (("apiFlag", "api_flag"), ("orderStatus", "status"),
                                          ("orderPaymentType", "payment_type")) if values.get(k) is not None}
        with self._lock:
            found = self.orders("serial = ? OR order_id = ?", (serial, order_id))
            if not found:
                return None
            if sets:
                self._db.execute(f"UPDATE orders SET {', '.join(f'{c} = ?' for c in sets)} WHERE serial = ?",
                                 (*sets.values(), found[0].serial))
            return self.orders("serial = ?", (found[0].serial,))[0]

    def log_request(self, method: str, path: str, status: int, fault: str | None) -> None:
        with self._lock:
            self._db.execute("INSERT INTO requests (at, method, path, status, fault) VALUES (?,?,?,?,?)",
                             (_now(), method, path, status, fault))


# --- HTTP ---------------------------------------------------------------------------------------------------
def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _response(status: int, body: Any = None, headers: Mapping[str, str] | None = None) -> Response:
    content = b"" if body is None else json.dumps(body, default=_json_default, ensure_ascii=False).encode()
    return Response(content, status_code=status, headers=dict(headers or {}), media_type="application/json")


class _Invalid(Exception):
    """A request that does not match the spec: 422."""


class SandboxApp:
    """The ASGI application. State lives in ``store``; faults in ``faults``; keys in ``keys``."""

    def __init__(self, store: ShopStore, *, keys: Mapping[str, Mapping[str, str]], api_version: str = "v6",
                 currency: str = "PLN", faults: FaultPlan | None = None, clock_offset: float = 0.0) -> None:
        self.store = store
        # Seconds the shop's clock is off (its ``Date`` header), so ``tradecredit doctor`` can be shown a skew.
        self.clock_offset = clock_offset
        self.keys = {k: dict(v) for k, v in keys.items()}
        self.api_version = api_version
        self.currency = currency
        self.faults = faults or FaultPlan()
        self.log: list[LoggedRequest] = []
        # Called with every exchange once answered (tests attach the official-spec validator here).
        self.observers: list[Callable[[LoggedRequest], None]] = []
        self._log_lock = threading.Lock()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        body = await request.body()
        method, path = request.method, request.url.path
        query = list(request.query_params.multi_items())
        if method == "GET" and path in ("/", "/clients", "/favicon.ico"):
            # the read-only page for people (not logged: the request log is the API's, tests count it)
            from .page import render

            page = (Response(status_code=404) if path == "/favicon.ico"
                    else Response(render(self.store, dict(request.query_params)), media_type="text/html"))
            page.headers["date"] = formatdate(time.time() + self.clock_offset, usegmt=True)
            await page(scope, receive, send)
            return
        found = re.fullmatch(r"/api/admin/(v\d+)/(.+?)/?", path)
        op = f"{method} {found.group(2)}" if found else f"{method} {path}"
        fault_name: str | None = None
        fault: Fault | None = None
        if found is None or found.group(1) != self.api_version:
            response = _response(404, {"errors": {"faultCode": 404, "faultString": f"Not found: {path}"}})
        elif op not in ROUTES:
            response = _response(404, {"errors": {"faultCode": 404, "faultString": f"Unknown method {op}"}})
        elif (denied := self._auth(request, op)) is not None:
            response = denied
        else:
            fault = self.faults.take(op)
            fault_name = fault.kind if fault else None
            if fault is not None and fault.kind == "drop":
                self._record(method, op, path, query, body, 0, "", "drop")
                await send({"type": "http.response.start", "status": 200,
                            "headers": [(b"content-type", b"application/json"), (b"content-length", b"1000")]})
                await send({"type": "http.response.body", "body": b'{"results": [', "more_body": True})
                return  # uvicorn closes the connection: the client sees it dropped mid-response
            if fault is not None and fault.kind == "slow":
                await asyncio.sleep(fault.delay)
            if fault is not None and fault.kind == "429":
                response = _response(429, {"errors": {"faultCode": 429, "faultString": "Too many requests"}},
                                     {"Retry-After": f"{fault.retry_after:g}"})
            elif fault is not None and fault.kind == "500":
                response = _response(fault.status, {"errors": {"faultCode": fault.status,
                                                               "faultString": "Internal server error"}})
            elif fault is not None and fault.kind == "4xx":
                response = _response(fault.status, {"errors": {"faultCode": fault.status,
                                                               "faultString": fault.fault_string}})
            else:
                response = self._dispatch(op, query, body, fault if fault and fault.kind == "partial" else None)
        self._record(method, op, path, query, body, response.status_code, bytes(response.body).decode(), fault_name)
        response.headers["date"] = formatdate(time.time() + self.clock_offset, usegmt=True)
        if fault_name == "drip" and fault is not None:
            await self._drip(response, fault.delay, send)
            return
        await response(scope, receive, send)

    @staticmethod
    async def _drip(response: Response, delay: float, send: Any) -> None:
        """The answer's body in 16-byte pieces, ``delay`` seconds apart (a server on a dying line)."""
        await send({"type": "http.response.start", "status": response.status_code, "headers": response.raw_headers})
        content = bytes(response.body)
        for start in range(0, len(content), 16):
            await send({"type": "http.response.body", "body": content[start:start + 16], "more_body": True})
            await asyncio.sleep(delay)
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    def _auth(self, request: Request, op: str) -> Response | None:
        key = request.headers.get("x-api-key")
        if not key or key not in self.keys:
            return _response(401, {"errors": {"faultCode": 401, "faultString": "Authorization error"}},
                             {"x-error": "Invalid API key"})
        module, level = ROUTES[op]
        granted = self.keys[key].get(module)
        if granted is None or (level == "w" and granted != "w"):
            return _response(403, {"errors": {"faultCode": 403, "faultString": "Access denied"}},
                             {"x-error": f"Scope: {module}, level: {level}"})
        return None

    def _record(self, method: str, op: str, path: str, query: list[tuple[str, str]], body: bytes, status: int,
                response: str, fault: str | None) -> None:
        entry = LoggedRequest(method, op, path, query, body.decode(errors="replace"), status, response, fault)
        with self._log_lock:
            self.log.append(entry)
            observers = list(self.observers)
        self.store.log_request(method, path, status, fault)
        for observer in observers:
            try:
                observer(entry)
            except Exception:  # a broken observer must not turn the shop's answer into a server error
                log.exception("sandbox observer %r failed on %s", observer, op)

    def _dispatch(self, op: str, query: list[tuple[str, str]], body: bytes, partial: Fault | None) -> Response:
        try:
            if op == "GET clients/clients":
                try:
                    q = m.ClientsQuery.from_query(query)
                except ValueError as exc:
                    raise _Invalid(str(exc)) from None
                return self._get_clients(q)
            data = self._parse(body)
            if op == "PUT clients/clients":
                return self._put_clients(m.ClientsPutRequest.model_validate(data), partial)
            if op == "PUT clients/externalCode":
                return self._put_external_code(m.ExternalCodeRequest.model_validate(data))
            if op == "POST orders/orders":
                return self._post_orders(m.OrdersPostRequest.model_validate(data))
            if op == "PUT orders/orders":
                return self._put_orders(m.OrdersPutRequest.model_validate(data))
            return self._search_orders(m.OrdersSearchRequest.model_validate(data))
        except (ValidationError, _Invalid) as exc:
            return _response(422, {"errors": {"faultCode": 422, "faultString": f"Invalid data format: {exc}"}})

    @staticmethod
    def _parse(body: bytes) -> Any:
        try:
            return json.loads(body or b"null", parse_float=Decimal)
        except ValueError as exc:
            raise _Invalid(f"body is not JSON: {exc}") from None

    # clients
    def _client_json(self, c: ShopClient) -> dict[str, Any]:
        used = self.store.debt(c) + self.store.pending(c.client_id)
        return {
            "clientId": c.client_id,
            "clientsLastModificationDate": c.modified,
            "clientLogin": c.login,
            "clientCodeExternal": c.code_external or "",
            "clientEmail": c.email or "",
            "clientType": "firm" if c.firm else "private",
            "clientBillingAddress": {"clientFirm": c.firm or ""},
            "clientPreferences": {"currencyId": c.currency},
            "clientBalances": [],
            "clientTradeCredit": {"clientTradeCreditLimit": _num(c.limit or ZERO), "currencyId": c.currency,
                                  "clientTradeCreditUsed": _num(used)},
        }

    _ELEMENT_HOME: Mapping[str, str] = {
        **dict.fromkeys(("clientFirm", "clientNip", "clientStreet", "clientCity"), "clientBillingAddress"),
        **dict.fromkeys(("currencyId", "langId"), "clientPreferences"),
    }

    def _get_clients(self, q: m.ClientsQuery) -> Response:
        where: list[str] = ["1=1"]
        args: list[Any] = []
        if q.clientsIds:
            where.append(f"client_id IN ({','.join('?' * len(q.clientsIds))})")
            args += q.clientsIds
        if q.clientCodesExternal:
            if len(q.clientCodesExternal) > m.MAX_ELEMENTS:
                raise _Invalid(m.TOO_MANY)
            where.append(f"code_external IN ({','.join('?' * len(q.clientCodesExternal))})")
            args += q.clientCodesExternal
        if q.clientTextSearch:
            where.append("(login LIKE ? OR email LIKE ? OR firm LIKE ?)")
            args += [f"%{q.clientTextSearch}%"] * 3
        found = self.store.clients(" AND ".join(where), args)
        if q.clientHasTradeCredit:
            test = {"nonzero": lambda v: v != 0, "positive": lambda v: v > 0, "negative": lambda v: v < 0,
                    "zero": lambda v: v == 0}[q.clientHasTradeCredit]
            found = [c for c in found if test(c.limit or ZERO)]
        total = len(found)
        page = found[q.resultsPage * q.resultsLimit:(q.resultsPage + 1) * q.resultsLimit]
        wanted = None
        if q.returnElements:
            wanted = {self._ELEMENT_HOME.get(e, e) for e in q.returnElements}
        results = [{k: v for k, v in self._client_json(c).items() if wanted is None or k in wanted} for c in page]
        body: dict[str, Any] = {
            "resultsNumberAll": total, "resultsNumberPage": -(-total // q.resultsLimit),
            "resultsPage": q.resultsPage, "resultsLimit": q.resultsLimit, "results": results,
        }
        if not results:
            body["errors"] = dict(m.EMPTY_RESULT)
        return _response(200, body)

    def _put_clients(self, req: m.ClientsPutRequest, partial: Fault | None) -> Response:
        clients = req.params.clients
        if not clients:
            return _response(207, {"results": [], "errors": dict(NO_PARAMETERS)})
        if len(clients) > m.MAX_ELEMENTS:
            raise _Invalid(m.TOO_MANY)
        results, failed = [], False
        for item in clients:
            ref = item.requestReference
            error: tuple[int, str] | None = None
            client_id: int | None = None
            if not item.clientLogin:
                error = (1, "No username entered.")
            elif partial is not None and ref in partial.refs:
                error = (partial.fault_code, partial.fault_string)
            else:
                values = item.model_dump(exclude_none=True, exclude={"clientLogin", "requestReference"})
                client_id = self.store.update_client(item.clientLogin, values)
                if client_id is None:
                    error = (2, f"Customer with login {item.clientLogin!r} does not exist")
            result: dict[str, Any] = {"resultStatus": error is None, "clientsResult": {}}
            if client_id is not None:
                result["clientsResult"]["clientId"] = client_id
            if ref is not None:
                result["clientsResult"]["requestReference"] = ref
            if error is not None:
                failed = True
                result["errors"] = [{"faultCode": error[0], "faultString": error[1]}]
            results.append(result)
        return _response(207 if failed else 200, {"results": results})

    def _put_external_code(self, req: m.ExternalCodeRequest) -> Response:
        p = req.params
        if p.client_id is None and not p.client_login:
            return _response(207, {"errors": dict(NO_PARAMETERS)})
        if not self.store.set_external_code(p.client_id, p.client_login, p.code_extern):
            return _response(207, {"errors": dict(m.EMPTY_RESULT)})
        return _response(200, {"errors": {"faultCode": 0, "faultString": "Operation was successful"}})

    # orders
    def _post_orders(self, req: m.OrdersPostRequest) -> Response:
        if len(req.params.orders) > m.MAX_ELEMENTS:
            raise _Invalid(m.TOO_MANY)
        results, failed = [], False
        for o in req.params.orders:
            total = order_gross(o)
            order, message = self.store.place_order(o.clientLogin, o.orderPaymentType or "prepaid", total,
                                                    o.currencyId or self.currency)
            if order is None:
                failed = True
                results.append({"faultCode": 1, "faultString": message})
            else:
                results.append({"faultCode": 0, "faultString": "", "orderId": order.order_id,
                                 "orderSerialNumber": order.serial})
        return _response(207 if failed else 200, {"results": {"ordersResults": results}})

    def _put_orders(self, req: m.OrdersPutRequest) -> Response:
        results, failed = [], False
        for o in req.params.orders:
            order = self.store.update_order(o.orderSerialNumber, o.orderId, o.model_dump())
            if order is None:
                failed = True
                results.append({"orderId": o.orderId or "", "orderSerialNumber": o.orderSerialNumber or 0,
                                "faultCode": 2, "faultString": "Empty result"})
            else:
                results.append({"orderId": order.order_id, "orderSerialNumber": order.serial,
                                "orderStatus": order.status, "faultCode": 0, "faultString": ""})
        return _response(207 if failed else 200, {"results": {"ordersResults": results}})

    def _search_orders(self, req: m.OrdersSearchRequest) -> Response:
        p = req.params
        found = self.store.orders()
        if p.orderPaymentType:
            found = [o for o in found if o.payment_type == p.orderPaymentType]
        if p.ordersSerialNumbers:
            found = [o for o in found if o.serial in p.ordersSerialNumbers]
        if p.ordersIds:
            found = [o for o in found if o.order_id in p.ordersIds]
        if p.clients:
            logins = {c.clientLogin for c in p.clients if c.clientLogin}
            ids = {c.clientId for c in p.clients if c.clientId is not None}
            found = [o for o in found if o.login in logins or o.client_id in ids]
        total = len(found)
        page = found[p.resultsPage * p.resultsLimit:(p.resultsPage + 1) * p.resultsLimit]
        body: dict[str, Any] = {
            "Results": [self._order_json(o) for o in page], "resultsNumberAll": total,
            "resultsNumberPage": -(-total // p.resultsLimit), "resultsPage": p.resultsPage,
            "resultsLimit": p.resultsLimit,
        }
        if not page:
            body["errors"] = dict(m.EMPTY_RESULT)
        return _response(200, body)

    def _order_json(self, o: ShopOrder) -> dict[str, Any]:
        client = self.store.clients("client_id = ?", (o.client_id,)) if o.client_id else []
        account = {"clientId": o.client_id or 0, "clientLogin": o.login or "",
                   "clientCodeExternal": (client[0].code_external or "") if client else ""}
        return {
            "orderId": o.order_id, "orderSerialNumber": o.serial, "orderType": "t",
            "clientResult": {"clientAccount": account},
            "orderDetails": {
                "apiFlag": o.api_flag, "orderStatus": o.status, "orderAddDate": o.added,
                "payments": {"orderPaymentType": o.payment_type,
                             "orderCurrency": {"currencyId": o.currency, "orderProductsCost": _num(o.total)}},
            },
        }


def order_gross(o: m.OrderPost) -> Decimal:
    """The order's gross value, the amount the credit rule counts (credit exposure is gross).

    ``productRetailPrice`` is the gross price (spec); settled ``net``: it is the net price and ``productVat``
    the VAT rate in %, VAT computed per rate on the sum of net values; ``net_without_VAT``: no VAT at all.
    """
    settled = o.orderSettledAtPrice or "gross"
    lines = [(round_money(p.productRetailPrice), p.productQuantity,
              (p.productVat or ZERO) if settled == "net" and p.productVatFree != "y" else ZERO) for p in o.products]
    goods = order_totals(lines).gross
    return round_money(goods + (o.deliveryCost or ZERO) - (o.orderRebateValue or ZERO))


# --- the Python API -----------------------------------------------------------------------------------------
@dataclass
class Sandbox:
    """A sandbox shop: state, keys and faults; ``start()`` serves it on loopback in a background thread."""

    db_path: str | Path | None = None
    api_key: str = DEFAULT_API_KEY
    keys: Mapping[str, Mapping[str, str]] | None = None
    api_version: str = "v6"
    currency: str = "PLN"
    balance_sign: Literal["negative", "positive"] = "negative"
    zero_limit_means: Literal["no_credit", "no_limit"] = "no_credit"
    clock_offset: float = 0.0
    server: RunningServer | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.store = ShopStore(self.db_path, balance_sign=self.balance_sign, zero_limit_means=self.zero_limit_means)
        keys = {self.api_key: dict(FULL_SCOPES), **{k: dict(v) for k, v in (self.keys or {}).items()}}
        self.app = SandboxApp(self.store, keys=keys, api_version=self.api_version, currency=self.currency,
                              clock_offset=self.clock_offset)

    # lifecycle
    def start(self, host: str = "127.0.0.1", port: int = 0) -> Sandbox:
        self.server = serve_in_thread(self.app, host, port, date_header=False)  # the app sends its own Date
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None
        self.store.close()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The shop's base URL: the target's ``base_url``."""
        if self.server is None:
            raise RuntimeError("the sandbox is not running; call start()")
        return self.server.url

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/admin/{self.api_version}"

    # keys and faults
    def add_key(self, key: str, scopes: Mapping[str, str]) -> None:
        """Accept another API key with the given scopes, e.g. ``{"clients": "r"}`` (``r`` read, ``w`` write)."""
        self.app.keys[key] = dict(scopes)

    @property
    def faults(self) -> FaultPlan:
        return self.app.faults

    def inject(self, kind: str, **options: Any) -> Fault:
        """Add a fault rule: ``inject("429", times=2, retry_after=0.1)``, ``inject("partial", refs={"KH-1"})``."""
        return self.app.faults.add(Fault(kind=fault_kind(kind), **options))

    def clear_faults(self) -> None:
        self.app.faults.clear()

    def observe(self, observer: Callable[[LoggedRequest], None]) -> None:
        """Call ``observer`` with every request and its answer (a ``LoggedRequest``), e.g. a contract checker.

        It runs in the server's thread after the answer is built; an exception it raises is logged, never sent.
        """
        with self.app._log_lock:
            self.app.observers.append(observer)

    # shop data
    def add_client(self, login: str, code_external: str | None = None, **fields: Any) -> int:
        return self.store.add_client(login, code_external, **fields)

    def add_clients(self, clients: Iterable[Mapping[str, Any]]) -> list[int]:
        """Seed many accounts at once: ``[{"login": ..., "code_external": ..., "firm": ...}, ...]``."""
        return self.store.add_clients(clients)

    def clients(self) -> list[ShopClient]:
        return self.store.clients()

    def client(self, login: str) -> ShopClient | None:
        return self.store.client(login)

    def available(self, login: str) -> Decimal | None:
        """What the shop's credit rule would still allow for ``login`` (None = no limit)."""
        client = self.store.client(login)
        if client is None:
            raise KeyError(login)
        return self.store.available(client)

    def orders(self) -> list[ShopOrder]:
        return self.store.orders()

    # over HTTP, like a storefront or the ERP connector would
    def _call(self, method: str, path: str, body: Any) -> httpx.Response:
        return httpx.request(method, f"{self.api_url}/{path}", json=body, headers={"X-API-KEY": self.api_key},
                             timeout=30)

    def place_order(self, login: str, total: Decimal | str, *, payment_type: str = "tradecredit",
                    vat: Decimal | str | None = None) -> OrderOutcome:
        """Place an order through ``POST orders/orders``: one product line of gross price ``total``, or, with
        ``vat`` (rate in %), of net price ``total`` settled at net prices (the shop adds the VAT)."""
        amount = to_money(total)
        product: dict[str, Any] = {"productId": 1, "sizeId": "uniw", "productQuantity": 1,
                                   "productRetailPrice": float(amount)}
        order: dict[str, Any] = {"orderType": "wholesale", "orderPaymentType": payment_type,
                                 "currencyId": self.currency, "clientLogin": login, "products": [product]}
        if vat is not None:
            product["productVat"] = float(Decimal(vat))
            order["orderSettledAtPrice"] = "net"
        body = {"params": {"orders": [order]}}
        response = self._call("POST", "orders/orders", body)
        if response.status_code not in (200, 207):
            return OrderOutcome(False, None, None, f"HTTP {response.status_code}: {response.text[:200]}",
                                response.status_code)
        result = response.json()["results"]["ordersResults"][0]
        return OrderOutcome(result["faultCode"] == 0, result.get("orderId"), result.get("orderSerialNumber"),
                            result.get("faultString") or "Order placed", response.status_code)

    def add_order(self, login: str, total: Decimal | str, **fields: Any) -> ShopOrder:
        """Seed an order the shop already holds (``payment_type``, ``api_flag``, ``currency``); no rule applied."""
        return self.store.add_order(login, total, **fields)

    def set_api_flag(self, serial: int, api_flag: str) -> bool:
        """Mark an order as taken over by the ERP (``registered``) or not, through ``PUT orders/orders``."""
        response = self._call("PUT", "orders/orders",
                              {"params": {"orders": [{"orderSerialNumber": serial, "apiFlag": api_flag}]}})
        return response.status_code == 200

    # request log
    @property
    def requests(self) -> list[LoggedRequest]:
        with self.app._log_lock:
            return list(self.app.log)

    def count(self, op: str | None = None, *, status: int | None = None) -> int:
        """How many requests the sandbox received (``op`` e.g. ``"PUT clients/clients"``)."""
        return sum(1 for r in self.requests if (op is None or r.op == op) and (status is None or r.status == status))

    def reset_log(self) -> None:
        with self.app._log_lock:
            self.app.log.clear()


def start_sandbox(db_path: str | Path | None = None, api_key: str = DEFAULT_API_KEY, *, port: int = 0,
                  host: str = "127.0.0.1", **options: Any) -> Sandbox:
    """Create a sandbox (``options``: keys, api_version, currency, balance_sign, zero_limit_means) and start it."""
    return Sandbox(db_path, api_key, **options).start(host, port)


def wait_forever() -> None:  # pragma: no cover - the CLI's foreground loop
    while True:
        time.sleep(3600)
