"""XL's two time conventions, implemented once.

* A *date* is an int: days since 1800-12-28 (the Clarion DATE epoch). Day 1 is 1800-12-29.
* A *timestamp* is an int: seconds since 1990-01-01 00:00:00, in the server's local time (no zone is stored).

Every conversion in the plugin goes through these functions; the SQL only ever compares XL ints with ints we
computed here, so no engine-specific date arithmetic is needed.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

DATE_EPOCH = date(1800, 12, 28)
TIMESTAMP_EPOCH = datetime(1990, 1, 1)

# 0 is what XL stores in an empty date column; treat it as "no date", not as 1800-12-28.
EMPTY_DATE = 0


def to_xl_date(day: date) -> int:
    """``date`` → XL day number (1800-12-28 is 0)."""
    if isinstance(day, datetime):
        day = day.date()
    return (day - DATE_EPOCH).days


def from_xl_date(value: int | None) -> date | None:
    """XL day number → ``date``; ``None`` for NULL and for the empty value 0."""
    if value is None or int(value) == EMPTY_DATE:
        return None
    return DATE_EPOCH + timedelta(days=int(value))


def to_xl_timestamp(moment: datetime) -> int:
    """Naive local ``datetime`` (or aware, converted by dropping the zone after conversion) → XL seconds."""
    if moment.tzinfo is not None:
        moment = moment.replace(tzinfo=None)
    delta = moment - TIMESTAMP_EPOCH
    return delta.days * 86_400 + delta.seconds


def from_xl_timestamp(value: int | None) -> datetime | None:
    """XL seconds since 1990-01-01 → naive local ``datetime``; ``None`` for NULL and 0."""
    if value is None or int(value) == 0:
        return None
    return TIMESTAMP_EPOCH + timedelta(seconds=int(value))
