"""Crash convergence (issue 12): seeded schedules of faulty, killed runs against the IdoSell sandbox, then one
clean run and the checks that the shop, the ledger and the ERP agree.

A schedule is 1–2 runs of ``tradecredit run`` in a subprocess. Each run meets random sandbox faults (429 with
Retry-After, 500, slow and dripping answers, dropped connections, 207 with random item failures) and may be
killed (``Popen.kill()``: SIGKILL on POSIX, TerminateProcess on Windows) at a chosen moment:

* ``read``: the run holds its lease and has not yet asked the shop anything (the ERP read);
* ``matching``: the shop has received a ``GET clients/clients`` and not yet answered it;
* ``put_applied``: the shop has applied a ``PUT clients/clients`` and not yet answered it;
* ``ledger_commit``: 0–3 ms after a PUT's answer left the shop (the run is recording the batch);
* ``between_batches``: 10–60 ms after a PUT's answer (the run is between batches, or finishing).

The ERP changes a few customers between runs. Then the checks (``Outcome.problems`` must stay empty): the
clean run is not blocked by a dead run's lease and ends ``ok``; every matched customer in the shop equals the
ERP; the ledger equals the shop; a rerun sends 0 PUTs; the state database passes its integrity check and no
run is left ``running``; and the only repeated writes (a customer sent again the same values the shop already
held) come from PUTs whose answer was never recorded: killed before or just after the answer, or a slow or
dripping answer the client may have stopped waiting for (its deadline covers the whole call).

``run_schedule(seed, folder)`` is used by the fast mode in ``make test`` and by ``make reliability``.
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from tradecredit.plugins.idosell.sandbox import LoggedRequest, Sandbox, start_sandbox

API_KEY = "crash-key-0c41f7d2"
WRITE = "PUT clients/clients"
READ = "GET clients/clients"
MOMENTS = ("none", "read", "matching", "put_applied", "ledger_commit", "between_batches")
FAULTS = ("429", "500", "slow", "drip", "drop", "partial")
CLIENT_TIMEOUT = 0.6  # the target's read timeout in these runs; a slower answer is one the client gave up on
# Schedules may run side by side (their runs are subprocesses, each with its own shop and state); the clean
# run and the rerun happen in this process, one schedule at a time.
_IN_PROCESS = threading.Lock()


@dataclass
class Outcome:
    seed: int
    runs: int = 0
    kills: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)
    repeated_writes: int = 0
    takeovers: int = 0
    exit_codes: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class _Run:
    kill: str
    put_index: int  # which PUT (1-based) a put-time kill waits for
    delay: float  # after-answer kills: seconds after the answer
    proc: subprocess.Popen[bytes] | None = None
    puts: int = 0
    gets: int = 0
    killed_at: str | None = None
    unanswered: set[int] = field(default_factory=set)  # indexes in the sandbox log
    log: list[LoggedRequest] = field(default_factory=list)
    log_at_kill: int = 0
    output: str = ""


def _erp(rng: random.Random, codes: list[str]) -> dict[str, tuple[Decimal, Decimal]]:
    out = {}
    for code in codes:
        limit = Decimal(rng.randrange(100, 500_000)) + Decimal(rng.randrange(100)) / 100
        used = (limit * Decimal(rng.random())).quantize(Decimal("0.01"))
        out[code] = (limit, used)
    return out


def _write_csv(path: Path, erp: dict[str, tuple[Decimal, Decimal]]) -> None:
    lines = ["code;credit_limit;used"] + [f"{c};{lim};{used}" for c, (lim, used) in erp.items()]
    tmp = path.with_suffix(".tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.replace(tmp, path)  # the export appears whole, as an ERP's scheduled export does


def _config(folder: Path, shop: Sandbox, batch_size: int) -> Path:
    path = folder / "tradecredit.toml"
    path.write_text(f"""
[state]
url = "sqlite:///state.db"
lease_timeout = "30s"

