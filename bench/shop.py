"""A fast IdoSell stand-in for the benchmarks: just enough of Admin API v6 ``clients/clients``, nothing else.

Not the product's sandbox (``tradecredit sandbox idosell``): that one validates every request against the
published models, keeps its state in SQLite and injects faults, which costs milliseconds per request and
would hide our own cost. This one is a hand-rolled HTTP/1.1 keep-alive server on asyncio that answers in
tens of microseconds, so the time a benchmark measures is the client's.

Contract (what ``plugins/idosell/target.py`` talks to, unchanged):

* ``GET /api/admin/v6/clients/clients?clientCodesExternal=A,B&returnElements=…&resultsPage=0&resultsLimit=100``
  (or ``clientsIds=1,2``): the accounts with those external codes, paged; an empty result is a 200 body with
  ``errors.faultCode = 2``. Matching is exact on the code, like the shop.
* ``PUT /api/admin/v6/clients/clients`` with ``{"params": {"clients": [{clientLogin, …, requestReference}]}}``:
  200 when every login exists, else 207 with ``faultCode 2 … does not exist`` on the unknown ones; every
  result echoes ``requestReference``. The last written values are kept per login (``/__bench/values``).
* ``X-API-KEY`` must be the configured key (401 otherwise).
* ``GET /__bench/stats``: requests by ``METHOD endpoint``, clients asked for / written, and the server's own
  handling time; ``POST /__bench/reset`` zeroes the counters.

Run in its own process: ``python -m bench.shop --accounts FILE [--port 0]`` prints ``READY <port>`` when it
listens. ``FILE`` has one ``code<TAB>login`` per line (clientId = line number).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

PREFIX = "/api/admin/v6/"
EMPTY = {"faultCode": 2, "faultString": "Empty result"}
TOO_MANY = "Too many elements were included in a single request Maximum number of elements: 100"
REASONS = {200: "OK", 207: "Multi-Status", 401: "Unauthorized", 404: "Not Found", 422: "Unprocessable Entity"}


class Shop:
    """The accounts and the counters; ``handle`` is the whole API."""

    def __init__(self, accounts: list[tuple[str, str]], api_key: str) -> None:
        self.api_key = api_key
        self.by_code: dict[str, tuple[int, str]] = {}
        self.by_id: dict[int, tuple[str, str]] = {}
        self.logins: dict[str, int] = {}
        for n, (code, login) in enumerate(accounts, start=1):
            self.by_code[code] = (n, login)
            self.by_id[n] = (code, login)
            self.logins[login] = n
        self.values: dict[str, tuple[Any, Any]] = {}  # login → (limit, balance) last written
        self.reset()

    def reset(self) -> None:
        self.requests: Counter[str] = Counter()
        self.clients_asked = 0
        self.clients_written = 0
        self.server_seconds = 0.0

    def stats(self) -> dict[str, Any]:
        return {"requests": dict(self.requests), "clients_asked": self.clients_asked,
                "clients_written": self.clients_written, "server_seconds": round(self.server_seconds, 6),
                "accounts": len(self.by_code)}

    def handle(self, method: str, target: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        path, _, query = target.partition("?")
        if path.startswith("/__bench/"):
            return self._control(method, path[len("/__bench/"):])
        endpoint = path[len(PREFIX):].strip("/") if path.startswith(PREFIX) else path
        self.requests[f"{method} {endpoint}"] += 1
        if headers.get("x-api-key") != self.api_key:
            return 401, _dumps({"errors": {"faultCode": 401, "faultString": "Authorization error"}})
        if endpoint != "clients/clients" or method not in ("GET", "PUT"):
            return 404, _dumps({"errors": {"faultCode": 404, "faultString": f"Unknown method {method} {endpoint}"}})
        try:
            if method == "GET":
                return self._get(dict(parse_qsl(query, keep_blank_values=True)))
            return self._put(json.loads(body or b"null"))
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            return 422, _dumps({"errors": {"faultCode": 422, "faultString": f"Invalid data format: {exc}"}})

    def _control(self, method: str, what: str) -> tuple[int, bytes]:
        if what == "stats":
            return 200, _dumps(self.stats())
        if what == "reset" and method == "POST":
            self.reset()
            return 200, _dumps({"ok": True})
        if what == "values":
            return 200, _dumps({login: list(v) for login, v in self.values.items()})
        return 404, _dumps({"error": what})

    def _get(self, q: dict[str, str]) -> tuple[int, bytes]:
        found: list[tuple[int, str, str]] = []  # (id, login, code)
        if q.get("clientCodesExternal"):
            codes = q["clientCodesExternal"].split(",")
            if len(codes) > 100:
                raise ValueError(TOO_MANY)
            self.clients_asked += len(codes)
            for code in codes:
                hit = self.by_code.get(code)
                if hit is not None:
                    found.append((hit[0], hit[1], code))
        elif q.get("clientsIds"):
            ids = [int(i) for i in q["clientsIds"].split(",")]
            if len(ids) > 100:
                raise ValueError(TOO_MANY)
            self.clients_asked += len(ids)
            for i in ids:
                entry = self.by_id.get(i)
                if entry is not None:
                    found.append((i, entry[1], entry[0]))
        else:  # `check`'s probe: any one account
            found = [(i, login, code) for i, (code, login) in list(self.by_id.items())[:1]]
        limit = int(q.get("resultsLimit") or 100)
        page = int(q.get("resultsPage") or 0)
        total = len(found)
        wanted = set(q.get("returnElements", "").split(",")) - {""}
        rows = []
        for client_id, login, code in found[page * limit:(page + 1) * limit]:
            row: dict[str, Any] = {"clientId": client_id, "clientLogin": login, "clientCodeExternal": code}
            if not wanted or "clientTradeCredit" in wanted:
                limit_value = self.values.get(login, (0, 0))[0]
                row["clientTradeCredit"] = {"clientTradeCreditLimit": limit_value, "currencyId": "PLN"}
            rows.append({k: v for k, v in row.items() if not wanted or k in wanted})
        answer: dict[str, Any] = {"resultsNumberAll": total, "resultsNumberPage": -(-total // limit),
                                  "resultsPage": page, "resultsLimit": limit, "results": rows}
        if not rows:
            answer["errors"] = EMPTY
        return 200, _dumps(answer)

    def _put(self, data: dict[str, Any]) -> tuple[int, bytes]:
        clients = data["params"]["clients"]
        if not clients:
            return 207, _dumps({"results": [],
                                "errors": {"faultCode": 3, "faultString": "No parameters were received"}})
        if len(clients) > 100:
            raise ValueError(TOO_MANY)
        results = []
        failed = False
        for item in clients:
            login = item.get("clientLogin")
            client_id = self.logins.get(login) if login else None
            result: dict[str, Any] = {"resultStatus": client_id is not None, "clientsResult": {}}
            if client_id is not None:
                self.values[login] = (item.get("clientTradeCreditLimitExternal"),
                                      item.get("clientBalanceAmountExternal"))
                self.clients_written += 1
                result["clientsResult"]["clientId"] = client_id
            else:
                failed = True
                result["errors"] = [{"faultCode": 2, "faultString": f"Customer with login {login!r} does not exist"}]
            if item.get("requestReference") is not None:
                result["clientsResult"]["requestReference"] = item["requestReference"]
            results.append(result)
        return (207 if failed else 200), _dumps({"results": results})


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


class _Connection(asyncio.Protocol):
    """HTTP/1.1 with keep-alive and Content-Length bodies: all the product's client (httpx) sends."""

    def __init__(self, shop: Shop) -> None:
        self.shop = shop
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return
            lines = self.buffer[:head_end].decode("latin-1").split("\r\n")
            method, target, _version = lines[0].split(" ", 2)
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length") or 0)
            if len(self.buffer) < head_end + 4 + length:
                return
            body = self.buffer[head_end + 4:head_end + 4 + length]
            self.buffer = self.buffer[head_end + 4 + length:]
            started = time.perf_counter()
            status, payload = self.shop.handle(method, target, headers, body)
            self.shop.server_seconds += time.perf_counter() - started
            close = headers.get("connection", "").lower() == "close"
            assert self.transport is not None
            self.transport.write(
                f"HTTP/1.1 {status} {REASONS.get(status, 'OK')}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(payload)}\r\n{'Connection: close' if close else 'Connection: keep-alive'}"
                "\r\n\r\n".encode() + payload
            )
            if close:
                self.transport.close()
                return


def read_accounts(path: Path) -> list[tuple[str, str]]:
    out = []
    with path.open(encoding="utf-8") as f:
        for line in f:
            code, _, login = line.rstrip("\n").partition("\t")
            if code:
                out.append((code, login or code))
    return out


async def serve(shop: Shop, host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _Connection(shop), host, port)
    bound = server.sockets[0].getsockname()[1]
    print(f"READY {bound}", flush=True)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=Path, required=True, help="code<TAB>login per line")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--api-key", default="bench-key")
    args = parser.parse_args(argv)
    shop = Shop(read_accounts(args.accounts), args.api_key)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(shop, args.host, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
