"""``tradecredit doctor`` for an IdoSell target: reachable, the shop's clock, the API key and its scopes.

One attempt per probe, no retries: the doctor must answer in seconds, and an unreachable shop is the finding.
The write probe is the empty ``PUT clients/clients`` ``check`` also uses (it changes nothing).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import httpx
from tradecredit.sdk import CheckResult, CheckStatus, clock_skew, mask

if TYPE_CHECKING:
    from .target import IdoSellOptions

CLOCK_WARN = 60.0  # seconds: order times and the data's age get confusing
CLOCK_FAIL = 300.0  # five minutes: the shop's and the runner's view of "today" and of staleness disagree
KEY_FIX = ("api_key must hold an Admin API key of this shop (IdoSell panel: Administracja › API › Klucze API "
           "Admin); check the environment variable or file the config names for it")
SCOPE_FIX = ("in the IdoSell panel give the key access to the module 'clients' with read and write rights "
             "(Administracja › API › Klucze API Admin › uprawnienia)")


def _missing_scope(response: httpx.Response) -> str | None:
    return response.headers.get("x-error") if response.status_code == 403 else None


def diagnose(options: IdoSellOptions, transport: httpx.BaseTransport | None = None) -> list[CheckResult]:
    o = options
    api = f"{o.base_url}/api/admin/{o.api_version}/clients/clients"
    headers = {"X-API-KEY": o.api_key.get_secret_value(), "Content-Type": "application/json"}
    timeout = httpx.Timeout(o.timeout, connect=o.connect_timeout)
    with httpx.Client(headers=headers, timeout=timeout, transport=transport) as client:
        sent = datetime.now(UTC)
        try:
            read = client.get(api, params={"resultsLimit": 1, "returnElements": "clientId"})
        except httpx.HTTPError as exc:
            return [CheckResult(
                name="shop.reachable", status=CheckStatus.FAIL,
                detail=mask(f"cannot reach {o.base_url}: {type(exc).__name__}: {exc}"),
                fix="check base_url (the shop's own https:// address), DNS, and that this server may open HTTPS "
                    "connections to it (firewall, proxy: HTTPS_PROXY)")]
        received = datetime.now(UTC)
        if read.status_code == 404:
            return [CheckResult(name="shop.reachable", status=CheckStatus.FAIL,
                                detail=f"Admin API {o.api_version} not found at {mask(o.base_url)} (HTTP 404)",
                                fix="base_url is the shop's address without a path; api_version v6 or newer")]
        results = [CheckResult(name="shop.reachable", status=CheckStatus.OK,
                               detail=f"{mask(o.base_url)} answered HTTP {read.status_code} in "
                                      f"{(received - sent).total_seconds() * 1000:.0f} ms")]
        results.append(_clock(read.headers.get("date"), sent, received))
        if read.status_code == 401:
            reason = read.headers.get("x-error") or "HTTP 401"
            results.append(CheckResult(name="shop.credentials", status=CheckStatus.FAIL,
                                       detail=mask(f"the shop refused the API key: {reason}"), fix=KEY_FIX))
            return results
        results.append(CheckResult(name="shop.credentials", status=CheckStatus.OK, detail="the API key is accepted"))
        missing = []
        if (scope := _missing_scope(read)) is not None:
            missing.append(f"clients: read ({scope})")
        if o.check_write_scope:
            try:
                probe = client.put(api, json={"params": {"clients": []}})
            except httpx.HTTPError as exc:
                missing.append(mask(f"clients: write not probed ({type(exc).__name__})"))
            else:
                if (scope := _missing_scope(probe)) is not None:
                    missing.append(f"clients: write ({scope})")
        if missing:
            results.append(CheckResult(name="shop.scopes", status=CheckStatus.FAIL,
                                       detail="the key lacks " + "; ".join(missing), fix=SCOPE_FIX))
        else:
            probed = "read and write" if o.check_write_scope else "read (write not probed: check_write_scope = false)"
            results.append(CheckResult(name="shop.scopes", status=CheckStatus.OK, detail=f"clients: {probed}"))
    return results


def _clock(date: str | None, sent: datetime, received: datetime) -> CheckResult:
    skew = clock_skew(date, sent, received)
    if skew is None:
        return CheckResult(name="shop.clock", status=CheckStatus.WARN, detail="the shop sent no Date header",
                           fix="nothing to do unless times in the shop look wrong")
    ahead = "ahead of" if skew > 0 else "behind"
    detail = f"the shop's clock is {abs(skew):.0f} s {ahead} this machine's (Date: {date})"
    status = (CheckStatus.FAIL if abs(skew) > CLOCK_FAIL else CheckStatus.WARN if abs(skew) > CLOCK_WARN
              else CheckStatus.OK)
    return CheckResult(name="shop.clock", status=status, detail=detail,
                       fix="synchronise this machine's clock: Windows `w32tm /resync` (time service on), Linux "
                           "`timedatectl set-ntp true` (chrony/systemd-timesyncd); if this machine is right, "
                           "tell the shop's host")