[sources.erp]
plugin = "csv"
path = "erp.csv"

[targets.shop]
plugin = "idosell"
base_url = "{shop.url}"
api_key = "{API_KEY}"
batch_size = {batch_size}
timeout = {CLIENT_TIMEOUT}
connect_timeout = 1.0

[targets.shop.retry]
max_attempts = 3
backoff_initial = 0.02
backoff_max = 0.1
total_timeout = 2.0
jitter = 0.5

[[pipelines]]
name = "sync"
source = "erp"
target = "shop"
""", encoding="utf-8")
    return path


def _faults(rng: random.Random, shop: Sandbox, codes: list[str]) -> None:
    shop.clear_faults()
    for _ in range(rng.randrange(0, 4)):
        kind = rng.choice(FAULTS)
        op = WRITE if kind == "partial" else rng.choice([READ, WRITE, "*"])
        options: dict[str, Any] = {"op": op, "times": rng.randrange(1, 3)}
        if kind == "429":
            options["retry_after"] = round(rng.uniform(0.05, 0.3), 2)
        elif kind == "slow":
            options["delay"] = round(rng.uniform(0.1, 0.9), 2)
        elif kind == "drip":
            options["delay"] = round(rng.uniform(0.01, 0.05), 3)
        elif kind == "partial":
            options["refs"] = frozenset(rng.sample(codes, rng.randrange(1, 4)))
        shop.inject(kind, **options)


def _lease_held(state: Path) -> bool:
    if not state.exists():
        return False
    try:
        with sqlite3.connect(f"file:{state}?mode=ro", uri=True, timeout=0.05) as conn:
            return conn.execute("SELECT count(*) FROM tc_locks").fetchone()[0] > 0
    except sqlite3.Error:
        return False


def _kill(run: _Run, moment: str) -> None:
    if run.proc is not None and run.killed_at is None and run.proc.poll() is None:
        run.proc.kill()
        run.killed_at = moment
        run.log_at_kill = len(run.log)


def _crash_run(rng: random.Random, folder: Path, shop: Sandbox, kill: str, log: list[LoggedRequest]) -> _Run:
    run = _Run(kill=kill, put_index=rng.randrange(1, 4), delay=rng.uniform(0, 0.003) if kill == "ledger_commit"
               else rng.uniform(0.01, 0.06), log=log)
    first = len(log)

    def observe(entry: LoggedRequest) -> None:
        index = len(log) - 1
        if entry.op == READ:
            run.gets += 1
            if run.kill == "matching" and run.gets == 1:
                _kill(run, "matching")
        if entry.op != WRITE or entry.status == 0:
            return
        run.puts += 1
        if entry.fault in ("drip", "slow"):
            # the client may have given up before this answer arrived: its deadline covers the whole call, so
            # after earlier retries even a short delay can outlast what is left of it
            run.unanswered.add(index)
        if run.puts != run.put_index:
            return
        if run.kill == "put_applied":
            _kill(run, "put_applied")
        elif run.kill in ("ledger_commit", "between_batches"):
            timer = threading.Timer(run.delay, _kill, (run, run.kill))
            timer.daemon = True
            timer.start()

    shop.app.observers.append(observe)
    errors = open(folder / f"run-{first}.log", "wb")  # noqa: SIM115 - closed in finally, after the process
    try:
        run.proc = subprocess.Popen([sys.executable, "-m", "tradecredit.core.cli", "run", "-c", "tradecredit.toml"],
                                    cwd=folder, stdout=errors, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while run.proc.poll() is None and time.monotonic() < deadline:
            if run.kill == "read" and run.killed_at is None and len(log) == first and _lease_held(
                    folder / "state.db"):
                # the lease is taken, the shop not yet asked: the run is reading the ERP
                _kill(run, "read")
            time.sleep(0.005)
        if run.proc.poll() is None:
            _kill(run, "hung")
        run.proc.wait()
        slow = _slow_delay(shop)
        if run.killed_at or slow:
            # Requests the shop received before the kill (or attempts the client gave up on) are still being
            # served: a slow one is applied and logged up to `delay` later. Let them land in this run's log.
            time.sleep(slow + 0.2)
    finally:
        shop.app.observers.remove(observe)
        errors.close()
    run.output = (folder / f"run-{first}.log").read_text(encoding="utf-8", errors="replace")
    if run.killed_at:
        # A run works one batch at a time: at the kill, only the last PUT it sent can have an answer it never
        # recorded (and a PUT still on its way arrives after the kill).
        puts = [i for i in range(first, len(log)) if log[i].op == WRITE]
        before = [i for i in puts if i < run.log_at_kill]
        run.unanswered.update(before[-1:] + [i for i in puts if i >= run.log_at_kill])
    return run


def _slow_delay(shop: Sandbox) -> float:
    delays = [f.delay for f in shop.faults._faults if f.kind == "slow"]
    return max(delays, default=0.0)


def _applied(log: list[LoggedRequest]) -> list[tuple[int, str, tuple[str, str]]]:
    """(log index, code, (limit, balance)) of every client a PUT applied, in the shop's order."""
    out = []
    for index, entry in enumerate(log):
        if entry.op != WRITE or entry.status not in (200, 207):
            continue
        sent = {c["requestReference"]: c for c in json.loads(entry.body)["params"]["clients"]}
        for row in json.loads(entry.response).get("results", []):
            ref = row.get("clientsResult", {}).get("requestReference")
            if row.get("resultStatus") is True and ref in sent:
                c = sent[ref]
                out.append((index, ref, (str(c["clientTradeCreditLimitExternal"]),
                                         str(c["clientBalanceAmountExternal"]))))
    return out


