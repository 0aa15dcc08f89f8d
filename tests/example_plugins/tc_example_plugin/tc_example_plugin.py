"""A minimal third-party plugin: one source that yields fixed records, one target that keeps what it gets."""

from datetime import datetime
from decimal import Decimal

from tradecredit import ControlMode, CreditRecord, ItemResult, ItemStatus, LimitState, Source, Target, hookimpl

WRITTEN: list[dict] = []


class FixedSource(Source):
    description = "two fixed customers"

    def read(self, as_of: datetime):
        for code, limit in (("EX-1", "1000.00"), ("EX-2", "2500.50")):
            yield CreditRecord(
                source=self.name, erp_id=code, code=code, is_business=True, limit_state=LimitState.LIMITED,
                credit_limit=Decimal(limit), used=Decimal("100.00"), control_mode=ControlMode.WARN, as_of=as_of,
            )


class ListTarget(Target):
    description = "appends payloads to a list"

    def payload(self, record, match, mode):
        return {"code": record.code, "limit": str(record.credit_limit), "mode": mode.effective.value}

    def write(self, items):
        WRITTEN.extend(i.payload for i in items)
        return [ItemResult(key=i.key, status=ItemStatus.CONFIRMED) for i in items]


@hookimpl
def register_sources(register):
    register("example_fixed", FixedSource)


@hookimpl
def register_targets(register):
    register("example_list", ListTarget)
