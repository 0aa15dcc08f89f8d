"""Issue 10, case by case, end to end: an ERP database (SQLite and PostgreSQL, ``tc_database_url``) →
``run_pipeline`` → the IdoSell sandbox and the e-Sklep storefront over real HTTP → a deferred-payment order."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from sqlalchemy import update
from tradecredit.core.check import check_config
from tradecredit.core.engine import BLOCK_MESSAGE_PL, STALE_BLOCK_MESSAGE_PL, WARN_MESSAGE_PL
from tradecredit.core.records import LimitState
from tradecredit.core.report import ExitCode, render_text
from tradecredit.core.state import StateStore

from .conftest import (
    AS_OF,
    OPTIMA,
    XL_TODAY,
    make_optima,
    make_xl,
    optima_card,
    optima_payment,
    run_sql,
    storefront_order,
    storefront_page,
    xl_card,
    xl_limit,
    xl_payment,
)
from .conftest import login_of as login
from .conftest import toml as _toml

D = Decimal
UNLIMITED = D("999999999.99")
PLACED, REFUSED = 303, 200


def lines_of(cfg: Any, pipeline: str) -> dict[str, Any]:
    return {line.result.name: line.result for line in check_config(cfg, as_of=AS_OF)
            if line.subject == f"pipeline {pipeline}"}


def test_case_1_a_lapsed_xl_limit_gives_no_credit_in_either_shop(tc_database_url, world):
    t = XL_TODAY
    make_xl(tc_database_url,
            cards=[xl_card(1, "EXPIRED"), xl_card(2, "GAP"), xl_card(3, "FUTURE"), xl_card(4, "VALID")],
            limits=[xl_limit(1, "5000", t - 100, t - 1), xl_limit(2, "5000", t - 100, t - 10),
                    xl_limit(2, "5000", t + 10, t + 100), xl_limit(3, "5000", t + 1, t + 100),
                    xl_limit(4, "5000", t - 1, t + 1)])
    lapsed = ["EXPIRED", "GAP", "FUTURE"]
    world.accounts(*lapsed, "VALID")
    cfg = world.config({"plugin": "xl", "url": tc_database_url, "control_mode": "block"})
    to_idosell, to_eshop = world.run_both(cfg)
    assert (to_idosell.status, to_eshop.status, to_idosell.counts.written, to_eshop.counts.written) == (
        "ok", "ok", 4, 4)
    for code in lapsed:
        assert world.idosell_limit(code) == D("0.00"), code
        assert not world.sandbox.place_order(login(code), "0.01").accepted
        assert world.storefront.customer(code).item.limit_state is LimitState.LAPSED
        refused = storefront_order(world, code, papier=1)
        assert refused.status_code == REFUSED and BLOCK_MESSAGE_PL in refused.text, code
        assert "Termin obowiązywania limitu kredytu minął" in storefront_page(world, code, "/strefa-klienta")
    assert world.idosell_limit("VALID") == D("5000.00")
    assert storefront_order(world, "VALID", papier=1).status_code == PLACED
    lapsed_line = lines_of(cfg, "to-eshop")["lapsed limits"]
    assert lapsed_line.detail.startswith("3 customer(s)") and "lapsed_limit = zero" in lapsed_line.detail
    assert "3 lapsed" in lines_of(cfg, "to-idosell")["read"].detail

    # The documented alternative: a lapsed limit treated as "no limit granted" (then [engine] no_limit decides).
    loose = world.config({"plugin": "xl", "url": tc_database_url, "control_mode": "block"},
                         engine={"lapsed_limit": "no_limit"})
    again_idosell, again_eshop = world.run_both(loose)
    assert again_idosell.counts.written == 3  # only the lapsed customers' IdoSell values change
    assert again_eshop.counts.written == 4  # the policy travels with every storefront customer
    assert world.idosell_limit("EXPIRED") == UNLIMITED
    assert world.sandbox.place_order(login("EXPIRED"), "2500.00").accepted
    assert storefront_order(world, "EXPIRED", papier=1).status_code == PLACED


def test_case_2_a_limit_cut_to_0_reaches_the_shop_and_a_rejected_one_says_what_the_shop_holds(tc_database_url, world):
    make_optima(tc_database_url, [optima_card("CUT", limit="5000.00"), optima_card("OK", limit="1000.00")])
    world.accounts("CUT", "OK")
    cfg = world.config({"plugin": "optima", "url": tc_database_url})
    world.run_both(cfg)
    assert world.idosell_limit("CUT") == D("5000.00")
    run_sql(tc_database_url, update(OPTIMA.kontrahenci).where(OPTIMA.kontrahenci.c.Knt_Kod == "CUT")
            .values(Knt_LimitKredytu=D("0.00")))

    # With zero_limit = "reject" the cut is bad data: the shop keeps 5 000, and the report and check say so.
    strict = world.config({"plugin": "optima", "url": tc_database_url, "zero_limit": "reject"})
    held = world.run(strict, "to-idosell")
    assert held.status == "partial" and held.exit_code == ExitCode.PARTIAL
    (problem,) = held.rejected
    assert problem.code == "CUT" and problem.shop_holds["clientTradeCreditLimitExternal"] == "5000.00"
    assert "the shop still holds older values for 1" in render_text(held)
    assert "clientTradeCreditLimitExternal = 5000.00" in render_text(held)
    line = lines_of(strict, "to-idosell")["rejected but held"]
    assert "CUT" in line.detail and "5000.00" in line.detail
    assert world.idosell_limit("CUT") == D("5000.00")

    # By default a limit of 0 is a credit controller's "no deferred credit": it reaches both shops.
    to_idosell, to_eshop = world.run_both(cfg)
    assert (to_idosell.status, to_eshop.status) == ("ok", "ok") and not to_idosell.rejected
    assert world.idosell_limit("CUT") == D("0.00")
    assert not world.sandbox.place_order(login("CUT"), "3000.00").accepted
    assert storefront_order(world, "CUT", krzeslo=2).status_code == REFUSED  # 3 072,54 zł gross
    assert storefront_order(world, "OK", papier=1).status_code == PLACED


def test_case_3_a_minimal_optima_config_sends_the_erp_limit_whatever_the_mode(tc_database_url, world):
    make_optima(tc_database_url, [optima_card("W", limit="5000.00", used="1000.00")], workstation_code=1)  # ostrzeżenie
    world.accounts("W")
    cfg = world.config({"plugin": "optima", "url": tc_database_url})  # only plugin + url
    report = world.run(cfg, "to-idosell")
    assert report.status == "ok" and report.degraded_modes == {"warn → block": 1}
    assert world.idosell_limit("W") == D("5000.00")  # seed 000: IdoSell's limit is Optima's "Limit kredytu"
    assert not world.sandbox.place_order(login("W"), "4000.01").accepted
    assert world.sandbox.place_order(login("W"), "4000.00").accepted
    mapping = lines_of(cfg, "to-idosell")
    assert mapping["mode warn"].detail.startswith("1 customer(s): warn: not supported by the target, enforced as block")
    assert 'allow_mode = "unlimited"' in mapping["mode warn"].detail
    assert "enforced as block" in mapping["mode allow"].detail and mapping["mode block"].status.value == "ok"
    # e-Sklep warns natively: the order over the limit goes through with the warning
    world.run(cfg, "to-eshop")
    warned = storefront_order(world, "W", laptop=1)  # 4 918,77 zł gross > 4 000 left
    assert warned.status_code == PLACED
    order = world.storefront.orders("W")[-1]
    assert order.message == WARN_MESSAGE_PL

    lifted = world.config({"plugin": "optima", "url": tc_database_url}, idosell_options={"allow_mode": "unlimited"})
    assert world.run(lifted, "to-idosell").degraded_modes == {"warn → allow": 1}
    assert world.idosell_limit("W") == UNLIMITED
    assert "enforced as allow" in lines_of(lifted, "to-idosell")["mode warn"].detail


def test_case_4_the_overdue_block_leaves_no_credit_also_with_a_prepayment(tc_database_url, world):
    past, later = datetime(2025, 1, 1), datetime(2025, 6, 1)
    prepaid = optima_card("PREPAID", limit="1000.00", overdue_limit="10.00")
    fine = optima_card("FINE", limit="1000.00")
    make_optima(tc_database_url, [prepaid, fine], [
        optima_payment(prepaid, "100.00", due=past), optima_payment(prepaid, "600.00", due=later, direction=-1),
        optima_payment(fine, "100.00", due=later), optima_payment(fine, "600.00", due=later, direction=-1),
    ])
    world.accounts("PREPAID", "FINE")
    cfg = world.config({"plugin": "optima", "url": tc_database_url, "used": "computed", "net_payables": True,
                        "control_mode": "block"})
    to_idosell, to_eshop = world.run_both(cfg)
    assert to_idosell.status == to_eshop.status == "ok"
    assert world.storefront.customer("PREPAID").item.used == D("-500.00")  # a prepayment: negative used
    client = world.sandbox.client(login("PREPAID"))
    assert (client.limit, client.balance) == (D("0.00"), D("0.00"))
    assert world.sandbox.available(login("PREPAID")) == D("0.00")
    assert not world.sandbox.place_order(login("PREPAID"), "0.01").accepted
    assert storefront_order(world, "PREPAID", papier=1).status_code == REFUSED
    # Without a breach the prepayment is credit in both shops alike: 1 000 − (−500) = 1 500 available.
    assert world.sandbox.available(login("FINE")) == D("1500.00")
    assert not world.sandbox.place_order(login("FINE"), "1500.01").accepted
    assert world.sandbox.place_order(login("FINE"), "1500.00").accepted
    assert storefront_order(world, "FINE", krzeslo=1).status_code == REFUSED  # 1 536,27 zł gross > 1 500
    assert storefront_order(world, "FINE", toner=3).status_code == PLACED  # 1 287,81 zł gross ≤ 1 500


def test_case_5_chained_xl_payers_follow_one_level_and_count_once(tc_database_url, world):
    t = XL_TODAY
    make_xl(tc_database_url,
            cards=[xl_card(1, "K", Knt_KnPParam=1, Knt_KnPNumer=2), xl_card(2, "P", Knt_KnPParam=1, Knt_KnPNumer=3),
                   xl_card(3, "Q"), xl_card(4, "R", Knt_KnPParam=1, Knt_KnPNumer=3)],
            limits=[xl_limit(2, "1000", t - 1, t + 1), xl_limit(3, "5000", t - 1, t + 1)],
            payments=[xl_payment(1, "100.00", t + 5), xl_payment(2, "200.00", t + 5), xl_payment(3, "300.00", t + 5),
                      xl_payment(4, "400.00", t + 5)])
    world.accounts("K", "P", "Q", "R")
    cfg = world.config({"plugin": "xl", "url": tc_database_url, "control_mode": "block"})
    to_idosell, to_eshop = world.run_both(cfg)
    assert to_idosell.status == to_eshop.status == "ok"
    for code, (limit, debt) in {"K": ("1000.00", "300.00"), "P": ("1000.00", "300.00"),
                                "Q": ("5000.00", "700.00"), "R": ("5000.00", "700.00")}.items():
        client = world.sandbox.client(login(code))
        assert (client.limit, client.balance) == (D(limit), -D(debt)), code
        assert world.storefront.customer(code).item.used == D(debt), code
    assert not world.sandbox.place_order(login("P"), "700.01").accepted
    assert world.sandbox.place_order(login("P"), "700.00").accepted


def test_case_6_orders_count_gross_in_both_shops(tc_database_url, world):
    make_optima(tc_database_url, [optima_card("G", limit="4000.00")])
    world.accounts("G")
    cfg = world.config({"plugin": "optima", "url": tc_database_url})
    world.run_both(cfg)
    summary = storefront_order(world, "G", action="review", laptop=1)
    assert summary.status_code == 200 and "Razem netto" in summary.text
    for amount in ("3\u00a0999,00\u00a0zł", "919,77\u00a0zł", "4\u00a0918,77\u00a0zł"):
        assert amount in summary.text
    assert world.storefront.orders("G") == []  # the summary places nothing
    refused = storefront_order(world, "G", laptop=1)  # 3 999 zł net passes 4 000 net — but its invoice is gross
    assert refused.status_code == REFUSED and BLOCK_MESSAGE_PL in refused.text
    assert storefront_order(world, "G", krzeslo=2).status_code == PLACED  # 2 498 net = 3 072,54 gross
    assert world.storefront.store.pending("G", "PLN") == D("3072.54")
    assert "3\u00a0072,54\u00a0zł" in storefront_page(world, "G", "/strefa-klienta")
    assert storefront_order(world, "G", papier=9).status_code == REFUSED  # 995,19 gross > 927,46 left

    # IdoSell's order rule values orders gross too: net prices + the VAT rate per product
    assert not world.sandbox.place_order(login("G"), "3999.00", vat="23").accepted
    assert world.sandbox.place_order(login("G"), "3200.00", vat="23").accepted  # 3 936,00 gross
    assert world.sandbox.orders()[-1].total == D("3936.00")
    assert world.sandbox.available(login("G")) == D("64.00")
    assert not world.sandbox.place_order(login("G"), "60.00", vat="8").accepted  # 64,80 gross


def test_case_7_engine_stale_settings_reach_the_storefront_and_check_says_idosell_cannot(tc_database_url, world):
    make_optima(tc_database_url, [optima_card("S", limit="10000.00")])
    world.accounts("S")
    two_hours_ago = datetime.now(UTC) - timedelta(hours=2)
    stale = world.config({"plugin": "optima", "url": tc_database_url},
                         engine={"max_age": "PT1H", "stale_fallback": "block"})
    assert world.run(stale, "to-eshop", as_of=two_hours_ago).status == "ok"
    item = world.storefront.customer("S").item
    assert item.policy is not None and item.policy.stale_fallback.value == "block"
    assert item.policy.max_age_seconds == 3600
    refused = storefront_order(world, "S", papier=1)
    assert refused.status_code == REFUSED and STALE_BLOCK_MESSAGE_PL in refused.text
    assert "został przekroczony" not in refused.text
    assert storefront_order(world, "S", "online", papier=1).status_code == PLACED
    # the same data under the default policy (decide on old data and say so) is sent again and decides normally
    default = world.config({"plugin": "optima", "url": tc_database_url})
    assert world.run(default, "to-eshop", as_of=two_hours_ago).counts.written == 1
    assert storefront_order(world, "S", papier=1).status_code == PLACED

    line = lines_of(stale, "to-idosell")["stale data"]
    assert line.status.value == "warn" and "cannot apply [engine] stale_fallback = 'block'" in line.detail
    assert "applies the fallback itself" in lines_of(stale, "to-eshop")["engine policy"].detail


def test_case_8_xl_empty_due_dates_are_not_overdue_and_a_null_credit_type_is_rejected(tc_database_url, world):
    t = XL_TODAY
    make_xl(tc_database_url,
            cards=[xl_card(1, "EMPTY-DUE"), xl_card(2, "NULL-TYPE", Knt_LimitTerminowy=None)],
            limits=[xl_limit(1, "1000", t - 1, t + 1), xl_limit(2, "1000", t - 1, t + 1)],
            payments=[xl_payment(1, "300.00", 0)])  # TrP_Termin = 0: XL's empty date
    world.accounts("EMPTY-DUE", "NULL-TYPE")
    cfg = world.config({"plugin": "xl", "url": tc_database_url, "control_mode": "block"})  # overdue limit 0
    to_idosell, to_eshop = world.run_both(cfg)
    assert world.idosell_limit("EMPTY-DUE") == D("1000.00")  # not overdue, so no overdue block
    assert world.sandbox.place_order(login("EMPTY-DUE"), "700.00").accepted
    assert world.storefront.customer("EMPTY-DUE").item.overdue == D("0.00")
    assert storefront_order(world, "EMPTY-DUE", papier=1).status_code == PLACED
    for report in (to_idosell, to_eshop):
        (problem,) = report.rejected
        assert problem.code == "NULL-TYPE" and "Knt_LimitTerminowy is NULL" in problem.reason
        assert report.status == "partial"
    assert world.idosell_limit("NULL-TYPE") is None and world.storefront.customer("NULL-TYPE") is None


def test_case_9_status_partial_is_exit_4_in_the_report_json_and_history(tc_database_url, world, tmp_path: Path):
    make_optima(tc_database_url, [optima_card("GOOD", limit="1000.00"), optima_card("BAD", Knt_LimitFlag=2)])
    world.accounts("GOOD", "BAD")
    path = tmp_path / "tradecredit.toml"
    path.write_text(_toml(world.data({"plugin": "optima", "url": tc_database_url})), encoding="utf-8")
    runner = CliRunner()
    as_json = runner.invoke(_cli(), ["run", "-c", str(path), "to-idosell", "--json"])
    assert as_json.exit_code == 4, as_json.output
    [report] = json.loads(as_json.stdout)
    assert (report["status"], report["exit_code"], report["counts"]["rejected"]) == ("partial", 4, 1)
    text = runner.invoke(_cli(), ["run", "-c", str(path), "to-idosell"])
    assert text.exit_code == 4 and "status: PARTIAL" in text.output
    history = runner.invoke(_cli(), ["state", "history", "-c", str(path), "--json"])
    assert [r["status"] for r in json.loads(history.stdout)] == ["partial", "partial"]
    latest, first = (r["id"] for r in json.loads(history.stdout))
    runs = StateStore.open(world.data({})["state"]["url"], read_only=True)
    try:
        # The audit trail records BAD's rejection once; the repeat is counted, not written again (issue 11).
        assert sorted((i["code"], i["outcome"]) for i in runs.run_items(first)) == [
            ("BAD", "rejected"), ("GOOD", "written")]
        assert runs.run_items(latest) == [] and runs.run_trail(latest) == {"not_repeated": {"rejected": 1}}
    finally:
        runs.close()

    run_sql(tc_database_url, update(OPTIMA.kontrahenci).where(OPTIMA.kontrahenci.c.Knt_Kod == "BAD")
            .values(Knt_LimitFlag=1, Knt_LimitKredytu=D("10.00")))
    fixed = runner.invoke(_cli(), ["run", "-c", str(path), "to-idosell", "--json"])
    assert fixed.exit_code == 0 and json.loads(fixed.stdout)[0]["status"] == "ok"
    history = runner.invoke(_cli(), ["state", "history", "-c", str(path), "--json"])
    assert [r["status"] for r in json.loads(history.stdout)] == ["ok", "partial", "partial"]


def _cli() -> Any:
    from tradecredit.core.cli import cli

    return cli


def test_case_10_a_currency_the_shop_cannot_hold_is_unsupported_not_a_failure(tc_database_url, world):
    make_optima(tc_database_url, [optima_card("PLN-1", limit="1000.00"),
                               optima_card("EUR-1", limit="800.00", currency="EUR")])
    world.accounts("PLN-1", "EUR-1")
    cfg = world.config({"plugin": "optima", "url": tc_database_url})
    report = world.run(cfg, "to-idosell")
    assert (report.status, report.exit_code, report.counts.written, report.counts.unsupported) == (
        "ok", ExitCode.OK, 1, 1)
    assert report.counts.rejected == 0 and report.rejected == []
    (problem,) = report.unsupported
    assert (problem.code, problem.currency, problem.reason_code) == ("EUR-1", "EUR", "unsupported_currency")
    assert "not representable by the shop (unsupported)" in render_text(report)
    assert world.idosell_limit("EUR-1") is None  # never written
    store = StateStore.open(world.data({})["state"]["url"], read_only=True)
    try:
        outcomes = {i["code"]: i["outcome"] for i in store.run_items(report.run_id)}
    finally:
        store.close()
    assert outcomes == {"PLN-1": "written", "EUR-1": "unsupported"}
    line = lines_of(cfg, "to-idosell")["unsupported"]
    assert line.status.value == "warn" and "1 in EUR" in line.detail
    again = world.run(cfg, "to-idosell")  # a steady state: every run says the same, and exits 0
    assert (again.status, again.counts.unsupported, again.counts.unchanged) == ("ok", 1, 1)
    # e-Sklep sells in EUR: the same customer is written there
    to_eshop = world.run(cfg, "to-eshop")
    assert to_eshop.counts.written == 2 and world.storefront.customer("EUR-1").item.currency == "EUR"
