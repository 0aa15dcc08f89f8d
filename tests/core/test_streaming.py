"""The run streams in chunks (issue 13): read → match → diff → write per chunk, duplicates from a key index."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from tradecredit import CreditRecord, LimitState, RejectedRow, TransientError, run_pipeline
from tradecredit.core.config import parse_config
from tradecredit.core.plugins import PluginHost
from tradecredit.core.state import StateStore, outcomes
from tradecredit.core.sync import CHUNK
from tradecredit.sdk import RegisterSource, hookimpl
from tradecredit.testing import MEMORY_ROWS, FakeTarget, MemorySource

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


def customer(code: str) -> CreditRecord:
    return CreditRecord(source="erp", erp_id=code, code=code, is_business=True, limit_state=LimitState.LIMITED,
                        credit_limit=Decimal("1000.00"), as_of=NOW)


class KeyedSource(MemorySource):
    """The memory source with the optional ``keys`` hook; counts the rows handed out so far."""

    yielded = 0

    def keys(self, as_of: datetime) -> Iterator[str]:
        return (r.code for r in MEMORY_ROWS.get(self.options.dataset, []) if r.code)

    def read(self, as_of: datetime) -> Iterator[CreditRecord | RejectedRow]:
        KeyedSource.yielded = 0
        for item in super().read(as_of):
            KeyedSource.yielded += 1
            yield item


class keyed_plugin:
    @staticmethod
    @hookimpl
    def register_sources(register: RegisterSource) -> None:
        register("keyed", KeyedSource)


@pytest.fixture
def host(host: PluginHost) -> PluginHost:
    """The shared test host (tests/conftest.py) plus the source that lists its keys."""
    host.add_plugin(keyed_plugin, name="keyed")
    return host


def make_config(host, url, source="keyed", **target):
    return parse_config({
        "state": {"url": url}, "sources": {"erp": {"plugin": source}},
        "targets": {"shop": {"plugin": "fake", **target}},
        "pipelines": [{"name": "p", "source": "erp", "target": "shop"}],
    }, host)


@pytest.fixture
def seen_at_first_write(monkeypatch) -> list[int]:
    seen: list[int] = []
    write = FakeTarget.write

    def spy(self, items):
        seen.append(KeyedSource.yielded)
        return write(self, items)

    monkeypatch.setattr(FakeTarget, "write", spy)
    return seen


def test_the_first_batch_is_written_before_the_source_is_read_to_the_end(host, tc_sqlite_url, seen_at_first_write):
    MEMORY_ROWS["default"] = [customer(f"K{i:05}") for i in range(3 * CHUNK)]
    report = run_pipeline(make_config(host, tc_sqlite_url), "p", host=host)
    assert report.counts.written == 3 * CHUNK and report.counts.batches == 30
    assert seen_at_first_write[0] <= CHUNK < 3 * CHUNK, "memory holds a chunk, not the snapshot"


def test_duplicates_far_apart_are_both_rejected_and_batches_stay_full(host, tc_database_url):
    rows = [customer(f"K{i:05}") for i in range(2 * CHUNK + 500)]
    rows[3], rows[2 * CHUNK + 400] = customer("DUP 1"), customer("dup  1")
    rows[CHUNK + 7] = RejectedRow(source="erp", erp_id="7", code="BAD", reason="negative limit")
    MEMORY_ROWS["default"] = rows
    report = run_pipeline(make_config(host, tc_database_url), "p", host=host)
    assert sorted(p.code for p in report.rejected) == ["BAD", "DUP 1", "dup  1"]
    assert all("duplicate customer code" in p.reason for p in report.rejected if p.code != "BAD")
    assert report.counts.read == len(rows) and report.counts.written == len(rows) - 3
    sizes = [len(c) for c in FakeTarget.calls]
    assert set(sizes[:-1]) == {100} and sizes[-1] == (len(rows) - 3) % 100, "batches do not end where chunks end"


def test_a_source_without_keys_gets_the_same_result(host, tc_sqlite_url):
    rows = [customer(f"K{i:05}") for i in range(CHUNK + 50)]
    rows[10], rows[CHUNK + 20] = customer("DUP 1"), customer("dup  1")
    MEMORY_ROWS["default"] = rows
    report = run_pipeline(make_config(host, tc_sqlite_url, source="memory"), "p", host=host)
    assert sorted(p.code for p in report.rejected) == ["DUP 1", "dup  1"]
    assert report.counts.written == len(rows) - 2


def test_a_shop_gone_mid_stream_stops_reading_and_keeps_outcomes_it_did_not_see(host, tc_database_url):
    rows = [customer(f"K{i:05}") for i in range(3 * CHUNK)] + [customer("NOSHOP")]
    MEMORY_ROWS["default"] = rows
    cfg = make_config(host, tc_database_url, known_codes=[r.code for r in rows[:-1]], batch_size=1)
    run_pipeline(cfg, "p", host=host)
    rows[5] = customer("K00005").model_copy(update={"credit_limit": Decimal("1.00")})
    rows[2 * CHUNK + 5] = customer("K02005").model_copy(update={"credit_limit": Decimal("1.00")})
    FakeTarget.script = [TransientError("HTTP 503 after 6 attempts")]
    with pytest.raises(TransientError) as gone:
        run_pipeline(cfg, "p", host=host)
    report = gone.value.report
    assert report.counts.failed == 1 and report.counts.read < len(rows), "the rest is not read"
    store = StateStore.open(tc_database_url)
    with store.engine.connect() as conn:
        assert [r.code for r in conn.execute(outcomes.select())] == ["NOSHOP"], "not seen: not forgotten"
    store.close()
    again = run_pipeline(cfg, "p", host=host)
    assert again.counts.written == 2 and again.counts.unmatched == 1
