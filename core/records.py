"""The records that cross plugin boundaries: one customer's credit as read from an ERP, and a rejected row.

Every ERP plugin yields ``CreditRecord`` (good data) or ``RejectedRow`` (bad data, with its reason). The
limit states stay distinct end to end: ``NONE`` (no limit granted / limit control off), ``LIMITED`` (a limit,
possibly 0), ``LAPSED`` (a limited card whose dated limit is not valid today: expired, a gap, only future
rows), ``UNLIMITED`` (explicitly unlimited, XL ``Knt_LimitTerminowy = 0``). What each state means at checkout
is the engine's decision (``engine.effective_credit``), never a plugin's.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .money import ZERO, Currency, Money


class LimitState(StrEnum):
    NONE = "none"  # no limit granted / limit control off
    LIMITED = "limited"  # a limit, possibly 0
    LAPSED = "lapsed"  # limited, but no dated limit is valid today (never more credit than a limit of 0)
    UNLIMITED = "unlimited"  # explicitly unlimited


class ControlMode(StrEnum):
    """What happens at checkout with a deferred payment form when a rule is breached."""

    ALLOW = "allow"
    WARN = "warn"
    BLOCK = "block"


MAX_CODE = 100
"""The longest customer code (and ERP id) a record may carry: the state store's key columns hold 200."""


class CreditRecord(BaseModel):
    """One customer's trade credit as read from an ERP at ``as_of``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str = Field(description="name of the source instance that produced the record")
    erp_id: str = Field(description="the ERP's own id of the card (Optima Knt_KntId, XL Knt_GIDNumer)")
    code: str = Field(min_length=1, description="customer code: the key that links ERP and shop")
    tax_id: str | None = None
    name: str = ""
    is_business: bool = Field(description="podmiot gospodarczy (a business entity, not a private person)")
    limit_state: LimitState
    credit_limit: Money | None = Field(default=None, description="granted limit; None unless LIMITED (a lapsed "
                                       "limit's last amount is not a limit: it is in ``extra`` at most)")
    used: Money = ZERO
    overdue: Money = ZERO
    overdue_limit: Money | None = Field(default=None, description="tolerated overdue amount; None = no rule")
    currency: Currency = "PLN"
    valid_from: date | None = None
    valid_to: date | None = None
    control_mode: ControlMode = ControlMode.BLOCK
    as_of: datetime
    payer_code: str | None = Field(default=None, description="customer whose limit was evaluated (XL payer)")
    extra: dict[str, Any] = Field(default_factory=dict, description="plugin-specific facts for reports")

    @field_validator("code")
    @classmethod
    def _code_length(cls, v: str) -> str:
        if len(v) > MAX_CODE:
            raise ValueError(f"code is {len(v)} characters long; at most {MAX_CODE} fit the state store "
                             "(Comarch codes have 20–50)")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> CreditRecord:
        if self.code != self.code.strip():
            raise ValueError("code has leading or trailing spaces")
        if self.limit_state is LimitState.LIMITED:
            if self.credit_limit is None:
                raise ValueError("credit_limit is required when limit_state is 'limited'")
            if self.credit_limit < 0:
                raise ValueError(f"credit_limit {self.credit_limit} is negative")
        elif self.credit_limit is not None:
            raise ValueError(f"credit_limit must be empty when limit_state is '{self.limit_state}'")
        if self.overdue_limit is not None and self.overdue_limit < 0:
            raise ValueError(f"overdue_limit {self.overdue_limit} is negative")
        if self.overdue < 0:
            raise ValueError(f"overdue {self.overdue} is negative")
        if self.valid_from and self.valid_to and self.valid_from > self.valid_to:
            raise ValueError("valid_from is after valid_to")
        if self.as_of.tzinfo is None:
            raise ValueError("as_of must be timezone-aware")
        return self

    @property
    def key(self) -> str:
        """The normalised customer code used to match and to detect duplicates."""
        return normalise_code(self.code)


class RejectedRow(BaseModel):
    """An ERP row that could not become a ``CreditRecord``; reported, never silently dropped."""

    model_config = ConfigDict(frozen=True)

    source: str
    erp_id: str | None = None
    code: str | None = None
    reason: str

    @field_validator("erp_id", "code")
    @classmethod
    def _shortened(cls, v: str | None) -> str | None:
        # an over-long code is itself a reason for rejection: kept recognisable, short enough for the store
        return v if v is None or len(v) <= MAX_CODE else v[:MAX_CODE - 1] + "…"


def normalise_code(code: str) -> str:
    """Codes that differ only by case or surrounding/inner spaces identify the same shop account."""
    return " ".join(code.split()).casefold()


def record_or_rejection(source: str, erp_id: object, code: object, **fields: Any) -> CreditRecord | RejectedRow:
    """Build a record, turning every validation problem into a ``RejectedRow`` with all reasons joined."""
    from pydantic import ValidationError

    try:
        return CreditRecord(source=source, erp_id=str(erp_id), code=code, **fields)
    except ValidationError as exc:
        reasons = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'record'}: {err['msg'].removeprefix('Value error, ')}"
            for err in exc.errors()
        )
        return RejectedRow(
            source=source,
            erp_id=None if erp_id is None else str(erp_id),
            code=None if code is None else str(code),
            reason=reasons,
        )


def decimal_or_none(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")
