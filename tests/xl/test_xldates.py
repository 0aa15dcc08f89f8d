from datetime import date, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st
from tradecredit.plugins.xl.xldates import from_xl_date, from_xl_timestamp, to_xl_date, to_xl_timestamp


def test_date_epoch_and_edges():
    assert to_xl_date(date(1800, 12, 28)) == 0
    assert from_xl_date(0) is None  # XL's empty date, not 1800-12-28
    assert from_xl_date(None) is None
    assert from_xl_date(1) == date(1800, 12, 29)
    assert to_xl_date(date(1801, 1, 1)) == 4
    # 1900 is not a leap year, 2000 is: day numbers cross both correctly
    assert from_xl_date(to_xl_date(date(1900, 3, 1))) - from_xl_date(to_xl_date(date(1900, 2, 28))) == timedelta(1)
    assert to_xl_date(date(2000, 3, 1)) - to_xl_date(date(2000, 2, 28)) == 2
    assert to_xl_date(date(2025, 3, 10)) == date(2025, 3, 10).toordinal() - date(1800, 12, 28).toordinal() == 81887
    assert to_xl_date(datetime(2025, 3, 10, 23, 59)) == 81887


def test_timestamp_epoch_and_edges():
    assert to_xl_timestamp(datetime(1990, 1, 1)) == 0
    assert from_xl_timestamp(0) is None and from_xl_timestamp(None) is None
    assert from_xl_timestamp(1) == datetime(1990, 1, 1, 0, 0, 1)
    assert to_xl_timestamp(datetime(1990, 1, 2)) == 86_400
    assert to_xl_timestamp(datetime(1989, 12, 31, 23, 59, 59)) == -1
    # int32 max is reached in 2058: still representable
    assert from_xl_timestamp(2**31 - 1) == datetime(2058, 1, 19, 3, 14, 7)


@given(st.dates(min_value=date(1800, 12, 29), max_value=date(2200, 1, 1)))
def test_date_round_trip(day):
    assert from_xl_date(to_xl_date(day)) == day


@given(st.datetimes(min_value=datetime(1990, 1, 1, 0, 0, 1), max_value=datetime(2058, 1, 1)))
def test_timestamp_round_trip(moment):
    moment = moment.replace(microsecond=0)
    assert from_xl_timestamp(to_xl_timestamp(moment)) == moment
