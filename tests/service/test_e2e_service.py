"""Done when (issue 11): `tradecredit service run` keeps an Optima → IdoSell pipeline in step with the sandbox
through a shop outage, a SIGKILL and a restart, and the alerts reach the loopback SMTP and webhook receivers."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import httpx
from sqlalchemy import create_engine, select, update
from tradecredit.core.config import load_config
from tradecredit.core.plugins import PluginHost
from tradecredit.core.serving import free_port
from tradecredit.core.state import StateStore
from tradecredit.core.sync import run_pipeline
from tradecredit.plugins.comarch import schema_map
from tradecredit.plugins.idosell import start_sandbox
from tradecredit.plugins.optima import make_demo_db
from tradecredit.plugins.optima.schema import TABLES

from .conftest import SMTP_PASSWORD, SMTP_USER

TRADECREDIT = Path(sys.executable).with_name("tradecredit")
API_KEY = "e2e-service-key-4f1c"
PIPELINE = "optima-to-idosell"


def wait_for(what: str, condition: Callable[[], object], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for: {what}")
        time.sleep(0.1)


def history(url: str) -> list[dict]:
    store = StateStore.open(url, read_only=True)
    try:
        return store.history(PIPELINE, limit=1000)
    finally:
        store.close()


def test_service_keeps_the_shop_in_step_through_an_outage_a_kill_and_a_restart(
        tmp_path, smtp_server, webhook_receiver):
    optima_url = f"sqlite:///{(tmp_path / 'optima.db').as_posix()}"
    make_demo_db(optima_url, customers=300, replace=True)
    sandbox = start_sandbox(tmp_path / "shop.db", api_key=API_KEY)
    kh = TABLES.kontrahenci
    raw = create_engine(optima_url)
    erp = raw.execution_options(schema_translate_map=schema_map(raw))
    with erp.connect() as conn:
        codes = [r[0] for r in conn.execute(select(kh.c.Knt_Kod).where(kh.c.Knt_PodmiotTyp == 1,
                                                                      kh.c.Knt_Nieaktywny == 0))]
    sandbox.add_clients([{"login": f"login_{c.lower()}", "code_external": c} for c in codes])
    port = free_port()
    config = tmp_path / "tradecredit.toml"
    config.write_text(f"""
[state]
url = "sqlite:///state.db"
lease_timeout = "60s"

[service]
jitter = "0s"
backoff_max = "2s"
stop_timeout = "20s"
listen = "127.0.0.1:{port}"

[sources.optima]
plugin = "optima"
url = "{optima_url}"
control_mode = "block"

[targets.shop]
plugin = "idosell"
base_url = "{sandbox.url}"
api_key = {{ env = "TC_E2E_IDOSELL_KEY" }}
retry = {{ max_attempts = 2, backoff_initial = 0.05, total_timeout = 5 }}
batch_size = 20

[[pipelines]]
name = "{PIPELINE}"
source = "optima"
target = "shop"
every = "1s"

[notify]
language = "pl"
webhook = {{ url = "{webhook_receiver.url}" }}

