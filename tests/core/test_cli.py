"""The runner CLI: exit codes, JSON report, dry run, redacted config, history, check."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from click.testing import CliRunner
from tradecredit import AuthError, CreditRecord, LimitState, RejectedRow, TransientError
from tradecredit.core.cli import cli
from tradecredit.core.plugins import PluginHost, set_host
from tradecredit.core.state import StateStore
from tradecredit.testing import MEMORY_ROWS, FakeTarget, testing_plugin

NOW = datetime(2026, 11, 22, tzinfo=UTC)


def rec(code, limit="100.00"):
    return CreditRecord(source="erp", erp_id=code, code=code, is_business=True, limit_state=LimitState.LIMITED,
                        credit_limit=Decimal(limit), as_of=NOW)


@pytest.fixture
def config_file(tmp_path, monkeypatch):
    host = PluginHost(strict=True)
    host.add_plugin(testing_plugin, name="testing")
    set_host(host)
    FakeTarget.reset()
    monkeypatch.setenv("TC_CLI_KEY", "cli-secret-abcdef")
    path = tmp_path / "tc.toml"
    path.write_text(
        '[state]\nurl = "sqlite:///state.db"\n\n'
        '[sources.erp]\nplugin = "memory"\n\n'
        '[targets.shop]\nplugin = "fake"\n\n'
        '[[pipelines]]\nname = "erp-to-shop"\nsource = "erp"\ntarget = "shop"\n',
        encoding="utf-8",
    )
    yield path
    set_host(None)
    MEMORY_ROWS.clear()
    FakeTarget.reset()


def invoke(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_run_json_dry_run_and_exit_codes(config_file):
    MEMORY_ROWS["default"] = [rec("A"), rec("B")]
    dry = invoke("run", "-c", str(config_file), "--dry-run", "--json")
    assert dry.exit_code == 0, dry.output
    reports = json.loads(dry.output)
    assert isinstance(reports, list) and len(reports) == 1, "one shape always: a list, also for one pipeline"
    report = reports[0]
    assert report["dry_run"] and report["counts"]["to_write"] == 2 and FakeTarget.calls == []
    assert {p["field"] for p in report["plan"]} == {"limit", "used", "mode"}, "identity fields are no plan rows"
    assert not (config_file.parent / "state.db").exists(), "a dry run must not create the state store"

    text = invoke("run", "-c", str(config_file))
    assert text.exit_code == 0 and "confirmed by the shop" in text.output and "erp-to-shop" in text.output

    MEMORY_ROWS["default"] = [rec("A", "200.00"), RejectedRow(source="erp", erp_id="9", code="X", reason="bad")]
    FakeTarget.script = [{"A"}]
    partial = invoke("run", "-c", str(config_file), "--json")
    assert partial.exit_code == 4
    assert json.loads(partial.output)[0]["failed"][0]["code"] == "A"


def test_config_errors_exit_3_and_list_paths(tmp_path, config_file):
    bad = tmp_path / "bad.toml"
    bad.write_text('[sources.erp]\nplugin = "memory"\ntypo = 1\n[targets.shop]\nplugin = "nope"\n', encoding="utf-8")
    result = CliRunner().invoke(cli, ["config", "validate", "-c", str(bad)])
    assert result.exit_code == 3
    assert "sources.erp.typo: unknown option" in result.output
    assert "targets.shop.plugin: unknown plugin 'nope'" in result.output


def test_lock_held_exits_5(config_file):
    MEMORY_ROWS["default"] = [rec("A")]
    store = StateStore.open(f"sqlite:///{config_file.parent / 'state.db'}")
    store.acquire_lease("erp-to-shop", 12345, timeout=timedelta(hours=1))
    result = CliRunner().invoke(cli, ["run", "-c", str(config_file)])
    store.close()
    assert result.exit_code == 5 and "already running" in result.output


def test_config_show_is_redacted(tmp_path, config_file):
    cfg = tmp_path / "pw.toml"
    cfg.write_text('[state]\nurl = "postgresql+psycopg://tc:Hunter2-Secret@db/state"\n', encoding="utf-8")
    result = invoke("config", "show", "-c", str(cfg))
    assert result.exit_code == 0 and "Hunter2-Secret" not in result.output and "***" in result.output


def test_history_and_run_items(config_file):
    MEMORY_ROWS["default"] = [rec("A")]
    invoke("run", "-c", str(config_file))
    history = invoke("state", "history", "-c", str(config_file), "--json")
    runs = json.loads(history.output)
    assert runs[0]["status"] == "ok" and runs[0]["counts"]["written"] == 1
    items = invoke("state", "history", "-c", str(config_file), "--run", str(runs[0]["id"]))
    assert "written" in items.output and "A" in items.output


def test_check_reports_each_adapter_and_pipeline(config_file):
    MEMORY_ROWS["default"] = [rec("A"), rec("B")]
    result = invoke("check", "-c", str(config_file))
    assert result.exit_code == 0, result.output
    assert "pipeline erp-to-shop: read — 2 customer(s) readable" in result.output
    assert "mode block" in result.output
    assert "WARN state: reachable — the SQLite file does not exist yet" in result.output
    assert not (config_file.parent / "state.db").exists(), "check must not create the state store"
    invoke("run", "-c", str(config_file))
    after = invoke("check", "-c", str(config_file))
    assert "OK   state: schema — version 3 (current)" in after.output
    assert "OK   state: locks — lock table present, no run in progress" in after.output


def test_history_of_a_store_that_does_not_exist_yet_creates_nothing(config_file):
    result = invoke("state", "history", "-c", str(config_file), "--json")
    assert result.exit_code == 0 and json.loads(result.output) == []
    assert not (config_file.parent / "state.db").exists()


def two_pipelines(config_file):
    config_file.write_text(
        config_file.read_text(encoding="utf-8") + '\n[[pipelines]]\nname = "second"\nsource = "erp"\ntarget = "shop"\n',
        encoding="utf-8",
    )
    return config_file


@pytest.mark.parametrize(
    ("error", "code"),
    [(AuthError("HTTP 403 (Scope: clients, level: w)"), 3), (TransientError("HTTP 503 after 6 attempts"), 1)],
)
def test_a_failed_run_still_prints_its_json_report(config_file, error, code):
    MEMORY_ROWS["default"] = [rec("A")]
    FakeTarget.script = [error]
    result = CliRunner().invoke(cli, ["run", "-c", str(config_file), "--json"], catch_exceptions=False)
    assert result.exit_code == code
    [report] = json.loads(result.stdout)
    assert (report["status"], report["exit_code"], report["counts"]["to_write"]) == ("failed", code, 1)
    assert str(error) in report["error"] and str(error) in result.stderr


def test_shop_unreachable_while_matching_also_exits_1(config_file, monkeypatch):
    def unreachable(self, codes):
        raise TransientError("connect timeout after 6 attempts")

    monkeypatch.setattr(FakeTarget, "match", unreachable)
    MEMORY_ROWS["default"] = [rec("A")]
    result = invoke("run", "-c", str(config_file), "--json")
    assert result.exit_code == 1 and json.loads(result.stdout)[0]["error_kind"] == "error"


def test_run_keeps_going_after_a_failing_pipeline_and_exits_with_the_worst(config_file):
    two_pipelines(config_file)
    MEMORY_ROWS["default"] = [rec("A")]
    store = StateStore.open(f"sqlite:///{config_file.parent / 'state.db'}")
    lease = store.acquire_lease("erp-to-shop", 12345, timeout=timedelta(hours=1))
    locked = invoke("run", "-c", str(config_file))
    assert locked.exit_code == 5 and "already running" in locked.output
    assert "Pipeline second (erp → shop), run #" in locked.output and "status: OK" in locked.output
    lease.release()
    store.close()

    named = invoke("run", "-c", str(config_file), "nope", "second", "--json")
    reports = json.loads(named.stdout)
    assert named.exit_code == 3, "an unknown pipeline is a configuration error, and the others still run"
    assert [(r["pipeline"], r["status"]) for r in reports] == [("nope", "failed"), ("second", "ok")]
    assert "no pipeline named 'nope'" in reports[0]["error"]


def test_strict_plugin_failure_is_a_clean_config_error(example_plugins_site, monkeypatch):
    env = {**os.environ, "PYTHONPATH": str(example_plugins_site), "TRADECREDIT_STRICT_PLUGINS": "1"}
    for args in (["--help"], ["plugins"]):
        out = subprocess.run([sys.executable, "-m", "tradecredit.core.cli", *args], capture_output=True, text=True,
                             env=env)
        assert out.returncode == 3, out.stderr
        assert "Traceback" not in out.stderr and "Plugin error: plugin 'broken'" in out.stderr
        assert "TRADECREDIT_STRICT_PLUGINS" in out.stderr


def test_help_explains_exit_codes():
    result = invoke("--help")
    assert "Exit codes" in result.output and "--dry-run" in invoke("run", "--help").output
