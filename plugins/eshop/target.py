"""The ``eshop`` target: writes customers' credit to a storefront speaking the credit-feed contract.

Comarch publishes no write API for e-Sklep, so the target speaks the small contract defined in ``feed.py``
and documented in ``docs/plugins/eshop.md``; the bundled storefront implements its receiving end. Batching,
the ledger, retries of failed customers and dry runs belong to the orchestrator; HTTP retries to the shared
``HttpClient``. e-Sklep enforces ALLOW, WARN and BLOCK itself, so the ERP mode arrives unchanged.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

import httpx
from pydantic import Field, HttpUrl, ValidationError, field_validator
from tradecredit.sdk import (
    BILLING,
    CREDIT,
    BillingRecord,
    CheckResult,
    CheckStatus,
    ControlMode,
    CreditRecord,
    HttpClient,
    ItemResult,
    ItemStatus,
    ModeMapping,
    OutgoingItem,
    PluginOptions,
    RetryPolicy,
    Secret,
    Target,
    TradeCreditError,
    Unsupported,
    ValueReason,
    effective_credit,
    normalise_code,
)

from . import feed


class EshopOptions(PluginOptions):
    base_url: HttpUrl = Field(description="storefront root, e.g. http://127.0.0.1:8000")
    api_key: Secret = Field(description=f"sent in the {feed.API_KEY_HEADER} header")
    timeout: float = Field(30.0, gt=0, description="seconds to wait for a response")
    connect_timeout: float = Field(10.0, gt=0)
    batch_size: int = Field(feed.MAX_BATCH, ge=1, le=feed.MAX_BATCH, description="customers per request")
    retry: RetryPolicy = RetryPolicy()
    billing_fields: list[str] = Field(
        default_factory=lambda: list(feed.FeedBilling.model_fields),
        description="billing fields sent in the feed (sync = [\"credit\", \"billing\"]; docs/billing.md)",
    )

    @field_validator("billing_fields")
    @classmethod
    def _fields(cls, v: list[str]) -> list[str]:
        wrong = [k for k in v if k not in feed.FeedBilling.model_fields]
        if wrong:
            raise ValueError(f"unknown billing fields: {', '.join(wrong)} (known: "
                             f"{', '.join(feed.FeedBilling.model_fields)})")
        return v


class EshopTarget(Target[EshopOptions]):
    """Comarch e-Sklep B2B (or any shop implementing the tradecredit credit-feed contract)."""

    description: ClassVar[str] = "Comarch e-Sklep B2B storefront via the tradecredit credit feed"
    max_batch_size: ClassVar[int] = feed.MAX_BATCH
    native_modes: ClassVar[frozenset[ControlMode]] = frozenset(ControlMode)
    kinds: ClassVar[frozenset[str]] = frozenset({CREDIT, BILLING})

    _client: HttpClient | None = None
    _currencies: frozenset[str] | None = None  # what the storefront can sell in (its status), once per run

    @property
    def opts(self) -> EshopOptions:
        return self.options

    def client(self) -> HttpClient:
        if self._client is None:
            transport = self.context.extras.get("transport")  # tests may inject an httpx transport
            self._client = HttpClient(
                str(self.opts.base_url).rstrip("/"),
                headers={feed.API_KEY_HEADER: self.opts.api_key.get_secret_value()},
                timeout=self.opts.timeout,
                connect_timeout=self.opts.connect_timeout,
                retry=self.opts.retry,
                transport=transport,
                user_agent="tradecredit-eshop",
            )
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def unsupported(self, record: CreditRecord) -> Unsupported | None:
        """A customer in a currency the storefront has no price list in cannot be enforced there: unsupported.

        The currencies come from the storefront's status (read once); when it cannot be read, nothing is
        declared unsupported here and the storefront's per-item answer decides (a rejected item fails).
        """
        if self._currencies is None:
            try:
                response = self.client().request("GET", feed.STATUS_PATH, what=f"{self.name}: status")
                listed = response.json().get("currencies") if response.status_code == 200 else None
            except (TradeCreditError, ValueError, AttributeError):
                listed = None
            self._currencies = frozenset(map(str, listed)) if isinstance(listed, list) else frozenset()
        if not self._currencies or record.currency in self._currencies:
            return None
        return Unsupported(reason=(f"currency {record.currency}: the storefront sells only in "
                                   f"{', '.join(sorted(self._currencies))}, so it cannot compare this customer's "
                                   "limit with orders"))

    # --- the contract --------------------------------------------------------------------------------------
    def payload(self, record: CreditRecord, match: dict[str, Any], mode: ModeMapping) -> dict[str, Any]:
        """Everything the storefront needs except ``as_of``, which changes every run (see ``write``).

        The storefront decides with the engine's ``effective_credit`` on the same record and the config's
        ``[engine]`` policy, which travels in the item (feed version 2).
        """
        return feed.credit_payload(record, mode.effective, self.context.policy)

    def billing_payload(self, billing: BillingRecord, match: dict[str, Any]) -> dict[str, Any]:
        """The feed's ``billing`` object (version 3); a value the storefront cannot take rejects it."""
        try:
            return {"billing": feed.billing_payload(billing, self.opts.billing_fields)}
        except ValidationError as exc:
            raise ValueError(feed.validation_message(exc)) from None
    def value_reasons(self, record: CreditRecord, mode: ModeMapping) -> dict[str, ValueReason]:
        """The storefront gets the ERP's own values and applies the rules itself; the limit and what remains of it
        carry the engine's limit reason (e.g. ``zero_because_lapsed``), the rest come from the ERP."""
        decided = effective_credit(record, self.context.policy, mode=mode.effective)
        erp = ValueReason.FROM_ERP
        return {"credit_limit": decided.limit_reason, "remaining": decided.limit_reason, "used": erp,
                "overdue": erp, "overdue_limit": erp, "limit_state": decided.limit_reason,
                "control_mode": decided.shop_limit_reason if decided.deferred_blocked else erp}

    def write(self, items: list[OutgoingItem]) -> list[ItemResult]:
        """One batch upsert. ``as_of`` is added here, outside the ledger-compared payload; an item with billing
        data alone (its credit unchanged) is a version-3 billing-only item."""
        body = {"items": [{"code": item.code, **item.payload, "as_of": item.record.as_of.isoformat()}
                          for item in items]}
        response = self.client().request("POST", feed.CUSTOMERS_PATH, json=body, what=f"{self.name}: feed upsert")
        if response.status_code != 200:
            error = f"HTTP {response.status_code}: {_error_text(response)}"
            return [ItemResult(key=item.key, status=ItemStatus.FAILED, error=error) for item in items]
        results = _results(response)
        out = []
        for index, item in enumerate(items):
            answer = results[index] if index < len(results) else None
            if answer is None or normalise_code(str(answer.get("code") or "")) != item.key:
                continue  # not answered for: unconfirmed, retried on the next run
            if answer.get("status") == feed.ACCEPTED:
                out.append(ItemResult(key=item.key, status=ItemStatus.CONFIRMED))
            else:
                out.append(ItemResult(key=item.key, status=ItemStatus.FAILED, error=str(answer.get("error") or "")))
        return out

    def confirm_unchanged(self, codes: list[str], as_of: datetime) -> dict[str, str]:
        """Tell the storefront that these customers' credit is unchanged as of ``as_of``.

        Unchanged customers are not re-sent (their payload equals the ledger), so without this call the
        storefront would see their data age grow until its stale policy kicks in. The orchestrator calls it
        after every real run with the customers it did not resend. Returns code → status:
        ``accepted``, or ``unknown`` for a customer the shop no longer holds (its ledger entry should be dropped
        so the next run re-sends it). Sent in chunks of the batch size.
        """
        statuses: dict[str, str] = {}
        size = self.batch_size()
        for start in range(0, len(codes), size):
            chunk = codes[start:start + size]
            response = self.client().request(
                "POST", feed.FRESHNESS_PATH, json={"as_of": as_of.isoformat(), "codes": chunk},
                what=f"{self.name}: freshness",
            )
            if response.status_code != 200:
                raise TradeCreditError(f"{self.name}: freshness HTTP {response.status_code}: {_error_text(response)}")
            statuses.update({str(r.get("code")): str(r.get("status")) for r in _results(response)})
        return statuses

    def check(self, codes: list[str] | None = None) -> list[CheckResult]:
        try:
            response = self.client().request("GET", feed.STATUS_PATH, what=f"{self.name}: status")
        except TradeCreditError as exc:
            return [CheckResult(name="storefront reachable", status=CheckStatus.FAIL, detail=str(exc))]
        if response.status_code != 200:
            return [CheckResult(name="storefront reachable", status=CheckStatus.FAIL,
                                detail=f"HTTP {response.status_code}: {_error_text(response)}")]
        status = response.json()
        checks = [CheckResult(name="storefront reachable", status=CheckStatus.OK, detail=str(self.opts.base_url))]
        contract = status.get("contract")
        accepts = status.get("accepts") or [contract]
        fits = feed.CONTRACT in accepts or (BILLING not in self.context.sync and feed.CONTRACT_V2 in accepts)
        checks.append(CheckResult(
            name="credit-feed contract",
            status=CheckStatus.OK if fits else CheckStatus.FAIL,
            detail=f"storefront speaks {contract!r} (accepts {', '.join(map(str, accepts))}), this target sends "
                   f"{feed.CONTRACT!r}" + ("" if fits else ": upgrade the storefront (version 2 carries the "
                                                           "[engine] policy and lapsed limits, version 3 the "
                                                           "billing data)"),
        ))
        policy = self.context.policy
        checks.append(CheckResult(
            name="engine policy", status=CheckStatus.OK,
            detail=(f"sent with every customer: no_limit = {policy.no_limit.value}, lapsed_limit = "
                    f"{policy.lapsed_limit.value}, max_age = {policy.stale.max_age}, stale_fallback = "
                    f"{policy.stale.fallback.value} (the storefront applies the fallback itself at checkout)"),
        ))
        shop_max = int(status.get("max_batch_size") or feed.MAX_BATCH)
        if shop_max < self.batch_size():
            checks.append(CheckResult(name="batch size", status=CheckStatus.FAIL,
                                      detail=f"storefront accepts {shop_max} items per request; set batch_size"))
        enabled = bool(status.get("limits_enabled"))
        checks.append(CheckResult(
            name="admin switch 'Limity kredytu i płatności'",
            status=CheckStatus.OK if enabled else CheckStatus.WARN,
            detail="on" if enabled else "off: the storefront receives credit but shows and enforces none of it",
        ))
        checks.append(CheckResult(
            name="control modes", status=CheckStatus.OK,
            detail="allow, warn and block are enforced natively; the ERP mode is sent unchanged",
        ))
        return checks


def _results(response: httpx.Response) -> list[dict[str, Any]]:
    try:
        results = response.json().get("results")
    except (ValueError, AttributeError):
        return []
    return [r for r in results if isinstance(r, dict)] if isinstance(results, list) else []


def _error_text(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text[:200]
    return str(data.get("error", data))[:300] if isinstance(data, dict) else str(data)[:300]
