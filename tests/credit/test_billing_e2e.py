"""Issue 14, billing data end to end: Optima and XL (SQLite and PostgreSQL, ``tc_database_url``) → ``run_pipeline``
with ``sync = ["credit", "billing"]`` → the IdoSell sandbox and the e-Sklep storefront over real HTTP."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from sqlalchemy import update
from tradecredit.core.billing import ledger_target
from tradecredit.core.config import parse_config
from tradecredit.core.errors import ConfigError
from tradecredit.core.report import render_text
from tradecredit.core.state import StateStore

from .conftest import (
    API_KEY,
    OPTIMA,
    XL_TODAY,
    World,
    make_optima,
    make_xl,
    optima_card,
    run_sql,
    storefront_page,
    xl_card,
    xl_limit,
)
from .conftest import login_of as login

ADDRESS = {"Knt_Ulica": "Piotrkowska", "Knt_NrDomu": "12", "Knt_NrLokalu": "3", "Knt_KodPocztowy": "90-001",
           "Knt_Miasto": "Łódź", "Knt_Kraj": "Polska", "Knt_Wojewodztwo": "łódzkie", "Knt_Telefon1": "+48 42 100 20 30",
           "Knt_Email": "biuro@alfa.pl", "Knt_Termin": 14, "Knt_Nazwa2": "sp. z o.o.", "Knt_Nip": "526-025-02-74"}


TARGETS_WITH_BILLING = ("idosell", "eshop")
KEY = {"X-API-KEY": API_KEY}


def billing_config(world: World, source: dict[str, Any], *, kinds: tuple[str, ...] = ("credit", "billing"),
                   idosell_options: dict[str, Any] | None = None, billing: dict[str, Any] | None = None) -> Any:
    data = world.data(source, idosell_options=idosell_options)
    for p in data["pipelines"]:
        if p["target"] in TARGETS_WITH_BILLING:
            p["sync"] = list(kinds)
    if billing:
        data["billing"] = billing
    return parse_config(data, world.host)


def optima_world(url: str, world: World) -> None:
    make_optima(url, [
        optima_card("ALFA", limit="5000.00", used="1000.00", Knt_Nazwa1="Alfa", **ADDRESS),
        optima_card("BETA", limit="3000.00", **{**ADDRESS, "Knt_Email": "to nie jest e-mail", "Knt_Nazwa1": "Beta"}),
        optima_card("GAMMA", limit="2000.00", **{**ADDRESS, "Knt_Kraj": "Atlantyda", "Knt_Nazwa1": "Gamma"}),
        optima_card("DELTA", limit="1000.00", **{**ADDRESS, "Knt_Kraj": "Niemcy", "Knt_NipKraj": "DE",
                                                 "Knt_Nip": "123456789", "Knt_Nazwa1": "Delta"}),
        optima_card("EPS", limit="1000.00", **{**ADDRESS, "Knt_Nip": "5260250275", "Knt_Nazwa1": "Eps"}),
        optima_card("ZETA", limit="1000.00", **{**ADDRESS, "Knt_Ulica": "Ulica\x07", "Knt_Nazwa1": "Zeta"}),
    ], workstation_code=2)
    world.accounts("ALFA", "BETA", "GAMMA", "DELTA", "EPS", "ZETA")


def erp_world(erp: str, url: str, world: World) -> dict[str, Any]:
    """Optima's six customers (``optima_world``) or one XL customer with an address; the source options."""
    if erp == "optima":
        optima_world(url, world)
        return {"plugin": "optima", "url": url}
    make_xl(url, cards=[xl_card(1, "XALFA", Knt_Ulica="ul. Rynek 5", Knt_KodP="30-001", Knt_Miasto="Kraków",
                                Knt_Kraj="Polska", Knt_EMail="xl@alfa.pl")],
            limits=[xl_limit(1, "5000", XL_TODAY - 1, XL_TODAY + 1)])
    return {"plugin": "xl", "url": url, "control_mode": "block"}


