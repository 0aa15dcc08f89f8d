"""Money rules: ``Decimal`` rounded to 0.01 with an ISO 4217 currency. Never float."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache
from typing import Annotated

import pycountry
from pydantic import AfterValidator, BeforeValidator, PlainSerializer

CENT = Decimal("0.01")
ZERO = Decimal("0.00")


class MoneyError(ValueError):
    """An amount that cannot be money (float, non-finite, more than two decimals)."""


def to_money(value: object, *, strict: bool = True) -> Decimal:
    """Convert ``value`` to a Decimal quantized to 0.01.

    ``strict`` (the default for data read from an ERP) rejects amounts with more than two decimals
    instead of rounding them away, because a silently rounded debt is a wrong debt. Floats are always
    rejected: they cannot represent money exactly.
    """
    if isinstance(value, (bool, float)):
        raise MoneyError(f"amount {value!r} is a {type(value).__name__}; money must be Decimal, int or str")
    try:
        d = value if isinstance(value, Decimal) else Decimal(str(value).strip().replace(",", "."))
    except (InvalidOperation, ValueError) as exc:
        raise MoneyError(f"amount {value!r} is not a number") from exc
    if not d.is_finite():
        raise MoneyError(f"amount {value!r} is not finite")
    q = d.quantize(CENT, rounding=ROUND_HALF_UP)
    if strict and q != d:
        raise MoneyError(f"amount {value!r} has more than two decimal places")
    return q


def round_money(value: Decimal) -> Decimal:
    """Round a computed amount (e.g. after currency conversion) to 0.01, half up."""
    return to_money(value, strict=False)


@lru_cache(maxsize=512)
def is_currency(code: str) -> bool:
    return pycountry.currencies.get(alpha_3=code) is not None


def to_currency(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"currency {value!r} must be a three-letter ISO 4217 code")
    code = value.strip().upper()
    if len(code) != 3 or not is_currency(code):
        raise ValueError(f"currency {value!r} is not an ISO 4217 code")
    return code


# decimal(15,2), the amount columns of Comarch Optima and XL: an amount beyond it did not come from the ERP's
# bookkeeping, and past 15 significant digits a JSON number would not survive a reader that parses floats.
MAX_AMOUNT = Decimal("9999999999999.99")


def _money_before(value: object) -> object:
    if value is None:
        return value
    money = to_money(value)
    if abs(money) > MAX_AMOUNT:
        raise MoneyError(f"amount {format(money, 'f')} exceeds decimal(15,2), the most an ERP amount column holds "
                         f"({format(MAX_AMOUNT, 'f')})")
    return money


Money = Annotated[
    Decimal,
    BeforeValidator(_money_before),
    PlainSerializer(lambda d: format(d, "f"), return_type=str, when_used="json"),
]
"""A pydantic field type: Decimal with at most two decimals; floats rejected; JSON as a string."""

Currency = Annotated[str, AfterValidator(to_currency)]


def format_pln(amount: Decimal, currency: str = "PLN") -> str:
    """Polish formatting: ``12 345,67 zł`` (non-breaking-space groups, comma decimals)."""
    sign = "-" if amount < 0 else ""
    whole, _, frac = format(abs(round_money(amount)), "f").partition(".")
    groups: list[str] = []
    while whole:
        groups.insert(0, whole[-3:])
        whole = whole[:-3]
    symbol = "zł" if currency == "PLN" else currency
    return f"{sign}{chr(0xA0).join(groups) or '0'},{frac or '00'}{chr(0xA0)}{symbol}"
