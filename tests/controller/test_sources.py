"""``Source.read_codes`` of Optima and XL: one customer by a query filtered by code, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from tradecredit.core.adapters import AdapterContext, Source
from tradecredit.core.records import CreditRecord

from .conftest import FUTURE, PAST, credit


def _source(world: Any, options: dict[str, Any]) -> Source[Any]:
    cfg = world.config(options)
    adapter = cfg.sources["erp"]
    return adapter.registered.cls(adapter.options, AdapterContext(instance_name="erp"))


def test_optima_reads_one_customer_with_a_filtered_query(world, tc_database_url):
    cards = [credit.optima_card(code, limit="1000.00", used="100.00") for code in ("K1", "K2", "K3")]
    credit.make_optima(tc_database_url, cards, [credit.optima_payment(cards[1], "100.00", due=FUTURE),
                                                credit.optima_payment(cards[1], "42.50", due=PAST)])
    source = _source(world, {"plugin": "optima", "url": tc_database_url})
    try:
        (record,) = list(source.read_codes([" k2 "], datetime.now(UTC)))
        assert isinstance(record, CreditRecord) and record.code == "K2" and record.credit_limit == Decimal("1000.00")
        assert record.extra["computed_used"] == "142.50" and record.overdue == Decimal("42.50")
        statement = source.statements[-1].lower()  # the read-only guard records every statement issued
        assert "lower(trim(" in statement and " in (" in statement
        overdue = source.describe(record)["overdue"]
        assert re.search(r"BZd_Termin < \d{4}-\d\d-\d\d = 42\.50: FA/\d+/2025 \(2025-02-01\) 42\.50$", overdue)
        assert list(source.read_codes(["NOPE"], datetime.now(UTC))) == []
    finally:
        source.close()


def test_xl_reads_one_customer_with_a_filtered_query(world, tc_database_url):
    today = (datetime.now(UTC).date() - credit.date(1800, 12, 28)).days
    credit.make_xl(tc_database_url, cards=[credit.xl_card(1, "A1"), credit.xl_card(2, "B2")],
                   limits=[credit.xl_limit(1, "500.00", today - 10, today + 10),
                           credit.xl_limit(2, "700.00", today - 10, today + 10)])
    source = _source(world, {"plugin": "xl", "url": tc_database_url, "control_mode": "block"})
    try:
        (record,) = list(source.read_codes(["b2"], datetime.now(UTC)))
        assert isinstance(record, CreditRecord) and record.code == "B2" and record.credit_limit == Decimal("700.00")
        assert [r.code for r in source.read_codes(["A1", "B2"], datetime.now(UTC))] == ["A1", "B2"]
        fields = source.describe(record)
        assert fields["limit"].startswith("CDN.KntLimityK.KLK_Id = ") and "KLK_MaxLimitWart = 700.00" in fields["limit"]
        assert fields["mode"] == "control_mode = block"
    finally:
        source.close()


def test_the_default_read_codes_filters_the_snapshot_by_normalised_code():
    class Two(Source[Any]):
        def read(self, as_of: datetime):  # type: ignore[override]
            for code in ("X 1", "Y2"):
                yield CreditRecord(source="s", erp_id=code, code=code, is_business=True, limit_state="none",
                                   as_of=as_of)

    source = Two(Two.Options(), AdapterContext(instance_name="s"))
    assert [r.code for r in source.read_codes(["x  1"], datetime.now(UTC))] == ["X 1"]