def test_optima_billing_reaches_idosell_with_credit_in_one_request(tc_database_url, world):
    optima_world(tc_database_url, world)
    cfg = billing_config(world, {"plugin": "optima", "url": tc_database_url})
    world.sandbox.reset_log()
    report = world.run(cfg, "to-idosell")
    # One PUT for six customers: billing rides in the same request as credit.
    assert world.sandbox.count("PUT clients/clients") == 1
    assert report.counts.written == 6 and report.status == "partial"
    alfa = world.sandbox.client(login("ALFA"))
    assert alfa is not None and alfa.limit == 5000
    assert alfa.firm == "Alfa sp. z o.o." and alfa.email == "biuro@alfa.pl"
    assert dict(alfa.billing) == {
        "clientNip": "PL5260250274", "clientStreet": "Piotrkowska 12/3", "clientZipCode": "90-001",
        "clientCity": "Łódź", "clientCountryId": "PL", "clientProvinceId": "PL-10",
        "clientPhone1": "+48 42 100 20 30", "numberOfDaysToPay": 14}
    delta = world.sandbox.client(login("DELTA"))
    assert delta is not None
    assert (delta.billing["clientCountryId"], delta.billing["clientNip"]) == ("DE", "DE123456789")
    # Bad billing data: rejected with its reason; the customer's credit still went.
    rejected = {p.code: p.reason for p in report.rejected if p.kind == "billing"}
    assert set(rejected) == {"BETA", "GAMMA", "ZETA"}
    assert "is not an e-mail address" in rejected["BETA"]
    assert "unknown country 'Atlantyda'" in rejected["GAMMA"]
    assert "control characters" in rejected["ZETA"]
    for code in ("BETA", "GAMMA", "ZETA"):
        shop = world.sandbox.client(login(code))
        assert shop is not None and shop.limit is not None and shop.limit > 0 and not shop.billing
    # A failed PL NIP checksum is a warning, not a rejection.
    eps = world.sandbox.client(login("EPS"))
    assert eps is not None and eps.billing["clientNip"] == "PL5260250275"
    assert any("EPS" in w and "checksum" in w for w in report.warnings)
    assert report.billing is not None and (report.billing.read, report.billing.rejected, report.billing.written) == (
        6, 3, 3)
    text = render_text(report)
    assert "Billing data: 6 read, 3 rejected" in text and "billing data: email" in text
    # Each kind has its own ledger entries.
    store = StateStore.open(cfg.state.url)
    try:
        assert set(store.load_ledger("to-idosell", "idosell")) == {"alfa", "beta", "gamma", "delta", "eps", "zeta"}
        billing_ledger = store.load_ledger("to-idosell", ledger_target("idosell", "billing"))
        assert set(billing_ledger) == {"alfa", "delta", "eps"}
        assert "clientTradeCreditLimitExternal" not in billing_ledger["alfa"].payload
    finally:
        store.close()


def test_a_change_of_one_kind_never_resends_the_other(tc_database_url, world):
    optima_world(tc_database_url, world)
    cfg = billing_config(world, {"plugin": "optima", "url": tc_database_url})
    world.run(cfg, "to-idosell")
    k = OPTIMA.kontrahenci
    # The address changes: only billing fields are sent.
    run_sql(tc_database_url, update(k).where(k.c.Knt_Kod == "ALFA").values(Knt_Ulica="Zielona", Knt_NrDomu="7"))
    world.sandbox.reset_log()
    second = world.run(cfg, "to-idosell")
    puts = [r for r in world.sandbox.requests if r.op == "PUT clients/clients"]
    assert len(puts) == 1 and second.counts.to_write == 1
    # Counted once: sent (for its billing data), not also unchanged (its credit). The three customers whose
    # billing data is rejected are unchanged as to credit.
    assert (second.counts.unchanged, second.counts.rejected) == (5, 3)
    sent = json.loads(puts[0].body)["params"]["clients"]
    assert [c["clientStreet"] for c in sent] == ["Zielona 7/3"]
    assert "clientTradeCreditLimitExternal" not in sent[0] and "clientCity" in sent[0]
    alfa = world.sandbox.client(login("ALFA"))
    assert alfa is not None and alfa.billing["clientStreet"] == "Zielona 7/3"
    # The limit changes: only credit fields are sent.
    run_sql(tc_database_url, update(k).where(k.c.Knt_Kod == "ALFA").values(Knt_LimitKredytu=6000))
    world.sandbox.reset_log()
    third = world.run(cfg, "to-idosell")
    puts = [r for r in world.sandbox.requests if r.op == "PUT clients/clients"]
    assert len(puts) == 1 and third.counts.to_write == 1
    assert "clientTradeCreditLimitExternal" in puts[0].body and "clientStreet" not in puts[0].body
    # Nothing changed: nothing sent.
    world.sandbox.reset_log()
    fourth = world.run(cfg, "to-idosell")
    assert world.sandbox.count("PUT clients/clients") == 0 and fourth.counts.to_write == 0


