"""Signed session cookies and CSRF tokens for the console, on the standard library (HMAC-SHA256).

A session is ``base64(json).signature``; the JSON holds its expiry and its CSRF token. Forms carry the token in a
hidden field and must match the cookie's (the login form, before any session, matches a random pre-login cookie:
the double-submit pattern). Cookies are HttpOnly and SameSite=Strict, so another site can neither read nor send
them with a form.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

SESSION_COOKIE = "tc_console"
LOGIN_CSRF_COOKIE = "tc_console_csrf"


def derive_key(password: str, session_secret: str | None) -> bytes:
    """The signing key: the configured session secret, else one derived from the password (a changed password
    ends every session)."""
    material = session_secret or f"tradecredit-console:{password}"
    return hashlib.sha256(material.encode("utf-8")).digest()


@dataclass(frozen=True, slots=True)
class Session:
    csrf: str
    expires: float


class Signer:
    def __init__(self, key: bytes, max_age: float) -> None:
        self.key, self.max_age = key, max_age

    def _sign(self, body: bytes) -> str:
        return base64.urlsafe_b64encode(hmac.new(self.key, body, hashlib.sha256).digest()).decode().rstrip("=")

    def issue(self, now: float | None = None) -> tuple[str, Session]:
        session = Session(csrf=secrets.token_urlsafe(24), expires=(now or time.time()) + self.max_age)
        body = base64.urlsafe_b64encode(json.dumps({"c": session.csrf, "e": session.expires}).encode()).rstrip(b"=")
        return f"{body.decode()}.{self._sign(body)}", session

    def read(self, cookie: str | None, now: float | None = None) -> Session | None:
        """The session of a cookie with a valid signature that has not expired, else None."""
        if not cookie or "." not in cookie:
            return None
        body, _, signature = cookie.rpartition(".")
        if not hmac.compare_digest(signature, self._sign(body.encode())):
            return None
        try:
            data: Any = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
            session = Session(csrf=str(data["c"]), expires=float(data["e"]))
        except (ValueError, KeyError, TypeError):
            return None
        return session if session.expires > (now or time.time()) else None


def password_ok(given: str, expected: str) -> bool:
    """Constant-time comparison (of digests, so lengths leak nothing either)."""
    return hmac.compare_digest(hashlib.sha256(given.encode()).digest(), hashlib.sha256(expected.encode()).digest())


def csrf_ok(given: str | None, expected: str | None) -> bool:
    return bool(given) and bool(expected) and hmac.compare_digest(str(given), str(expected))


def new_token() -> str:
    return secrets.token_urlsafe(24)
