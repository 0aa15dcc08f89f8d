"""Helpers for the end-to-end tests of issue 10: ERP databases built row by row (Optima, XL) on SQLite and
PostgreSQL, the IdoSell sandbox and the e-Sklep storefront over real HTTP, and one config to run them."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine
from tradecredit.core.config import Config, parse_config
from tradecredit.core.plugins import PluginHost
from tradecredit.core.secrets import forget_secrets
from tradecredit.plugins import eshop, idosell, optima, xl
from tradecredit.plugins.comarch import create_erp_tables, schema_map
from tradecredit.plugins.eshop import RunningStorefront, start_storefront
from tradecredit.plugins.idosell.sandbox import Sandbox, start_sandbox
from tradecredit.plugins.optima.schema import build_metadata
from tradecredit.plugins.xl import schema as xl_schema

AS_OF = datetime(2025, 3, 10, 11, 0, tzinfo=UTC)  # 12:00 in Warsaw
TODAY = date(2025, 3, 10)
XL_TODAY = (TODAY - date(1800, 12, 28)).days  # XL's day number, computed here independently of the plugin
API_KEY = "credit-e2e-key-41c9"
FAST_RETRY = {"max_attempts": 3, "backoff_initial": 0.01, "backoff_max": 0.05, "total_timeout": 5.0}
_ids = itertools.count(1)


def _insert(url: str, metadata: Any, rows: dict[Any, list[dict[str, Any]]]) -> None:
    engine = create_engine(url)
    create_erp_tables(engine, metadata)
    with engine.begin() as conn:
        conn = conn.execution_options(schema_translate_map=schema_map(engine))
        for table, values in rows.items():
            if values:
                conn.execute(table.insert(), values)
    engine.dispose()


def run_sql(url: str, statement: Any) -> None:
    """Change the ERP database as a credit controller would (an UPDATE on the card)."""
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execution_options(schema_translate_map=schema_map(engine)).execute(statement)
    engine.dispose()


# --- Optima ------------------------------------------------------------------------------------------------
OPTIMA = build_metadata()


def optima_card(code: str, *, limit: str | None = None, used: str = "0.00", overdue_limit: str | None = None,
                currency: str = "", **values: Any) -> dict[str, Any]:
    kid = next(_ids)
    row = {
        "Knt_KntId": kid, "Knt_PodmiotTyp": 1, "Knt_Kod": code, "Knt_Nazwa1": f"Firma {code}", "Knt_Nazwa2": "",
        "Knt_NipKraj": "PL", "Knt_Nip": f"52{kid:08d}", "Knt_LimitFlag": int(limit is not None),
        "Knt_LimitKredytu": Decimal(limit or "0"), "Knt_LimitPrzeterKredytFlag": int(overdue_limit is not None),
        "Knt_LimitPrzeterKredytWartosc": Decimal(overdue_limit or "0"), "Knt_LimitKredytuWal": currency,
        "Knt_LimitKredytuWykorzystany": Decimal(used), "Knt_Finalny": 0, "Knt_Nieaktywny": 0,
        "Knt_TS_Mod": datetime(2025, 1, 1),
    }
    row.update(values)
    return row


def optima_payment(card: dict[str, Any], amount: str, *, due: datetime, direction: int = 1) -> dict[str, Any]:
    """An open payment of ``card``: a receivable (direction 1) or a payable (-1), nothing settled yet."""
    pid = next(_ids)
    value = Decimal(amount)
    return {
        "BZd_BZdID": pid, "BZd_NumerPelny": f"FA/{pid}/2025", "BZd_PodmiotTyp": 1, "BZd_PodmiotID": card["Knt_KntId"],
        "BZd_DataDok": datetime(2025, 1, 15), "BZd_Termin": due, "BZd_KwotaSys": value, "BZd_KwotaRozSys": Decimal(0),
        "BZd_Kwota": value, "BZd_KwotaRoz": Decimal(0), "BZd_Waluta": "", "BZd_Kierunek": direction,
        "BZd_Rozliczono": 1, "BZd_Rozliczono2": 1, "BZd_Stan": 3,
    }


def make_optima(url: str, cards: list[dict[str, Any]], payments: list[dict[str, Any]] = (),  # type: ignore[assignment]
                *, workstation_code: int = 2) -> str:
    """An Optima database with one e-Sklep workstation whose ESS_KontrolaLimituPlat is ``workstation_code``."""
    station = {"ESS_ESSId": 1, "ESS_Nazwa": "Sklep B2B", "ESS_Nieaktywny": 0,
               "ESS_KontrolaLimituPlat": workstation_code}
    _insert(url, OPTIMA.metadata, {OPTIMA.kontrahenci: cards, OPTIMA.zdarzenia: list(payments),
                                   OPTIMA.stanowiska: [station]})
    return url


# --- XL ----------------------------------------------------------------------------------------------------
def xl_card(gid: int, code: str, **values: Any) -> dict[str, Any]:
    row = {"Knt_GIDTyp": 32, "Knt_GIDNumer": gid, "Knt_Akronim": code, "Knt_Nazwa1": f"Firma {code}",
           "Knt_Status": 1, "Knt_LimitTerminowy": 1, "Knt_KnPParam": 0, "Knt_KnPNumer": 0}
    row.update(values)
    return row


def xl_limit(knt: int, amount: str, start: int, end: int, **values: Any) -> dict[str, Any]:
    row = {"KLK_Id": next(_ids), "KLK_KntTyp": 32, "KLK_KntNumer": knt, "KLK_MaxLimitWart": Decimal(amount),
           "KLK_LimitPoTerminie": Decimal("0"), "KLK_DataOd": start, "KLK_DataDo": end, "KLK_Waluta": "",
           "KLK_KursL": Decimal(1), "KLK_KursM": Decimal(1)}
    row.update(values)
    return row


def xl_payment(knt: int, left: str, due: int) -> dict[str, Any]:
    value = Decimal(left)
    return {"TrP_GIDTyp": 2033, "TrP_GIDNumer": next(_ids), "TrP_GIDLp": 1, "TrP_KntTyp": 32, "TrP_KntNumer": knt,
            "TrP_Typ": 2, "TrP_Rozliczona": 0, "TrP_Termin": due, "TrP_Kwota": value, "TrP_Pozostaje": value,
            "TrP_PozostajeSys": value, "TrP_Waluta": ""}


def make_xl(url: str, cards: list[dict[str, Any]], limits: list[dict[str, Any]] = (),  # type: ignore[assignment]
            payments: list[dict[str, Any]] = ()) -> str:  # type: ignore[assignment]
    t = xl_schema.metadata.tables
    _insert(url, xl_schema.metadata, {t["CDN.KntKarty"]: cards, t["CDN.KntLimityK"]: list(limits),
                                      t["CDN.TraPlat"]: list(payments)})
    return url


# --- shops and the config ----------------------------------------------------------------------------------
def toml(data: dict[str, Any]) -> str:
    """The few shapes the test configs use, as TOML (tables, nested tables, arrays of pipeline tables)."""
    def value(v: Any) -> str:
        return json.dumps(v) if not isinstance(v, bool) else str(v).lower()

    out: list[str] = []

    def table(prefix: str, body: dict[str, Any]) -> None:
        out.append(f"[{prefix}]")
        nested = {k: v for k, v in body.items() if isinstance(v, dict)}
        out.extend(f"{k} = {value(v)}" for k, v in body.items() if k not in nested)
        for k, v in nested.items():
            table(f"{prefix}.{k}", v)

    for section in ("state", "engine", "console"):
        if section in data:
            table(section, data[section])
    for section in ("sources", "targets"):
        for name, body in data[section].items():
            table(f"{section}.{name}", body)
    for p in data["pipelines"]:
        out.append("[[pipelines]]")
        out.extend(f"{k} = {value(v)}" for k, v in p.items())
    return "\n".join(out) + "\n"


def login_of(code: str) -> str:
    return "shop_" + "".join(ch if ch.isalnum() else "_" for ch in code.lower())


class World:
    """A state store, the IdoSell sandbox and the storefront (both on loopback), and configs over them."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.sandbox: Sandbox = start_sandbox(tmp / "idosell.db", API_KEY)
        self.storefront: RunningStorefront = start_storefront(tmp / "eshop.db", api_key=API_KEY, limits_enabled=True)
        self.host = PluginHost(strict=True)
        for name, plugin in (("optima", optima), ("xl", xl), ("idosell", idosell), ("eshop", eshop)):
            self.host.add_plugin(plugin, name=name)

    def accounts(self, *codes: str) -> None:
        """IdoSell accounts whose clientCodeExternal are these ERP codes."""
        self.sandbox.add_clients({"login": login_of(c), "code_external": c, "firm": c} for c in codes)

    def data(self, source: dict[str, Any], *, engine: dict[str, Any] | None = None,
             idosell_options: dict[str, Any] | None = None) -> dict[str, Any]:
        return {
            "state": {"url": f"sqlite:///{self.tmp / 'state.db'}"},
            **({"engine": engine} if engine else {}),
            "sources": {"erp": source},
            "targets": {
                "idosell": {"plugin": "idosell", "base_url": self.sandbox.url, "api_key": API_KEY,
                            "retry": FAST_RETRY, "timeout": 5.0, **(idosell_options or {})},
                "eshop": {**self.storefront.target_options(), "retry": FAST_RETRY},
            },
            "pipelines": [{"name": "to-idosell", "source": "erp", "target": "idosell"},
                          {"name": "to-eshop", "source": "erp", "target": "eshop"}],
        }

    def config(self, source: dict[str, Any], **kwargs: Any) -> Config:
        return parse_config(self.data(source, **kwargs), self.host)

    def run(self, config: Config, pipeline: str, **kwargs: Any) -> Any:
        from tradecredit import run_pipeline

        return run_pipeline(config, pipeline, host=self.host, as_of=kwargs.pop("as_of", AS_OF), **kwargs)

    def run_both(self, config: Config, **kwargs: Any) -> tuple[Any, Any]:
        return self.run(config, "to-idosell", **kwargs), self.run(config, "to-eshop", **kwargs)

    def idosell_limit(self, code: str) -> Decimal | None:
        client = self.sandbox.client(login_of(code))
        assert client is not None
        return client.limit

    def close(self) -> None:
        self.sandbox.stop()
        self.storefront.stop()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path)
    try:
        yield w
    finally:
        w.close()
        forget_secrets()


def storefront_order(world: World, code: str, payment_form: str = "przelew", *, action: str = "place",
                     **quantities: int) -> Any:
    """Check out in the storefront over HTTP as the logged-in customer; 303 = placed, 200 = refused/summary."""
    from urllib.parse import quote

    import httpx

    data = {**{f"qty_{pid}": str(q) for pid, q in quantities.items()}, "payment_form": payment_form, "action": action}
    with httpx.Client(base_url=world.storefront.url, cookies={"tc_customer": quote(code)}) as client:
        return client.post("/zamowienie", data=data)


def storefront_page(world: World, code: str, path: str) -> str:
    from urllib.parse import quote

    import httpx

    with httpx.Client(base_url=world.storefront.url, cookies={"tc_customer": quote(code)}) as client:
        return client.get(path).text