def test_first_billing_sync_dry_run_shows_what_the_shop_would_lose(tc_database_url, world):
    optima_world(tc_database_url, world)
    credit_only = billing_config(world, {"plugin": "optima", "url": tc_database_url}, kinds=("credit",))
    first = world.run(credit_only, "to-idosell")
    assert first.billing is None and not world.sandbox.client(login("ALFA")).billing  # type: ignore[union-attr]
    # A customer edited the address in the shop account.
    world.sandbox.store.update_client(login("ALFA"), {"clientStreet": "Moja 1", "clientCity": "Łódź"})
    cfg = billing_config(world, {"plugin": "optima", "url": tc_database_url})
    world.sandbox.reset_log()
    preview = world.run(cfg, "to-idosell", dry_run=True)
    assert world.sandbox.count("PUT clients/clients") == 0
    gets = [r for r in world.sandbox.requests if r.op == "GET clients/clients"]
    assert gets and any("clientStreet" in v for r in gets for k, v in r.query if k == "returnElements")
    # Credit is in step (its ledger says so): the preview is billing's alone, field by field.
    rows = {(p.code, p.field): p for p in preview.plan}
    assert {p.kind for p in preview.plan} == {"billing"}
    street = rows[("ALFA", "clientStreet")]
    assert (street.old, street.new, street.old_source) == ("Moja 1", "Piotrkowska 12/3", "shop")
    assert ("ALFA", "clientCity") not in rows  # the same value in the shop: not an overwrite
    days = rows[("ALFA", "numberOfDaysToPay")]
    assert (days.old, days.old_source, days.new) == (None, None, 14)  # the shop does not return it: unknown
    assert "clientStreet (billing)" in render_text(preview)
    # Nothing was written.
    assert world.sandbox.client(login("ALFA")).billing == {  # type: ignore[union-attr]
        "clientStreet": "Moja 1", "clientCity": "Łódź"}


def test_billing_fields_limits_what_is_sent(tc_database_url, world):
    optima_world(tc_database_url, world)
    cfg = billing_config(world, {"plugin": "optima", "url": tc_database_url},
                         idosell_options={"billing_fields": ["clientStreet", "clientCity"]})
    world.run(cfg, "to-idosell")
    alfa = world.sandbox.client(login("ALFA"))
    assert alfa is not None and dict(alfa.billing) == {"clientStreet": "Piotrkowska 12/3", "clientCity": "Łódź"}
    assert alfa.email == "shop_alfa@example.com"  # the shop's own e-mail stays


def test_a_value_longer_than_the_shop_accepts_rejects_billing_only(tc_database_url, world):
    optima_world(tc_database_url, world)
    cfg = billing_config(world, {"plugin": "optima", "url": tc_database_url},
                         idosell_options={"billing_max_lengths": {"clientStreet": 10}})
    report = world.run(cfg, "to-idosell")
    reasons = {p.code: p.reason for p in report.rejected if p.kind == "billing"}
    assert "clientStreet: 16 characters, the shop accepts at most 10" in reasons["ALFA"]
    alfa = world.sandbox.client(login("ALFA"))
    assert alfa is not None and alfa.limit == 5000 and not alfa.billing


def test_the_sandbox_refuses_billing_values_longer_than_it_accepts(world):
    world.accounts("ALFA")
    body = {"params": {"clients": [{"clientLogin": login("ALFA"), "clientStreet": "x" * 201,
                                    "clientCountryId": "XX", "requestReference": "ALFA"}]}}
    answer = httpx.put(f"{world.sandbox.api_url}/clients/clients", json=body, headers=KEY)
    assert answer.status_code == 207
    fault = answer.json()["results"][0]["errors"][0]["faultString"]
    assert "clientStreet: value too long (201 > 200" in fault and "'XX' is not an ISO-3166" in fault
    wrong_type = httpx.put(f"{world.sandbox.api_url}/clients/clients", headers=KEY,
                           json={"params": {"clients": [{"clientLogin": login("ALFA"), "numberOfDaysToPay": "14"}]}})
    assert wrong_type.status_code == 422


