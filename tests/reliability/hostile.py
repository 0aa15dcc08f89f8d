"""A hostile IdoSell on loopback: every answer a broken, overloaded or malicious shop can give (issue 12).

A real HTTP server (stdlib, one thread per connection) whose answer to each request is chosen by the test:
``HostileShop.answer = ANSWERS["html"]``. The answers are written as raw bytes, so they can be truncated,
mislabelled, gzip-garbage or dripped one piece at a time — things a well-behaved framework would never send.
"""

from __future__ import annotations

import gzip
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Exchange:
    method: str
    path: str
    query: dict[str, list[str]]
    body: bytes


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})
    drip: float = 0.0  # seconds between 8-byte pieces of the body (0: all at once)
    length: int | None = None  # a Content-Length that lies (truncated bodies)


Answer = Callable[[Exchange], Reply]


def as_json(body: Any, status: int = 200, **headers: str) -> Reply:
    return Reply(status, json.dumps(body).encode(), {"Content-Type": "application/json", **headers})


def _clients(ex: Exchange) -> list[dict[str, Any]]:
    """The rows a correct shop would give for a match query (each code → login ``l-<code>``, id = position)."""
    codes = ",".join(ex.query.get("clientCodesExternal", [""])).split(",")
    return [{"clientId": i + 1, "clientLogin": f"l-{c}", "clientCodeExternal": c} for i, c in enumerate(codes) if c]


def good(ex: Exchange) -> Reply:
    """What a healthy shop answers: a match page, or 200 for every written client with its reference."""
    if ex.method == "GET":
        rows = _clients(ex)
        return as_json({"resultsNumberAll": len(rows), "resultsNumberPage": 1, "results": rows})
    clients = json.loads(ex.body)["params"]["clients"]
    return as_json({"results": [{"resultStatus": True, "clientsResult": {"requestReference": c["requestReference"]}}
                                for c in clients]})


def on_put(answer: Answer) -> Answer:
    """Match correctly, answer the writes with ``answer``."""
    return lambda ex: answer(ex) if ex.method == "PUT" else good(ex)


def on_get(answer: Answer) -> Answer:
    return lambda ex: answer(ex) if ex.method == "GET" else good(ex)


def _reordered_207(ex: Exchange) -> Reply:
    """Results without references, in reverse order; the first client (last row) was refused."""
    clients = json.loads(ex.body)["params"]["clients"]
    rows = [{"resultStatus": i != 0, **({"errors": [{"faultCode": 5, "faultString": "refused"}]} if i == 0 else {})}
            for i in range(len(clients))]
    return as_json({"results": list(reversed(rows))}, 207)


def _endless(ex: Exchange) -> Reply:
    """Ignores ``resultsPage``: page 0 again and again, announcing a million pages."""
    return as_json({"resultsNumberPage": 1_000_000, "results": _clients(ex)})


DEEP = b"[" * 200_000 + b"]" * 200_000

ANSWERS: dict[str, Answer] = {
    "html": lambda ex: Reply(200, b"<html><body>Maintenance</body></html>", {"Content-Type": "text/html"}),
    "truncated": lambda ex: Reply(200, b'{"results": [{"resultStatus": tr', length=400),
    "malformed": lambda ex: Reply(200, b'{"results": [}'),
    "empty body": lambda ex: Reply(200, b""),
    "json array": lambda ex: as_json([1, 2, 3]),
    "deep nesting": lambda ex: Reply(200, DEEP),
    "bad gzip": lambda ex: Reply(200, b"\x1f\x8b\x08\x00garbage-not-gzip" * 10,
                                 {"Content-Type": "application/json", "Content-Encoding": "gzip"}),
    "bad charset": lambda ex: Reply(200, b'{"results": "\xff\xfe"}',
                                    {"Content-Type": "application/json; charset=x-nope"}),
    "results string": on_get(lambda ex: as_json({"resultsNumberPage": 1, "results": "abc"})),
    "results object": on_get(lambda ex: as_json({"resultsNumberPage": 1, "results": {"a": 1}})),
    "results of numbers": on_get(lambda ex: as_json({"resultsNumberPage": 1, "results": [1, 2]})),
    "page count text": on_get(lambda ex: as_json({"resultsNumberPage": "many", "results": _clients(ex)})),
    "page count list": on_get(lambda ex: as_json({"resultsNumberPage": [2], "results": _clients(ex)})),
    "endless paging": on_get(_endless),
    "put results string": on_put(lambda ex: as_json({"results": "ok"})),
    "put rows wrong types": on_put(lambda ex: as_json({"results": [1, "x", None, {"clientsResult": "x",
                                                                                   "errors": "boom"}]})),
    "mismatched 207": on_put(_reordered_207),
    "huge": lambda ex: Reply(200, b'{"results": [' + b'{"a": 1},' * 4_000_000 + b'{}]}'),
    "dripping": lambda ex: Reply(200, json.dumps({"results": []}).encode() + b" " * 400, drip=0.2),
    "slow headers": lambda ex: (time.sleep(2.0), good(ex))[1],
    "301": lambda ex: Reply(301, b"", {"Location": "https://new-shop.example/api/"}),
    "302": lambda ex: Reply(302, b"", {"Location": "https://login.example/"}),
    "401": lambda ex: as_json({"errors": {"faultCode": 401, "faultString": "Authorization error"}}, 401),
    "403": lambda ex: as_json({"errors": {"faultCode": 403, "faultString": "Access denied"}}, 403),
    "500 forever": lambda ex: as_json({"errors": {"faultCode": 500, "faultString": "x"}}, 500),
    "429 forever": lambda ex: as_json({"errors": {"faultCode": 429}}, 429, **{"Retry-After": "0.2"}),
    "422 on put": on_put(lambda ex: as_json({"errors": {"faultCode": 422, "faultString": "Invalid data"}}, 422)),
    "gzip ok": lambda ex: Reply(200, gzip.compress(good(ex).body),
                                {"Content-Type": "application/json", "Content-Encoding": "gzip"}),
}


class HostileShop:
    """``with HostileShop() as shop: shop.answer = ANSWERS[...]``; ``shop.url`` is the base_url to configure."""

    def __init__(self) -> None:
        self.answer: Answer = good
        self.log: list[Exchange] = []
        shop = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _serve(self) -> None:
                parts = urlsplit(self.path)
                size = int(self.headers.get("Content-Length") or 0)
                ex = Exchange(self.command, parts.path, parse_qs(parts.query), self.rfile.read(size))
                shop.log.append(ex)
                reply = shop.answer(ex)
                try:
                    self.send_response(reply.status)
                    for k, v in reply.headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(reply.length or len(reply.body)))
                    if reply.length is not None:
                        self.send_header("Connection", "close")
                    self.end_headers()
                    if reply.drip:
                        for i in range(0, len(reply.body), 8):
                            self.wfile.write(reply.body[i:i + 8])
                            self.wfile.flush()
                            time.sleep(reply.drip)
                    else:
                        self.wfile.write(reply.body)
                    if reply.length is not None:
                        self.close_connection = True
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True

            do_GET = do_PUT = do_POST = _serve

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def count(self, method: str) -> int:
        return sum(1 for e in self.log if e.method == method)

    def __enter__(self) -> HostileShop:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