def run_schedule(seed: int, folder: Path) -> Outcome:
    """One seeded schedule in ``folder``; the outcome's ``problems`` list every broken promise."""
    started = time.monotonic()
    rng = random.Random(seed)
    out = Outcome(seed=seed)
    folder.mkdir(parents=True, exist_ok=True)
    n = rng.randrange(5, 11)
    codes = [f"KH-{seed % 1000:03d}-{i:02d}" for i in range(n)]
    shop = start_sandbox(folder / "shop.db", API_KEY)
    try:
        shop.add_clients({"login": f"l-{c.lower()}", "code_external": c} for c in codes)
        erp = _erp(rng, codes)
        erp["NO-ACCOUNT-1"] = (Decimal("10.00"), Decimal("0.00"))  # an ERP customer without a shop account
        _config(folder, shop, batch_size=rng.choice([2, 3, 4]))
        log = shop.app.log  # the live list (``requests`` is a copy)
        unanswered: set[int] = set()
        for _ in range(rng.randrange(1, 3)):
            for code in rng.sample(codes, rng.randrange(0, 3)):
                erp[code] = _erp(rng, [code])[code]
            _write_csv(folder / "erp.csv", erp)
            _faults(rng, shop, codes)
            kill = rng.choice(MOMENTS)
            run = _crash_run(rng, folder, shop, kill, log)
            out.runs += 1
            unanswered |= run.unanswered
            if run.killed_at:
                out.kills[run.killed_at] += 1
            else:
                assert run.proc is not None
                out.exit_codes.append(run.proc.returncode)
                if run.proc.returncode == 5:
                    out.problems.append(f"a run was blocked by a lease (exit 5): {run.output[-600:]}")
                if "Traceback" in run.output:
                    out.problems.append(f"a run printed a traceback: {run.output[-1500:]}")
            if run.killed_at == "hung":
                out.problems.append("a run did not end within 60 s")
        out.faults.update(e.fault for e in log if e.fault)
        shop.clear_faults()
        with _IN_PROCESS:
            _converged(out, folder, shop, erp, codes, log, unanswered)
    finally:
        shop.stop()
    out.seconds = time.monotonic() - started
    return out


