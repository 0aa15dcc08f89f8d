"""The credit-feed contract (version 1): what the ``eshop`` target sends and what a storefront accepts.

One module shared by both ends so they cannot drift apart. Documented for integrators in
``docs/plugins/eshop.md``; every name and status code used there is defined here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from tradecredit.sdk import ControlMode, CreditRecord, Currency, LimitState, Money, available, decimal_or_none

CONTRACT = "tradecredit-credit-feed/1"
API_KEY_HEADER = "X-API-Key"
PREFIX = "/api/credit-feed/v1"
CUSTOMERS_PATH = f"{PREFIX}/customers"  # POST: batch upsert
FRESHNESS_PATH = f"{PREFIX}/freshness"  # POST: "these customers are unchanged as of T"
STATUS_PATH = f"{PREFIX}/status"  # GET: contract, limits, switch state (for ``tradecredit check``)
MAX_BATCH = 100

ACCEPTED = "accepted"
REJECTED = "rejected"
UNKNOWN = "unknown"


def credit_payload(record: CreditRecord, mode: ControlMode) -> dict[str, Any]:
    """The deterministic part of a feed item (no ``as_of``): equal records give equal dicts."""
    return {
        "code": record.code,
        "name": record.name,
        "is_business": record.is_business,
        "limit_state": record.limit_state.value,
        "credit_limit": decimal_or_none(record.credit_limit),
        "used": decimal_or_none(record.used),
        "remaining": decimal_or_none(available(record)),
        "overdue": decimal_or_none(record.overdue),
        "overdue_limit": decimal_or_none(record.overdue_limit),
        "control_mode": mode.value,
        "currency": record.currency,
    }


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

    @model_validator(mode="after")
    def _remaining_is_consistent(self) -> FeedItem:
        try:
            record = self.record()  # the record's own rules: limit state vs amount, signs, aware as_of
        except ValidationError as exc:
            raise ValueError(validation_message(exc)) from None
        expected = available(record)
        if self.remaining != expected:
            raise ValueError(f"remaining {self.remaining} is not credit_limit − used ({expected})")
        return self

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
