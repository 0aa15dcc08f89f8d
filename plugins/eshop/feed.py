"""The credit-feed contract (version 3): what the ``eshop`` target sends and what a storefront accepts.

Version 3 adds, compatibly, the customer's billing data (pipelines with ``sync = ["credit", "billing"]``): an
item may carry a ``billing`` object beside its credit fields, and an item with ``billing`` but no credit fields
(``limit_state`` absent) updates only the billing data of a customer the storefront already has. Version-1 and
version-2 items are still accepted unchanged.

Version 2 adds, compatibly, the ``lapsed`` limit state and a per-item ``policy`` (the config's ``[engine]``:
no-limit and lapsed-limit rules, data age and the stale fallback), so the storefront decides by the same
policy as every other target. A version-1 item (no ``policy``) is still accepted; the storefront then uses
its own default policy.

One module shared by both ends so they cannot drift apart. Documented for integrators in
``docs/plugins/eshop.md``; every name and status code used there is defined here.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from tradecredit.sdk import (
    BillingRecord,
    ControlMode,
    CreditPolicy,
    CreditRecord,
    Currency,
    LapsedPolicy,
    LimitState,
    Money,
    NoLimitPolicy,
    StaleFallback,
    StalePolicy,
    available,
    decimal_or_none,
)

CONTRACT_V1 = "tradecredit-credit-feed/1"
CONTRACT_V2 = "tradecredit-credit-feed/2"
CONTRACT = "tradecredit-credit-feed/3"
ACCEPTED_CONTRACTS = (CONTRACT_V1, CONTRACT_V2, CONTRACT)  # a version-3 storefront accepts older items too
API_KEY_HEADER = "X-API-Key"
PREFIX = "/api/credit-feed/v1"
CUSTOMERS_PATH = f"{PREFIX}/customers"  # POST: batch upsert
FRESHNESS_PATH = f"{PREFIX}/freshness"  # POST: "these customers are unchanged as of T"
STATUS_PATH = f"{PREFIX}/status"  # GET: contract, limits, switch state (for ``tradecredit check``)
MAX_BATCH = 100

ACCEPTED = "accepted"
REJECTED = "rejected"
UNKNOWN = "unknown"


class FeedPolicy(BaseModel):
    """The ``[engine]`` policy an item is decided by (version 2)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    no_limit: NoLimitPolicy
    lapsed_limit: LapsedPolicy
    max_age_seconds: int | None = Field(ge=0, description="data older than this is stale; null: never")
    stale_fallback: StaleFallback

    @classmethod
    def of(cls, policy: CreditPolicy) -> FeedPolicy:
        age = policy.stale.max_age
        return cls(no_limit=policy.no_limit, lapsed_limit=policy.lapsed_limit,
                   max_age_seconds=None if age is None else int(age.total_seconds()),
                   stale_fallback=policy.stale.fallback)

    def credit_policy(self) -> CreditPolicy:
        age = None if self.max_age_seconds is None else timedelta(seconds=self.max_age_seconds)
        return CreditPolicy(no_limit=self.no_limit, lapsed_limit=self.lapsed_limit,
                            stale=StalePolicy(max_age=age, fallback=self.stale_fallback))


def credit_payload(record: CreditRecord, mode: ControlMode, policy: CreditPolicy | None = None) -> dict[str, Any]:
    """The deterministic part of a feed item (no ``as_of``): equal records and policies give equal dicts.

    The policy is part of it, so a changed ``[engine]`` setting reaches every customer on the next run.
    """
    policy = policy or CreditPolicy()
    return {
        "code": record.code,
        "name": record.name,
        "is_business": record.is_business,
        "limit_state": record.limit_state.value,
        "credit_limit": decimal_or_none(record.credit_limit),
        "used": decimal_or_none(record.used),
        "remaining": decimal_or_none(available(record, policy=policy)),
        "overdue": decimal_or_none(record.overdue),
        "overdue_limit": decimal_or_none(record.overdue_limit),
        "control_mode": mode.value,
        "currency": record.currency,
        "policy": FeedPolicy.of(policy).model_dump(mode="json"),
    }


