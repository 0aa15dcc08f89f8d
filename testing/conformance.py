"""Conformance suites: subclass one in your plugin's tests and provide the fixtures it names.

```python
from tradecredit.testing import SourceConformance

class TestMySource(SourceConformance):
    @pytest.fixture
    def source(self, my_demo_db):          # a ready Source instance
        return MySource(MyOptions(url=my_demo_db), AdapterContext("erp"))
```

``TargetConformance`` needs ``target`` (a ready Target talking to a sandbox) and ``records`` (a few
CreditRecords whose codes the target can match). A target keyed by the ERP code itself (it creates the
customer on first write, like ``eshop``) sets ``matches_every_code = True``.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from ..core.adapters import ItemStatus, OutgoingItem, Source, Target
from ..core.billing import BILLING, CREDIT, BillingRecord
from ..core.engine import degrade_mode
from ..core.records import CreditRecord, RejectedRow, normalise_code

AS_OF = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)


class SourceConformance:
    """What every ERP source must do, whatever the ERP."""

    def _read(self, source: Source[Any]) -> list[CreditRecord | BillingRecord | RejectedRow]:
        return list(source.read(AS_OF))

    def test_yields_only_records_and_rejections(self, source: Source[Any]) -> None:
        rows = self._read(source)
        assert rows, "the conformance fixture must provide data"
        assert all(isinstance(r, CreditRecord | RejectedRow) for r in rows)

    def test_records_carry_the_run_as_of_and_exact_money(self, source: Source[Any]) -> None:
        for r in self._read(source):
            if isinstance(r, CreditRecord):
                assert r.as_of == AS_OF
                assert r.source == source.name
                for amount in (r.credit_limit, r.used, r.overdue, r.overdue_limit):
                    assert amount is None or (type(amount) is Decimal and amount == amount.quantize(Decimal("0.01")))

    def test_rejections_say_why(self, source: Source[Any]) -> None:
        for r in self._read(source):
            if isinstance(r, RejectedRow):
                assert r.reason.strip() and r.source == source.name

    def test_reading_is_repeatable(self, source: Source[Any]) -> None:
        assert self._read(source) == self._read(source)

    def test_check_returns_results(self, source: Source[Any]) -> None:
        assert isinstance(source.check(AS_OF), list)

    def test_billing_data_follows_each_credit_record(self, source: Source[Any]) -> None:
        """A source that can read billing data (``BILLING in kinds``) yields, with billing on, one billing item
        (a ``BillingRecord`` or a ``RejectedRow`` of kind billing) right after each ``CreditRecord``."""
        if BILLING not in type(source).kinds:
            pytest.skip(f"{type(source).__name__} reads no billing data (kinds = {sorted(type(source).kinds)})")
        billing_on = type(source)(source.options, replace(source.context, sync=frozenset({CREDIT, BILLING})))
        try:
            rows = self._read(billing_on)
        finally:
            billing_on.close()
        credit = [r for r in rows if isinstance(r, CreditRecord)]
        assert credit, "the conformance fixture must provide data"
        for n, row in enumerate(rows):
            if isinstance(row, CreditRecord):
                follower = rows[n + 1] if n + 1 < len(rows) else None
                assert isinstance(follower, BillingRecord) or (
                    isinstance(follower, RejectedRow) and follower.kind == BILLING), row.code
                assert follower.code is not None and normalise_code(follower.code) == row.key
            elif isinstance(row, BillingRecord):
                assert row.source == source.name and len(row.country) == 2
        assert [r for r in rows if isinstance(r, CreditRecord)] == [
            r for r in self._read(source) if isinstance(r, CreditRecord)], "billing must not change the credit read"


class TargetConformance:
    """What every shop target must do, whatever the shop."""

    matches_every_code = False

    def _items(self, target: Target[Any], records: list[CreditRecord]) -> list[OutgoingItem]:
        matches = target.match([r.code for r in records])
        items = []
        for r in records:
            if r.code in matches:
                mode = degrade_mode(r.control_mode, target.supported_modes(), target.mode_policy())
                items.append(OutgoingItem(key=r.key, code=r.code, payload=target.payload(r, matches[r.code], mode),
                                          match=matches[r.code], record=r, mode=mode))
        return items

    def test_declares_modes_and_batch_size(self, target: Target[Any]) -> None:
        assert target.native_modes and 1 <= target.batch_size() <= target.max_batch_size

    def test_payload_is_deterministic_json(self, target: Target[Any], records: list[CreditRecord]) -> None:
        first = self._items(target, records)
        assert first, "the conformance fixture must provide matchable records"
        second = self._items(target, records)
        assert [i.payload for i in first] == [i.payload for i in second]
        for item in first:
            assert json.loads(json.dumps(item.payload)) == item.payload

    def test_write_answers_for_every_item(self, target: Target[Any], records: list[CreditRecord]) -> None:
        items = self._items(target, records)[: target.batch_size()]
        results = target.write(items)
        assert {r.key for r in results} == {i.key for i in items}
        assert all(r.status is ItemStatus.CONFIRMED or r.error for r in results)

    def test_unknown_codes_are_unmatched_not_errors(self, target: Target[Any]) -> None:
        unknown = "TC-CONFORMANCE-NO-SUCH-CUSTOMER"
        assert target.match([unknown]) == ({unknown: {}} if self.matches_every_code else {})

    def test_a_confirmed_write_is_idempotent(self, target: Target[Any], records: list[CreditRecord]) -> None:
        items = self._items(target, records)[: target.batch_size()]
        first = target.write(items)
        again = target.write(self._items(target, records)[: target.batch_size()])
        confirmed = {r.key for r in first if r.status is ItemStatus.CONFIRMED}
        assert confirmed and confirmed <= {r.key for r in again if r.status is ItemStatus.CONFIRMED}
