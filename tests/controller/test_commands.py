"""explain, customers, history and the reasons in plans and the audit trail, through the real CLI (issue 15)."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

from tradecredit.core.engine import BLOCK_MESSAGE_EN, BLOCK_MESSAGE_PL
from tradecredit.core.state import StateStore

NBSP = "\u00a0"


def test_explain_answers_why_a_customer_is_blocked_and_what_the_next_run_sends(book):
    book.run_all()
    out = book.cli("explain", "K000004", "--order", "100", "--lang", "pl").output

    # The ERP values behind the verdict, the Polish way.
    assert f"2{NBSP}300,00{NBSP}zł" in out and f"367,16{NBSP}zł" in out
    # The reason of the value, in words, with the amounts: the overdue rule under BLOCK.
    assert f"brak kredytu kupieckiego: zaległości 367,16{NBSP}zł > limit zaległości 0,00{NBSP}zł" in out
    assert "blocked_by_overdue" in out
    # The ERP fields behind the values (Source.describe): the flag and the amount, how "used" was computed.
    assert "Knt_LimitFlag = 1; Knt_LimitKredytu = 2300.00" in out
    assert "Knt_LimitKredytuWykorzystany = 1367.16 | Σ CDN.BnkZdarzenia (2) = 1367.16 [used = stored]" in out
    assert "Knt_LimitPrzeterKredytFlag = 1; Knt_LimitPrzeterKredytWartosc = 0.00" in out
    # The overdue amount and the receivables behind it: the one invoice due in the past, not the future one.
    assert re.search(r"Σ CDN\.BnkZdarzenia BZd_Termin < \d{4}-\d\d-\d\d = 367\.16: FA/\d+/2025 \(2025-02-01\) "
                     r"367\.16(\s|$)", out)
    assert "CDN.eSklepStanowiska.ESS_KontrolaLimituPlat → block" in out
    # The decision on a deferred order of 100 zł and the customer's message, verbatim.
    assert "ODRZUCONE" in out and BLOCK_MESSAGE_PL in out
    # Since when: the first confirmed write of the unbroken run of blocking ones (runs #1 and #2, one per shop).
    assert "Zamówienia z odroczoną płatnością zablokowane od " in out and "(przebieg #1)" in out
    # What each shop last confirmed and when, and that the next run sends nothing.
    assert out.count("Ostatnio potwierdzone przez sklep:") == 2
    assert out.count("Następny przebieg nic nie wyśle") == 2
    english = book.cli("explain", "K000004", "--order", "100", "--lang", "en").output
    assert "no deferred credit: overdue 367.16 PLN > overdue limit 0.00 PLN" in english
    assert "REFUSED" in english and BLOCK_MESSAGE_EN in english and "zł" not in english


def test_explain_reads_only_that_customer_and_shows_the_next_change(book):
    book.run_all()
    book.set_limit("K000002", "12000.00")
    data = json.loads(book.cli("explain", "K000002", "--json").output)
    (source,) = data["sources"].values()
    assert source["found"] and source["record"]["credit_limit"] == "12000.00"
    idosell = next(p for p in data["pipelines"] if p["pipeline"] == "to-idosell")
    assert idosell["confirmed"]["payload"]["clientTradeCreditLimitExternal"] == "10000.00"
    assert idosell["unchanged"] is False
    assert idosell["next_run"] == [{"field": "clientTradeCreditLimitExternal", "old": "10000.00", "new": "12000.00",
                                    "known_old": True, "reason": "from_erp"}]
    text = book.cli("explain", "K000002", "--lang", "en").output
    assert "The next run sends 1 change(s)" in text and "10000.00 → 12000.00  (from_erp)" in text
    assert "blocked since" not in text  # K000002 never was
    missing = book.cli("explain", "NOPE-1", "--lang", "en", code=1)
    assert "Customer NOPE-1 is not in the ERP" in missing.output


def test_a_real_runs_report_and_audit_trail_keep_old_new_and_the_reason(book):
    book.run_all()
    book.set_limit("K000002", "12000.00")
    run = book.cli("run", "to-idosell")
    assert "Written and confirmed by the shop (1 field(s))" in run.output
    assert "clientTradeCreditLimitExternal" in run.output and "from_erp" in run.output
    (report,) = json.loads(book.cli("run", "to-idosell", "--json").output)  # always a list (issue 17)
    assert report["plan"] == []  # nothing changed since
    history = json.loads(book.cli("state", "history", "--json").output)
    written_run = next(r["id"] for r in history if r["pipeline"] == "to-idosell" and r["counts"].get("written"))
    items = book.cli("state", "history", "--run", str(written_run)).output
    assert "clientTradeCreditLimitExternal: 10000.00 → 12000.00 (from_erp)" in items
    store = StateStore.open(book.config.state.url, read_only=True)
    try:
        saved = store.run(written_run)
        assert saved is not None
        assert saved["report"]["plan"][0]["reason"] == "from_erp"
        (item,) = store.run_items(written_run)
        assert item["detail"]["credit"]["credit_limit"] == "12000.00"
    finally:
        store.close()
    # The first write of K000004 says why IdoSell got a limit of 0.
    first = min(r["id"] for r in history if r["pipeline"] == "to-idosell")
    first_items = book.cli("state", "history", "--run", str(first)).output
    assert "clientTradeCreditLimitExternal: ? → 0.00 (blocked_by_overdue)" in first_items


def test_history_shows_each_confirmed_change_with_when_and_which_run(book):
    book.run_all()
    book.set_limit("K000002", "12000.00")
    book.run_all()
    out = book.cli("history", "K000002", "--pipeline", "to-idosell", "--lang", "pl").output
    assert "Historia klienta K000002" in out
    assert f"clientTradeCreditLimitExternal: 10{NBSP}000,00 → 12{NBSP}000,00 (from_erp: z ERP)" in out
    assert out.count("zapisano") == 2
    rows = json.loads(book.cli("history", "K000002", "--json").output)
    assert [r["pipeline"] for r in rows].count("to-eshop") == 2
    newest = rows[0]
    assert newest["facts"]["limit"] == "12000.00"
    assert book.cli("history", "NOBODY", "--lang", "en").output.strip() == "No history for customer NOBODY"



def test_customers_filters_sorts_and_exports(book, tmp_path: Path):
    book.run_all()
    blocked = book.cli("customers", "--blocked", "--pipeline", "to-idosell", "--format", "json").output
    assert [r["code"] for r in json.loads(blocked)] == ["K000004"]
    over = json.loads(book.cli("customers", "--over", "80", "--pipeline", "to-eshop", "--format", "json").output)
    assert [(r["code"], r["utilisation_pct"]) for r in over] == [("K000007", "90.0")]
    by_used = json.loads(book.cli("customers", "--sort", "-used", "--pipeline", "to-eshop", "--format",
                                  "json").output)
    assert [r["code"] for r in by_used] == ["K000007", "K000002", "K000004"]
    future = json.loads(book.cli("customers", "--changed-since", "2099-01-01", "--format", "json").output)
    assert future == []
    table = book.cli("customers", "--pipeline", "to-idosell", "--lang", "pl").output
    assert "Wykorzystany" in table and f"4{NBSP}500,00{NBSP}zł" in table and "3 klient(ów)" in table
    rows = list(csv.DictReader(io.StringIO(book.cli("customers", "--format", "csv").output)))
    assert len(rows) == 6 and {r["pipeline"] for r in rows} == {"to-idosell", "to-eshop"}
    k4 = next(r for r in rows if r["code"] == "K000004" and r["pipeline"] == "to-idosell")
    assert (k4["blocked"], k4["shop_limit_reason"], k4["overdue"]) == ("True", "blocked_by_overdue", "367.16")
    xlsx = tmp_path / "book.xlsx"
    book.cli("customers", "--format", "xlsx", "-o", str(xlsx), "--blocked")
    from openpyxl import load_workbook

    sheet = load_workbook(xlsx).active
    values = list(sheet.iter_rows(values_only=True))
    header = values[0]
    assert [dict(zip(header, v, strict=True))["code"] for v in values[1:]] == ["K000004", "K000004"]
    assert dict(zip(header, values[1], strict=True))["overdue"] == 367.16
    assert book.cli("customers", "--format", "xlsx", code=2).exit_code == 2  # needs -o


def test_the_language_defaults_to_the_locale(book):
    book.run_all()
    polish = book.cli("customers", env={"LANG": "pl_PL.UTF-8", "LC_ALL": ""}).output
    english = book.cli("customers", env={"LANG": "en_GB.UTF-8", "LC_ALL": ""}).output
    assert "Wykorzystany" in polish and "zł" in polish
    assert "Used" in english and "PLN" in english and "zł" not in english


def test_a_large_real_runs_plan_is_capped_and_the_audit_trail_keeps_every_change(book, monkeypatch):
    from tradecredit.core import sync
    from tradecredit.core.report import render_text

    monkeypatch.setattr(sync, "PLAN_CAP", 5)
    _, to_eshop = book.run_all()
    assert len(to_eshop.plan) == 5 and to_eshop.plan_omitted > 0
    assert f"… {to_eshop.plan_omitted} more (`state history --run` lists every one)" in render_text(to_eshop)
    store = StateStore.open(book.config.state.url, read_only=True)
    try:
        written = sum(len(i["detail"]["changes"]) for i in store.run_items(to_eshop.run_id))
    finally:
        store.close()
    assert written == len(to_eshop.plan) + to_eshop.plan_omitted


def test_customers_also_lists_customers_the_shop_does_not_hold(world, tc_sqlite_url, tmp_path):
    from click.testing import CliRunner
    from tradecredit.core.cli import cli

    from .conftest import credit

    credit.make_optima(tc_sqlite_url, [credit.optima_card("HELD", limit="100.00"), credit.optima_card("NOACC")])
    world.accounts("HELD")
    data = world.data({"plugin": "optima", "url": tc_sqlite_url})
    world.run(world.config({"plugin": "optima", "url": tc_sqlite_url}), "to-idosell")
    path = tmp_path / "c.toml"
    path.write_text(credit.toml(data), encoding="utf-8")
    out = CliRunner().invoke(cli, ["customers", "-c", str(path), "--pipeline", "to-idosell", "--format", "json"])
    rows = {r["code"]: r for r in json.loads(out.output)}
    assert rows["HELD"]["outcome"] == "written" and rows["HELD"]["limit"] == "100.00"
    no_account = rows["NOACC"]
    assert (no_account["outcome"], no_account["outcome_reason"]) == ("unmatched", "no shop account with this code")
    table = CliRunner().invoke(cli, ["customers", "-c", str(path), "--lang", "pl"]).output
    assert "brak konta w sklepie" in table


def test_blocked_since_is_the_start_of_the_unbroken_run_of_blocking_writes():
    from datetime import UTC, datetime

    from tradecredit.core.controller import blocked_since

    def row(day: int, run: int, blocked: bool) -> dict:
        return {"at": datetime(2026, 12, day, tzinfo=UTC), "run_id": run, "outcome": "written",
                "facts": {"blocked": blocked}}

    newest_first = [row(5, 9, True), {"outcome": "unchanged", "at": None, "run_id": 8, "facts": {}},
                    row(4, 7, True), row(3, 5, False), row(2, 3, True)]
    assert blocked_since(newest_first) == {"at": datetime(2026, 12, 4, tzinfo=UTC), "run_id": 7}
    assert blocked_since([row(5, 9, False), row(4, 7, True)]) is None
    assert blocked_since([]) is None