def test_countries_table_of_the_config_maps_what_the_builtin_does_not(tc_database_url, world):
    optima_world(tc_database_url, world)
    cfg = billing_config(world, {"plugin": "optima", "url": tc_database_url},
                         billing={"countries": {"Atlantyda": "GR"}})
    report = world.run(cfg, "to-idosell")
    assert "GAMMA" not in {p.code for p in report.rejected if p.kind == "billing"}
    gamma = world.sandbox.client(login("GAMMA"))
    assert gamma is not None and gamma.billing["clientCountryId"] == "GR"


def test_sync_is_validated(tc_database_url, world):
    data = world.data({"plugin": "optima", "url": tc_database_url})
    data["pipelines"][0]["sync"] = ["billing"]
    data["pipelines"][1]["sync"] = ["credit", "credit"]
    data["billing"] = {"countries": {"Polska": "POL"}}
    with pytest.raises(ConfigError) as err:
        parse_config(data, world.host)
    text = "\n".join(err.value.problems) if hasattr(err.value, "problems") else str(err.value)
    assert 'must include "credit"' in text and "names a kind twice" in text and "'Polska' = 'POL'" in text


def test_xl_billing_reaches_idosell(tc_database_url, world):
    t = XL_TODAY
    make_xl(tc_database_url, cards=[
        xl_card(1, "XALFA", Knt_Ulica="ul. Rynek 5", Knt_Adres="lok. 2", Knt_KodP="30-001", Knt_Miasto="Kraków",
                Knt_Kraj="PL", Knt_Wojewodztwo="małopolskie", Knt_EMail="xl@alfa.pl", Knt_Nip="5260250274",
                Knt_NipPrefiks="PL"),
        xl_card(2, "XBETA", Knt_Ulica="", Knt_Adres="", Knt_KodP="", Knt_Miasto="Berlin", Knt_Kraj="Niemcy",
                Knt_Wojewodztwo="", Knt_EMail="zly@", Knt_Nip="", Knt_NipPrefiks=""),
    ], limits=[xl_limit(1, "5000", t - 1, t + 1), xl_limit(2, "1000", t - 1, t + 1)])
    world.accounts("XALFA", "XBETA")
    cfg = billing_config(world, {"plugin": "xl", "url": tc_database_url, "control_mode": "block"})
    report = world.run(cfg, "to-idosell")
    alfa = world.sandbox.client(login("XALFA"))
    assert alfa is not None and alfa.limit == 5000 and alfa.email == "xl@alfa.pl"
    assert alfa.firm == "Firma XALFA"
    assert dict(alfa.billing) == {"clientNip": "PL5260250274", "clientStreet": "ul. Rynek 5 lok. 2",
                                  "clientZipCode": "30-001", "clientCity": "Kraków", "clientCountryId": "PL",
                                  "clientProvinceId": "PL-12"}
    beta = world.sandbox.client(login("XBETA"))
    assert beta is not None and beta.limit == 1000 and not beta.billing
    assert [p.code for p in report.rejected if p.kind == "billing"] == ["XBETA"]


@pytest.mark.parametrize("erp", ["optima", "xl"])
def test_billing_reaches_the_e_sklep_customer_zone(tc_database_url, world, erp):
    source = erp_world(erp, tc_database_url, world)
    code, street = ("ALFA", "Piotrkowska 12/3") if erp == "optima" else ("XALFA", "ul. Rynek 5")
    cfg = billing_config(world, source)
    report = world.run(cfg, "to-eshop")
    assert report.billing is not None and report.billing.written >= 1
    customer = world.storefront.customer(code)
    assert customer is not None and customer.billing is not None and customer.billing.street == street
    page = storefront_page(world, code, "/strefa-klienta")
    assert 'id="zone-billing"' in page and street in page and "Dane do faktury" in page
    if erp == "optima":
        assert "14 dni" in page and "PL5260250274" in page
        # Bad billing data: its credit still reached the storefront, without billing data.
        beta = world.storefront.customer("BETA")
        assert beta is not None and beta.billing is None and beta.item.credit_limit == 3000
        # An address change alone is a billing-only item: the credit item is not sent again.
        k = OPTIMA.kontrahenci
        run_sql(tc_database_url, update(k).where(k.c.Knt_Kod == "ALFA").values(Knt_Ulica="Zielona"))
        second = world.run(cfg, "to-eshop")
        assert (second.counts.to_write, second.billing.written) == (1, 1)  # type: ignore[union-attr]
        alfa = world.storefront.customer("ALFA")
        assert alfa is not None and alfa.billing is not None and alfa.billing.street == "Zielona 12/3"
        assert "Zielona 12/3" in storefront_page(world, "ALFA", "/strefa-klienta")


