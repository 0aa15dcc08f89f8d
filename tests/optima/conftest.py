"""Fixtures for the Optima source tests: build small Optima-shaped databases row by row."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import create_engine
from tradecredit import AdapterContext, CreditRecord, RejectedRow
from tradecredit.plugins.comarch import create_erp_tables, schema_map
from tradecredit.plugins.optima import OptimaSource
from tradecredit.plugins.optima.schema import OptimaTables, build_metadata

AS_OF = datetime(2025, 3, 10, 11, 0, tzinfo=UTC)
TWO_WORKSTATIONS = (
    {"ESS_ESSId": 1, "ESS_Nazwa": "Sklep B2B", "ESS_Nieaktywny": 0, "ESS_KontrolaLimituPlat": 1},
    {"ESS_ESSId": 2, "ESS_Nazwa": "Sklep detal", "ESS_Nieaktywny": 0, "ESS_KontrolaLimituPlat": 2},
)


class OptimaDb:
    """An Optima-shaped database under construction, plus the rows inserted (for independent checks)."""

    def __init__(self, url: str, *, loose: bool = False) -> None:
        self.url = url
        self.tables: OptimaTables = build_metadata(loose=loose)
        self.engine = create_engine(url)
        create_erp_tables(self.engine, self.tables.metadata)
        self.cards: list[dict[str, Any]] = []
        self.payments: list[dict[str, Any]] = []
        self.assignments: list[dict[str, Any]] = []
        self.workstations: list[dict[str, Any]] = [dict(w) for w in TWO_WORKSTATIONS]  # replace before commit()
        self._ids = itertools.count(1)
        self._pids = itertools.count(1)

    def card(self, code: str, **values: Any) -> int:
        """Add a contractor card with Optima's usual defaults; ``values`` override columns."""
        kid = values.pop("Knt_KntId", None) or next(self._ids)
        row = {
            "Knt_KntId": kid, "Knt_PodmiotTyp": 1, "Knt_Kod": code, "Knt_Nazwa1": f"Firma {code}",
            "Knt_Nazwa2": "", "Knt_NipKraj": "PL", "Knt_Nip": f"52{kid:08d}", "Knt_LimitFlag": 0,
            "Knt_LimitKredytu": Decimal("0.00"), "Knt_LimitPrzeterKredytFlag": 0,
            "Knt_LimitPrzeterKredytWartosc": Decimal("0.00"), "Knt_LimitKredytuWal": "",
            "Knt_LimitKredytuWykorzystany": Decimal("0.00"), "Knt_Finalny": 0, "Knt_Nieaktywny": 0,
            "Knt_TS_Mod": datetime(2025, 1, 1),
        }
        row.update(values)
        self.cards.append(row)
        return kid

    def pay(self, knt_id: int, amount: str, *, paid: str = "0", due: datetime = datetime(2025, 4, 1),
            currency: str = "", rate: Decimal = Decimal(1), **values: Any) -> None:
        """Add a payment (receivable unless BZd_Kierunek says otherwise); ``amount``/``paid`` in its currency."""
        amount_d, paid_d = Decimal(amount), Decimal(paid)
        pid = next(self._pids)
        row = {
            "BZd_BZdID": pid, "BZd_NumerPelny": f"FA/{pid}/2025", "BZd_PodmiotTyp": 1, "BZd_PodmiotID": knt_id,
            "BZd_DataDok": datetime(2025, 1, 15), "BZd_Termin": due,
            "BZd_KwotaSys": (amount_d * rate).quantize(Decimal("0.01")),
            "BZd_KwotaRozSys": (paid_d * rate).quantize(Decimal("0.01")),
            "BZd_Kwota": amount_d, "BZd_KwotaRoz": paid_d, "BZd_Waluta": currency, "BZd_Kierunek": 1,
            "BZd_Rozliczono": 1, "BZd_Rozliczono2": 2 if paid_d else 1, "BZd_Stan": 3,
        }
        row.update(values)
        self.payments.append(row)

    def assign(self, knt_id: int, workstation: int) -> None:
        """Put the card on the workstation's list (a ``CDN.KntESklepy`` row)."""
        self.assignments.append({"KES_KESID": len(self.assignments) + 1, "KES_KntID": knt_id,
                                 "KES_eSklepID": workstation, "KES_TypCenyDomyslnej": 1})

    def commit(self) -> OptimaDb:
        with self.engine.begin() as conn:
            conn = conn.execution_options(schema_translate_map=schema_map(self.engine))
            if self.cards:
                conn.execute(self.tables.kontrahenci.insert(), self.cards)
            if self.payments:
                conn.execute(self.tables.zdarzenia.insert(), self.payments)
            if self.workstations:
                conn.execute(self.tables.stanowiska.insert(), self.workstations)
            if self.assignments:
                conn.execute(self.tables.sklepy.insert(), self.assignments)
        self.cards_committed, self.payments_committed = list(self.cards), list(self.payments)
        self.assignments_committed = list(self.assignments)
        for pending in (self.cards, self.payments, self.assignments):
            pending.clear()
        self.engine.dispose()
        return self


@pytest.fixture
def optima_db() -> Iterator[Any]:
    """``optima_db(url, loose=False)`` → an ``OptimaDb`` to fill and ``commit()``."""
    made: list[OptimaDb] = []

    def make(url: str, *, loose: bool = False) -> OptimaDb:
        db = OptimaDb(url, loose=loose)
        made.append(db)
        return db

    yield make
    for db in made:
        db.engine.dispose()


@pytest.fixture
def optima_source() -> Iterator[Any]:
    """``optima_source(url, **options)`` → an ``OptimaSource`` named ``erp`` (closed after the test)."""
    made: list[OptimaSource] = []

    def make(url: str, **options: Any) -> OptimaSource:
        options.setdefault("workstation", 1)
        src = OptimaSource(OptimaSource.Options(url=url, **options), AdapterContext(instance_name="erp"))
        made.append(src)
        return src

    yield make
    for src in made:
        src.close()


def split(results: list[CreditRecord | RejectedRow]) -> tuple[dict[str, CreditRecord], dict[str, RejectedRow]]:
    records = {r.code: r for r in results if isinstance(r, CreditRecord)}
    rejected = {str(r.code): r for r in results if isinstance(r, RejectedRow)}
    return records, rejected


@pytest.fixture
def read_all():
    """``read_all(source, as_of)`` → (records by code, rejections by code)."""

    def run(source: OptimaSource, as_of: datetime = AS_OF):
        return split(list(source.read(as_of)))

    return run
