"""Operator commands: logs (JSON, file, -v tracebacks), no secrets for read-only commands, `| head`, unlock, prune."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner
from tradecredit import CreditRecord, LimitState
from tradecredit.core.cli import cli
from tradecredit.core.plugins import PluginHost, set_host
from tradecredit.core.state import StateStore
from tradecredit.testing import MEMORY_ROWS, FakeTarget, testing_plugin

NOW = datetime(2026, 11, 22, tzinfo=UTC)
TRADECREDIT = Path(sys.executable).with_name("tradecredit")


def rec(code: str) -> CreditRecord:
    return CreditRecord(source="erp", erp_id=code, code=code, is_business=True, limit_state=LimitState.LIMITED,
                        credit_limit=Decimal("100.00"), as_of=NOW)


@pytest.fixture
def config_file(tmp_path):
    host = PluginHost(strict=True)
    host.add_plugin(testing_plugin, name="testing")
    set_host(host)
    FakeTarget.reset()
    path = tmp_path / "tc.toml"
    path.write_text('[state]\nurl = "sqlite:///state.db"\n\n[sources.erp]\nplugin = "memory"\n\n'
                    '[targets.shop]\nplugin = "fake"\n\n'
                    '[[pipelines]]\nname = "erp-to-shop"\nsource = "erp"\ntarget = "shop"\n', encoding="utf-8")
    yield path
    set_host(None)
    MEMORY_ROWS.clear()
    FakeTarget.reset()


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_json_logs_have_one_event_per_run_and_batch_and_a_log_file_rotates_in(config_file, tmp_path):
    MEMORY_ROWS["default"] = [rec("A"), rec("B")]
    log_file = tmp_path / "logs" / "tc.log"
    result = invoke("--log-format", "json", "--log-file", str(log_file), "run", "-c", str(config_file))
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    run = next(e for e in events if e.get("event") == "run")
    assert run["pipeline"] == "erp-to-shop" and run["run_id"] == 1 and run["status"] == "ok"
    assert run["counts"]["written"] == 2 and run["duration_s"] >= 0 and run["level"] == "info"
    assert any(e.get("event") == "batch" and e["counts"] == {"confirmed": 2, "failed": 0} for e in events)
    in_file = [json.loads(line) for line in log_file.read_text(encoding="utf-8").splitlines()]
    assert any(e.get("event") == "run" for e in in_file)


def test_verbose_shows_the_masked_traceback_of_an_unexpected_error(config_file, monkeypatch):
    from tradecredit.core import sync

    def broken(*args, **kwargs):
        raise RuntimeError("password=Very-Secret-99 broke it")

    monkeypatch.setattr(sync, "run_pipelines", broken)
    quiet = invoke("run", "-c", str(config_file))
    assert quiet.exit_code == 1 and "Traceback" not in quiet.stderr
    loud = invoke("-v", "run", "-c", str(config_file))
    assert loud.exit_code == 1 and "Traceback (most recent call last)" in loud.stderr
    assert 'raise RuntimeError("password=' in loud.stderr and "in broken" in loud.stderr
    assert "Very-Secret-99" not in loud.stderr


def test_read_only_commands_need_no_shop_or_erp_secret(config_file, monkeypatch):
    monkeypatch.delenv("TC_NOT_SET_KEY", raising=False)
    text = config_file.read_text(encoding="utf-8").replace(
        '[targets.shop]\nplugin = "fake"\n',
        '[targets.shop]\nplugin = "fake"\n\n[targets.real]\nplugin = "idosell"\n'
        'base_url = "https://shop.example"\napi_key = { env = "TC_NOT_SET_KEY" }\n')
    config_file.write_text(text, encoding="utf-8")
    host = PluginHost(strict=True)
    host.add_plugin(testing_plugin, name="testing")
    host.load_entrypoints(only=["idosell"])
    set_host(host)
    assert invoke("state", "history", "-c", str(config_file)).exit_code == 0
    shown = invoke("config", "show", "-c", str(config_file))
    assert shown.exit_code == 0 and json.loads(shown.stdout)["targets"]["real"]["api_key"] == "***"
    assert invoke("state", "leases", "-c", str(config_file)).exit_code == 0
    run = invoke("run", "-c", str(config_file))
    assert run.exit_code == 3 and "TC_NOT_SET_KEY is not set" in run.stderr, "a run still needs every secret"


def test_a_closed_stdout_ends_quietly_with_exit_0(tmp_path):
    state = tmp_path / "state.db"
    store = StateStore.open(f"sqlite:///{state}")
    for _ in range(300):
        store.finish_run(store.start_run("p", "s", "t", full_refresh=False), "ok", {"read": 1})
    store.close()
    config = tmp_path / "tc.toml"
    config.write_text('[state]\nurl = "sqlite:///state.db"\n', encoding="utf-8")
    piped = subprocess.run(
        f'"{TRADECREDIT}" state history -c "{config}" --limit 300 | head -1; echo "exit=${{PIPESTATUS[0]}}"',
        shell=True, executable="/bin/bash", capture_output=True, text=True, timeout=60)
    lines = piped.stdout.splitlines()
    assert lines[0].startswith("#300") and lines[-1] == "exit=0", piped
    assert piped.stderr == "", "no BrokenPipeError, no traceback"


def test_state_unlock_refuses_a_live_lease_and_prune_keeps_what_it_must(config_file):
    url = f"sqlite:///{config_file.parent / 'state.db'}"
    store = StateStore.open(url)
    run_id = store.start_run("erp-to-shop", "erp", "shop", full_refresh=False)
    store.acquire_lease("erp-to-shop", run_id, timeout=timedelta(minutes=1))
    refused = invoke("state", "unlock", "-c", str(config_file), "erp-to-shop")
    assert refused.exit_code == 5 and "live run" in refused.stderr
    forced = invoke("state", "unlock", "-c", str(config_file), "erp-to-shop", "--force")
    assert forced.exit_code == 0 and f"released the lease of run {run_id}" in forced.stdout
    assert "nothing to release" in invoke("state", "unlock", "-c", str(config_file), "erp-to-shop").stdout
    assert "unlock" in invoke("state", "leases", "-c", str(config_file)).stdout

    MEMORY_ROWS["default"] = [rec("A")]
    for _ in range(5):
        invoke("run", "-c", str(config_file))
    pruned = invoke("state", "prune", "-c", str(config_file), "--keep-runs", "2")
    assert pruned.exit_code == 0 and "pruned 4 run(s)" in pruned.stdout
    assert [r["status"] for r in store.history()] == ["ok", "ok"]
    store.close()