def test_a_credit_only_storefront_item_keeps_the_billing_data(world):
    """Feed v2 items (no billing) do not wipe what a v3 item stored; a billing-only item needs the customer."""
    store = world.storefront.store
    base = {"code": "K1", "name": "K1", "is_business": True, "limit_state": "limited", "credit_limit": "100.00",
            "used": "0.00", "remaining": "100.00", "overdue": "0.00", "control_mode": "block", "currency": "PLN",
            "as_of": "2025-03-10T10:00:00+00:00"}
    assert store.upsert([{**base, "billing": {"city": "Łódź"}}])[0]["status"] == "accepted"
    assert store.upsert([{**base, "as_of": "2025-03-10T11:00:00+00:00"}])[0]["status"] == "accepted"
    assert store.customer("K1").billing.city == "Łódź"
    unknown = store.upsert([{"code": "K2", "as_of": "2025-03-10T11:00:00+00:00", "billing": {"city": "X"}}])[0]
    assert unknown["status"] == "rejected" and "unknown customer" in unknown["error"]
    too_long = store.upsert([{"code": "K1", "as_of": "2025-03-10T11:00:00+00:00", "billing": {"city": "x" * 101}}])
    assert too_long[0]["status"] == "rejected" and "billing.city" in too_long[0]["error"]


@pytest.mark.parametrize("erp", ["optima", "xl"])
def test_check_reports_the_billing_column_types_found(tc_database_url, world, erp):
    from tradecredit.core.check import check_config

    source = erp_world(erp, tc_database_url, world)
    name, column = ("optima.billing_columns", "Knt_KodPocztowy") if erp == "optima" else ("xl.billing_columns",
                                                                                          "Knt_KodP")
    lines = {line.result.name: line.result for line in check_config(billing_config(world, source))
             if line.subject == "source erp"}
    found = lines[name]
    assert found.status.value == "ok" and "MISSING" not in found.detail
    postgres = tc_database_url.startswith("postgresql")
    # INFORMATION_SCHEMA on PostgreSQL (type and length), PRAGMA table_info on SQLite (the declared type).
    assert f"{column} character varying(10)" in found.detail if postgres else f"{column} VARCHAR(10)" in found.detail
    credit_only = {line.result.name for line in check_config(billing_config(world, source, kinds=("credit",)))
                   if line.subject == "source erp"}
    assert name not in credit_only


def test_nip_without_prefix_and_own_province_codes(tc_database_url, world):
    optima_world(tc_database_url, world)
    cfg = billing_config(world, {"plugin": "optima", "url": tc_database_url},
                         idosell_options={"nip_with_prefix": False, "province_codes": {"Łódzkie": "LDZ"}})
    world.run(cfg, "to-idosell")
    alfa = world.sandbox.client(login("ALFA"))
    assert alfa is not None and (alfa.billing["clientNip"], alfa.billing["clientProvinceId"]) == ("5260250274", "LDZ")


def test_eshop_billing_fields_limits_the_feed(tc_database_url, world):
    optima_world(tc_database_url, world)
    data = world.data({"plugin": "optima", "url": tc_database_url})
    data["targets"]["eshop"]["billing_fields"] = ["city", "email"]
    data["pipelines"][1]["sync"] = ["credit", "billing"]
    world.run(parse_config(data, world.host), "to-eshop")
    alfa = world.storefront.customer("ALFA")
    assert alfa is not None and alfa.billing is not None
    assert alfa.billing.model_dump(exclude_none=True) == {"city": "Łódź", "email": "biuro@alfa.pl"}


