"""Billing data: one customer's name, tax id, address and contact as read from an ERP (seed 000's "dane bilingowe").

Billing is a second data kind beside credit (``sync = ["credit", "billing"]`` on a pipeline). A source yields a
``BillingRecord`` next to a customer's ``CreditRecord`` (or a ``RejectedRow`` with ``kind = "billing"``), and the
orchestrator diffs it against its own ledger entries (``ledger_target(target, "billing")``), so a change of one
kind never resends the other. Bad billing data (an e-mail that is not one, an unknown country, control
characters) rejects that customer's billing data only; its credit still syncs. A failed Polish NIP checksum is
a warning, not a rejection (docs/billing.md).
"""

from __future__ import annotations

import gettext
import re
import unicodedata
from collections.abc import Mapping
from functools import cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .records import RejectedRow, normalise_code

Kind = Literal["credit", "billing"]
CREDIT: Kind = "credit"
BILLING: Kind = "billing"
KINDS: tuple[Kind, ...] = (CREDIT, BILLING)

# The billing record's fields a target maps (docs/billing.md has the table per target).
BILLING_FIELDS = ("name", "tax_id", "street", "postal_code", "city", "region", "country", "phone", "email",
                  "payment_days")


def ledger_target(target: str, kind: str) -> str:
    """The ledger's ``target`` column for one data kind: credit keeps the target's name (existing state stays
    valid), every other kind gets its own entries under ``target#kind``."""
    return target if kind == CREDIT else f"{target}#{kind}"


# --- countries ------------------------------------------------------------------------------------------------
# Names operators type in Polish ERPs that pycountry's own tables (English names, alpha-2/alpha-3 codes and the
# Polish translations shipped with pycountry) miss. Matching ignores case, diacritics, dots and spaces.
EXTRA_COUNTRY_NAMES: dict[str, str] = {
    "RP": "PL", "Rzeczpospolita Polska": "PL", "Polen": "PL", "Poland": "PL",
    "RFN": "DE", "Deutschland": "DE", "Republika Federalna Niemiec": "DE",
    "Czechy": "CZ", "Republika Czeska": "CZ", "Czech Republic": "CZ",
    "Słowacja": "SK", "Wielka Brytania": "GB", "Anglia": "GB", "UK": "GB", "Zjednoczone Królestwo": "GB",
    "USA": "US", "Stany Zjednoczone": "US", "Holandia": "NL", "Niderlandy": "NL", "Rosja": "RU",
    "Mołdawia": "MD", "Korea Południowa": "KR", "Turcja": "TR", "Białoruś": "BY", "Ukraina": "UA",
}


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.replace("ł", "l").replace("Ł", "L"))
    return "".join(c for c in decomposed if c.isalnum()).casefold()


@cache
def _builtin_countries() -> dict[str, str]:
    import pycountry

    try:
        polish = gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=["pl"]).gettext
    except OSError:  # a pycountry without locales: the English names and codes still work
        def polish(message: str) -> str:
            return message
    table: dict[str, str] = {}
    for country in pycountry.countries:
        names = [country.alpha_2, country.alpha_3, country.name, polish(country.name)]
        names += [getattr(country, a) for a in ("official_name", "common_name") if hasattr(country, a)]
        for name in names:
            table.setdefault(_fold(name), country.alpha_2)
    for name, code in EXTRA_COUNTRY_NAMES.items():
        table[_fold(name)] = code
    return table


@cache
def is_alpha2(code: str) -> bool:
    import pycountry

    return len(code) == 2 and pycountry.countries.get(alpha_2=code.upper()) is not None


class CountryTable:
    """Free-text ERP country (``Polska``, ``PL``, ``Niemcy``…) → ISO 3166-1 alpha-2.

    The built-in table (every country's alpha-2, alpha-3, English and Polish name, plus ``EXTRA_COUNTRY_NAMES``)
    is extended or overridden by ``[billing] countries`` of the config; an empty ERP country is ``default``.
    """

    def __init__(self, overrides: Mapping[str, str] | None = None, default: str | None = "PL") -> None:
        self.overrides = {_fold(k): v.upper() for k, v in (overrides or {}).items()}
        self.default = default
        self._seen: dict[str, str] = {}  # raw text → code: a database repeats a handful of spellings

    def alpha2(self, raw: str | None) -> str:
        """The code, or ``ValueError`` naming the value and how to map it."""
        text = (raw or "").strip()
        known = self._seen.get(text)
        if known is not None:
            return known
        if not text:
            if self.default is None:
                raise ValueError("country is empty (set [billing] default_country to use one)")
            return self.default
        folded = _fold(text)
        code = self.overrides.get(folded) or _builtin_countries().get(folded)
        if code is None:
            raise ValueError(f"unknown country {text!r}: add it to [billing] countries, e.g. \"{text}\" = \"PL\"")
        self._seen[text] = code
        return code


# --- the record ---------------------------------------------------------------------------------------------
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# Deliberately simple (what a shop's form accepts): one @, a dot in the domain, no spaces or quotes.
_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
                    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$")
_TEXT_FIELDS = ("name", "tax_id", "street", "postal_code", "city", "region", "phone", "email")


def nip_checksum_ok(digits: str) -> bool:
    """The Polish NIP control digit: weighted sum mod 11 equals the 10th digit (10 is never valid)."""
    if len(digits) != 10 or not digits.isdigit():
        return False
    d = [ord(c) - 48 for c in digits]
    total = (6 * d[0] + 5 * d[1] + 7 * d[2] + 2 * d[3] + 3 * d[4] + 4 * d[5] + 5 * d[6] + 6 * d[7] + 7 * d[8]) % 11
    return total == d[9]


