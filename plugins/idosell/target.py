"""The IdoSell target: writes ERP trade credit to IdoSell customer accounts through the Admin API.

* match: ERP customer code = the shop's ``clientCodeExternal``; ``GET clients/clients`` in pages of ≤ 100 codes;
  code → ``clientLogin``/``clientId`` cached in the state store (namespace ``match``).
* payload: ``clientLogin``, ``clientTradeCreditLimitExternal``, ``clientBalanceAmountExternal`` (amounts as
  decimal strings in the ledger, JSON numbers on the wire), mapped from the engine's ``effective_credit``: the
  target decides no rule itself. Only ERP-booked debt is sent: the shop adds its own trade-credit orders not
  yet taken over by the ERP (seed 000). Customers in another currency than the shop's are ``unsupported``.
* write: one ``PUT clients/clients`` per batch, ``requestReference`` = ERP code, mail and SMS notifications off;
  200/207 parsed per item; logins the shop no longer knows are re-matched and written once more in the same
  batch. Retries, ``Retry-After`` and 401/403 live in ``tradecredit.core.http``.
* read back (``verify``, ``current`` for the dry-run preview, ``check``'s currency line): ``GET clients/clients``
  with ``clientTradeCredit``; the shop returns the limit and its currency but never the external balance.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, ClassVar, Literal
from urllib.parse import urlsplit

import httpx
from pydantic import Field, ValidationInfo, field_validator, model_validator
from tradecredit.sdk import (
    BILLING,
    CREDIT,
    DEFAULT_POLICY,
    ZERO,
    AdapterContext,
    AuthError,
    BillingRecord,
    CheckResult,
    CheckStatus,
    ConfigError,
    ControlMode,
    CreditPolicy,
    CreditRecord,
    Currency,
    EffectiveCredit,
    HttpClient,
    ItemResult,
    ItemStatus,
    ModeMapping,
    OutgoingItem,
    PluginOptions,
    RetryPolicy,
    Secret,
    Target,
    TransientError,
    Unsupported,
    ValueReason,
    check_lengths,
    degrade_mode,
    effective_credit,
    mask,
    normalise_code,
    to_money,
)

from .models import BILLING_ADDRESS_FIELDS, BILLING_FIELDS, BILLING_MAX_LENGTHS, MAX_ELEMENTS

log = logging.getLogger(__name__)

CLIENTS = "clients/clients"
MATCH_NAMESPACE = "match"
DEFAULT_UNLIMITED = Decimal("999999999.99")
# How the shop says "this login does not exist" inside a PUT batch is not documented (open question 4):
# these patterns cover the sandbox and the wording seen in IdoSell's own messages.
UNKNOWN_LOGIN = re.compile(r"(does not exist|not exist|unknown|not found|nie istnieje|brak klienta)", re.I)


REMOVED_OPTIONS = {
    "none_limit": 'removed: every target treats "no limit granted" the same, set it for all in [engine] no_limit '
                  '("zero" → "no_credit", "unlimited" → "unrestricted")',
    "overdue_block": "removed: a breached overdue rule under BLOCK always leaves no credit in IdoSell, as in every "
                     "other target (delete the option)",
}


def _fold(text: str) -> str:
    return " ".join(text.replace("województwo", "").split()).casefold()


def polish_provinces() -> dict[str, str]:
    """Folded voivodeship name → its ISO 3166-2 code (``mazowieckie`` → ``PL-14``), from pycountry [I]."""
    import pycountry

    return {_fold(sub.name): sub.code for sub in pycountry.subdivisions.get(country_code="PL") or ()}


class IdoSellOptions(PluginOptions):
    base_url: str = Field(description="the shop's address, https://{shop-domain}")
    allow_insecure_http: bool = Field(
        False, description="accept an http:// base_url (the API key then travels in clear text; warned every run)",
    )
    api_key: Secret = Field(description="Admin API key, sent as X-API-KEY")
    api_version: str = Field("v6", pattern=r"^v\d+(\.\d+)?$")
    timeout: float = Field(30.0, gt=0, description="read timeout of one request, seconds")
    connect_timeout: float = Field(10.0, gt=0)
    batch_size: int = Field(100, ge=1, le=MAX_ELEMENTS, description="clients per PUT (≤ 100)")
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    currency: Currency = Field("PLN", description="the shop's currency of the external amounts (open question 3); "
                                                  "customers in another currency are reported as unsupported")
    balance_sign: Literal["negative", "positive"] = Field(
        "negative", description="negative: a customer owing 100 is sent as -100 (open question 2)"
    )
    unlimited_amount: Decimal = Field(DEFAULT_UNLIMITED, gt=0, description="the limit sent for 'no cap'")
    allow_mode: Literal["limit", "unlimited"] = Field(
        "limit",
        description="limit: every customer gets the ERP's limit, whatever the ERP mode (IdoSell refuses orders over "
        "it, also for ALLOW/WARN customers); unlimited (opt-in): ALLOW customers, and WARN ones degraded to allow, "
        "get unlimited_amount and the shop never refuses them",
    )
    mode_policy: dict[ControlMode, ControlMode] = Field(
        default_factory=dict,
        description="how ERP modes IdoSell cannot enforce are mapped (engine default: warn → allow when "
        "allow_mode = unlimited, else block)",
    )
    # Removed options: named, with what replaces them, instead of a bare "unknown option".
    none_limit: Any = Field(None, exclude=True, description="removed: see [engine] no_limit")
    overdue_block: Any = Field(None, exclude=True, description="removed: the engine's overdue rule always applies")
    verify: bool = Field(False, description="read written clients back; fail items whose login, limit or "
                                            "currency differs (the balance cannot be read back)")
    check_write_scope: bool = Field(True, description="check probes the write scope with an empty PUT")
    # Billing data (pipelines with sync = ["credit", "billing"]; docs/billing.md).
    billing_fields: list[str] = Field(
        default_factory=lambda: list(BILLING_FIELDS),
        description="the billing fields sent (the others are left as the shop has them)",
    )
    billing_max_lengths: dict[str, int] = Field(
        default_factory=dict, description="field → maximum length, over the defaults (the v6 spec states none)",
    )
    nip_with_prefix: bool = Field(True, description="clientNip with its country prefix (PL5260250274) or without")
    province_codes: dict[str, str] = Field(
        default_factory=dict,
        description="ERP region (województwo) → clientProvinceId, over the built-in ISO 3166-2 codes of the Polish "
        "voivodeships; a region missing from both is not sent",
    )

    @field_validator("billing_fields")
    @classmethod
    def _fields(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("names a field twice")
        wrong = [k for k in v if k not in BILLING_FIELDS]
        if wrong:
            raise ValueError(f"unknown billing fields: {', '.join(wrong)} (known: {', '.join(BILLING_FIELDS)})")
        return v

    @field_validator("billing_max_lengths")
    @classmethod
    def _lengths(cls, v: dict[str, int]) -> dict[str, int]:
        wrong = [k for k in v if k not in BILLING_MAX_LENGTHS]
        if wrong:
            raise ValueError(f"not text billing fields: {', '.join(wrong)} (known: {', '.join(BILLING_MAX_LENGTHS)})")
        if any(n < 1 for n in v.values()):
            raise ValueError("lengths must be at least 1")
        return v

    @field_validator("base_url")
    @classmethod
    def _url(cls, v: str) -> str:
        parts = urlsplit(v.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in v.strip()):
            raise ValueError(f"{v!r} must be https://{{shop-domain}}")
        if parts.path.strip("/") or parts.query or parts.fragment or parts.username or parts.password:
            raise ValueError(f"{mask(v)!r}: give the shop's address only, https://{{shop-domain}} — no path, query, "
                             "fragment or user (the API path is added by tradecredit)")
        return f"{parts.scheme}://{parts.netloc}"

    @model_validator(mode="after")
    def _https(self) -> IdoSellOptions:
        # A loopback shop (the sandbox, a tunnel's local end) never puts the key on the network.
        if self.base_url.startswith("http://") and not self.allow_insecure_http and not _loopback(self.base_url):
            raise ValueError(f"base_url {self.base_url!r} is http://: the API key would travel in clear text; use "
                             "https://, or set allow_insecure_http = true for a test shop on your own machine")
        return self

    @field_validator("unlimited_amount")
    @classmethod
    def _amount(cls, v: Decimal) -> Decimal:
        return to_money(v)

    @field_validator("none_limit", "overdue_block")
    @classmethod
    def _removed(cls, v: Any, info: ValidationInfo) -> Any:
        if v is not None:
            raise ValueError(REMOVED_OPTIONS[str(info.field_name)])
        return v

    @model_validator(mode="after")
    def _policy_fits(self) -> IdoSellOptions:
        modes = supported_modes(self.allow_mode)
        wrong = [f"{k.value} → {v.value}" for k, v in self.mode_policy.items() if v not in modes]
        if wrong:
            raise ValueError(f"mode_policy {', '.join(wrong)}: with allow_mode = {self.allow_mode!r} IdoSell enforces "
                             f"only {', '.join(sorted(m.value for m in modes))}"
                             + ('; set allow_mode = "unlimited" to let orders over the limit through'
                                if self.allow_mode == "limit" else ""))
        return self


def _loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    return host == "localhost" or host == "::1" or host.startswith("127.")


def supported_modes(allow_mode: str) -> frozenset[ControlMode]:
    """IdoSell has a limit and nothing else: it blocks. ALLOW is expressible only by lifting the limit (opt-in)."""
    return frozenset({ControlMode.BLOCK, ControlMode.ALLOW}) if allow_mode == "unlimited" else frozenset(
        {ControlMode.BLOCK})


AMOUNT_FIELDS = ("clientTradeCreditLimitExternal", "clientBalanceAmountExternal")
# What verify, current and check read back: the shop has no read-side field for clientBalanceAmountExternal.
READ_ELEMENTS = "clientId,clientLogin,clientTradeCredit"


def _wire(payload: dict[str, Any]) -> dict[str, Any]:
    """Ledger payload → request JSON: the decimal-string amounts become JSON numbers (the spec's ``number``),
    written digit for digit as the ledger holds them (the HTTP layer encodes ``Decimal`` exactly, no float)."""
    return {k: Decimal(v) if k in AMOUNT_FIELDS else v for k, v in payload.items()}


class IdoSellTarget(Target[IdoSellOptions]):
    """IdoSell shops (Admin API v6+)."""

    description: ClassVar[str] = "IdoSell shop: clientTradeCreditLimitExternal / clientBalanceAmountExternal"
    max_batch_size: ClassVar[int] = MAX_ELEMENTS
    # IdoSell has only a limit: it blocks. ALLOW can be expressed by lifting the limit (allow_mode = "unlimited",
    # opt-in); WARN has no counterpart and is degraded by ``mode_policy``.
    native_modes: ClassVar[frozenset[ControlMode]] = frozenset({ControlMode.BLOCK, ControlMode.ALLOW})
    # The login addresses the account; it is not a value the merchant reviews in a dry-run plan.
    identity_fields: ClassVar[frozenset[str]] = frozenset({"clientLogin"})
    kinds: ClassVar[frozenset[str]] = frozenset({CREDIT, BILLING})

    def __init__(self, options: IdoSellOptions, context: AdapterContext) -> None:
        super().__init__(options, context)
        self._http: HttpClient | None = None
        self._provinces = {**polish_provinces(), **{_fold(k): v for k, v in options.province_codes.items()}}
        self._max_lengths = {**BILLING_MAX_LENGTHS, **options.billing_max_lengths}

    # --- HTTP ---------------------------------------------------------------------------------------------
    @property
    def http(self) -> HttpClient:
        if self._http is None:
            o = self.options
            if o.base_url.startswith("http://") and not _loopback(o.base_url):
                log.warning("base_url %s is http:// (allow_insecure_http = true): the API key travels in clear "
                            "text; use https:// for a real shop", o.base_url)
            self._http = HttpClient(
                f"{o.base_url}/api/admin/{o.api_version}/",
                headers={"X-API-KEY": o.api_key.get_secret_value(), "Content-Type": "application/json"},
                timeout=o.timeout, connect_timeout=o.connect_timeout, retry=o.retry,
                transport=self.context.extras.get("transport") if self.context else None,
            )
        return self._http

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    @property
    def policy(self) -> CreditPolicy:
        """``[engine]`` of the config (the engine's defaults for a target built without a host context)."""
        return self.context.policy if self.context is not None else DEFAULT_POLICY

    def supported_modes(self) -> frozenset[ControlMode]:
        return supported_modes(self.options.allow_mode)

    def unsupported(self, record: CreditRecord) -> Unsupported | None:
        if record.currency == self.options.currency:
            return None
        return Unsupported(reason=(
            f"currency {record.currency}: the shop's external amounts are in {self.options.currency} and carry no "
            "currency (IdoSell cannot hold this customer's credit; option 'currency')"))

    def _get_clients(self, params: dict[str, Any], what: str) -> list[dict[str, Any]]:
        """All result pages of ``GET clients/clients``; an empty result (faultCode 2) is an empty list.

        Paging is bounded: a page that brings no row not seen before (a shop ignoring ``resultsPage`` answers
        page 0 again and again, with a page count that never ends) stops the loop, and so does ``MAX_PAGES``.
        """
        out: list[dict[str, Any]] = []
        seen: set[str] = set()
        page = 0
        while True:
            response = self.http.request("GET", CLIENTS, params={**params, "resultsPage": page,
                                                                 "resultsLimit": MAX_ELEMENTS}, what=what)
            body = self._json(response, what)
            rows = _rows(body.get("results"), what)
            pages = _page_count(body.get("resultsNumberPage"), what)
            fresh = [r for r in rows if _identity(r) not in seen]
            seen.update(_identity(r) for r in fresh)
            out.extend(fresh)
            page += 1
            if page >= pages or not rows:
                return out
            if not fresh or page >= MAX_PAGES:
                log.warning("%s: the shop announces %d result pages but page %d brought no new client (it ignores "
                            "resultsPage?); stopped after %d request(s)", what, pages, page - 1, page)
                return out

    @staticmethod
    def _json(response: httpx.Response, what: str) -> dict[str, Any]:
        if response.status_code == 404:
            raise ConfigError(f"{what}: HTTP 404 — check base_url and api_version ({mask(response.url)})")
        if response.status_code not in (200, 207):
            raise TransientError(f"{what}: HTTP {response.status_code}: {mask(_shop_message(response))}")
        body = _parse_json(response)
        if body is None:
            raise TransientError(f"{what}: the shop answered with invalid JSON "
                                 f"({_content_type(response)}, {len(response.content)} bytes)")
        if not isinstance(body, dict):
            raise TransientError(f"{what}: the shop's answer is a JSON {type(body).__name__}, not an object")
        return body

    # --- matching -----------------------------------------------------------------------------------------
    def match(self, codes: list[str]) -> dict[str, dict[str, Any]]:
        cache = self.context.cache if self.context else None
        wanted = list(dict.fromkeys(codes))
        found: dict[str, dict[str, Any]] = {}
        if cache is not None:
            found.update(cache.get_many(MATCH_NAMESPACE, wanted))
        missing = [c for c in wanted if c not in found and "," not in c]
        skipped = [c for c in wanted if "," in c]
        if skipped:
            log.warning("%d code(s) contain a comma and cannot be looked up in IdoSell: %s", len(skipped),
                        ", ".join(skipped[:5]))
        fresh: dict[str, dict[str, Any]] = {}
        for start in range(0, len(missing), MAX_ELEMENTS):
            chunk = missing[start:start + MAX_ELEMENTS]
            by_key: dict[str, list[str]] = {}
            for code in chunk:
                by_key.setdefault(normalise_code(code), []).append(code)
            accounts: dict[str, list[dict[str, Any]]] = {}
            rows = self._get_clients(
                {"clientCodesExternal": ",".join(chunk), "returnElements": "clientId,clientLogin,clientCodeExternal"},
                "match customers",
            )
            for row in rows:
                key = normalise_code(str(row.get("clientCodeExternal") or ""))
                if key in by_key and row.get("clientLogin"):
                    accounts.setdefault(key, []).append(row)
            for key, rows_for_key in accounts.items():
                if len(rows_for_key) > 1:
                    logins = ", ".join(str(r["clientLogin"]) for r in rows_for_key)
                    log.warning("code %s is the external code of %d shop accounts (%s); left unmatched",
                                by_key[key][0], len(rows_for_key), logins)
                    continue
                row = rows_for_key[0]
                for code in by_key[key]:
                    fresh[code] = {"clientLogin": str(row["clientLogin"]), "clientId": row.get("clientId")}
        if cache is not None and fresh:
            cache.put_many(MATCH_NAMESPACE, fresh)
        found.update(fresh)
        return {c: found[c] for c in wanted if c in found}

    def forget_matches(self, codes: list[str]) -> None:
        if self.context is not None and self.context.cache is not None and codes:
            self.context.cache.delete(MATCH_NAMESPACE, codes)

    # --- payload ------------------------------------------------------------------------------------------
    def payload(self, record: CreditRecord, match: dict[str, Any], mode: ModeMapping) -> dict[str, Any]:
        limit, balance, _ = self.shop_values(record, mode)
        return {
            "clientLogin": str(match["clientLogin"]),
            "clientTradeCreditLimitExternal": format(limit, "f"),
            "clientBalanceAmountExternal": format(balance, "f"),
        }

    def billing_payload(self, billing: BillingRecord, match: dict[str, Any]) -> dict[str, Any]:
        """The billing fields of ``billing_fields`` that the ERP has a value for (an empty ERP value is not sent:
        the shop keeps its own). A value longer than the shop accepts rejects the customer's billing data."""
        tax_id = billing.tax_id
        if tax_id and not self.options.nip_with_prefix and tax_id[:2].isalpha():
            tax_id = tax_id[2:]
        region = self._provinces.get(_fold(billing.region)) if billing.region else None
        values: dict[str, Any] = {  # the mapping table is in docs/billing.md
            "clientFirm": billing.name, "clientNip": tax_id, "clientStreet": billing.street,
            "clientZipCode": billing.postal_code, "clientCity": billing.city, "clientCountryId": billing.country,
            "clientProvinceId": region, "clientPhone1": billing.phone, "clientEmail": billing.email,
            "numberOfDaysToPay": billing.payment_days,
        }
        chosen = {k: v for k, v in values.items() if k in self.options.billing_fields and v is not None}
        check_lengths(chosen, self._max_lengths)
        return {"clientLogin": str(match["clientLogin"]), **chosen}
    def value_reasons(self, record: CreditRecord, mode: ModeMapping) -> dict[str, ValueReason]:
        """The limit is the engine's shop limit, the balance its shop debt: each carries that value's reason."""
        decided = self.shop_values(record, mode)[2]
        return {"clientTradeCreditLimitExternal": decided.shop_limit_reason,
                "clientBalanceAmountExternal": decided.shop_debt_reason}

    def shop_values(self, record: CreditRecord, mode: ModeMapping) -> tuple[Decimal, Decimal, EffectiveCredit]:
        """(limit, balance) IdoSell gets, mapped from the engine's decision, and that decision (with its reasons).

        The mapping only: "no cap" is ``unlimited_amount``, the debt is signed by ``balance_sign``. Every rule
        (limit states, the overdue block, what ALLOW means) is ``effective_credit``'s.
        """
        o = self.options
        decided = effective_credit(record, self.policy, mode=mode.effective)
        limit = o.unlimited_amount if decided.shop_limit is None else decided.shop_limit
        balance = -decided.shop_debt if o.balance_sign == "negative" else decided.shop_debt
        return to_money(limit), to_money(balance) + ZERO, decided

    def limit_for(self, record: CreditRecord, mode: ModeMapping) -> Decimal:
        """The limit IdoSell gets (see ``shop_values`` and docs/plugins/idosell.md)."""
        return self.shop_values(record, mode)[0]

    # --- reading accounts back (verify, current, check) ----------------------------------------------------
    def _read_accounts(self, matches: Mapping[str, Mapping[str, Any]], what: str,
                       elements: str = READ_ELEMENTS) -> dict[str, dict[str, Any]]:
        """code → the shop's row (``clientId``, ``clientLogin``, ``clientTradeCredit``) of the matched account.

        Looked up by ``clientId`` (cached by ``match``), by code when an id is missing; a row belongs to a code
        only when its login is the matched one, so a renamed or re-linked account reads as "not found".
        """
        out: dict[str, dict[str, Any]] = {}
        codes = list(matches)
        for start in range(0, len(codes), MAX_ELEMENTS):
            chunk = codes[start:start + MAX_ELEMENTS]
            if all(matches[c].get("clientId") is not None for c in chunk):
                query = {"clientsIds": ",".join(str(matches[c]["clientId"]) for c in chunk)}
            else:
                query = {"clientCodesExternal": ",".join(chunk)}
            rows = self._get_clients({**query, "returnElements": elements}, what)
            by_login = {str(r.get("clientLogin")): r for r in rows if r.get("clientLogin")}
            for code in chunk:
                row = by_login.get(str(matches[code].get("clientLogin")))
                if row is not None:
                    out[code] = row
        return out

    def current(self, items: list[OutgoingItem]) -> dict[str, dict[str, Any]]:
        """What the shop holds now: the login, the limit and, for billing, ``clientBillingAddress`` and the e-mail.
        The balance and ``numberOfDaysToPay`` are not readable (see the docs): they show as unknown."""
        billing = any(BILLING in i.kind_parts() for i in items)
        elements = READ_ELEMENTS + ("," + ",".join(BILLING_FIELDS[:-1]) if billing else "")
        rows = self._read_accounts({i.code: i.match for i in items}, "read current values", elements)
        out: dict[str, dict[str, Any]] = {}
        for item in items:
            row = rows.get(item.code)
            if row is None:
                continue  # the matched account is not there under that login: everything unknown
            values: dict[str, Any] = {"clientLogin": str(row["clientLogin"])}
            limit = _shown_limit(row)
            if limit is not None:
                values["clientTradeCreditLimitExternal"] = format(limit, "f")
            if billing:
                address = row.get("clientBillingAddress")
                address = address if isinstance(address, dict) else {}
                values.update({k: address[k] for k in BILLING_ADDRESS_FIELDS if address.get(k) is not None})
                if row.get("clientEmail") is not None:
                    values["clientEmail"] = row["clientEmail"]
            out[item.key] = values
        return out

    # --- writing ------------------------------------------------------------------------------------------
    def write(self, items: list[OutgoingItem]) -> list[ItemResult]:
        if not items:
            return []
        results = self._put(items)
        written = {i.key: i for i in items}
        stale = [i for i in items if results[i.key].stale_match]
        if stale:
            moved, retried = self._rematch(stale, results)
            written.update(moved)
            results.update(retried)
        if self.options.verify:
            results = self._verify(list(written.values()), results)
        return [results[i.key] for i in items]

    def _put(self, items: list[OutgoingItem]) -> dict[str, ItemResult]:
        """One ``PUT clients/clients``; item key → the shop's verdict."""
        body = {
            "params": {"clients": [
                {**_wire(item.payload), "requestReference": item.code} for item in items
            ]},
            "clientsSettings": {"clientSettingSendMail": False, "clientSettingSendSms": False},
        }
        what = f"PUT {CLIENTS} ({len(items)} client(s))"
        response = self.http.request("PUT", CLIENTS, json=body, what=what)
        if response.status_code not in (200, 207):
            # 422 and other 4xx: the shop refused the whole request; 5xx/429 were retried by the HTTP layer.
            message = mask(f"HTTP {response.status_code}: {_shop_message(response)}")
            return {i.key: ItemResult(key=i.key, status=ItemStatus.FAILED, error=message) for i in items}
        data = _parse_json(response)
        if data is None:
            error = f"the shop answered with invalid JSON ({_content_type(response)}, {len(response.content)} bytes)"
            return {i.key: ItemResult(key=i.key, status=ItemStatus.FAILED, error=error) for i in items}
        return self._pair(items, data)

    def _rematch(self, stale: list[OutgoingItem], first: Mapping[str, ItemResult]
                 ) -> tuple[dict[str, OutgoingItem], dict[str, ItemResult]]:
        """The shop does not know these logins: match the codes again and write once more to the new accounts.

        Returns the items as re-addressed (for verify) and their new results. Customers whose code now finds
        no account, or the same login again, keep their failure (``stale_match``: the cache entry is dropped).
        A failure of the re-match or of the second write keeps the first answer: the next run re-matches them.
        """
        codes = [i.code for i in stale]
        self.forget_matches(codes)
        try:
            fresh = self.match(codes)
        except (TransientError, ConfigError) as exc:
            log.warning("could not re-match %d customer(s) with unknown logins: %s", len(codes), mask(exc))
            return {}, {}
        moved: dict[str, OutgoingItem] = {}
        results: dict[str, ItemResult] = {}
        for item in stale:
            match = fresh.get(item.code)
            if match is None:
                results[item.key] = first[item.key].model_copy(update={"error": mask(
                    f"{first[item.key].error}; re-matching found no account with clientCodeExternal {item.code!r}")})
            elif match["clientLogin"] != item.match.get("clientLogin"):
                # Only the address changes: the item's payload (credit, billing or both) goes to the new login.
                login = str(match["clientLogin"])
                moved[item.key] = item.model_copy(update={
                    "match": match, "payload": {**item.payload, "clientLogin": login},
                    "parts": {k: {**p, "clientLogin": login} for k, p in item.parts.items()}})
        if not moved:
            return moved, results
        log.info("re-matched %d customer(s) whose shop login changed: %s", len(moved), ", ".join(
            f"{i.code} → {i.match['clientLogin']}" for i in list(moved.values())[:10]))
        try:
            second = self._put(list(moved.values()))
            # the ledger must hold the payload with the new login, or the next run would send it once more
            results.update({key: r.model_copy(update={"written_payload": moved[key].payload})
                            if r.status is ItemStatus.CONFIRMED and key in moved else r for key, r in second.items()})
        except TransientError as exc:
            # The first PUT's confirmations stand; only the re-addressed customers wait for the next run.
            results.update({key: ItemResult(key=key, status=ItemStatus.FAILED, error=mask(
                f"re-matched to login {item.match['clientLogin']!r}, but the write failed: {exc}"))
                for key, item in moved.items()})
        return moved, results

    def _pair(self, items: list[OutgoingItem], data: Any) -> dict[str, ItemResult]:
        """The shop's verdict per item, each row tied to its item by an identity the row itself carries.

        ``requestReference`` (the ERP code we sent), else the ``clientId`` or ``clientLogin`` the shop echoes.
        Never by position: a 207 whose rows are reordered would record a refused customer as confirmed. An item
        no row provably belongs to is failed (and sent again next run).
        """
        rows = data.get("results") if isinstance(data, dict) else None
        rows = [r for r in rows if isinstance(r, dict)] if isinstance(rows, list) else []
        by_ref: dict[str, list[dict[str, Any]]] = {}
        by_id: dict[str, list[dict[str, Any]]] = {}
        by_login: dict[str, list[dict[str, Any]]] = {}
        for r in rows:
            result = r.get("clientsResult")
            result = result if isinstance(result, dict) else {}
            if result.get("requestReference") is not None:
                by_ref.setdefault(str(result["requestReference"]), []).append(r)
            else:
                if result.get("clientId") is not None:
                    by_id.setdefault(str(result["clientId"]), []).append(r)
                login = result.get("clientLogin", r.get("clientLogin"))
                if login is not None:
                    by_login.setdefault(str(login), []).append(r)
        top = data.get("errors") if isinstance(data, dict) else None
        top_message = ""
        if isinstance(top, dict) and top.get("faultCode"):
            top_message = f"{top.get('faultCode')}: {top.get('faultString', '')}"
        out: dict[str, ItemResult] = {}
        for item in items:
            row = None
            for index, key in ((by_ref, item.code), (by_id, item.match.get("clientId")),
                               (by_login, item.payload.get("clientLogin"))):
                found = index.get(str(key)) if key is not None else None
                if found:
                    # two rows claiming one customer: which verdict is its own cannot be told
                    row = found[0] if len(found) == 1 else None
                    break
            if row is None:
                error = f"the shop's answer did not mention this customer{f' ({top_message})' if top_message else ''}"
                out[item.key] = ItemResult(key=item.key, status=ItemStatus.FAILED, error=mask(error))
                continue
            raw_errors = row.get("errors")
            errors = [e for e in raw_errors if isinstance(e, dict)] if isinstance(raw_errors, list) else []
            if row.get("resultStatus") is True and not raw_errors:
                out[item.key] = ItemResult(key=item.key, status=ItemStatus.CONFIRMED)
            else:
                text = "; ".join(f"{e.get('faultCode')}: {e.get('faultString', '')}" for e in errors) or "rejected"
                stale = any(UNKNOWN_LOGIN.search(str(e.get("faultString", ""))) for e in errors)
                out[item.key] = ItemResult(key=item.key, status=ItemStatus.FAILED, stale_match=stale,
                                           error=mask(f"the shop refused the update: {text}"))
        return out

    def _verify(self, items: list[OutgoingItem], results: dict[str, ItemResult]) -> dict[str, ItemResult]:
        """Read confirmed clients back; fail those where anything the shop shows differs from what was written.

        Comparable: the account under the written ``clientLogin``, the limit (``clientTradeCreditLimit``) and
        the currency the shop keeps the account's trade credit in (the amounts were sent in ``currency``).
        ``clientBalanceAmountExternal`` is not returned by the shop, so it cannot be verified; neither can
        ``numberOfDaysToPay``. Billing fields written are compared with ``clientBillingAddress``/``clientEmail``.
        """
        confirmed = [i for i in items if results[i.key].status is ItemStatus.CONFIRMED]
        if not confirmed:
            return results
        billing = any(BILLING in i.kind_parts() for i in confirmed)
        elements = READ_ELEMENTS + ("," + ",".join(BILLING_FIELDS[:-1]) if billing else "")
        rows = self._read_accounts({i.code: i.match for i in confirmed}, "verify written clients", elements)
        out = dict(results)
        for item in confirmed:
            problems = _differences(item, rows.get(item.code), self.options.currency)
            if problems:
                out[item.key] = ItemResult(key=item.key, status=ItemStatus.FAILED,
                                           error=mask("verify: " + "; ".join(problems)))
        return out

    # --- check --------------------------------------------------------------------------------------------
    def check(self, codes: list[str] | None = None) -> list[CheckResult]:
        o = self.options
        results: list[CheckResult] = []
        try:
            response = self.http.request("GET", CLIENTS, params={"resultsLimit": 1, "returnElements": "clientId"},
                                         what="check read access")
            if response.status_code == 404:
                return [CheckResult(name="api", status=CheckStatus.FAIL,
                                    detail=f"API {o.api_version} not found at {mask(o.base_url)}")]
            if response.status_code not in (200, 207):
                return [CheckResult(name="api", status=CheckStatus.FAIL,
                                    detail=mask(f"HTTP {response.status_code}: {_shop_message(response)}"))]
            results.append(CheckResult(name="api", status=CheckStatus.OK,
                                       detail=f"Admin API {o.api_version} reachable; key accepted (clients: read)"))
            if o.check_write_scope:
                results.append(self._check_write_scope())
        except AuthError as exc:
            return [*results, CheckResult(name="credentials", status=CheckStatus.FAIL, detail=mask(exc))]
        except TransientError as exc:
            return [*results, CheckResult(name="api", status=CheckStatus.FAIL, detail=mask(exc))]
        if codes is not None:
            results.extend(self._check_matching(codes))
        results.extend(self.policy_report())
        if BILLING in self.context.sync:
            results.append(self._billing_report())
        return results

    def _billing_report(self) -> CheckResult:
        """What billing data the pipeline sends, and the assumed limits (the v6 spec states no lengths)."""
        o = self.options
        lengths = ", ".join(f"{k} {n}" for k, n in self._max_lengths.items() if k in o.billing_fields)
        return CheckResult(name="billing data", status=CheckStatus.OK, detail=(
            f"sent in the credit PUT: {', '.join(o.billing_fields)}; empty ERP values are not sent; maximum lengths "
            f"(assumed, option billing_max_lengths): {lengths}; clientNip {'with' if o.nip_with_prefix else 'without'}"
            " its country prefix; numberOfDaysToPay cannot be read back (a dry run shows its old value as unknown)"))

    def diagnose(self) -> list[CheckResult]:
        from .diagnose import diagnose

        return diagnose(self.options, self.context.extras.get("transport") if self.context else None)

    def _check_write_scope(self) -> CheckResult:
        """Probe ``clients: write`` with an empty ``PUT`` (it changes nothing).

        Only an answer the shop gives after processing the call (200/207, e.g. faultCode 3 "No parameters")
        proves the scope; 401/403 raise ``AuthError``; anything else leaves the scope unproven.
        """
        response = self.http.request("PUT", CLIENTS, json={"params": {"clients": []}}, what="check write access")
        status = response.status_code
        if status in (200, 207):
            return CheckResult(name="write scope", status=CheckStatus.OK,
                               detail=f"clients: write accepted (an empty update was answered with HTTP {status})")
        detail = mask(f"HTTP {status}: {_shop_message(response)}")
        if status == 404:
            return CheckResult(name="write scope", status=CheckStatus.FAIL,
                               detail=f"PUT {CLIENTS} not found ({detail}); check base_url and api_version")
        return CheckResult(name="write scope", status=CheckStatus.WARN,
                           detail=f"clients: write not confirmed — the shop answered the empty probe update with "
                                  f"{detail}; the first real write will tell")

    def _check_matching(self, codes: list[str]) -> list[CheckResult]:
        """How many codes match an account and, for the matched, which currency the shop keeps their credit in."""
        try:
            matched = self.match(codes)
        except (AuthError, TransientError, ConfigError) as exc:
            return [CheckResult(name="match", status=CheckStatus.FAIL, detail=mask(exc))]
        unmatched = [c for c in codes if c not in matched]
        detail = f"{len(matched)} of {len(codes)} ERP customer(s) match a shop account by clientCodeExternal"
        if unmatched:
            detail += f"; unmatched: {_first(unmatched)}"
        lines = [CheckResult(name="match", status=CheckStatus.WARN if unmatched else CheckStatus.OK, detail=detail)]
        if matched:
            lines.append(self._check_currency(matched))
        return lines

    def _check_currency(self, matched: Mapping[str, Mapping[str, Any]]) -> CheckResult:
        # ``check`` gets codes, not records, so the ERP currencies are unknown here; what the shop says per
        # account tells which customers' records are likely in another currency — those are rejected by payload.
        currency = self.options.currency
        try:
            rows = self._read_accounts(matched, "check account currencies")
        except (AuthError, TransientError, ConfigError) as exc:
            return CheckResult(name="currency", status=CheckStatus.WARN,
                               detail=mask(f"could not read the matched accounts' currency: {exc}"))
        other: dict[str, list[str]] = {}
        for code, row in rows.items():
            shown = _credit(row).get("currencyId")
            if shown and str(shown).upper() != currency:
                other.setdefault(str(shown).upper(), []).append(code)
        if not other:
            return CheckResult(name="currency", status=CheckStatus.OK, detail=(
                f"the matched accounts keep trade credit in {currency} (option currency); ERP customers in "
                "another currency are reported as unsupported, not written"))
        found = "; ".join(f"{cur}: {len(cs)} ({_first(cs)})" for cur, cs in sorted(other.items()))
        return CheckResult(name="currency", status=CheckStatus.WARN, detail=(
            f"accounts keeping trade credit in another currency than {currency} — {found}. Their ERP records, if "
            f"in that currency, are unsupported (IdoSell's external amounts carry no currency); records in "
            f"{currency} are written and the shop shows them in the account's currency"))

    def policy_report(self) -> list[CheckResult]:
        """The mapping in effect: how each ERP mode reaches IdoSell, the policy and what IdoSell cannot do."""
        o = self.options
        policy = self.policy
        lines = []
        how = {ControlMode.BLOCK: "the ERP's limit is sent; the shop refuses trade-credit orders over it",
               ControlMode.ALLOW: f"the limit is lifted to {o.unlimited_amount} (allow_mode = \"unlimited\"); the "
                                  "shop never refuses"}
        for mode in ControlMode:
            mapping = degrade_mode(mode, self.supported_modes(), self.mode_policy())
            hint = ""
            if mapping.degraded and o.allow_mode == "limit" and mode is not ControlMode.BLOCK:
                hint = ' (IdoSell cannot let orders over the limit through; allow_mode = "unlimited" lifts the limit)'
            lines.append(CheckResult(
                name=f"mode {mode.value}", status=CheckStatus.WARN if mapping.degraded else CheckStatus.OK,
                detail=f"{mapping.describe()}; {how[mapping.effective]}{hint}",
            ))
        lines.append(CheckResult(
            name="policy", status=CheckStatus.OK,
            detail=(f"assumed: debt sent as {'-' if o.balance_sign == 'negative' else '+'}debt, amounts in "
                    f"{o.currency} (other currencies: unsupported); [engine] no_limit = {policy.no_limit.value}, "
                    f"lapsed_limit = {policy.lapsed_limit.value}; no cap (unlimited, no limit rule) → "
                    f"{o.unlimited_amount}; overdue breached under BLOCK → limit 0, balance ≥ 0 (no credit left)"),
        ))
        stale = policy.stale
        lines.append(CheckResult(
            name="stale data", status=CheckStatus.WARN if stale.fallback.value != "decide" else CheckStatus.OK,
            detail=("IdoSell decides at checkout on the last values written and cannot apply [engine] "
                    f"stale_fallback = {stale.fallback.value!r} itself: when syncing stops, the shop keeps deciding "
                    "on old data (watch the pipeline's freshness line)"),
        ))
        return lines


def _first(codes: list[str], n: int = 10) -> str:
    return ", ".join(codes[:n]) + (" …" if len(codes) > n else "")


def _credit(row: Mapping[str, Any]) -> Mapping[str, Any]:
    credit = row.get("clientTradeCredit")
    return credit if isinstance(credit, dict) else {}


def _shown_limit(row: Mapping[str, Any]) -> Decimal | None:
    """The limit the shop shows (``clientTradeCredit.clientTradeCreditLimit``), as money; None if absent."""
    shown = _credit(row).get("clientTradeCreditLimit")
    if shown is None or isinstance(shown, bool):
        return None
    try:
        return to_money(Decimal(str(shown)), strict=False)
    except ValueError:
        return None


def _differences(item: OutgoingItem, row: Mapping[str, Any] | None, currency: str) -> list[str]:
    """What the shop shows for a written item that differs from what was written (verify)."""
    login = item.payload["clientLogin"]
    if row is None:
        return [f"the shop shows no account with login {login!r} after the write"]
    problems = _billing_differences(item.payload, row)
    if "clientTradeCreditLimitExternal" not in item.payload:
        return problems  # a billing-only write: no limit to compare
    sent = Decimal(item.payload["clientTradeCreditLimitExternal"])
    shown = _shown_limit(row)
    if shown != sent:
        raw = _credit(row).get("clientTradeCreditLimit")
        problems.append(f"the shop shows limit {raw!r} after writing {sent}")
    shown_currency = _credit(row).get("currencyId")
    if shown_currency and str(shown_currency).upper() != currency:
        problems.append(f"the shop keeps this account's trade credit in {shown_currency}, the amounts were sent "
                        f"as {currency}")
    return problems


def _billing_differences(payload: Mapping[str, Any], row: Mapping[str, Any]) -> list[str]:
    """Billing fields written that the shop shows otherwise after the write (verify)."""
    address = row.get("clientBillingAddress")
    shown = {**(address if isinstance(address, dict) else {}), "clientEmail": row.get("clientEmail")}
    return [f"the shop shows {k} {shown.get(k)!r} after writing {v!r}" for k, v in payload.items()
            if k in BILLING_ADDRESS_FIELDS or k == "clientEmail" if shown.get(k) != v]


# A match query names ≤ 100 codes: even with several accounts per code this many pages is never needed.
MAX_PAGES = 50


def _parse_json(response: httpx.Response) -> Any:
    """The body as JSON, or None when it is not JSON at all (HTML, truncated, nested beyond Python's stack)."""
    try:
        return response.json()
    except (ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        return None


def _content_type(response: httpx.Response) -> str:
    return (response.headers.get("content-type") or "no content type").split(";")[0][:60]


def _rows(value: Any, what: str) -> list[dict[str, Any]]:
    """``results``: a list of objects (absent or null on an empty result)."""
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(r, dict) for r in value):
        raise TransientError(f"{what}: the shop's 'results' is not a list of clients ({type(value).__name__})")
    return value


def _page_count(value: Any, what: str) -> int:
    if value is None or value == "":
        return 0
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TransientError(f"{what}: the shop's resultsNumberPage {str(value)[:40]!r} is not a number")
    try:
        return int(value)
    except ValueError:
        raise TransientError(f"{what}: the shop's resultsNumberPage {str(value)[:40]!r} is not a number") from None


def _identity(row: Mapping[str, Any]) -> str:
    return f"{row.get('clientId')}|{row.get('clientLogin')}|{row.get('clientCodeExternal')}"


def _shop_message(response: httpx.Response) -> str:
    """The shop's own error text: ``errors.faultString``, else the start of the body."""
    body = _parse_json(response)
    if body is None:
        return _text(response)[:300]
    if isinstance(body, dict):
        errors = body.get("errors")
        if isinstance(errors, dict) and errors.get("faultString"):
            return str(errors["faultString"])[:500]
    return _text(response)[:300]


def _text(response: httpx.Response) -> str:
    try:
        return response.text
    except (ValueError, LookupError):  # a charset Python does not know, or bytes it cannot decode
        return response.content[:300].decode("utf-8", "replace")

