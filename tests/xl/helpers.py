"""Helpers for the XL plugin tests (``from . import helpers as xlh``): rows for hand-made XL databases and an
independent Python model of the rules. The fixtures are in conftest.py.

The model below deliberately shares no code with the plugin's SQL: it walks the generator's rows in plain
Python with ``Decimal`` so the tests compare two independent computations.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from tradecredit.plugins.xl import schema as xl_schema
from tradecredit.plugins.xl.demo import DemoData, as_dicts

TODAY = date(2025, 3, 10)
AS_OF = datetime(2025, 3, 10, 11, 0, tzinfo=UTC)  # 12:00 in Warsaw
T = (TODAY - date(1800, 12, 28)).days  # XL day number of TODAY, computed independently of the plugin
CENT = Decimal("0.01")


def money(value: Any) -> Decimal:
    return Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)



def card(gid: int, code: str | None = None, **kw: Any) -> dict[str, Any]:
    row = {"Knt_GIDTyp": 32, "Knt_GIDNumer": gid, "Knt_Akronim": f"C{gid}" if code is None else code,
           "Knt_Nazwa1": f"Firma {gid}", "Knt_Status": 1, "Knt_LimitTerminowy": 1, "Knt_KnPParam": 0, "Knt_KnPNumer": 0}
    row.update(kw)
    return row


def limit(lid: int, knt: int, amount: str, start: int, end: int, **kw: Any) -> dict[str, Any]:
    row = {"KLK_Id": lid, "KLK_KntTyp": 32, "KLK_KntNumer": knt, "KLK_MaxLimitWart": Decimal(amount),
           "KLK_LimitPoTerminie": Decimal("0"), "KLK_DataOd": start, "KLK_DataDo": end, "KLK_Waluta": "",
           "KLK_KursL": Decimal(1), "KLK_KursM": Decimal(1)}
    row.update(kw)
    return row


_payment_numbers = iter(range(1, 10**9))


def payment(knt: int, left: str, due: int, **kw: Any) -> dict[str, Any]:
    row = {"TrP_GIDTyp": 2033, "TrP_GIDNumer": next(_payment_numbers), "TrP_GIDLp": 1, "TrP_KntTyp": 32,
           "TrP_KntNumer": knt, "TrP_Typ": 2, "TrP_Rozliczona": 0, "TrP_Termin": due, "TrP_Kwota": Decimal(left),
           "TrP_Pozostaje": Decimal(left), "TrP_PozostajeSys": Decimal(left), "TrP_Waluta": ""}
    row.update(kw)
    return row


def by_code(items: list[Any]) -> dict[str, Any]:
    return {item.code: item for item in items}


# --- the independent model --------------------------------------------------------------------------------
def _convert(amount: Decimal, currency: str | None, rate_l: Decimal, rate_m: Decimal) -> Decimal | None:
    if (currency or "") in ("", "PLN"):
        return money(amount)
    if not rate_l or not rate_m:
        return None
    return money(amount * rate_l / rate_m)


def expected_from_demo(data: DemoData, *, reservations: bool, documents: bool, tolerance: int = 0) -> dict[str, Any]:
    """code → dict of expected values, or code → "rejected: <why>"."""
    t = (data.today - date(1800, 12, 28)).days
    cards = {c["Knt_GIDNumer"]: c for c in as_dicts(xl_schema.KntKarty, data.table(xl_schema.KntKarty))}

    paying = {c["Knt_KnPNumer"] for c in cards.values() if c["Knt_KnPParam"] and c["Knt_KnPNumer"] != c["Knt_GIDNumer"]}

    def payer(c: dict[str, Any]) -> int:
        # one payer level: a card that pays for others is its own payer
        if c["Knt_GIDNumer"] in paying or not c["Knt_KnPParam"]:
            return c["Knt_GIDNumer"]
        return c["Knt_KnPNumer"]

    best: dict[int, dict[str, Any]] = {}
    for row in as_dicts(xl_schema.KntLimityK, data.table(xl_schema.KntLimityK)):
        if row["KLK_DataOd"] <= t <= row["KLK_DataDo"]:
            cur = best.get(row["KLK_KntNumer"])
            if cur is None or (row["KLK_DataOd"], row["KLK_Id"]) > (cur["KLK_DataOd"], cur["KLK_Id"]):
                best[row["KLK_KntNumer"]] = row
    used: dict[int, Decimal] = defaultdict(Decimal)
    overdue: dict[int, Decimal] = defaultdict(Decimal)
    bad: set[int] = set()
    for p in as_dicts(xl_schema.TraPlat, data.table(xl_schema.TraPlat)):
        if p["TrP_Typ"] != 2 or p["TrP_Rozliczona"] != 0 or p["TrP_KntNumer"] not in cards:
            continue
        owner = payer(cards[p["TrP_KntNumer"]])
        value = _convert(p["TrP_Pozostaje"], p["TrP_Waluta"], p["TrP_KursL"], p["TrP_KursM"])
        if value is None:
            bad.add(owner)
            continue
        used[owner] += value
        if p["TrP_Termin"] < t - tolerance and p["TrP_Termin"] != 0:
            overdue[owner] += value
    if reservations:
        elems = as_dicts(xl_schema.ZamElem, data.table(xl_schema.ZamElem))
        lines = {(e["ZaE_GIDNumer"], e["ZaE_GIDLp"]): e for e in elems}
        orders = {n["ZaN_GIDNumer"]: n for n in as_dicts(xl_schema.ZamNag, data.table(xl_schema.ZamNag))}
        for r in as_dicts(xl_schema.Rezerwacje, data.table(xl_schema.Rezerwacje)):
            open_qty = r["Rez_Ilosc"] - r["Rez_Zrealizowano"]
            if not (r["Rez_GIDTyp"] == 2576 and r["Rez_ZrdTyp"] == 960 and r["Rez_Aktywna"] == 1
                    and r["Rez_DataAktywacji"] <= t <= r["Rez_DataWaznosci"] and open_qty > 0):
                continue
            line = lines.get((r["Rez_ZrdNumer"], r["Rez_ZrdLp"]))
            if line is None or r["Rez_KntNumer"] not in cards:
                continue
            order = orders[r["Rez_ZrdNumer"]]
            value = _convert(open_qty * line["ZaE_CenaUzgodniona"], order["ZaN_Waluta"], order["ZaN_KursL"],
                             order["ZaN_KursM"])
            used[payer(cards[r["Rez_KntNumer"]])] += value or 0
    if documents:
        for d in as_dicts(xl_schema.TraNag, data.table(xl_schema.TraNag)):
            if d["TrN_Platnosci"] == 0 and d["TrN_GIDTyp"] == 2001 and d["TrN_KntNumer"] in cards:
                value = _convert(d["TrN_NettoR"] + d["TrN_VatR"], d["TrN_Waluta"], d["TrN_KursL"], d["TrN_KursM"])
                used[payer(cards[d["TrN_KntNumer"]])] += value or 0

    out: dict[str, Any] = {}
    for c in cards.values():
        if c["Knt_Archiwalny"]:
            continue
        pid = payer(c)
        if pid not in cards:
            out[c["Knt_Akronim"]] = "rejected: payer not found"
            continue
        if pid in bad:
            out[c["Knt_Akronim"]] = "rejected: rate"
            continue
        p = cards[pid]
        exp: dict[str, Any] = {"used": money(used[pid]), "overdue": money(overdue[pid]), "payer_code": p["Knt_Akronim"],
                               "is_business": c["Knt_Status"] == 1, "credit_limit": None, "overdue_limit": None,
                               "valid_from": None, "valid_to": None}
        if not p["Knt_LimitTerminowy"]:
            exp["limit_state"] = "unlimited"
        elif pid not in best:
            exp["limit_state"] = "lapsed"
        else:
            row = best[pid]
            lim = _convert(row["KLK_MaxLimitWart"], row["KLK_Waluta"], row["KLK_KursL"], row["KLK_KursM"])
            if lim is None:
                out[c["Knt_Akronim"]] = "rejected: limit rate"
                continue
            exp |= {
                "limit_state": "limited", "credit_limit": lim,
                "overdue_limit": _convert(row["KLK_LimitPoTerminie"], row["KLK_Waluta"], row["KLK_KursL"],
                                          row["KLK_KursM"]),
                "valid_from": date(1800, 12, 28) + (date(1800, 12, 29) - date(1800, 12, 28)) * row["KLK_DataOd"],
                "valid_to": date(1800, 12, 28) + (date(1800, 12, 29) - date(1800, 12, 28)) * row["KLK_DataDo"],
            }
        out[c["Knt_Akronim"]] = exp
    return out