class FeedBilling(BaseModel):
    """A customer's billing data (version 3). Every field optional: absent = the ERP card has no value."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = Field(None, max_length=300)
    tax_id: str | None = Field(None, max_length=30)
    street: str | None = Field(None, max_length=200)
    postal_code: str | None = Field(None, max_length=20)
    city: str | None = Field(None, max_length=100)
    region: str | None = Field(None, max_length=100)
    country: str | None = Field(None, min_length=2, max_length=2, description="ISO 3166-1 alpha-2")
    phone: str | None = Field(None, max_length=50)
    email: str | None = Field(None, max_length=200)
    payment_days: int | None = Field(None, ge=0, le=3650)


def billing_payload(billing: BillingRecord, fields: list[str] | None = None) -> dict[str, Any]:
    """The feed's billing object (the fields the ERP has a value for, limited to ``fields``); deterministic."""
    values = {"name": billing.name, "tax_id": billing.tax_id, "street": billing.street,
              "postal_code": billing.postal_code, "city": billing.city, "region": billing.region,
              "country": billing.country, "phone": billing.phone, "email": billing.email,
              "payment_days": billing.payment_days}
    chosen = {k: v for k, v in values.items() if v is not None and (fields is None or k in fields)}
    FeedBilling.model_validate(chosen)  # too long for the storefront: ValidationError → billing rejected
    return chosen


class BillingOnlyItem(BaseModel):
    """Version 3: new billing data of a customer whose credit did not change."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str = Field(min_length=1, max_length=100)
    as_of: datetime
    billing: FeedBilling


class FeedItem(BaseModel):
    """One customer's credit summary as the storefront receives it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str = Field(min_length=1, max_length=100)
    name: str = Field("", max_length=300)
    is_business: bool
    limit_state: LimitState
    credit_limit: Money | None = None
    used: Money
    remaining: Money | None = None
    overdue: Money
    overdue_limit: Money | None = None
    control_mode: ControlMode
    currency: Currency
    as_of: datetime
    policy: FeedPolicy | None = Field(default=None, description="version 2; absent: the storefront's own default")
    billing: FeedBilling | None = Field(default=None, description="version 3; absent: billing data unchanged")

    @model_validator(mode="after")
    def _remaining_is_consistent(self) -> FeedItem:
        try:
            record = self.record()  # the record's own rules: limit state vs amount, signs, aware as_of
        except ValidationError as exc:
            raise ValueError(validation_message(exc)) from None
        if self.policy is None and self.limit_state is LimitState.LAPSED:
            raise ValueError("limit_state 'lapsed' needs the item's policy (credit feed version 2)")
        expected = available(record, policy=self.credit_policy(CreditPolicy()))
        if self.remaining != expected:
            raise ValueError(f"remaining {self.remaining} is not the effective limit − used ({expected})")
        return self

    def credit_policy(self, default: CreditPolicy) -> CreditPolicy:
        """The policy this customer is decided by: the item's (version 2), else the storefront's default."""
        return default if self.policy is None else self.policy.credit_policy()

    def record(self, *, as_of: datetime | None = None) -> CreditRecord:
        """Rebuild the ``CreditRecord`` the engine decides on (``as_of`` may be a later freshness time)."""
        return CreditRecord(
            source="credit-feed",
            erp_id=self.code,
            code=self.code,
            name=self.name,
            is_business=self.is_business,
            limit_state=self.limit_state,
            credit_limit=self.credit_limit,
            used=self.used,
            overdue=self.overdue,
            overdue_limit=self.overdue_limit,
            currency=self.currency,
            control_mode=self.control_mode,
            as_of=as_of or self.as_of,
        )


class FreshnessRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    as_of: datetime
    codes: list[str] = Field(max_length=10_000)



def validation_message(exc: ValidationError) -> str:
    """All problems of one item in one line: ``field: message; field: message``."""
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or 'item'}: {err['msg'].removeprefix('Value error, ')}"
        for err in exc.errors()
    )