def _run_here(folder: Path) -> Any:
    """A run in this process (the clean run and the rerun: no kill, so no subprocess needed)."""
    from tradecredit import run_pipeline
    from tradecredit.core.config import load_config
    from tradecredit.core.errors import TradeCreditError

    try:
        return run_pipeline(load_config(folder / "tradecredit.toml"), "sync")
    except TradeCreditError as exc:
        return exc.report


def _converged(out: Outcome, folder: Path, shop: Sandbox, erp: dict[str, tuple[Decimal, Decimal]],
               codes: list[str], log: list[LoggedRequest], unanswered: set[int]) -> None:
    clean = _run_here(folder)
    if clean is None or clean.status != "ok":
        out.problems.append(f"the clean run did not end ok: {clean and clean.status} {clean and clean.error}")
    for code in codes:
        client = shop.client(f"l-{code.lower()}")
        limit, used = erp[code]
        if client is None or client.limit != limit or client.balance != -used:
            out.problems.append(f"divergence: {code} shop {client and (client.limit, client.balance)} ≠ ERP "
                                f"{(limit, -used)}")
    state = folder / "state.db"
    with sqlite3.connect(state) as conn:
        integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
        ledger = {code: json.loads(payload) for code, payload in
                  conn.execute("SELECT code, payload FROM tc_ledger")}
        running = conn.execute("SELECT count(*) FROM tc_runs WHERE status = 'running'").fetchone()[0]
        out.takeovers = conn.execute("SELECT count(*) FROM tc_lease_events WHERE event = 'takeover'").fetchone()[0]
    if integrity != "ok":
        out.problems.append(f"state database integrity: {integrity}")
    if running:
        out.problems.append(f"{running} run(s) left 'running' in tc_runs")
    for code in codes:
        entry = ledger.get(code)
        client = shop.client(f"l-{code.lower()}")
        if entry is None or client is None or (Decimal(entry["clientTradeCreditLimitExternal"]),
                                               Decimal(entry["clientBalanceAmountExternal"])) != (
                client.limit, client.balance):
            out.problems.append(f"ledger ≠ shop for {code}: {entry} vs {client and (client.limit, client.balance)}")
    before = sum(1 for e in log if e.op == WRITE)
    rerun = _run_here(folder)
    resent = sum(1 for e in log if e.op == WRITE) - before
    if rerun is None or rerun.status != "ok" or resent:
        out.problems.append(f"the rerun sent {resent} PUT(s) (status {rerun and rerun.status})")
    last: dict[str, tuple[int, tuple[str, str]]] = {}
    for index, code, values in _applied(log):
        previous = last.get(code)
        if previous is not None and previous[1] == values:
            out.repeated_writes += 1
            # excused when either write is one whose answer was never recorded (the late one of a slow
            # attempt the client had given up on is applied after its retry)
            if previous[0] not in unanswered and index not in unanswered:
                out.problems.append(f"{code} was written again with the same values although the answer to the "
                                    f"earlier write (request {previous[0]}) was recorded")
        last[code] = (index, values)


def summary(outcomes: list[Outcome]) -> dict[str, Any]:
    kills: Counter[str] = Counter()
    faults: Counter[str] = Counter()
    for o in outcomes:
        kills.update(o.kills)
        faults.update(o.faults)
    return {
        "schedules": len(outcomes),
        "runs": sum(o.runs for o in outcomes),
        "kills": dict(sorted(kills.items())),
        "faults": dict(sorted(faults.items())),
        "repeated_writes": sum(o.repeated_writes for o in outcomes),
        "divergences": sum(1 for o in outcomes for p in o.problems if p.startswith(("divergence", "ledger"))),
        "problems": sum(len(o.problems) for o in outcomes),
        "lease_takeovers": sum(o.takeovers for o in outcomes),
        "seconds": round(sum(o.seconds for o in outcomes), 1),
        "when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }
