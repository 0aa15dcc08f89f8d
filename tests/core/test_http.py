"""The shared HTTP layer against a real loopback server: retries, Retry-After, time bound, auth errors."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from tradecredit.core.errors import AuthError, TransientError
from tradecredit.core.http import HttpClient, RetryPolicy, retry_after_seconds
from tradecredit.core.serving import serve_in_thread

SCRIPT: list[tuple[int, dict[str, str]]] = []
SEEN: list[str] = []


async def endpoint(request):
    SEEN.append(request.headers.get("x-api-key", ""))
    status, headers = SCRIPT.pop(0) if SCRIPT else (200, {})
    if status == 200:
        return JSONResponse({"ok": True})
    return Response(status_code=status, headers=headers, content=b"{}")


@pytest.fixture(scope="module")
def server():
    app = Starlette(routes=[Route("/x", endpoint, methods=["GET", "PUT"])])
    with serve_in_thread(app) as running:
        yield running.url


@pytest.fixture(autouse=True)
def _reset():
    SCRIPT.clear()
    SEEN.clear()


def client(url, sleeps, **policy):
    return HttpClient(url, headers={"X-API-KEY": "k-123456"}, retry=RetryPolicy(**policy), sleep=sleeps.append)


def test_retries_429_honouring_retry_after_then_succeeds(server):
    SCRIPT.extend([(429, {"Retry-After": "3"}), (503, {}), (200, {})])
    sleeps: list[float] = []
    c = client(server, sleeps, backoff_initial=0.01)
    assert c.request("PUT", "/x", json={}).json() == {"ok": True}
    assert len(SEEN) == 3 and c.retries == 2
    assert sleeps[0] >= 3.0 and sleeps[1] < 1.0


def test_gives_up_after_max_attempts_with_a_transient_error(server):
    SCRIPT.extend([(500, {})] * 10)
    sleeps: list[float] = []
    with pytest.raises(TransientError, match="gave up after 3 attempt"):
        client(server, sleeps, max_attempts=3, backoff_initial=0.01).request("GET", "/x")
    assert len(SEEN) == 3


def test_total_time_bound_is_respected(server):
    SCRIPT.extend([(429, {"Retry-After": "100"})])
    with pytest.raises(TransientError, match="gave up after 1 attempt"):
        client(server, [], total_timeout=5).request("GET", "/x")


def test_dropped_connections_are_retried():
    sleeps: list[float] = []
    c = HttpClient("http://127.0.0.1:9", retry=RetryPolicy(max_attempts=2, backoff_initial=0.01), sleep=sleeps.append,
                   connect_timeout=0.5)
    with pytest.raises(TransientError, match="ConnectError"):
        c.request("GET", "/x")
    assert len(sleeps) == 1


@pytest.mark.parametrize(("status", "hint"), [(401, "Check the key"), (403, "lacks this scope")])
def test_auth_failures_are_configuration_errors_with_the_scope(server, status, hint):
    SCRIPT.append((status, {"x-error": "Scope: clients, level: w"}))
    with pytest.raises(AuthError) as info:
        client(server, []).request("PUT", "/x", what="PUT clients/clients")
    assert "Scope: clients, level: w" in str(info.value) and hint in str(info.value)
    assert "k-123456" not in str(info.value)
    assert len(SEEN) == 1, "auth errors are never retried"


def test_other_client_errors_are_returned_to_the_caller(server):
    SCRIPT.append((422, {}))
    assert client(server, []).request("PUT", "/x").status_code == 422


def test_retry_after_parsing():
    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None