[notify.smtp]
host = "127.0.0.1"
port = {smtp_server.port}
username = "{SMTP_USER}"
password = {{ env = "TC_E2E_SMTP" }}
sender = "tc@example.test"
to = ["it@example.test"]
ca_file = "{smtp_server.ca_file}"
""", encoding="utf-8")
    env = {**os.environ, "TC_E2E_IDOSELL_KEY": API_KEY, "TC_E2E_SMTP": SMTP_PASSWORD}
    log = (tmp_path / "service.log").open("w", encoding="utf-8")

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen([str(TRADECREDIT), "--log-format", "json", "service", "run", "-c", str(config)],
                                cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)

    tc_database_url = f"sqlite:///{(tmp_path / 'state.db').as_posix()}"
    service = start()
    try:
        # 1. Several cycles on schedule; the shop gets everyone, /healthz says so.
        wait_for("three completed runs", lambda: sum(r["status"] == "ok" for r in history(tc_database_url)) >= 3)
        health = httpx.get(f"http://127.0.0.1:{port}/healthz")
        assert health.status_code == 200, health.text
        assert 'tradecredit_http_requests_total{status="200",target="shop"}' in httpx.get(
            f"http://127.0.0.1:{port}/metrics").text

        # 2. The shop goes down: runs fail, back off, and one alert goes out on each channel.
        sandbox.inject("500", times=None)
        with erp.begin() as conn:  # the credit controller changes limits while the shop is down
            conn.execute(update(kh).where(kh.c.Knt_Kod.in_(codes[100:140])).values(
                Knt_LimitKredytu=kh.c.Knt_LimitKredytu + 100))
        wait_for("the failure alert", lambda: "failed" in webhook_receiver.events() and smtp_server.messages)
        wait_for("three failed runs", lambda: sum(r["status"] == "failed" for r in history(tc_database_url)) >= 3)
        assert webhook_receiver.events().count("failed") == 1, "one alert per episode, not one per run"
        sandbox.clear_faults()
        wait_for("the recovery alert",
                 lambda: "recovered" in webhook_receiver.events() and len(smtp_server.messages) > 1)
        assert [str(m["Subject"]) for m in smtp_server.messages] == [
            f"[tradecredit] {PIPELINE}: synchronizacja nie powiodła się",
            f"[tradecredit] {PIPELINE}: synchronizacja znów działa"]

        # 3. SIGKILL in the middle of a run that is writing (a slow shop keeps a batch in flight).
        with erp.begin() as conn:
            conn.execute(update(kh).where(kh.c.Knt_Kod.in_(codes[:100])).values(
                Knt_LimitKredytu=kh.c.Knt_LimitKredytu + 777))
        sandbox.inject("slow", op="PUT clients/clients", delay=1.0, times=None)
        wait_for("a run writing", lambda: any(r["status"] == "running" and r["id"] for r in history(tc_database_url))
                 and sandbox.count("PUT clients/clients") > 0)
        service.kill()
        service.wait(30)
        killed = next(r for r in history(tc_database_url) if r["status"] == "running")
        sandbox.clear_faults()

        # 4. Restart: the dead run's lease is taken over at once, the run is marked abandoned, syncing goes on.
        service = start()
        wait_for("a completed run after the restart",
                 lambda: any(r["status"] == "ok" and r["id"] > killed["id"] for r in history(tc_database_url)))
        after = {r["id"]: r for r in history(tc_database_url)}
        assert after[killed["id"]]["status"] == "abandoned"
        store = StateStore.open(tc_database_url, read_only=True)
        assert [e["event"] for e in store.lease_events(PIPELINE)] == ["takeover"]
        assert "is gone" in store.lease_events(PIPELINE)[0]["reason"]
        store.close()
    finally:
        service.terminate()  # SIGTERM: the graceful stop
        code = service.wait(60)
        log.close()
    assert code == 0, (tmp_path / "service.log").read_text(encoding="utf-8")[-3000:]

    # 5. In step: the ERP equals the ledger (a dry run has nothing to send) and the ledger equals the shop.
    host = PluginHost(strict=True).load_entrypoints(only=["optima", "idosell", "notify"])
    os.environ["TC_E2E_IDOSELL_KEY"], os.environ["TC_E2E_SMTP"] = API_KEY, SMTP_PASSWORD
    try:
        cfg = load_config(config, host)
        dry = run_pipeline(cfg, PIPELINE, dry_run=True, host=host)
        assert dry.counts.to_write == 0 and dry.counts.written == 0, dry.plan[:5]
        store = StateStore.open(cfg.state.url, read_only=True)
        entries = store.load_ledger(PIPELINE, "shop")
        store.close()
        assert len(entries) == dry.counts.unchanged > 200
        for entry in entries.values():
            payload = entry.payload
            client = sandbox.client(payload["clientLogin"])
            assert client is not None and client.limit == Decimal(payload["clientTradeCreditLimitExternal"])
    finally:
        del os.environ["TC_E2E_IDOSELL_KEY"], os.environ["TC_E2E_SMTP"]
        sandbox.stop()
    assert webhook_receiver.events().count("failed") == 1
    text = (tmp_path / "service.log").read_text(encoding="utf-8")
    assert API_KEY not in text and SMTP_PASSWORD not in text
    assert '"event": "run"' in text and '"event": "batch"' in text
