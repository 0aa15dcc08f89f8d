"""``check_config``: one line per fact, and a target's own description of a mode is not repeated by core."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from tradecredit.core.adapters import CheckResult, CheckStatus
from tradecredit.core.check import check_config
from tradecredit.core.config import parse_config
from tradecredit.core.hookspecs import hookimpl
from tradecredit.core.plugins import PluginHost
from tradecredit.core.records import ControlMode, CreditRecord, LimitState
from tradecredit.testing import MEMORY_ROWS, FakeTarget, testing_plugin

NOW = datetime(2026, 11, 23, tzinfo=UTC)


class DescribingTarget(FakeTarget):
    """A target that reports its own mapping of BLOCK, as the IdoSell target does."""

    def check(self, codes):  # type: ignore[no-untyped-def]
        return [CheckResult(name="mode block", status=CheckStatus.OK, detail="sent as the shop's limit")]


class DescribingPlugin:
    @hookimpl
    def register_targets(self, register):  # type: ignore[no-untyped-def]
        register("describing", DescribingTarget)


def _host() -> PluginHost:
    host = PluginHost(strict=True)
    host.add_plugin(testing_plugin, name="testing")
    host.add_plugin(DescribingPlugin(), name="describing")
    return host


def _config(target_plugin: str, tmp_path, host: PluginHost | None = None):  # type: ignore[no-untyped-def]
    return parse_config({
        "state": {"url": f"sqlite:///{tmp_path / 'state.db'}"},
        "sources": {"erp": {"plugin": "memory"}},
        "targets": {"shop": {"plugin": target_plugin}},
        "pipelines": [{"name": "p", "source": "erp", "target": "shop"}],
    }, host or _host())


@pytest.fixture(autouse=True)
def _rows() -> Iterator[None]:
    """Two ERP customers, one in BLOCK and one in WARN; the in-memory fakes are reset afterwards."""
    MEMORY_ROWS["default"] = [
        CreditRecord(source="erp", erp_id=c, code=c, is_business=True, limit_state=LimitState.LIMITED,
                     credit_limit=Decimal("100.00"), control_mode=mode, as_of=NOW)
        for c, mode in (("A", ControlMode.BLOCK), ("B", ControlMode.WARN))
    ]
    yield
    MEMORY_ROWS.clear()
    FakeTarget.reset()


def test_each_mode_is_described_once(tmp_path):
    lines = check_config(_config("describing", tmp_path), as_of=NOW)
    names = [line.result.name for line in lines if line.subject == "pipeline p"]
    assert names.count("mode block") == 1 and names.count("mode warn") == 1
    block = next(line.result for line in lines if line.result.name == "mode block")
    assert block.detail == "1 customer(s): sent as the shop's limit"  # the target's own words, with the count


def test_core_describes_modes_the_target_does_not(tmp_path):
    lines = check_config(_config("fake", tmp_path), as_of=NOW)
    details = {line.result.name: line.result.detail for line in lines}
    assert details["mode block"].startswith("1 customer(s)") and details["mode warn"].startswith("1 customer(s)")


def test_state_lines_and_freshness_against_engine_max_age(tmp_path):
    from datetime import timedelta

    from tradecredit import run_pipeline

    host = _host()
    config = _config("fake", tmp_path, host)
    never = {line.result.name: line.result for line in check_config(config, as_of=NOW)}
    assert never["freshness"].status is CheckStatus.WARN and "never synced" in never["freshness"].detail
    assert not (tmp_path / "state.db").exists()  # check changes nothing, not even the state file
    run_pipeline(config, "p", host=host)
    now = datetime.now(UTC)
    fresh = {line.result.name: line.result for line in check_config(config, as_of=now)}
    assert fresh["freshness"].status is CheckStatus.OK
    assert fresh["reachable"].status is CheckStatus.OK and fresh["schema"].status is CheckStatus.OK
    later = {line.result.name: line.result for line in check_config(config, as_of=now + timedelta(days=2))}
    assert later["freshness"].status is CheckStatus.WARN and "max_age" in later["freshness"].detail