def tax_id_with_prefix(country: str | None, number: str | None) -> tuple[str | None, list[str]]:
    """``PL`` + ``526-025-02-74`` → ``PL5260250274`` and the warnings about it (a failed PL checksum)."""
    raw = (number or "").strip()
    if not raw:
        return None, []
    compact = re.sub(r"[\s\-.]", "", raw).upper()
    prefix = (country or "").strip().upper()
    if len(compact) > 2 and compact[:2].isalpha():  # the number already carries its prefix
        prefix, compact = compact[:2], compact[2:]
    prefix = prefix or "PL"
    warnings = []
    if prefix == "PL" and not nip_checksum_ok(compact):
        warnings.append(f"NIP {raw!r} fails the Polish checksum (sent as it is; check the card)")
    return prefix + compact, warnings


def street_line(street: str | None, house: str | None = None, flat: str | None = None) -> str | None:
    """``Długa`` + ``5`` + ``12`` → ``Długa 5/12``; a street without a number stays as it is."""
    parts = [(p or "").strip() for p in (street, house, flat)]
    s, h, f = parts
    number = f"{h}/{f}" if h and f else h or (f"/{f}" if f else "")
    line = " ".join(p for p in (s, number) if p)
    return line or None


class BillingRecord(BaseModel):
    """One customer's billing data as read from an ERP. Text fields are stripped; empty means "not set"."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str
    erp_id: str
    code: str = Field(min_length=1)
    name: str | None = Field(None, description="company name: the card's name lines joined by spaces")
    name_lines: tuple[str, ...] = ()
    tax_id: str | None = Field(None, description="tax id with its country prefix, e.g. PL5260250274")
    street: str | None = Field(None, description="street, house and flat number: 'Długa 5/12'")
    postal_code: str | None = None
    city: str | None = None
    region: str | None = Field(None, description="województwo / region as typed in the ERP")
    country: str = Field(description="ISO 3166-1 alpha-2")
    phone: str | None = None
    email: str | None = None
    payment_days: int | None = Field(None, ge=0, le=3650, description="payment term in days")
    warnings: tuple[str, ...] = Field((), description="problems that do not reject the data (NIP checksum)")

    @model_validator(mode="before")
    @classmethod
    def _text(cls, data: Any) -> Any:
        """Strip every text field ("" → None) and refuse control characters, in one pass (hot path: one call
        per customer instead of one per field)."""
        if not isinstance(data, dict):
            return data
        out = dict(data)
        bad = []
        for name in _TEXT_FIELDS:
            value = out.get(name)
            if isinstance(value, str):
                value = value.strip()
                if _CONTROL.search(value):
                    bad.append(f"{name}: {value!r} contains control characters")
                out[name] = value or None
        for line in out.get("name_lines") or ():
            if isinstance(line, str) and _CONTROL.search(line):
                bad.append(f"name_lines: {line!r} contains control characters")
        if bad:
            raise ValueError("; ".join(bad))
        return out

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is not None and not _EMAIL.match(value):
            raise ValueError(f"{value!r} is not an e-mail address")
        return value

    @field_validator("country")
    @classmethod
    def _country(cls, value: str) -> str:
        if not is_alpha2(value):
            raise ValueError(f"{value!r} is not an ISO 3166-1 alpha-2 country code")
        return value.upper()

    @model_validator(mode="after")
    def _code(self) -> BillingRecord:
        if self.code != self.code.strip():
            raise ValueError("code has leading or trailing spaces")
        return self

    @property
    def key(self) -> str:
        return normalise_code(self.code)


def billing_or_rejection(
    source: str, erp_id: object, code: object, *, countries: CountryTable, country: str | None,
    name_lines: tuple[str | None, ...] = (), nip_country: str | None = None, nip: str | None = None,
    street: str | None = None, house: str | None = None, flat: str | None = None, **fields: Any,
) -> BillingRecord | RejectedRow:
    """Build a billing record from raw ERP columns; every problem becomes a ``RejectedRow(kind="billing")``."""
    problems: list[str] = []
    alpha2 = None
    try:
        alpha2 = countries.alpha2(country)
    except ValueError as exc:
        problems.append(f"country: {exc}")
    lines = tuple(line.strip() for line in name_lines if isinstance(line, str) and line.strip())
    tax_id, warnings = tax_id_with_prefix(nip_country, nip)
    if not problems:
        try:
            return BillingRecord(
                source=source, erp_id=str(erp_id), code=code, name=" ".join(lines) or None, name_lines=lines,
                tax_id=tax_id, street=street_line(street, house, flat), country=alpha2, warnings=tuple(warnings),
                **fields,
            )
        except ValidationError as exc:
            problems.extend(
                f"{'.'.join(str(p) for p in err['loc']) or 'record'}: {err['msg'].removeprefix('Value error, ')}"
                for err in exc.errors()
            )
    return RejectedRow(source=source, erp_id=None if erp_id is None else str(erp_id),
                       code=None if code is None else str(code), reason="; ".join(problems), kind=BILLING)


def check_lengths(values: Mapping[str, Any], limits: Mapping[str, int]) -> None:
    """``ValueError`` listing every value longer than the shop accepts (a target's billing payload)."""
    too_long = [f"{field}: {len(str(v))} characters, the shop accepts at most {limits[field]} ({str(v)[:40]!r}…)"
                for field, v in values.items() if v is not None and field in limits and len(str(v)) > limits[field]]
    if too_long:
        raise ValueError("; ".join(too_long))
