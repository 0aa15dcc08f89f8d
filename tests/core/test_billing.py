"""The billing record at the source boundary (issue 14): countries, tax ids, addresses, bad data."""

from __future__ import annotations

import pytest
from tradecredit.core.billing import (
    CountryTable,
    billing_or_rejection,
    check_lengths,
    ledger_target,
    nip_checksum_ok,
    street_line,
    tax_id_with_prefix,
)
from tradecredit.core.config import BillingConfig
from tradecredit.core.records import RejectedRow
from tradecredit.sdk import BillingRecord

TABLE = CountryTable()


@pytest.mark.parametrize(("typed", "code"), [
    ("Polska", "PL"), ("PL", "PL"), ("pl", "PL"), (" POLSKA ", "PL"), ("Poland", "PL"), ("POL", "PL"),
    ("Niemcy", "DE"), ("RFN", "DE"), ("Deutschland", "DE"), ("Czechy", "CZ"), ("Republika Czeska", "CZ"),
    ("Słowacja", "SK"), ("Slowacja", "SK"), ("Wielka Brytania", "GB"), ("Francja", "FR"), ("Litwa", "LT"),
    ("Ukraina", "UA"), ("Stany Zjednoczone", "US"), ("Holandia", "NL"), ("Austria", "AT"),
])
def test_the_builtin_country_table_maps_what_operators_type(typed, code):
    assert TABLE.alpha2(typed) == code


def test_an_unknown_country_is_an_error_naming_the_value_and_the_fix():
    with pytest.raises(ValueError, match=r"unknown country 'Atlantyda': add it to \[billing\] countries"):
        TABLE.alpha2("Atlantyda")


def test_config_overrides_and_the_default_country():
    table = BillingConfig(countries={"Atlantyda": "GR", "Polska": "CZ"}, default_country="DE").table()
    assert (table.alpha2("atlantyda"), table.alpha2("Polska"), table.alpha2(""), table.alpha2(None)) == (
        "GR", "CZ", "DE", "DE")
    strict = BillingConfig(default_country="").table()
    with pytest.raises(ValueError, match="country is empty"):
        strict.alpha2("  ")
    with pytest.raises(ValueError, match="not ISO 3166-1 alpha-2"):
        BillingConfig(countries={"X": "XX"})


def test_nip_checksum_and_prefix():
    assert nip_checksum_ok("5260250274") and not nip_checksum_ok("5260250275") and not nip_checksum_ok("123")
    assert tax_id_with_prefix("PL", "526-025-02-74") == ("PL5260250274", [])
    assert tax_id_with_prefix("", "PL 526 025 02 74") == ("PL5260250274", [])
    assert tax_id_with_prefix("DE", "123456789") == ("DE123456789", [])  # no PL checksum for other countries
    tax_id, warnings = tax_id_with_prefix("PL", "5260250275")
    assert tax_id == "PL5260250275" and "fails the Polish checksum" in warnings[0]
    assert tax_id_with_prefix("PL", "  ") == (None, [])


def test_street_house_and_flat():
    assert street_line("Długa", "5", "12") == "Długa 5/12"
    assert street_line("Długa", "5", "") == "Długa 5"
    assert street_line("ul. Długa 5", None, None) == "ul. Długa 5"
    assert street_line("", "", "") is None


def build(**fields):
    defaults = dict(country="Polska", name_lines=("Alfa", "sp. z o.o.", ""), nip_country="PL", nip="5260250274",
                    street="Długa", house="5", flat="1", postal_code="00-001", city="Warszawa",
                    email="biuro@alfa.pl", phone="+48 22 100 20 30", payment_days=14)
    return billing_or_rejection("erp", 7, "ALFA", countries=TABLE, **{**defaults, **fields})


def test_a_good_card_becomes_a_billing_record():
    record = build()
    assert isinstance(record, BillingRecord)
    assert (record.name, record.tax_id, record.street, record.country, record.payment_days, record.key) == (
        "Alfa sp. z o.o.", "PL5260250274", "Długa 5/1", "PL", 14, "alfa")
    assert record.warnings == ()


@pytest.mark.parametrize(("fields", "reason"), [
    ({"email": "biuro@"}, "is not an e-mail address"),
    ({"email": "biuro alfa@alfa.pl"}, "is not an e-mail address"),
    ({"country": "Narnia"}, "unknown country 'Narnia'"),
    ({"city": "Warszawa\n"}, None),  # surrounding whitespace is stripped, not a control character
    ({"city": "War\x00szawa"}, "contains control characters"),
    ({"name_lines": ("Alfa\x1b[31m",)}, "contains control characters"),
    ({"payment_days": -1}, "payment_days"),
])
def test_bad_billing_data_is_rejected_with_its_reason(fields, reason):
    result = build(**fields)
    if reason is None:
        assert isinstance(result, BillingRecord)
        return
    assert isinstance(result, RejectedRow) and result.kind == "billing" and result.code == "ALFA"
    assert reason in result.reason


def test_a_failed_nip_checksum_is_a_warning_not_a_rejection():
    record = build(nip="5260250275")
    assert isinstance(record, BillingRecord) and "checksum" in record.warnings[0]


def test_lengths_and_ledger_names():
    check_lengths({"clientCity": "Łódź", "clientStreet": None}, {"clientCity": 4})
    with pytest.raises(ValueError, match="clientCity: 6 characters, the shop accepts at most 4"):
        check_lengths({"clientCity": "Kraków"}, {"clientCity": 4})
    assert ledger_target("idosell", "credit") == "idosell"
    assert ledger_target("idosell", "billing") == "idosell#billing"