def test_the_country_table_of_the_docs_is_what_the_code_does():
    from pathlib import Path

    from tradecredit.core.billing import CountryTable

    text = (Path(__file__).resolve().parents[2] / "docs" / "billing.md").read_text(encoding="utf-8")
    section = text.split("## The country table", 1)[1].split("\n## ", 1)[0]
    rows = [line.split("|")[1:3] for line in section.splitlines() if line.startswith("| `")]
    assert len(rows) > 20
    table = CountryTable()
    for typed, code in rows:
        assert table.alpha2(typed.strip().strip("`")) == code.strip().strip("`"), typed


def test_check_of_a_billing_pipeline_reads_the_billing_data_and_says_what_is_sent(tc_database_url, world):
    from tradecredit.core.check import check_config

    cfg = billing_config(world, erp_world("optima", tc_database_url, world))
    lines = {line.result.name: line.result for line in check_config(cfg) if line.subject == "pipeline to-idosell"}
    read = lines["billing read"]
    assert read.status.value == "warn"
    assert "3 customer(s) readable, 3 rejected" in read.detail
    assert "1 with a NIP failing the Polish checksum" in read.detail
    assert "clientStreet 200" in lines["billing data"].detail
    credit_only = billing_config(world, {"plugin": "optima", "url": tc_database_url}, kinds=("credit",))
    names = {line.result.name for line in check_config(credit_only) if line.subject == "pipeline to-idosell"}
    assert "billing read" not in names and "billing data" not in names


def test_credit_and_billing_of_150_customers_take_two_requests_not_four(tc_database_url, world):
    codes = [f"K{i:03d}" for i in range(150)]
    make_optima(tc_database_url, [optima_card(c, limit="1000.00", **ADDRESS) for c in codes])
    world.accounts(*codes)
    world.sandbox.reset_log()
    report = world.run(billing_config(world, {"plugin": "optima", "url": tc_database_url}), "to-idosell")
    assert (report.counts.written, report.billing.written) == (150, 150)  # type: ignore[union-attr]
    puts = [json.loads(r.body)["params"]["clients"] for r in world.sandbox.requests if r.op == "PUT clients/clients"]
    assert [len(p) for p in puts] == [100, 50]
    assert all("clientTradeCreditLimitExternal" in c and "clientStreet" in c for p in puts for c in p)


def test_a_billing_rejection_is_a_sticky_outcome_of_its_own(tc_database_url, world):
    optima_world(tc_database_url, world)
    cfg = billing_config(world, {"plugin": "optima", "url": tc_database_url})
    first, second = world.run(cfg, "to-idosell"), world.run(cfg, "to-idosell")
    store = StateStore.open(cfg.state.url)
    try:
        rows = [r for r in store.run_items(first.run_id) if r["outcome"] == "rejected"]
        assert {r["customer_key"] for r in rows} == {"billing:beta", "billing:gamma", "billing:zeta"}
        assert all(r["reason"].startswith("billing data: ") for r in rows)
        # Not written again while nothing changed: counted in the run's trail instead.
        assert [r for r in store.run_items(second.run_id) if r["outcome"] == "rejected"] == []
        assert store.run_trail(second.run_id)["not_repeated"] == {"rejected": 3}
    finally:
        store.close()


def test_verify_compares_the_billing_fields_the_shop_shows_after_the_write(tc_database_url, world):
    optima_world(tc_database_url, world)
    cfg = billing_config(world, {"plugin": "optima", "url": tc_database_url}, idosell_options={"verify": True})

    def cut_street(entry: Any) -> None:  # a shop that keeps only 10 characters of ALFA's street
        if entry.op == "PUT clients/clients" and "Piotrkowska 12/3" in entry.body:
            world.sandbox.store.update_client(login("ALFA"), {"clientStreet": "Piotrkowsk"})

    world.sandbox.observe(cut_street)
    report = world.run(cfg, "to-idosell")
    failed = {p.code: p.reason for p in report.failed}
    assert list(failed) == ["ALFA"]
    assert "verify: the shop shows clientStreet 'Piotrkowsk' after writing 'Piotrkowska 12/3'" in failed["ALFA"]
    assert report.counts.written == 5  # the others, billing included, read back as written
